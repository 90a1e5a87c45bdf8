"""Boot: pilots safe before anything else; bad config or silent expanders keep them
safe; the watchdog before any I2C work; no exception leaves the board at the REPL."""
import json

import fake_machine as machine
import config
import hal
import main
import pilot
from mpunit import eq, ok, raises

HEAPSIZE = "512K"
CFG = "/tmp/almhub_test_boot.json"
GOOD = {"site": {"phases": ["L1", "L2", "L3"], "limit": 40},
        "chargers": [{"id": "c%d" % i} for i in range(30)]}


OE = 22
SAFE_U16 = pilot.duty_to_u16(pilot.PAUSED_PERMILLE)


def board():
    b = dict(hal.load_board("sim"))
    b["pilots"] = {"native": list(range(14)), "i2c": {"id": 0, "scl": 21, "sda": 20}, "oe": OE,
                   "pca9685": [{"addr": 0x40, "channels": 16, "extclk_hz": 24576000}]}
    return b


class Clock:
    """ticks for the expanders' retry spacing (the rest of the boot uses time)."""

    def __init__(self):
        self.ms = 0

    def ticks_ms(self):
        return self.ms

    def ticks_diff(self, a, b):
        return a - b

    def sleep_us(self, us):
        pass


def booting(name):
    """The module main's boot will import, for a patch: boot unloads config,
    hal and plan once the hub stands (heap.unload), so the one a test
    imported at the top may no longer be the one boot imports."""
    return __import__(name)


def where(entry):
    return machine.LOG.index(entry) if entry in machine.LOG else None


def write(cfg):
    with open(CFG, "w") as f:
        f.write(cfg if isinstance(cfg, str) else json.dumps(cfg))


def test_every_pilot_safe_before_config_and_sampler():
    machine.fresh()
    write(GOOD)
    order = []
    config, hal = booting("config"), booting("hal")
    validate, make_sampler = config.validate, hal.make_sampler
    config.validate = lambda c: order.append(len(machine.LOG)) or validate(c)
    hal.make_sampler = lambda b: order.append(len(machine.LOG)) or make_sampler(b)
    try:
        b = main.Boot(board(), machine, CFG)
    finally:
        config.validate, hal.make_sampler = validate, make_sampler
    eq(len(b.pilots), 30)
    first = machine.LOG[:order[0]]
    safe = pilot.duty_to_u16(pilot.PAUSED_PERMILLE)
    eq(sorted(set(e[1] for e in first if e[0] == "pwm")), list(range(14)))
    ok(all(e[2] == safe for e in first if e[0] == "pwm"), "native pins at +12 V from their first write")
    chip = machine.EXPANDERS[0x40]
    for ch in range(16):
        eq(chip.duty_permille(ch), 1000.0, "expander channel %d" % ch)
    ok(b.hub is not None and b.reason is None, "started")


def test_boot_only_modules_leave_ram_once_the_hub_stands():
    # config (6.1 KiB on 32 bits), hal and plan serve boot alone: unloaded
    # after it, so the heap TLS needs later is not held by them
    import sys
    machine.fresh()
    write(GOOD)
    b = main.Boot(board(), machine, CFG)
    ok(b.hub is not None and b.reason is None, "started")
    eq([m for m in ("config", "hal", "plan") if m in sys.modules], [])
    b.period(0)
    eq(b.wdt.feeds, 1, "the hub runs without them")


def test_bad_or_missing_config_keeps_safe_state():
    for cfg in ('{"site": {"phases": ["L1"], "limit": "a lot"}}', "{not json", None):
        machine.fresh()
        if cfg is None:
            import os
            try:
                os.remove(CFG)
            except OSError:
                pass
        else:
            write(cfg)
        b = main.Boot(board(), machine, CFG)
        ok(b.hub is None and b.reason, "refused: %r" % b.reason)
        b.period(0)
        b.period(1000)
        eq(b.wdt.feeds, 2, "the watchdog is still fed in the safe state")
        for p in b.pilots[:14]:
            eq(p.pwm.duty, pilot.duty_to_u16(pilot.PAUSED_PERMILLE))


def test_watchdog_fed_only_after_a_complete_period():
    machine.fresh()
    write(GOOD)
    b = main.Boot(board(), machine, CFG)
    b.period(0)
    eq(b.wdt.feeds, 1)
    step = b.hub.ctl.step

    def hang(*a):
        raise RuntimeError("stuck")  # stands for a loop that never returns
    b.hub.ctl.step = hang
    raises(RuntimeError, b.period, 500)
    eq(b.wdt.feeds, 1, "no feed for a period that did not finish")
    b.hub.ctl.step = step
    b.period(1000)
    eq(b.wdt.feeds, 2)


