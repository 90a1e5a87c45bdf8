"""A fake I2C bus with PCA9685s on it: keeps their register files, decodes the outputs.

    bus = FakeI2C({0x40: FakePCA9685()}); pca9685.PCA9685(bus).init(1000)
    bus.devices[0x40].duty_permille(3), bus.devices[0x40].freq_hz()

Models what the driver relies on (PCA9685 datasheet rev. 4): power-on values,
MODE1 auto-increment (else every byte lands on the same register), PRE_SCALE
written only while SLEEP is set (7.3.5), EXTCLK settable only in SLEEP and
sticky, ALL_LED writing every channel and reading as zero (7.3.4), full off
winning over full on (7.3.3), RESTART, INVRT. A missing address, or `bus.nack = errno`,
raises OSError like machine.I2C (19 ENODEV: address not acknowledged; 5 EIO).
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


class FakeI2C:
    def __init__(self, devices):
        self.devices = devices        # addr -> FakePCA9685
        self.nack = 0                 # errno to fail every transfer with; 0: answer

    def _dev(self, addr):
        if self.nack:
            raise OSError(self.nack)
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

    def readfrom_mem(self, addr, reg, n):
        buf = bytearray(n)
        self.readfrom_mem_into(addr, reg, buf)
        return bytes(buf)
