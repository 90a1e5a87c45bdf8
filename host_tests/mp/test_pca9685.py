"""PCA9685 driver against a fake bus that decodes the register writes."""
import micropython

import pca9685
import pilot
from fake_i2c import FakeI2C, FakePCA9685
from mpunit import eq, near, ok, raises


def make(invert=False):
    chip = FakePCA9685()
    bus = FakeI2C({0x40: chip})
    pca = pca9685.PCA9685(bus, 0x40, invert)
    pca.init(1000)
    return chip, bus, pca


def test_prescale_gives_1khz_and_wakes():
    chip, bus, pca = make()
    eq(pca9685.prescale_for(1000), 5)
    near(chip.freq_hz(), 1000, 20, "pilot frequency")  # 25 MHz / 4096 / 6 = 1017 Hz
    ok(chip.awake(), "out of SLEEP")
    raises(ValueError, pca9685.prescale_for, 5000)


def test_each_channel_decodes_to_what_was_set():
    chip, bus, pca = make()
    for ch in range(16):
        amps = 6 + 4 * ch
        pca.set_permille(ch, pilot.amps_to_duty_permille(amps))
    for ch in range(16):
        want = pilot.amps_to_duty_permille(6 + 4 * ch)
        got = chip.duty_permille(ch)
        ok(want - 0.25 <= got <= want, "ch %d: %r vs %r (never longer than set)" % (ch, got, want))


def test_full_on_full_off_and_all():
    chip, bus, pca = make()
    pca.set_permille(2, 1000)
    eq(chip.duty_permille(2), 1000.0)
    pca.set_permille(2, 0)
    eq(chip.duty_permille(2), 0.0)
    pca.set_permille(5, 266)
    pca.all_permille(pilot.PAUSED_PERMILLE)
    for ch in range(16):
        eq(chip.duty_permille(ch), 1000.0)


def test_invert_in_hardware():
    chip, bus, pca = make(invert=True)
    pca.set_permille(0, 266)
    ok(chip.regs[0x01] & 0x10, "INVRT set")
    # the chip's pin is inverted; the driver stage inverts back
    near(1000 - chip.duty_permille(0), 266, 0.25)


def test_bad_values_refused():
    chip, bus, pca = make()
    raises(ValueError, pca.set_permille, 16, 500)
    raises(ValueError, pca.set_permille, -1, 500)
    raises(ValueError, pca.set_permille, 0, 1001)
    raises(ValueError, pca9685.Channel, pca, 16)


def test_missing_expander_raises_oserror():
    bus = FakeI2C({})
    pca = pca9685.PCA9685(bus, 0x41)
    raises(OSError, pca.init, 1000)
    chip, bus, pca = make()
    bus.nack = True
    raises(OSError, pca.set_permille, 0, 500)


def _set_locked(pca):
    micropython.heap_lock()
    try:
        pca.set_permille(7, 533)
    finally:
        micropython.heap_unlock()


def test_set_permille_allocates_nothing_in_the_driver():
    chip, bus, pca = make()

    class NullBus:  # the fake bus itself allocates; the driver must not
        def writeto_mem(self, addr, reg, buf):
            pass
    pca.i2c = NullBus()
    _set_locked(pca)
