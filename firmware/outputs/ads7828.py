"""TI ADS7828: 8-channel 12-bit ADC on I2C, for the pilot read-back.

    adc = ADS7828(i2c, 0x48)             # handed its bus, never creates it
    adc.read_into(codes, 8)              # codes[i] = input i, 0..4095; OSError if silent

Datasheet: TI SBAS181 (ADS7828). Addresses 0x48-0x4B (A1, A0 pins). One
conversion is a command byte written, then two bytes read after a repeated
START: 0000 D11-D8, then D7-D0 (machine.I2C.readfrom_mem_into does exactly
that with the command as the "register", into a preallocated 2-byte buffer,
so a read allocates nothing).

Command byte (SBAS181 Table I): SD | C2 C1 C0 | PD1 PD0 | x x
- SD = 1: single-ended, against COM (tied to GND).
- C2-C0: the input, in the chip's odd order (Table II): C2 is the input's
  lowest bit, C1 C0 its upper two: CH0 000, CH1 100, CH2 001, CH3 101,
  CH4 010, CH5 110, CH6 011, CH7 111.
- PD1 = 0: internal 2.5 V reference off, REFin is driven from outside (the
  board's 3.3 V rail: the read-back spans 0.1-2.9 V, beyond 2.5 V). PD0 = 1:
  the converter stays on between conversions (no wake-up at each read).
The first byte's upper four bits are always zero: anything else means
something that is not an ADS7828 answered, and the read raises OSError(EIO).
"""

from micropython import const

_SD = const(0x80)
_PD0 = const(0x04)     # converter on; PD1 (0x08) left 0: internal reference off
_EIO = const(5)
CHANNELS = const(8)


def command(ch):
    """The single-ended command byte for input ch (0-7)."""
    if type(ch) is not int or not 0 <= ch < CHANNELS:
        raise ValueError("ADS7828 input %r" % (ch,))
    return _SD | (((ch & 1) << 2) | (ch >> 1)) << 4 | _PD0


_COMMANDS = bytes(command(ch) for ch in range(CHANNELS))


class ADS7828:
    def __init__(self, i2c, addr=0x48):
        self.i2c = i2c
        self.addr = addr
        self._two = bytearray(2)

    def read(self, ch):
        """One conversion of input ch: 0..4095 (LSB = Vref / 4096)."""
        two = self._two
        self.i2c.readfrom_mem_into(self.addr, _COMMANDS[ch], two)
        if two[0] & 0xF0:
            raise OSError(_EIO)
        return (two[0] << 8) | two[1]

    def read_into(self, buf, n):
        """Inputs 0..n-1 into buf[0..n-1] (any int array). Allocates nothing;
        raises the bus's OSError when the chip does not answer."""
        if not 0 <= n <= CHANNELS:
            raise ValueError("ADS7828 has %d inputs, not %r" % (CHANNELS, n))
        for ch in range(n):
            buf[ch] = self.read(ch)
