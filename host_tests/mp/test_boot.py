"""Boot: pilots safe before anything else; bad config keeps them safe; watchdog."""
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


def board():
    b = dict(hal.load_board("sim"))
    b["pilots"] = {"native": list(range(14)), "i2c": {"id": 0, "scl": 21, "sda": 20},
                   "pca9685": [{"addr": 0x40, "channels": 16}]}
    return b


def write(cfg):
    with open(CFG, "w") as f:
        f.write(cfg if isinstance(cfg, str) else json.dumps(cfg))


def test_every_pilot_safe_before_config_and_sampler():
    machine.reset()
    write(GOOD)
    order = []
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


def test_bad_or_missing_config_keeps_safe_state():
    for cfg in ('{"site": {"phases": ["L1"], "limit": "a lot"}}', "{not json", None):
        machine.reset()
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
    machine.reset()
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
    machine.reset()
    write(GOOD)
    b = main.Boot(board(), machine, CFG)
    b.period_ms = 20
    import time
    t0 = time.ticks_ms()
    b.run(5)
    dt = time.ticks_diff(time.ticks_ms(), t0)
    ok(dt >= 80, "5 periods of 20 ms took only %d ms: the loop does not wait" % dt)
    eq(b.wdt.feeds, 5)
