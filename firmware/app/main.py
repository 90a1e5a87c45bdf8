"""Boot and run the hub: pilots safe first, then config, sampler, control loop.

    import main; main.start(board.BOARD, machine)       # what boot runs on a board

Safety rules 1 and 5: before anything else every pilot is driven to "no
offer": the native PWM pins are created at +12 V and the expanders' /OE is
driven high (their outputs off, -12 V). The watchdog starts next, before any
I2C work, which a stuck bus or a chip stretching the clock can hang. Then
the bus is freed if a device holds it, the expanders are initialised and
written safe (+12 V), and their /OE goes low (outputs.Outputs).

A missing or invalid configuration, or expanders that do not answer, keep
the safe state (the reason is printed, kept in `reason` and, when mqtt.json
is good, published retained on almhub/<id>/error), with the watchdog still
fed so the board does not reset in a loop; expanders are retried every
5 s and the boot goes on once they answer. The watchdog is fed only at the
end of a complete control period (hub.Hub.step), so a hung loop resets the
board, and the reset boots into safe pilots again (rule 4). The period is
fixed (control period_ms, 500 ms by default); gc runs at one point of it.

start() never leaves the board at the REPL with live outputs: any exception
in the boot or the loop drives every output it can to safe (native pins
+12 V, /OE high, no I2C needed), prints why, and waits for the watchdog to
reset the board (machine.reset() if it has not after watchdog_ms + a
second). Only Ctrl-C (KeyboardInterrupt: `make repl`, mpremote, a deploy)
stops at the REPL, after the same safe outputs; a started watchdog still
resets the board within watchdog_ms.
"""

import gc
import json
import sys
import time

import hub
import outputs
import store

CONFIG = "config.json"
MQTT = "mqtt.json"       # broker and credentials: kept apart, never in a repository
RESET_PAUSE_MS = 1000    # after a crash: time to read the reason before a reset
SETTLE_MS = 20           # the read-back's peak detectors settle on the pilots' +12 V
_BOARD_ERRORS = (KeyError, TypeError, ValueError)   # a mistake in the board file