def test_fixed_period_loop_runs():
    machine.fresh()
    write(GOOD)
    b = main.Boot(board(), machine, CFG)
    b.period_ms = 20
    import time
    t0 = time.ticks_ms()
    b.run(5)
    dt = time.ticks_diff(time.ticks_ms(), t0)
    ok(dt >= 80, "5 periods of 20 ms took only %d ms: the loop does not wait" % dt)
    eq(b.wdt.feeds, 5)


def test_watchdog_starts_after_native_pins_and_before_any_i2c():
    machine.fresh()
    write(GOOD)
    b = main.Boot(board(), machine, CFG)
    ok(b.hub is not None, b.reason)
    log = machine.LOG
    wdt = where(("wdt", 5000))
    pwm_last = max(i for i, e in enumerate(log) if e[0] == "pwm" and i < wdt)
    eq(sorted(set(e[1] for e in log[:wdt] if e[0] == "pwm")), list(range(14)), "every native pin first")
    ok(pwm_last < where(("pin", OE, 1)) < wdt, "then /OE high, then the watchdog")
    first_bus = min(i for i, e in enumerate(log) if e[0] in ("i2c", "i2c_bus"))
    ok(wdt < first_bus, "the watchdog runs before any I2C work")
    ok(where(("pin", OE, 0)) > max(i for i, e in enumerate(log) if e[0] == "i2c"
                                   and i < where(("pin", OE, 0))), "/OE low after the chips are safe")
    eq(machine.level(OE), 0)


def test_silent_expanders_keep_the_safe_state_and_are_retried():
    machine.fresh(())                       # nothing answers on the bus
    write(GOOD)
    clock = Clock()
    b = main.Boot(board(), machine, CFG, clock=clock)
    ok(b.hub is None, "not started")
    ok("pilot expanders" in b.reason and "0x40" in b.reason, b.reason)
    eq(machine.level(OE), 1, "expander outputs off: -12 V")
    eq(len(b.pilots), 30)
    for p in b.pilots[:14]:
        eq(p.pwm.duty, SAFE_U16)
    b.period(0)
    b.period(1000)
    eq(b.wdt.feeds, 2, "the watchdog is fed in the safe state")
    ok(b.hub is None)
    machine.EXPANDERS[0x40] = machine.FakePCA9685(extclk_hz=24576000)   # the bank is powered again
    clock.ms = 3000
    b.period(2000)
    ok(b.hub is None, "not retried before 5 s")
    eq(machine.level(OE), 1)
    clock.ms = 5000
    b.period(3000)
    ok(b.hub is not None and b.reason is None, "the boot went on: %r" % b.reason)
    eq(machine.level(OE), 0)
    chip = machine.EXPANDERS[0x40]
    for ch in range(16):
        eq(chip.pin_permille(ch, False), 1000.0)
    eq(b.wdt.feeds, 4, "3 safe periods, then the hub's first step")


def test_stuck_bus_at_boot_is_freed():
    machine.fresh()
    write(GOOD)
    machine.STUCK.append(machine.StuckDevice(sda=20, scl=21, clocks=5))
    b = main.Boot(board(), machine, CFG)
    ok(b.hub is not None, b.reason)
    eq(machine.level(OE), 0)


def test_bad_expander_clock_in_the_board_keeps_the_safe_state():
    machine.fresh()
    write(GOOD)
    bd = board()
    bd["pilots"] = dict(bd["pilots"], pca9685=[{"addr": 0x40, "channels": 16}])
    b = main.Boot(bd, machine, CFG)
    ok(b.hub is None and "0x40" in b.reason and "extclk_hz" in b.reason, b.reason)
    eq(machine.level(OE), 1)
    outputs_safe()
    b.period(0)
    eq(b.wdt.feeds, 1)
    machine.fresh()
    bd = board()
    del bd["pilots"]["i2c"]                 # expanders but no bus: refused, not a crash
    b = main.Boot(bd, machine, CFG)
    ok(b.hub is None and b.reason.startswith("board sim"), b.reason)
    outputs_safe()


