"""A fake I2C bus with PCA9685s on it: decodes what the driver writes.

    bus = FakeI2C({0x40: FakePCA9685()}); bus.devices[0x40].duty_permille(3)
"""

_OSC_HZ = 25000000


class FakePCA9685:
    def __init__(self):
        self.regs = bytearray(256)
        self.regs[0x00] = 0x11  # power-on MODE1: SLEEP | ALLCALL
        self.regs[0x01] = 0x04
        self.regs[0xFE] = 0x1E  # power-on prescale: 200 Hz
        self.log = []

    def write(self, reg, data):
        for b in data:
            self.log.append((reg, b))
            if reg == 0xFE and not self.regs[0x00] & 0x10:
                pass  # datasheet 7.3.5: PRE_SCALE is ignored unless SLEEP is set
            elif 0xFA <= reg <= 0xFD:  # ALL_LED: written to every channel
                for ch in range(16):
                    self.regs[0x06 + 4 * ch + reg - 0xFA] = b
            else:
                self.regs[reg] = b
            if self.regs[0x00] & 0x20:
                reg = (reg + 1) & 0xFF
            # without AI the same register is written again

    def freq_hz(self):
        return _OSC_HZ / (4096 * (self.regs[0xFE] + 1))

    def awake(self):
        return not self.regs[0x00] & 0x10

    def duty_permille(self, ch):
        """The duty channel ch outputs (after INVRT), in permille (float)."""
        r = self.regs[0x06 + 4 * ch: 0x0A + 4 * ch]
        on = r[0] | (r[1] & 0x0F) << 8
        off = r[2] | (r[3] & 0x0F) << 8
        if r[3] & 0x10:
            d = 0.0
        elif r[1] & 0x10:
            d = 1000.0
        else:
            d = ((off - on) % 4096) * 1000 / 4096
        return 1000.0 - d if self.regs[0x01] & 0x10 else d


class FakeI2C:
    def __init__(self, devices):
        self.devices = devices
        self.nack = False

    def _dev(self, addr):
        if self.nack or addr not in self.devices:
            raise OSError(19)  # ENODEV, as machine.I2C raises on a NACK
        return self.devices[addr]

    def writeto_mem(self, addr, reg, buf):
        self._dev(addr).write(reg, bytes(buf))

    def readfrom_mem(self, addr, reg, n):
        d = self._dev(addr)
        return bytes(d.regs[reg:reg + n])
