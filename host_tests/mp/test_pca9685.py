"""PCA9685 driver against a fake bus that keeps the chip's registers and decodes them."""
import micropython

import pca9685
import pilot
from fake_i2c import FakeI2C, FakePCA9685
from mpunit import eq, near, ok, raises

_MODE1, _MODE2, _PRESCALE = 0x00, 0x01, 0xFE


def make(invert=False, osc_hz=25000000, extclk_hz=None, extclk=False):
    chip = FakePCA9685(osc_hz, extclk_hz)
    bus = FakeI2C({0x40: chip})
    pca = pca9685.PCA9685(bus, 0x40, invert, extclk=extclk)
    pca.init(1000)
    return chip, bus, pca


def test_prescale_gives_1khz_and_wakes():
    # round(25e6 / (4096 * 1000)) - 1 = round(6.10) - 1 = 5: 25e6 / 4096 / 6 = 1017 Hz
    eq(pca9685.prescale_for(1000), 5)
    chip, bus, pca = make()
    eq(chip.regs[_PRESCALE], 5)
    near(chip.freq_hz(), 1000, 20, "pilot frequency within 2 %")
    ok(chip.awake(), "out of SLEEP")
    eq(chip.regs[_MODE1] & 0x20, 0x20, "auto-increment")
    eq(chip.regs[_MODE2] & 0x14, 0x04, "totem-pole, not inverted")


def test_prescale_range():
    eq(pca9685.prescale_for(1526), 3)     # the datasheet's limits (7.3.5)
    eq(pca9685.prescale_for(24), 253)
    eq(pca9685.prescale_for(1000, 24576000), 5)
    for bad in (0, -1, 1000.0, 5000, 23):
        raises(ValueError, pca9685.prescale_for, bad)


def test_prescale_only_written_in_sleep():
    chip, bus, pca = make()
    bus.writeto_mem(0x40, _PRESCALE, b"\x1e")   # awake: the chip ignores it
    eq(chip.regs[_PRESCALE], 5)


def test_extclk_makes_exactly_1khz():
    chip, bus, pca = make(osc_hz=26500000, extclk_hz=24576000, extclk=True)
    eq(chip.regs[_MODE1] & 0x40, 0x40, "EXTCLK")
    near(chip.freq_hz(), 1000, 0.001)
    chip, bus, pca = make(osc_hz=26500000)    # a fast internal oscillator: the board's problem
    ok(chip.freq_hz() > 1020, "osc_hz must be measured or EXTCLK used")


def test_init_never_resumes_old_pwm():
    chip, bus, pca = make()
    pca.set_permille(3, 533)
    del chip.log[:]
    pca.init(1000)                            # an MCU reset: the chip kept running
    ok(not any(r == _MODE1 and b & 0x80 for r, b in chip.log), "RESTART never written")
    pca.all_permille(pilot.PAUSED_PERMILLE)
    eq(chip.regs[_MODE1] & 0x80, 0, "the safe write cleared RESTART")
    eq(chip.duty_permille(3), 1000.0)


