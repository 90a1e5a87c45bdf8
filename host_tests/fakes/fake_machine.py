"""The few `machine` parts the hub uses, recording what happens, in order.

    import fake_machine as machine; machine.LOG  # [("pwm", pin, duty_u16), ...]
"""
from fake_i2c import FakeI2C, FakePCA9685

LOG = []
EXPANDERS = {}  # addr -> FakePCA9685, on every I2C bus made


class Pin:
    def __init__(self, n, *a, **kw):
        self.n = n


class PWM:
    def __init__(self, pin, freq=None, duty_u16=None):
        self.pin = pin.n
        self.freq = freq
        self.duty = None
        if duty_u16 is not None:
            self.duty_u16(duty_u16)

    def duty_u16(self, d):
        self.duty = d
        LOG.append(("pwm", self.pin, d))


class I2C(FakeI2C):
    def __init__(self, id, scl=None, sda=None, freq=400000):
        FakeI2C.__init__(self, EXPANDERS)

    def writeto_mem(self, addr, reg, buf):
        LOG.append(("i2c", addr, reg))
        FakeI2C.writeto_mem(self, addr, reg, buf)


class WDT:
    def __init__(self, timeout):
        self.timeout = timeout
        self.feeds = 0
        LOG.append(("wdt", timeout))

    def feed(self):
        self.feeds += 1


def reset(addrs=(0x40, 0x41)):
    del LOG[:]
    EXPANDERS.clear()
    for a in addrs:
        EXPANDERS[a] = FakePCA9685()
