"""A fake I2C bus with PCA9685s and ADS7828s on it: register files, decoded outputs, inputs.

    bus = FakeI2C({0x40: FakePCA9685(), 0x48: FakeADS7828()}); pca9685.PCA9685(bus).init(1000)
    bus.devices[0x40].duty_permille(3), bus.devices[0x40].freq_hz()
    bus.devices[0x48].set_volts(5, 2.9)         # what ADS7828 input 5 sees
    bus.fail(0x40); bus.fail_after(3); bus.heal()   # OSError on demand

Models what the driver relies on (PCA9685 datasheet rev. 4): power-on values,
MODE1 auto-increment (else every byte lands on the same register), PRE_SCALE
written only while SLEEP is set (7.3.5), EXTCLK settable only in SLEEP and
sticky, ALL_LED writing every channel and reading as zero (7.3.4), full off
winning over full on (7.3.3), RESTART, INVRT, and what the pins do with /OE high
(OUTNE, 7.3.2). A missing address, `bus.nack = errno`, an address failed with
`bus.fail(addr)` or every transfer after `bus.fail_after(n)` raises OSError
like machine.I2C (19 ENODEV: address not acknowledged; 5 EIO).

The ADS7828 (TI SBAS181): one command byte, then two bytes read back with a
repeated START (readfrom_mem_into(addr, command, buf)): 0000 D11-D8, D7-D0.
Command byte: SD (bit 7: 1 single-ended), C2-C0 (bits 6-4; single-ended input
= C2 | C1 C0 << 1: 000 CH0, 100 CH1, 001 CH2, 101 CH3, ...), PD1 (bit 3:
internal 2.5 V reference on), PD0 (bit 2: converter on between conversions).
The fake converts against the 2.5 V internal reference when PD1 is set (so a
driver that turns it on reads wrong), else against `vref_v` on REFin; SD = 0
gives the differential pair (CH0-CH1, ...), clipped at 0.
"""

_OSC_HZ = 25000000
_MODE1, _MODE2, _LED0, _LED_END, _ALL_LED, _PRESCALE = 0x00, 0x01, 0x06, 0x46, 0xFA, 0xFE
_RESTART, _EXTCLK, _AI, _SLEEP, _INVRT, _FULL = 0x80, 0x40, 0x20, 0x10, 0x10, 0x10


class FakePCA9685:
    def __init__(self, osc_hz=_OSC_HZ, extclk_hz=None):
        self.osc_hz = osc_hz          # the internal oscillator of this chip
        self.extclk_hz = extclk_hz    # what is wired to EXTCLK, if anything
        self.regs = bytearray(256)
        self.regs[_MODE1] = 0x11      # power-on: SLEEP | ALLCALL
        self.regs[_MODE2] = 0x04      # OUTDRV
        self.regs[_PRESCALE] = 0x1E   # 200 Hz
        for ch in range(16):
            self.regs[_LED0 + 4 * ch + 3] = _FULL   # every output full off (7.5)
        self.log = []                 # (register, byte) for every byte written
        self.record = True            # False: no log, so writes allocate nothing

    def _store(self, reg, b):
        old = self.regs[_MODE1]
        if reg == _MODE1:
            # EXTCLK only goes on in SLEEP, and then stays on (7.3.1)
            ext = _EXTCLK if b & _EXTCLK and old & _SLEEP else old & _EXTCLK
            # RESTART (7.3.1.1): set by going to SLEEP while running, cleared
            # by writing it 1 (which resumes the old PWM); writing 0 does nothing
            restart = 0 if b & _RESTART else old & _RESTART
            if b & _SLEEP and not old & _SLEEP:
                restart = _RESTART
            self.regs[_MODE1] = (b & 0x3F) | ext | restart
        elif reg == _PRESCALE:
            if self.regs[_MODE1] & _SLEEP:   # 7.3.5: ignored while awake
                self.regs[reg] = b
        elif _ALL_LED <= reg < _PRESCALE:
            for ch in range(16):
                self.regs[_LED0 + 4 * ch + reg - _ALL_LED] = b
            self.regs[_MODE1] = old & ~_RESTART   # a PWM write clears RESTART
        elif reg < _LED_END:
            self.regs[reg] = b
            if reg >= _LED0:
                self.regs[_MODE1] = old & ~_RESTART
        else:
            raise ValueError("PCA9685 has no register 0x%02x to write" % reg)

    def write(self, reg, data):
        for b in data:
            if self.record:
                self.log.append((reg, b))
            self._store(reg, b)
            if self.regs[_MODE1] & _AI:
                reg = (reg + 1) & 0xFF
            # without AI the next byte goes to the same register again

    def read_into(self, reg, buf):
        for i in range(len(buf)):
            buf[i] = 0 if _ALL_LED <= reg < _PRESCALE else self.regs[reg]   # 7.3.4: read as 0
            if self.regs[_MODE1] & _AI:
                reg = (reg + 1) & 0xFF

    def awake(self):
        return not self.regs[_MODE1] & _SLEEP

    def freq_hz(self):
        """PWM frequency from PRE_SCALE and the clock in use (7.3.5)."""
        clk = self.extclk_hz if self.regs[_MODE1] & _EXTCLK else self.osc_hz
        return clk / (4096 * (self.regs[_PRESCALE] + 1))

    def duty_permille(self, ch):
        """The duty channel ch's pin outputs (after INVRT), in permille (float)."""
        r = self.regs[_LED0 + 4 * ch: _LED0 + 4 + 4 * ch]
        on = r[0] | (r[1] & 0x0F) << 8
        off = r[2] | (r[3] & 0x0F) << 8
        if r[3] & _FULL:
            d = 0.0                   # full off wins over full on (7.3.3)
        elif r[1] & _FULL:
            d = 1000.0
        else:
            d = ((off - on) % 4096) * 1000 / 4096
        return 1000.0 - d if self.regs[_MODE2] & _INVRT else d


    def pin_permille(self, ch, oe_high):
        """The duty on channel ch's pin given the /OE line: with /OE high,
        OUTNE 00 drives it low (0.0), 01 high with OUTDRV, else high impedance (None)."""
        if not oe_high:
            return self.duty_permille(ch)
        outne = self.regs[_MODE2] & 0x03
        if outne == 0:
            return 0.0
        if outne == 1 and self.regs[_MODE2] & 0x04:
            return 1000.0
        return None

    def power_cycle(self):
        """The chip lost its supply: every register back to its power-on value."""
        self.__init__(self.osc_hz, self.extclk_hz)