class Boot:
    def __init__(self, board, machine, cfg_path=CONFIG, mqtt_path=MQTT, clock=None):
        self.board = board
        self.machine = machine
        self.cfg_path = cfg_path
        self.clock = clock or time
        self.hub = self.services = self.link = self.readback = self.out = None
        self.reason = None
        self.waiting = False      # safe state until the expanders answer (retried)
        self.period_ms = 1000
        self.pilots = []
        # Rule 1: native pins at +12 V, expanders' /OE high; no I2C yet
        try:
            self.out = outputs.Outputs(board, machine, self.clock)
            self.pilots = self.out.pilots
        except _BOARD_ERRORS as e:   # the board file (an expander's clock): no bus touched
            outputs.force_safe(board, machine)
            self.reason = "board %s: %s" % (board.get("name"), e)
        # the watchdog before the bus work below, which can hang
        self.wdt = machine.WDT(timeout=board["watchdog_ms"]) if hasattr(machine, "WDT") else None
        self.mq = self._mqtt(mqtt_path)
        if self.reason is None:
            try:
                why = self.out.start()    # bus recovery, chips up and safe, /OE low
            except _BOARD_ERRORS as e:    # e.g. no "i2c" bus: the bank stays off
                why = None
                self.reason = "board %s: %s" % (board.get("name"), e)
            if why is not None:
                self.reason = "pilot expanders: %s" % why
                self.waiting = True
        if self.reason is None:
            self._start()
        else:
            self._refuse(self.reason)

    @staticmethod
    def _mqtt(mqtt_path):
        mq = store.load_json(mqtt_path, None)
        import config
        try:
            if mq is not None:
                config.validate_mqtt(mq)
        except ValueError as e:
            print("almhub: %s: %s (no MQTT)" % (mqtt_path, e))
            mq = None
        return mq

    def _start(self):
        """Config, sampler, read-back, hub and services; the safe state if any is bad."""
        cfg_path = self.cfg_path
        import config
        import hal
        try:
            with open(cfg_path) as f:
                cfg = config.validate(json.load(f))
            for w in config.code_warnings(cfg):   # evidence for a permit, never a refusal
                print("almhub: warning:", w)
            if self.mq is not None:
                cfg["mqtt"] = self.mq
            # A collection between the stages of boot: the garbage of one (the
            # config's JSON, the hub's scratch) is freed before the next one's
            # lasting objects are placed, so they fill its holes rather than
            # sit above them; the largest free block left for TLS grew from
            # 11.1 to 13.6 KiB so in tools/bench.py heap (32-bit, ROMFS).
            gc.collect()
            i2c = self.out.i2c if self.out is not None else None
            self.readback = hal.make_readback(self.board, self.machine, time.ticks_diff, i2c)
            if self.readback is not None:
                time.sleep_ms(SETTLE_MS)
                self.readback.calibrate()     # every pilot is at +12 V until the first step
            import heap
            heap.building(True)       # construction garbage freed as it is made
            try:
                self.hub = hub.Hub(self.board, cfg, hal.make_sampler(self.board), self.pilots,
                                   time.ticks_diff, readback=self.readback, wdt=self.wdt,
                                   contact=hal.make_contact(self.board, self.machine, cfg))
                self.period_ms = self.hub.period_ms
                del config, hal
                heap.unload(heap.BOOT_ONLY)     # what only boot needs leaves RAM before the services
                import services
                self.services = services.Services(self.hub, cfg, time)
            finally:
                heap.building(False)
            free, largest = heap.measure()
            print("almhub: heap %d KB free, largest block %d KB" % (free // 1024, largest // 1024))
            self.services.heap = (free, largest)
            reason = heap.check(cfg, free, largest, self.board.get("tls_heap") != "idf")
            if reason:
                self.services = None
                raise ValueError(reason)
        except (OSError, ValueError, KeyError, TypeError) as e:
            self.hub = None
            self._refuse("%s: %s" % (cfg_path, e))

    def _refuse(self, reason):
        self.reason = reason
        self.period_ms = 1000
        print("almhub: safe state, no charging:", reason)
        if self.mq is not None:
            self._safe_link(self.mq, reason)

    def _safe_link(self, mq, reason):
        """In the safe state MQTT still says why (retained on almhub/<id>/error)."""
        import mqttlink
        import telemetry
        hub_id = mq.get("hub_id", "hub")
        reply = {"ok": False, "error": "safe state: " + reason}
        self.link = mqttlink.Link(mq, hub_id, lambda payload: reply, time)
        err = json.dumps({"mode": "safe", "reason": reason})
        self._telemetry = lambda: (telemetry.topic(hub_id, "telemetry"), err)
        self._discovery = lambda: [(telemetry.topic(hub_id, "error"), err)]

    def _drop_link(self):
        """Close the safe state's MQTT session cleanly (DISCONNECT: no last will)."""
        link, self.link = self.link, None
        if link is not None and link.client is not None:
            try:
                link.client.disconnect()
            except Exception:   # whatever the socket does, the boot goes on
                pass

    def period(self, now):
        """One period: the hub's step, or in safe state only the watchdog."""
        if self.hub is None:
            if self.out is not None:
                self.out.safe()       # a bank that is down stays off, retried every 5 s
            if self.waiting and self.out.fault() is None:
                self.waiting = False  # the expanders answer again: go on booting
                self.reason = None
                self._drop_link()
                print("almhub: pilot expanders up")
                self._start()
        if self.hub is None:
            if self.wdt is not None:
                self.wdt.feed()
            if self.link is not None:
                self.link.service(now, self._telemetry, self._discovery)
        else:
            self.hub.step(now)
            self.services.period(now)
        gc.collect()

    def run(self, periods=None):
        nxt = time.ticks_ms()
        while periods is None or periods > 0:
            self.period(time.ticks_ms())
            nxt = time.ticks_add(nxt, self.period_ms)
            wait = time.ticks_diff(nxt, time.ticks_ms())
            if wait > 0:
                time.sleep_ms(wait)
            else:
                nxt = time.ticks_ms()   # overran: start the next period now
            if periods is not None:
                periods -= 1


def safe_outputs(board, machine, boot):
    """Every output that can be reached to safe, without the I2C bus if /OE does it."""
    done = False
    if boot is not None and boot.out is not None:
        try:
            boot.out.panic()
            done = True
        except Exception:
            pass
    if not done:
        try:
            outputs.force_safe(board, machine)
        except Exception:
            pass


def fail(board, machine, boot, exc):
    """After an exception in the boot or the loop: safe outputs, the reason, a reset."""
    safe_outputs(board, machine, boot)
    print("almhub: stopped, outputs safe, resetting:", repr(exc))
    try:
        sys.print_exception(exc)   # MicroPython's own: the traceback, line numbers kept
    except Exception:
        pass
    # The watchdog (if one was started: it cannot be stopped) resets the board;
    # machine.reset() if it has not by then, or where there is none.
    wait = RESET_PAUSE_MS + (board.get("watchdog_ms", 0) if hasattr(machine, "WDT") else 0)
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < wait:
        time.sleep_ms(10)
    if hasattr(machine, "reset"):
        machine.reset()
    raise exc   # the unix port has no reset: end with the error


def start(board, machine, cfg_path=CONFIG, mqtt_path=MQTT):
    boot = None
    try:
        boot = Boot(board, machine, cfg_path, mqtt_path)
        boot.run()
    except KeyboardInterrupt:
        safe_outputs(board, machine, boot)
        print("almhub: interrupted, outputs safe")
        raise
    except Exception as e:
        fail(board, machine, boot, e)
