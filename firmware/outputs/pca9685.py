"""NXP PCA9685: 16 channels of 12-bit PWM on I2C, for pilots beyond the MCU's own.

    pca = PCA9685(i2c, 0x40); pca.init(1000); pca.all_permille(pilot.PAUSED_PERMILLE)
    pca.set_permille(3, pilot.amps_to_duty_permille(16))
    bank = Bank([pca], oe_pin, time.ticks_ms, time.ticks_diff); bank.start()
    ch = Channel(bank, pca, 3); ch.set_permille(266)   # the pilot output interface (hal.py)

Handed its bus, never creates it (micropython-lib style); a missing or silent
chip raises the bus's OSError. Datasheet: PCA9685 rev. 4, 16 April 2015.

The outputs are logic levels (0-VDD, 3.3 V or 5 V), not a pilot: the +-12 V
pilot comes from a driver stage (an op-amp per channel, docs/boards-and-wiring.md, "Pilot driver"), and
whether that stage inverts is a board setting, `invert`. It is done with the
chip's INVRT bit (MODE2, 7.3.2), not in software: the registers then still
hold the pilot's own duty, floored by pilot.duty_to_pca9685, so inverting
cannot turn "rounded down" into "rounded up" (1000 - floor is a ceiling),
and full on / full off keep meaning +12 V / -12 V at the pilot.
At power-on every output is full off (7.5: LEDn_OFF_H = 0x10), i.e. constant
-12 V (state F) through a plain stage, +12 V through an inverting one: no
offer either way, even before init().

Frequency: PRE_SCALE = round(osc / (4096 * f)) - 1 (7.3.5, equation 1). For
1 kHz from the nominal 25 MHz internal oscillator that is 5, i.e. 1017 Hz
(+1.7 %). The internal oscillator is only nominal (chips measure 23-27 MHz,
i.e. 936-1099 Hz, where J1772 allows 1 kHz +-2 %), so give osc_hz as measured
on the board, or feed EXTCLK (extclk=True, osc_hz = that clock): a 24.576 MHz
oscillator makes exactly 1000 Hz with PRE_SCALE 5. pwm_hz() says what a clock
gives; outputs.build refuses a board whose expanders miss 1 kHz +-2 %.

Output enable: the chips of a Bank share one /OE line, pulled up on the
board (outputs off while the MCU is in reset) and driven by a GPIO. MODE2
OUTNE = 00 (7.3.2): with /OE high every LEDn is driven low, -12 V (state F)
through a non-inverting stage, whatever the registers hold. The bank keeps
/OE high until every chip is initialised and written safe; a write that
raises OSError takes /OE high at once (the bus may be gone: a GPIO still
works) and the bank is brought up again only by a later write, at most every
retry_ms, and only if init and the safe state both go through.
"""

from micropython import const
from time import sleep_us

import pilot

_EIO = const(5)

_MODE1 = const(0x00)
_MODE2 = const(0x01)
_LED0 = const(0x06)       # LED0_ON_L; channel n at 0x06 + 4 n (7.3.3)
_ALL_LED = const(0xFA)    # ALL_LED_ON_L (7.3.4)
_PRESCALE = const(0xFE)
# MODE1 (7.3.1)
_EXTCLK = const(0x40)
_AI = const(0x20)         # register auto-increment
_SLEEP = const(0x10)      # oscillator off; PRE_SCALE is writable only now
# MODE2 (7.3.2)
_INVRT = const(0x10)
_OUTDRV = const(0x04)     # totem-pole outputs, to drive the stage's input
# OUTNE (bits 1-0) = 00: with /OE high every LEDn is driven low (7.3.2, Table 6)
# LEDn_ON_H / LEDn_OFF_H bit 4: full on / full off (7.3.3); OFF wins if both
_FULL = const(0x10)
_OSC_HZ = const(25000000)
_WAKE_US = const(500)     # oscillator start-up after SLEEP is cleared (7.3.1, note)