_ADS_INTERNAL_REF_V = 2.5


class FakeADS7828:
    """TI ADS7828: 8 inputs, 12 bits. set_volts(i, v): what input i sees."""

    def __init__(self, vref_v=3.3, volts=None):
        self.vref_v = vref_v          # on REFin: the board's reference
        self.volts = [0.0] * 8
        self.codes = [0] * 8          # single-ended on REFin, computed once (no float per read)
        for i, v in enumerate(volts or ()):
            self.set_volts(i, v)
        self.commands = []            # every command byte received
        self.record = True            # False: no log, so reads allocate nothing
        self._cmd = None

    def set_volts(self, i, v):
        self.volts[i] = v
        self.codes[i] = self._code(v, self.vref_v)

    @staticmethod
    def _code(v, ref):
        code = int(v / ref * 4096)    # an ideal converter: floor(v / LSB), LSB = ref / 4096
        return 0 if code < 0 else 4095 if code > 4095 else code

    @staticmethod
    def input_of(cmd):
        """The single-ended input a command byte selects (SD = 1)."""
        sel = (cmd >> 4) & 7
        return ((sel & 3) << 1) | (sel >> 2)

    def convert(self, cmd):
        sel = (cmd >> 4) & 7
        if cmd & 0x80 and not cmd & 0x08:
            return self.codes[self.input_of(cmd)]
        ref = _ADS_INTERNAL_REF_V if cmd & 0x08 else self.vref_v
        if cmd & 0x80:
            v = self.volts[self.input_of(cmd)]
        else:                         # differential: pair (sel & 3), polarity bit 2
            a, b = 2 * (sel & 3), 2 * (sel & 3) + 1
            if sel & 4:
                a, b = b, a
            v = self.volts[a] - self.volts[b]
        return self._code(v, ref)

    def write(self, reg, data):
        """A command byte (machine.I2C writes it as the 'register')."""
        if self.record:
            self.commands.append(reg)
        self._cmd = reg
        if len(data):
            raise ValueError("ADS7828 takes one command byte, got %d more" % len(data))

    def read_into(self, reg, buf):
        """readfrom_mem_into(addr, command, buf): the command, then the result."""
        self.write(reg, b"")
        self.read_raw(buf)

    def read_raw(self, buf):
        if self._cmd is None:
            raise OSError(5)
        code = self.convert(self._cmd)
        buf[0] = code >> 8
        if len(buf) > 1:
            buf[1] = code & 0xFF


class FakeI2C:
    def __init__(self, devices):
        self.devices = devices        # addr -> FakePCA9685 or FakeADS7828
        self.nack = 0                 # errno to fail every transfer with; 0: answer
        self.failed = {}              # addr -> errno: that device stopped answering
        self.left = None              # transfers until every one fails (fail_after)
        self.transfers = 0            # transfers attempted

    def fail(self, addr, errno=19):
        """The device at addr stops answering (ENODEV), or fails with errno."""
        self.failed[addr] = errno

    def fail_after(self, n, errno=5):
        """n more transfers go through, then every one raises OSError(errno)."""
        self.left = n
        self._after = errno

    def heal(self):
        self.nack = 0
        self.failed = {}
        self.left = None

    def _dev(self, addr):
        self.transfers += 1
        if self.left is not None:
            if self.left <= 0:
                raise OSError(self._after)
            self.left -= 1
        if self.nack:
            raise OSError(self.nack)
        if addr in self.failed:
            raise OSError(self.failed[addr])
        if addr not in self.devices:
            raise OSError(19)         # ENODEV, as machine.I2C raises on an address NACK
        return self.devices[addr]

    def writeto_mem(self, addr, reg, buf):
        self._dev(addr).write(reg, buf)

    def writeto(self, addr, buf):
        """A plain write: the first byte is the register pointer."""
        self._dev(addr).write(buf[0], memoryview(buf)[1:])

    def readfrom_mem_into(self, addr, reg, buf):
        self._dev(addr).read_into(reg, buf)

    def readfrom_into(self, addr, buf):
        self._dev(addr).read_raw(buf)

    def readfrom_mem(self, addr, reg, n):
        buf = bytearray(n)
        self.readfrom_mem_into(addr, reg, buf)
        return bytes(buf)
