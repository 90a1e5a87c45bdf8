"""The few `machine` parts the hub uses, recording what happens, in order.

    import fake_machine as machine; machine.fresh()   # a new board: empty LOG, PCA9685s at 0x40, 0x41
    machine.LOG        # [("pwm", pin, duty_u16), ("pin", pin, level), ("wdt", ms), ("i2c", addr, reg), ...]
    machine.level(16)  # the level a pin is driven to (None: never driven)
    machine.STUCK.append(machine.StuckDevice(sda=0, scl=1, clocks=3))   # a device holding SDA low
    machine.reset()    # what the firmware calls to reset the board: raises ResetBoard

Pins are wires: a pin in OPEN_DRAIN mode drives only low, and reads low when
a StuckDevice holds it (a device an MCU reset left in the middle of a byte:
it lets go of SDA after `clocks` more rising edges on SCL). While any device
holds SDA, every transfer of an I2C bus made here raises OSError(110), as a
controller that cannot get its START out does.
"""
from fake_i2c import FakeI2C, FakePCA9685

LOG = []
EXPANDERS = {}  # addr -> FakePCA9685 or FakeADS7828, on every I2C bus made
LEVELS = {}     # pin -> level driven (OUT) or let go (OPEN_DRAIN 1)
STUCK = []      # StuckDevice


class ResetBoard(Exception):
    """machine.reset() was called: on a board, a reboot."""


class StuckDevice:
    def __init__(self, sda, scl, clocks):
        self.sda, self.scl, self.clocks = sda, scl, clocks
        self.pulses = 0

    def holds(self, pin):
        return pin == self.sda and self.clocks > 0

    def edge(self, pin, old, new):
        if pin == self.scl and old == 0 and new == 1:
            self.pulses += 1
            if self.clocks > 0:
                self.clocks -= 1


def level(pin):
    return LEVELS.get(pin)


def bus_stuck():
    return any(d.clocks > 0 for d in STUCK)


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, n, mode=None, pull=None, value=None):
        self.n = n
        self.mode = None
        self.init(mode, pull, value)

    def init(self, mode=None, pull=None, value=None):
        if mode is not None:
            self.mode = mode
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            if any(d.holds(self.n) for d in STUCK):
                return 0
            if self.mode in (None, Pin.IN):
                return 1                      # an input on a bus line: its pull-up
            return LEVELS.get(self.n, 1)
        v = 1 if v else 0
        old = LEVELS.get(self.n, 1)
        LEVELS[self.n] = v
        LOG.append(("pin", self.n, v))
        for d in STUCK:
            d.edge(self.n, old, v)
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


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
        LOG.append(("i2c_bus", id))

    def _dev(self, addr):
        if bus_stuck():
            raise OSError(110)                # ETIMEDOUT: SDA held low, no START
        return FakeI2C._dev(self, addr)

    def writeto_mem(self, addr, reg, buf):
        LOG.append(("i2c", addr, reg))
        FakeI2C.writeto_mem(self, addr, reg, buf)


class WDT:
    made = []

    def __init__(self, timeout):
        self.timeout = timeout
        self.feeds = 0
        LOG.append(("wdt", timeout))
        WDT.made.append(self)

    def feed(self):
        self.feeds += 1


def reset():
    LOG.append(("reset",))
    raise ResetBoard()


def fresh(addrs=(0x40, 0x41)):
    """A new board for the next test: empty log, wires, and PCA9685s at addrs."""
    del LOG[:]
    EXPANDERS.clear()
    LEVELS.clear()
    del STUCK[:]
    del WDT.made[:]
    for a in addrs:
        EXPANDERS[a] = FakePCA9685(extclk_hz=24576000)   # the boards feed EXTCLK