class Exploding:
    """A sampler whose burst raises `exc`: an unexpected fault in the loop."""
    channels = 3
    rate_hz = 4000

    def __init__(self, exc):
        self.exc = exc

    def read_into(self, buf, frames):
        raise self.exc


def crash(exc, in_boot=False):
    """main.start with a sampler that raises exc (when made, or in the loop)."""
    machine.fresh()
    write(GOOD)
    bd = board()
    bd["watchdog_ms"] = 1000      # (the period, 500 ms, is fed to it: at most half of it)
    hal = booting("hal")
    make_sampler = hal.make_sampler

    def bad(b):
        if in_boot:
            raise exc
        return Exploding(exc)
    hal.make_sampler = bad
    main.RESET_PAUSE_MS = 0
    try:
        return raises(BaseException, main.start, bd, machine, CFG, "/nonexistent/mqtt.json")
    finally:
        hal.make_sampler = make_sampler


def outputs_safe():
    for pin in range(14):
        last = [e[2] for e in machine.LOG if e[0] == "pwm" and e[1] == pin][-1]
        eq(last, SAFE_U16, "native pin %d at +12 V" % pin)
    eq(machine.level(OE), 1, "/OE high")


def test_start_never_drops_to_the_repl():
    for in_boot in (False, True):
        e = crash(RuntimeError("ADC on fire"), in_boot)
        ok(isinstance(e, machine.ResetBoard), "reset, not the REPL: %r" % e)
        outputs_safe()
        last_oe = max(i for i, x in enumerate(machine.LOG) if x[:2] == ("pin", OE))
        ok(last_oe < where(("reset",)), "outputs safe before the reset")
    e = crash(MemoryError())
    ok(isinstance(e, machine.ResetBoard), repr(e))
    outputs_safe()


def test_ctrl_c_stops_at_the_repl_with_outputs_safe():
    e = crash(KeyboardInterrupt())
    ok(isinstance(e, KeyboardInterrupt), repr(e))
    outputs_safe()
    eq(where(("reset",)), None)


def test_no_reset_available_ends_with_the_error():
    class Unix:
        """A machine module with neither WDT nor reset (the unix port's)."""
        Pin = machine.Pin
        PWM = machine.PWM
        I2C = machine.I2C
    machine.fresh()
    write(GOOD)
    hal = booting("hal")
    make_sampler = hal.make_sampler
    hal.make_sampler = lambda b: Exploding(RuntimeError("boom"))
    main.RESET_PAUSE_MS = 0
    try:
        e = raises(RuntimeError, main.start, board(), Unix, CFG, "/nonexistent/mqtt.json")
    finally:
        hal.make_sampler = make_sampler
    eq(str(e), "boom")
    outputs_safe()


def test_board_readback_is_wired_to_the_hub():
    machine.fresh()
    write(GOOD)
    bd = board()
    bd["readback"] = {"sim": 30}
    b = main.Boot(bd, machine, CFG)
    ok(b.hub is not None and b.hub.readback is b.readback and b.readback is not None)
    b.readback.chips[0].level_mv[3] = 9000    # a car in B on charger 3
    b.period(0)
    b.period(600)
    eq(b.hub.states[3], "B")
    eq(b.hub.states[0], "A")


def test_a_site_a_code_table_would_reject_boots_with_a_warning():
    # before (issue 9): a code's EVSE-per-breaker table refused the site at boot
    cfg = {"site": {"phases": ["L1", "L2"], "voltage": 120, "limit": 100, "margin": 20,
                    "circuits": [{"id": "garage", "limit": 30}]},
           "chargers": [{"id": "c%d" % i, "phases": ["L1", "L2"], "circuit": "garage", "max": 16}
                        for i in range(5)]}
    printed = []
    main.print = lambda *a: printed.append(" ".join(str(x) for x in a))
    try:
        machine.fresh()
        write(cfg)
        b = main.Boot(board(), machine, CFG)
    finally:
        del main.print
    ok(b.hub is not None and b.reason is None, "boots: %r" % b.reason)
    ok([p for p in printed if p.startswith("almhub: warning:") and "'garage'" in p], "warned: %r" % printed)
    # a monitor-only hub (clamps, no chargers) is a valid site too
    machine.fresh()
    write({"site": {"phases": ["L1", "L2", "L3"], "limit": 200}, "chargers": []})
    b = main.Boot(board(), machine, CFG)
    ok(b.hub is not None and b.reason is None, "monitor only: %r" % b.reason)
    b.period(0)
    b.period(500)
    eq(b.wdt.feeds, 2)