def prescale_for(freq_hz, osc_hz=_OSC_HZ):
    """PRE_SCALE for freq_hz: round(osc / (4096 * f)) - 1, valid 3..255 (7.3.5)."""
    if type(freq_hz) is not int or freq_hz <= 0:
        raise ValueError("PCA9685 frequency %r Hz" % (freq_hz,))
    if type(osc_hz) is not int or osc_hz <= 0:
        raise ValueError("PCA9685 clock %r Hz: a whole number of Hz" % (osc_hz,))
    p = (osc_hz + 2048 * freq_hz) // (4096 * freq_hz) - 1   # integer round half up
    if not 3 <= p <= 255:
        raise ValueError("PCA9685 cannot make %r Hz" % (freq_hz,))
    return p


def pwm_hz(osc_hz, freq_hz):
    """The PWM frequency a chip clocked at osc_hz makes when asked for freq_hz:
    osc / (4096 * (PRE_SCALE + 1)) (7.3.5). 25 MHz -> 1017.3 Hz, 24.576 MHz -> 1000."""
    return osc_hz / (4096 * (prescale_for(freq_hz, osc_hz) + 1))


class PCA9685:
    def __init__(self, i2c, addr=0x40, invert=False, osc_hz=_OSC_HZ, extclk=False):
        self.i2c = i2c
        self.addr = addr
        self.invert = invert
        self.osc_hz = osc_hz
        self.extclk = extclk
        self._reg = bytearray(4)   # LEDn_ON_L, ON_H, OFF_L, OFF_H: one write per channel
        self._one = bytearray(1)

    def _write(self, reg, value):
        self._one[0] = value
        self.i2c.writeto_mem(self.addr, reg, self._one)

    def _read(self, reg):
        self.i2c.readfrom_mem_into(self.addr, reg, self._one)
        return self._one[0]

    def init(self, freq_hz=1000):
        """Set the PWM frequency and output mode, and wake the chip (boot only).

        Raises OSError if nothing answers at addr, or if what answers is not a
        PCA9685 that took the settings (0x40 is also an INA219's default).
        The channels keep their levels; the caller writes the safe state next.
        """
        p = prescale_for(freq_hz, self.osc_hz)
        # ALLCALL off: the chip answers only its own address, so the LED All
        # Call address 0x70 stays free (a TCA9548A mux's default, for one).
        self._write(_MODE1, _SLEEP | _AI)
        if self.extclk:
            # 7.3.1: EXTCLK is set in SLEEP, by a second write; sticky until a reset
            self._write(_MODE1, _SLEEP | _AI | _EXTCLK)
        self._write(_PRESCALE, p)
        self._write(_MODE2, _OUTDRV | (_INVRT if self.invert else 0))
        self._write(_MODE1, _AI | (_EXTCLK if self.extclk else 0))
        # No RESTART: it would bring back the PWM of before an MCU reset (an
        # old offer); every channel is written afresh instead (7.3.1.1: any
        # PWM register write clears RESTART). Outputs are not timed right
        # until the oscillator runs, so wait for it before anyone writes.
        sleep_us(_WAKE_US)
        if self._read(_PRESCALE) != p or self._read(_MODE1) & (_SLEEP | _AI) != _AI:
            raise OSError(5, "no PCA9685 at 0x%02x: settings did not take" % self.addr)

    def _fill(self, permille):
        c = pilot.duty_to_pca9685(permille)   # refuses a value out of range
        r = self._reg
        # one item at a time: a 4-tuple assignment would allocate
        r[0] = r[1] = r[2] = r[3] = 0         # on at count 0
        if c >= 4096:
            r[1] = _FULL                      # full on: constant high
        elif c == 0:
            r[3] = _FULL                      # full off: constant low
        else:
            r[2] = c & 0xFF                   # off at count c: high for c / 4096
            r[3] = c >> 8
        return r

    def set_permille(self, channel, permille):
        """Duty of one channel (0-15), as one 4-byte auto-increment write.

        One transfer, because the outputs change at its STOP (MODE2 OCH = 0,
        7.3.2): ON and OFF never take effect half-written. Allocates nothing.
        """
        if type(channel) is not int or not 0 <= channel <= 15:
            raise ValueError("PCA9685 channel %r" % (channel,))
        self.i2c.writeto_mem(self.addr, _LED0 + 4 * channel, self._fill(permille))

    def all_permille(self, permille):
        """Every channel at once (ALL_LED, 7.3.4): the boot-time safe state."""
        self.i2c.writeto_mem(self.addr, _ALL_LED, self._fill(permille))