def test_each_channel_decodes_to_what_was_set():
    chip, bus, pca = make()
    for ch in range(16):
        pca.set_permille(ch, pilot.amps_to_duty_permille(6 + 74 * ch // 15))   # 6 .. 80 A
    for ch in range(16):
        want = pilot.amps_to_duty_permille(6 + 74 * ch // 15)
        got = chip.duty_permille(ch)
        ok(want - 0.25 <= got <= want, "ch %d: %r vs %r (never longer than set)" % (ch, got, want))


def test_one_write_per_channel():
    chip, bus, pca = make()
    del chip.log[:]
    pca.set_permille(9, 266)
    eq([r for r, b in chip.log], [0x06 + 36, 0x07 + 36, 0x08 + 36, 0x09 + 36])
    eq(bytes(b for r, b in chip.log), bytes([0, 0, 1089 & 0xFF, 1089 >> 8]))


def test_every_duty_on_a_channel():
    chip, bus, pca = make()
    chip.record = False                       # 4004 logged bytes would fill a device-sized heap
    for permille in range(1001):
        pca.set_permille(5, permille)
        got = chip.duty_permille(5)
        ok(permille - 0.25 <= got <= permille, "%d permille reads %r" % (permille, got))


def test_full_on_full_off_and_all():
    chip, bus, pca = make()
    pca.set_permille(2, 1000)
    eq(chip.duty_permille(2), 1000.0)
    eq(chip.regs[0x06 + 8 + 1], 0x10, "FULL ON bit")
    pca.set_permille(2, 0)
    eq(chip.duty_permille(2), 0.0)
    eq(chip.regs[0x06 + 8 + 3], 0x10, "FULL OFF bit")
    pca.set_permille(5, 266)
    pca.all_permille(pilot.PAUSED_PERMILLE)
    for ch in range(16):
        eq(chip.duty_permille(ch), 1000.0, "ch %d" % ch)
    pca.all_permille(pilot.DISABLED_PERMILLE)
    for ch in range(16):
        eq(chip.duty_permille(ch), 0.0, "ch %d" % ch)


def test_power_on_outputs_are_off_before_init():
    chip = FakePCA9685()
    for ch in range(16):
        eq(chip.duty_permille(ch), 0.0)
    ok(not chip.awake())


def test_invert_in_hardware():
    chip, bus, pca = make(invert=True)
    ok(chip.regs[_MODE2] & 0x10, "INVRT set")
    for permille in (0, 1, 266, 999, 1000):
        pca.set_permille(0, permille)
        # the pin is inverted, the driver stage inverts back: the pilot still
        # gets the floored duty, never more
        pilot_duty = 1000 - chip.duty_permille(0)
        ok(permille - 0.25 <= pilot_duty <= permille, "%d permille: pilot %r" % (permille, pilot_duty))


def test_bad_values_refused():
    chip, bus, pca = make()
    del chip.log[:]
    for ch, permille in ((16, 500), (-1, 500), (0, 1001), (0, -1), (0, 500.0), (1.0, 500), (None, 500)):
        raises(ValueError, pca.set_permille, ch, permille)
    raises(ValueError, pca.all_permille, 1001)
    eq(chip.log, [], "nothing written for a refused value")
    raises(ValueError, pca9685.Channel, Clocked.bank([pca]), pca, 16)


def test_missing_expander_raises_oserror():
    bus = FakeI2C({})
    pca = pca9685.PCA9685(bus, 0x41)
    eq(raises(OSError, pca.init, 1000).errno, 19)
    chip, bus, pca = make()
    for errno in (19, 5):
        bus.nack = errno
        eq(raises(OSError, pca.set_permille, 0, 500).errno, errno)
        eq(raises(OSError, pca.all_permille, 1000).errno, errno)
    bus.nack = 0
    pca.set_permille(0, 500)                  # the bus came back: the driver still works
    near(chip.duty_permille(0), 500, 0.25)


def test_not_a_pca9685_is_refused():
    class Ina219(FakePCA9685):                # answers at 0x40, registers do not stick
        def write(self, reg, data):
            pass
    bus = FakeI2C({0x40: Ina219()})
    raises(OSError, pca9685.PCA9685(bus, 0x40).init, 1000)


def test_fake_bus_subset():
    chip, bus, pca = make()
    pca.set_permille(1, 500)
    eq(bus.readfrom_mem(0x40, 0x0A, 4), bytes([0, 0, 2048 & 0xFF, 2048 >> 8]))
    eq(bus.readfrom_mem(0x40, 0xFA, 4), bytes(4), "ALL_LED reads as zero")
    bus.writeto(0x40, bytes([0x0A, 0, 0, 0, 0x10]))
    eq(chip.duty_permille(1), 0.0)


def _set_locked(pca):
    micropython.heap_lock()
    try:
        for ch in range(16):
            pca.set_permille(ch, 533)
        pca.set_permille(7, 1000)
        pca.set_permille(8, 0)
        pca.all_permille(1000)
        pca.set_permille(9, 266)
    finally:
        micropython.heap_unlock()


def test_set_permille_allocates_nothing():
    chip, bus, pca = make()
    chip.record = False                       # the fake's log would allocate; the rest does not
    _set_locked(pca)
    near(chip.duty_permille(9), 266, 0.25)
    eq(chip.duty_permille(8), 1000.0)


def test_pwm_hz_from_each_clock():
    # osc / (4096 * (PRE_SCALE + 1)), PRE_SCALE = round(osc / 4.096 MHz) - 1 = 5 here
    near(pca9685.pwm_hz(25000000, 1000), 1017.25, 0.01)     # nominal internal: +1.7 %
    eq(pca9685.pwm_hz(24576000, 1000), 1000.0)               # EXTCLK 24.576 MHz: exact
    # PRE_SCALE 5 (set for a nominal 25 MHz) on the datasheet's 23-27 MHz: 936-1099 Hz
    near(23000000 / (4096 * 6), 935.9, 0.1)
    near(27000000 / (4096 * 6), 1098.6, 0.1)
    # and even with the clock measured, the best PRE_SCALE misses 1 kHz +-2 %:
    near(pca9685.pwm_hz(23000000, 1000), 935.9, 0.1)         # PRE_SCALE 5
    near(pca9685.pwm_hz(27000000, 1000), 941.7, 0.1)         # PRE_SCALE 6
    # within 1000 +-2 % only for about 24.08-25.07 MHz
    ok(980 <= pca9685.pwm_hz(24090000, 1000) <= 1020)
    ok(pca9685.pwm_hz(25100000, 1000) > 1020)
    raises(ValueError, pca9685.pwm_hz, 25e6, 1000)           # a float clock


class Clocked:
    """A fake ms clock for the bank's retry spacing."""

    def __init__(self):
        self.ms = 1000

    def ticks_ms(self):
        return self.ms

    def ticks_diff(self, a, b):
        return a - b

    @staticmethod
    def bank(chips, oe=None, clock=None):
        c = clock or Clocked()
        return pca9685.Bank(chips, oe, c.ticks_ms, c.ticks_diff)


class OEPin:
    """The bank's /OE GPIO: remembers its level and every write."""

    def __init__(self):
        self.level = None
        self.writes = []

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        self.writes.append(v)


def make_bank(oe=True, chips=(0x40, 0x41)):
    clock = Clocked()
    devs = {a: FakePCA9685(extclk_hz=24576000) for a in chips}
    bus = FakeI2C(devs)
    pcas = [pca9685.PCA9685(bus, a, extclk=True, osc_hz=24576000) for a in chips]
    pin = OEPin() if oe else None
    bank = pca9685.Bank(pcas, pin, clock.ticks_ms, clock.ticks_diff)
    chans = [pca9685.Channel(bank, p, ch) for p in pcas for ch in range(16)]
    return clock, bus, devs, pin, bank, chans


def pilots(devs, pin):
    """What each channel's pin outputs, /OE included (0.0 = low = -12 V)."""
    oe_high = pin is not None and pin.level == 1
    return [devs[a].pin_permille(ch, oe_high) for a in sorted(devs) for ch in range(16)]


def test_bank_keeps_outputs_off_until_every_chip_is_safe():
    clock, bus, devs, pin, bank, chans = make_bank()
    eq(pin.writes, [1], "/OE high from construction, before any transfer")
    eq(bus.transfers, 0)
    eq(pilots(devs, pin), [0.0] * 32, "outputs off: -12 V")
    order = []
    pin.value = (lambda old: lambda v=None: order.append(("oe", v, bus.transfers)) or old(v))(pin.value)
    ok(bank.start())
    ok(not bank.fault)
    eq(pin.level, 0, "/OE low once the chips are up and safe")
    eq(order[-1][0:2], ("oe", 0))
    eq(order[-1][2], bus.transfers, "/OE went low after the last transfer")
    eq(pilots(devs, pin), [1000.0] * 32, "every channel +12 V")
    eq(bank.starts, 1)
    ok(all(c.failsafe for c in chans), "an /OE pin: failsafe")
    chans[20].set_permille(266)
    near(devs[0x41].duty_permille(4), 266, 0.25)


def test_failed_write_turns_the_bank_off_and_reraises():
    clock, bus, devs, pin, bank, chans = make_bank()
    bank.start()
    chans[3].set_permille(266)
    chans[17].set_permille(533)
    bus.fail(0x41, 5)
    e = raises(OSError, chans[18].set_permille, 400)
    eq(e.errno, 5, "the bus's own error")
    eq(pin.level, 1, "/OE high at once")
    ok(bank.fault)
    eq(pilots(devs, pin), [0.0] * 32, "every output of the bank at -12 V, the healthy chip's too")
    # until the retry time, no byte goes on the bus, for any channel of the bank
    n = bus.transfers
    for ms in (0, 1000, 4999):
        clock.ms = 1000 + ms
        raises(OSError, chans[3].set_permille, 266)
        raises(OSError, chans[18].set_permille, 400)
    eq(bus.transfers, n, "nothing written while the bank is down")
    raises(ValueError, chans[3].set_permille, 1001)   # a bad value is still refused as such
    eq(pin.level, 1)


def test_bank_comes_back_only_when_init_and_safe_state_succeed():
    clock, bus, devs, pin, bank, chans = make_bank()
    bank.start()
    chans[5].set_permille(266)
    bus.fail(0x41, 5)
    raises(OSError, chans[20].set_permille, 533)
    t_fail = clock.ms
    # 5 s later the chip is still silent: one attempt, refused, /OE stays high
    clock.ms = t_fail + 5000
    n = bus.transfers
    raises(OSError, chans[20].set_permille, 533)
    ok(bus.transfers > n, "the retry went on the bus")
    eq(pin.level, 1)
    ok(bank.fault)
    n = bus.transfers
    clock.ms += 4000
    raises(OSError, chans[20].set_permille, 533)
    eq(bus.transfers, n, "next attempt only 5 s after the last")
    # the chip answers again, after a power cycle (its registers at power-on values)
    devs[0x41].power_cycle()
    bus.heal()
    clock.ms += 1000
    chans[20].set_permille(533)
    ok(not bank.fault)
    eq(pin.level, 0, "/OE low again")
    eq(bank.starts, 2)
    ok(devs[0x41].awake() and devs[0x41].regs[0x00] & 0x40, "re-initialised, EXTCLK again")
    near(devs[0x41].freq_hz(), 1000, 0.001)
    out = pilots(devs, pin)
    near(out[20], 533, 0.25)
    eq(out[5], 1000.0, "the other channels start again at +12 V (no offer), not their old duty")
    eq([x for i, x in enumerate(out) if i != 20], [1000.0] * 31)


def test_bank_half_initialised_stays_off():
    clock, bus, devs, pin, bank, chans = make_bank()
    bus.fail_after(9)          # the first chip's init goes through, not the rest
    ok(not bank.start())
    eq(pin.level, 1)
    ok(bank.fault and isinstance(bank.error, OSError))


def test_without_oe_a_channel_is_not_failsafe():
    clock, bus, devs, pin, bank, chans = make_bank(oe=False)
    ok(bank.start())
    ok(not any(c.failsafe for c in chans))
    chans[2].set_permille(266)
    bus.fail(0x40, 5)
    raises(OSError, chans[2].set_permille, 533)
    ok(bank.fault)
    near(devs[0x40].duty_permille(2), 266, 0.25, "without /OE the chip keeps its last duty")


def _channel_writes_locked(chans):
    micropython.heap_lock()
    try:
        for c in chans:
            c.set_permille(533)
        chans[7].set_permille(1000)
        chans[8].set_permille(0)
    finally:
        micropython.heap_unlock()


def test_channel_set_permille_allocates_nothing():
    clock, bus, devs, pin, bank, chans = make_bank()
    bank.start()
    for d in devs.values():
        d.record = False
    _channel_writes_locked(chans)
    near(devs[0x41].duty_permille(15), 533, 0.25)
