"""NXP PCA9685: 16 channels of 12-bit PWM on I2C, for pilots beyond the MCU's own.

    pca = PCA9685(i2c, 0x40); pca.init(1000)
    pca.set_permille(3, pilot.amps_to_duty_permille(16))

Handed its bus, never creates it (micropython-lib style). Two expanders and
the MCU's own PWM reach 30 chargers. The outputs are 3.3 V logic: the +-12 V
pilot comes from a driver stage (README, Wiring). If that stage inverts, set
invert=True: the chip's INVRT bit (MODE2) flips the outputs in hardware, so
the duty written stays the one pilot.py computed.
Datasheet rev. 4: 7.3.5 (PRE_SCALE, only writable in SLEEP), 7.3.3 (LEDn_ON/
OFF, bit 4 of the H registers is full on / full off), 7.3.1 (MODE1 AI bit).
"""

from micropython import const

_MODE1 = const(0x00)
_MODE2 = const(0x01)
_LED0 = const(0x06)
_ALL_LED = const(0xFA)
_PRESCALE = const(0xFE)
_SLEEP = const(0x10)
_AI = const(0x20)         # register auto-increment
_RESTART = const(0x80)
_OUTDRV = const(0x04)     # totem-pole outputs
_INVRT = const(0x10)
_FULL = const(0x10)       # in LEDn_ON_H / LEDn_OFF_H
_OSC_HZ = const(25000000)


def prescale_for(freq_hz):
    """PRE_SCALE = round(osc / (4096 * f)) - 1 (datasheet eq. 1), 3..255."""
    p = (_OSC_HZ + 2048 * freq_hz) // (4096 * freq_hz) - 1
    if not 3 <= p <= 255:
        raise ValueError("PCA9685 cannot make %r Hz" % (freq_hz,))
    return p


class PCA9685:
    def __init__(self, i2c, addr=0x40, invert=False):
        self.i2c = i2c
        self.addr = addr
        self.invert = invert
        self._reg = bytearray(4)
        self._one = bytearray(1)

    def _write(self, reg, value):
        self._one[0] = value
        self.i2c.writeto_mem(self.addr, reg, self._one)

    def init(self, freq_hz=1000):
        """Sleep, set the prescaler, wake with auto-increment (raises OSError if absent)."""
        self._write(_MODE1, _SLEEP | _AI)
        self._write(_PRESCALE, prescale_for(freq_hz))
        self._write(_MODE2, _OUTDRV | (_INVRT if self.invert else 0))
        self._write(_MODE1, _AI)
        # the oscillator needs 500 us after SLEEP is cleared; the first control
        # period is far later, and RESTART brings back the PWM
        self._write(_MODE1, _AI | _RESTART)

    def _fill(self, permille):
        if not 0 <= permille <= 1000:
            raise ValueError("duty %r permille out of range" % (permille,))
        r = self._reg
        # one item at a time: a 4-tuple assignment would allocate
        r[0] = r[1] = r[2] = r[3] = 0
        if permille >= 1000:
            r[1] = _FULL                      # full on
        elif permille <= 0:
            r[3] = _FULL                      # full off
        else:
            off = permille * 4096 // 1000     # on at count 0, off at count `off`
            r[2] = off & 0xFF
            r[3] = off >> 8
        return r

    def set_permille(self, channel, permille):
        if not 0 <= channel <= 15:
            raise ValueError("PCA9685 channel %r" % (channel,))
        self.i2c.writeto_mem(self.addr, _LED0 + 4 * channel, self._fill(permille))

    def all_permille(self, permille):
        """Every channel at once (ALL_LED registers): the boot-time safe state."""
        self.i2c.writeto_mem(self.addr, _ALL_LED, self._fill(permille))


class Channel:
    """One expander channel behind the pilot output interface (hal.py)."""

    def __init__(self, pca, channel):
        if not 0 <= channel <= 15:
            raise ValueError("PCA9685 channel %r" % (channel,))
        self.pca = pca
        self.channel = channel

    def set_permille(self, permille):
        self.pca.set_permille(self.channel, permille)
