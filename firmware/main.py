"""Boot and run the hub: pilots safe first, then config, sampler, control loop.

    import main; main.start(board.BOARD, machine)       # what boot runs on a board

Safety rules 1 and 5: before anything else every pilot is driven to "no
offer"; a missing or invalid configuration keeps it that way (the reason is
printed, kept in `reason` and, when mqtt.json is good, published retained on
almhub/<id>/error), with the watchdog still fed so the board does not reset
in a loop. The watchdog is fed only at the end of a complete control
period (hub.Hub.step), so a hung loop resets the board, and the reset boots
into safe pilots again (rule 4). The period is fixed (control period_ms,
500 ms by default); gc runs at one point of it.
"""

import gc
import json
import time

import config
import hal
import hub
import outputs
import store

CONFIG = "config.json"
MQTT = "mqtt.json"       # broker and credentials: kept apart, never in a repository


class Boot:
    def __init__(self, board, machine, cfg_path=CONFIG, mqtt_path=MQTT):
        self.pilots = outputs.build(board, machine)   # rule 1, before anything else
        hub.safe_all(self.pilots)
        self.board = board
        self.wdt = machine.WDT(timeout=board["watchdog_ms"]) if hasattr(machine, "WDT") else None
        self.hub = self.services = self.link = None
        self.reason = None
        mq = store.load_json(mqtt_path, None)
        try:
            if mq is not None:
                config.validate_mqtt(mq)
        except ValueError as e:
            print("almhub: %s: %s (no MQTT)" % (mqtt_path, e))
            mq = None
        try:
            with open(cfg_path) as f:
                cfg = config.validate(json.load(f))
            if mq is not None:
                cfg["mqtt"] = mq
            self.hub = hub.Hub(board, cfg, hal.make_sampler(board), self.pilots, time.ticks_diff,
                               wdt=self.wdt)
            self.period_ms = self.hub.period_ms
            import services
            self.services = services.Services(self.hub, cfg, time)
        except (OSError, ValueError, KeyError, TypeError) as e:
            self.reason = "%s: %s" % (cfg_path, e)
            self.period_ms = 1000
            print("almhub: safe state, no charging:", self.reason)
            if mq is not None:
                self._safe_link(mq, self.reason)

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

    def period(self, now):
        """One period: the hub's step, or in safe state only the watchdog."""
        if self.hub is None:
            hub.safe_all(self.pilots)
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


def start(board, machine, cfg_path=CONFIG, mqtt_path=MQTT):
    b = Boot(board, machine, cfg_path, mqtt_path)
    b.run()
