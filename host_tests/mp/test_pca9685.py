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
    raises(ValueError, pca9685.Channel, pca, 16)


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
