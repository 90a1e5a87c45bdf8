"""Pilot outputs from a board file: safe order, expander clocks, /OE, I2C bus recovery."""
import fake_machine as machine
import hal
import outputs
import pilot
from mpunit import eq, near, ok, raises

SAFE_U16 = pilot.duty_to_u16(pilot.PAUSED_PERMILLE)


class Clock:
    def __init__(self):
        self.ms = 0
        self.slept_us = 0

    def ticks_ms(self):
        return self.ms

    def ticks_diff(self, a, b):
        return a - b

    def sleep_us(self, us):
        self.slept_us += us


def board(exps=None, oe=16):
    b = dict(hal.load_board("pico"))
    sp = dict(b["pilots"])
    sp["native"] = [2, 3]
    sp["oe"] = oe
    sp["pca9685"] = exps if exps is not None else [
        {"addr": 0x40, "channels": 16, "extclk_hz": 24576000},
        {"addr": 0x41, "channels": 4, "extclk_hz": 24576000}]
    b["pilots"] = sp
    return b


def first(kind, *args):
    for i, e in enumerate(machine.LOG):
        if e[0] == kind and e[1:1 + len(args)] == args:
            return i
    return None


def last(kind):
    idx = [i for i, e in enumerate(machine.LOG) if e[0] == kind]
    return idx[-1] if idx else None


def test_expander_clock_must_be_declared_and_make_1khz():
    eq(outputs.expander_clock({"addr": 0x40, "extclk_hz": 24576000}), (24576000, True))
    eq(outputs.expander_clock({"addr": 0x40, "osc_hz": 24700000}), (24700000, False))   # 1005 Hz
    eq(outputs.expander_clock({"addr": 0x40, "osc_hz": 25000000}), (25000000, False))   # 1017 Hz
    bad = ({"addr": 0x41},                                              # no clock at all
           {"addr": 0x41, "extclk_hz": 24576000, "osc_hz": 25000000},  # both
           {"addr": 0x41, "osc_hz": 26500000},                         # 1078 Hz
           {"addr": 0x41, "osc_hz": 23000000},                         # 936 Hz
           {"addr": 0x41, "extclk_hz": 26000000},                      # 1058 Hz
           {"addr": 0x41, "osc_hz": 25e6},                             # not a whole number
           {"addr": 0x41, "osc_hz": 1000000})                          # no PRE_SCALE for it
    for exp in bad:
        e = raises(ValueError, outputs.expander_clock, exp)
        ok("PCA9685 0x41" in str(e), "names the expander: %s" % e)


def test_bad_expander_clock_refused_after_native_pins_are_safe():
    machine.fresh()
    b = board([{"addr": 0x40, "channels": 16, "extclk_hz": 24576000},
               {"addr": 0x41, "channels": 4}])
    e = raises(ValueError, outputs.Outputs, b, machine, Clock())
    ok("PCA9685 0x41" in str(e) and "extclk_hz" in str(e), str(e))
    eq([x for x in machine.LOG if x[0] == "pwm"], [("pwm", 2, SAFE_U16), ("pwm", 3, SAFE_U16)])
    eq(machine.level(16), 1, "/OE high")
    eq(first("i2c"), None, "no I2C work for a refused board")
    machine.fresh()
    raises(ValueError, outputs.build, b, machine, Clock())
    machine.fresh()
    b = board([{"addr": 0x40, "channels": 16, "osc_hz": 26500000}])
    ok("1078 Hz" in str(raises(ValueError, outputs.build, b, machine, Clock())))


def test_boot_order_native_safe_then_oe_high_then_chips_then_oe_low():
    machine.fresh()
    out = outputs.Outputs(board(), machine, Clock())
    eq(len(out.pilots), 2 + 16 + 4)
    eq(first("i2c"), None, "the constructor does no I2C work")
    eq(first("i2c_bus", 0), None)
    pwm_last = max(i for i, e in enumerate(machine.LOG) if e[0] == "pwm")
    oe_high = first("pin", 16, 1)
    ok(pwm_last < oe_high, "native pins safe first, then /OE high")
    eq(out.start(), None)
    eq(machine.level(16), 0, "/OE low")
    oe_low = first("pin", 16, 0)
    ok(oe_low > last("i2c"), "/OE low only after the last expander write")
    for a, n in ((0x40, 16), (0x41, 16)):
        chip = machine.EXPANDERS[a]
        near(chip.freq_hz(), 1000, 0.001, "EXTCLK: exactly 1 kHz")
        for ch in range(n):
            eq(chip.pin_permille(ch, False), 1000.0, "0x%02x ch %d at +12 V" % (a, ch))
    ok(all(p.failsafe for p in out.pilots[2:]), "expander channels behind /OE")
    ok(not any(p.failsafe for p in out.pilots[:2]))