class Bank:
    """PCA9685s whose /OE pins are tied together: brought up, and failed safe, as one.

    oe: a machine.Pin already driven high (outputs off) on the common /OE, or
    None where the board has none. ticks_ms and ticks_diff (time's on a board)
    space the retries. `failsafe` is True when /OE guarantees the outputs are
    off after a failure; without it a chip that stops answering keeps
    whatever duty it had. `starts` counts successful bring-ups: after a
    second one every channel of the bank is at +12 V (no offer), whatever
    was written to it before the fault.
    """

    def __init__(self, chips, oe, ticks_ms, ticks_diff, freq_hz=1000, retry_ms=5000, before=None):
        self.chips = chips
        self.oe = oe
        self.failsafe = oe is not None
        self.ticks_ms = ticks_ms
        self.ticks_diff = ticks_diff
        self.freq_hz = freq_hz
        self.retry_ms = retry_ms
        self.fault = True      # until start() has gone through
        self.error = None      # the OSError that took it down
        self.tried = None      # ticks_ms of the last bring-up or failure
        self.starts = 0
        self.before = before   # called before each bring-up: the bus recovery (outputs.py)
        self.off()

    def off(self):
        """/OE high: every output of the bank low, i.e. -12 V. A GPIO: needs no bus."""
        if self.oe is not None:
            self.oe.value(1)

    def start(self):
        """Init every chip and write it safe (+12 V, no offer), then /OE low.

        Returns True when the bank is up. Never raises OSError: a chip that
        does not answer leaves the bank down, /OE high, the error in `error`.
        """
        self.tried = self.ticks_ms()
        self.off()
        try:
            if self.before is not None:
                self.before()
            for c in self.chips:
                c.init(self.freq_hz)
                c.all_permille(pilot.PAUSED_PERMILLE)
        except OSError as e:
            self.fault = True
            self.error = e
            return False
        self.fault = False
        self.error = None
        self.starts += 1
        if self.oe is not None:
            self.oe.value(0)
        return True

    def failed(self, e):
        """A write raised: every output off at once; a retry waits retry_ms."""
        self.off()
        self.fault = True
        self.error = e
        self.tried = self.ticks_ms()

    def ready(self):
        """True when the bank may be written: up, or brought up again now.

        A down bank is tried at most once every retry_ms; in between this
        returns False without a byte on the bus.
        """
        if not self.fault:
            return True
        if self.tried is not None and self.ticks_diff(self.ticks_ms(), self.tried) < self.retry_ms:
            return False
        return self.start()

    def names(self):
        return ", ".join("PCA9685 0x%02x" % c.addr for c in self.chips)


class Channel:
    """One expander channel behind the pilot output interface (hal.py).

    set_permille raises OSError when the chip does not take the write (the
    bank's /OE has then gone high: this output is at -12 V if `failsafe`), and
    while the bank is down, without touching the bus, until a retry brings it
    up again (every channel of the bank then restarts at +12 V).
    """

    def __init__(self, bank, pca, channel):
        if type(channel) is not int or not 0 <= channel <= 15:
            raise ValueError("PCA9685 channel %r" % (channel,))
        self.bank = bank
        self.pca = pca
        self.channel = channel
        self.failsafe = bank.failsafe

    def set_permille(self, permille):
        bank = self.bank
        if bank.fault:
            pilot.duty_to_pca9685(permille)   # a bad value is a ValueError, not a retry
            if not bank.ready():
                raise OSError(_EIO, "%s down" % bank.names())
        try:
            self.pca.set_permille(self.channel, permille)
        except OSError as e:
            bank.failed(e)
            raise