def test_silent_expander_at_boot_keeps_outputs_off_and_retries():
    machine.fresh((0x40,))                 # 0x41 does not answer
    clock = Clock()
    out = outputs.Outputs(board(), machine, clock)
    why = out.start()
    ok(why is not None and "0x41" in why, why)
    eq(machine.level(16), 1, "/OE stays high: all expander outputs at -12 V")
    eq(machine.EXPANDERS[0x40].pin_permille(0, True), 0.0)
    eq(len(out.pilots), 22, "every output still there, in charger order")
    out.safe()                             # does not raise: the bank is off, retried later
    eq(out.retry(), False)
    machine.EXPANDERS[0x41] = machine.FakePCA9685(extclk_hz=24576000)
    eq(out.retry(), False, "not before 5 s")
    clock.ms += 5000
    eq(out.retry(), True)
    eq(machine.level(16), 0)
    eq(out.fault(), None)


def test_build_never_raises_for_a_missing_expander():
    machine.fresh(())
    pilots = outputs.build(board(), machine, Clock())
    eq(len(pilots), 22)
    eq(machine.level(16), 1)


def test_stuck_bus_is_clocked_free_then_stopped():
    machine.fresh()
    dev = machine.StuckDevice(sda=0, scl=1, clocks=3)
    machine.STUCK.append(dev)
    clock = Clock()
    out = outputs.Outputs(board(), machine, clock)
    eq(out.start(), None, "the chips come up once the bus is free")
    eq(dev.pulses, 3 + 1, "three clocks were enough (then the STOP's own SCL rise)")
    pins = [e for e in machine.LOG if e[0] == "pin" and e[1] in (0, 1)]
    # after the clocks: the STOP, SDA rising while SCL is high
    eq(pins[-4:], [("pin", 1, 0), ("pin", 0, 0), ("pin", 1, 1), ("pin", 0, 1)])
    ok(first("i2c_bus", 0) > machine.LOG.index(("pin", 0, 1)), "the I2C controller made after")
    ok(clock.slept_us > 0, "the pulses are timed")
    eq(machine.level(16), 0)


def test_bus_recovery_gives_up_after_nine_clocks():
    machine.fresh()
    dev = machine.StuckDevice(sda=0, scl=1, clocks=50)   # a device that never lets go
    machine.STUCK.append(dev)
    eq(outputs.recover_bus(machine, 1, 0, Clock().sleep_us), False)
    eq(dev.pulses, 9 + 1, "nine clocks, and the STOP's own SCL rise")
    machine.fresh()
    machine.STUCK.append(machine.StuckDevice(sda=0, scl=1, clocks=50))
    out = outputs.Outputs(board(), machine, Clock())
    why = out.start()
    ok(why is not None and "110" in why, why)
    eq(machine.level(16), 1, "the outputs stay off")


def test_free_bus_is_left_alone():
    machine.fresh()
    eq(outputs.recover_bus(machine, 1, 0, Clock().sleep_us), True)
    eq([e for e in machine.LOG if e[0] == "pin" and e[1] == 1], [], "SCL never clocked")


def test_panic_turns_every_output_off_without_the_bus():
    machine.fresh()
    out = outputs.Outputs(board(), machine, Clock())
    out.start()
    out.pilots[0].set_permille(266)
    out.pilots[5].set_permille(266)
    machine.EXPANDERS.clear()            # the bus is gone
    n = len([e for e in machine.LOG if e[0] == "i2c"])
    out.panic()
    eq(machine.level(16), 1, "/OE high")
    eq(out.native[0].pwm.duty, SAFE_U16, "native pins at +12 V")
    eq(len([e for e in machine.LOG if e[0] == "i2c"]), n, "no I2C in a panic")
    raises(OSError, out.pilots[5].set_permille, 266)   # and nothing brings /OE back at once
    eq(machine.level(16), 1)


def test_force_safe_from_the_board_file_alone():
    machine.fresh()
    outputs.force_safe(board(), machine)
    eq(sorted(e[1] for e in machine.LOG if e[0] == "pwm"), [2, 3])
    ok(all(e[2] == SAFE_U16 for e in machine.LOG if e[0] == "pwm"))
    eq(machine.level(16), 1)
    outputs.force_safe(hal.load_board("sim"), None)    # nothing to do, no error
