"""Pilot outputs from a board definition: the MCU's own PWM, then PCA9685 channels.

    pilots = outputs.build(board, machine)    # each one already safe (+12 V, no offer)
    pilots[7].set_permille(266)

    out = outputs.Outputs(board, machine, time)   # native pins safe, /OE high: no I2C yet
    wdt = machine.WDT(timeout=...)                # (main.py) before any I2C work
    why = out.start()                             # bus recovery, expanders up; None or why not

`machine` and the clock (the time module: ticks_ms, ticks_diff, sleep_us) are
handed in (the real modules on a board, fakes in tests), so this file imports
no hardware. board["pilots"]:
    {"sim": 30,                                  # unix port: 30 simulated outputs, or
     "native": [GPIO, ...],                      # RP2040 PWM slices / ESP32 LEDC
     "i2c": {"id": 0, "scl": 5, "sda": 4, "freq": 400000},
     "oe": GPIO,                                 # the PCA9685s' /OE, tied together
     "pca9685": [{"addr": 64, "channels": 16, "extclk_hz": 24576000}, ...],
     "invert": false}                            # the +-12 V driver stage inverts?
Charger i is driven by output i: native pins first, then expander channels.

Each expander declares its clock: "extclk_hz" (an oscillator on EXTCLK;
24.576 MHz makes exactly 1 kHz) or "osc_hz" (its internal oscillator, as
measured on that board: the datasheet's 23-27 MHz make 936-1099 Hz). A board
whose expanders would miss 1 kHz +-2 % (IEC 61851-1 A.2) is refused with
a ValueError naming the expander.

Order (safety rule 1): native pins are created at +12 V; /OE is driven high
(the board's pull-up already holds it there while the MCU is in reset), so
the expanders' outputs are off (-12 V, state F) whatever their registers
hold; start() frees a stuck bus, initialises each chip and writes it safe,
and only then drives /OE low. A bank that fails keeps /OE high and is retried
by later writes (pca9685.Bank).
"""

import pilot
import pca9685

PILOT_HZ = 1000          # J1772 / IEC 61851-1: 1 kHz +-2 %
PILOT_TOL_HZ = 20
RETRY_MS = 5000          # a failed expander bank is tried again at most this often
_BUS_CLOCKS = 9          # UM10204 3.1.16: nine clocks free any device mid-byte
_HALF_US = 5             # SCL half period of the recovery: 100 kHz


class NativePWM:
    """One MCU PWM pin as a pilot output; constructed already at +12 V (no offer)."""

    failsafe = False     # no /OE: but a PWM register write cannot fail either

    def __init__(self, machine, pin, invert=False):
        self.invert = invert
        safe = pilot.duty_to_u16(pilot.PAUSED_PERMILLE)
        self.pwm = machine.PWM(machine.Pin(pin), freq=PILOT_HZ,
                               duty_u16=65535 - safe if invert else safe)

    def set_permille(self, permille):
        d = pilot.duty_to_u16(permille)   # refuses a value out of range
        self.pwm.duty_u16(65535 - d if self.invert else d)


def expander_clock(exp):
    """(clock Hz, on EXTCLK?) of one board expander entry, checked for 1 kHz +-2 %."""
    name = "PCA9685 0x%02x" % exp["addr"] if type(exp.get("addr")) is int else \
        "PCA9685 %r" % (exp.get("addr"),)
    ext, osc = exp.get("extclk_hz"), exp.get("osc_hz")
    if (ext is None) == (osc is None):
        raise ValueError("%s: give its clock, \"extclk_hz\" (an oscillator on EXTCLK) or "
                         "\"osc_hz\" (its internal oscillator as measured), one of them" % name)
    clk = osc if ext is None else ext
    try:
        hz = pca9685.pwm_hz(clk, PILOT_HZ)
    except ValueError as e:
        raise ValueError("%s: %s" % (name, e))
    if not PILOT_HZ - PILOT_TOL_HZ <= hz <= PILOT_HZ + PILOT_TOL_HZ:
        raise ValueError("%s: a %d Hz clock makes a %d Hz pilot, outside 1000 Hz +-2 %%"
                         % (name, clk, round(hz)))
    return clk, ext is not None


def recover_bus(machine, scl_pin, sda_pin, sleep_us):
    """Free an I2C bus whose SDA is held low; True when SDA is high at the end.

    An MCU reset in the middle of a read leaves the device driving a 0 on
    SDA, waiting for clocks that never come; the controller then cannot send
    a START (UM10204 3.1.16, bus clear). SCL is clocked as a GPIO up to nine
    times until SDA is let go, then a STOP (SDA rising while SCL is high)
    ends whatever the device thought it was in. Both lines open-drain, as
    the bus's pull-ups expect.
    """
    Pin = machine.Pin
    sda = Pin(sda_pin, Pin.OPEN_DRAIN, value=1)
    if sda.value():
        return True
    scl = Pin(scl_pin, Pin.OPEN_DRAIN, value=1)
    for _ in range(_BUS_CLOCKS):
        scl.value(0)
        sleep_us(_HALF_US)
        scl.value(1)
        sleep_us(_HALF_US)
        if sda.value():
            break
    scl.value(0)          # STOP: SDA low while SCL is low, SCL up, then SDA up
    sleep_us(_HALF_US)
    sda.value(0)
    sleep_us(_HALF_US)
    scl.value(1)
    sleep_us(_HALF_US)
    sda.value(1)
    sleep_us(_HALF_US)
    return bool(sda.value())


class Outputs:
    """Every pilot output of a board, in charger order (`pilots`), and its expander bank."""

    def __init__(self, board, machine, clock=None):
        spec = board.get("pilots", {})
        self.machine = machine
        self.native = []
        self.banks = []
        self.i2c = None
        self.bus = None
        self.sim = bool(spec.get("sim"))
        if self.sim:      # the unix port's simulated pilots (simulation/simadc.py: not on a board)
            import simadc
            self.pilots = [simadc.SimPilot() for _ in range(spec["sim"])]
            return
        invert = spec.get("invert", False)
        self.native = [NativePWM(machine, pin, invert) for pin in spec.get("native", ())]
        self.pilots = list(self.native)
        exps = spec.get("pca9685") or ()
        if not exps:
            return
        oe = None
        if spec.get("oe") is not None:
            oe = machine.Pin(spec["oe"], machine.Pin.OUT, value=1)   # outputs off, first
        if clock is None:
            import time as clock
        self.clock = clock
        self.bus = spec["i2c"]
        chips = []
        for exp in exps:
            clk, ext = expander_clock(exp)    # a board file mistake: ValueError, /OE stays high
            chips.append(pca9685.PCA9685(None, exp["addr"], invert, osc_hz=clk, extclk=ext))
        bank = pca9685.Bank(chips, oe, clock.ticks_ms, clock.ticks_diff, PILOT_HZ, RETRY_MS,
                            self._bus_up)
        self.banks.append(bank)
        for chip, exp in zip(chips, exps):
            self.pilots += [pca9685.Channel(bank, chip, ch) for ch in range(exp.get("channels", 16))]

    def _bus_up(self):
        """Before each bring-up: free the bus, then (re)make the I2C controller on it."""
        m, b = self.machine, self.bus
        recover_bus(m, b["scl"], b["sda"], self.clock.sleep_us)
        self.i2c = m.I2C(b["id"], scl=m.Pin(b["scl"]), sda=m.Pin(b["sda"]),
                         freq=b.get("freq", 400000))
        for bank in self.banks:
            for chip in bank.chips:
                chip.i2c = self.i2c

    def start(self):
        """Bring every expander bank up. Returns None, or why a bank is down."""
        for bank in self.banks:
            bank.start()
        return self.fault()

    def fault(self):
        """None when every bank is up, else what is down and why (one line)."""
        for bank in self.banks:
            if bank.fault:
                return "%s: %s" % (bank.names(), bank.error)
        return None

    def retry(self):
        """Try the banks that are down (each at most every RETRY_MS); True when all are up."""
        for bank in self.banks:
            bank.ready()
        return self.fault() is None

    def safe(self):
        """Every output to +12 V (no offer) where it can be written; a bank that is
        down stays off (its /OE high) and is retried by these writes."""
        for p in self.pilots:
            try:
                p.set_permille(pilot.PAUSED_PERMILLE)
            except OSError:
                pass

    def panic(self):
        """After a crash: native pins +12 V and every bank's /OE high, no I2C
        where /OE does the job (the bus may be what failed)."""
        for p in self.native:
            try:
                p.set_permille(pilot.PAUSED_PERMILLE)
            except Exception:
                pass
        for bank in self.banks:
            bank.failed(None)     # /OE high; no write brings it back before RETRY_MS
            if not bank.failsafe:
                for chip in bank.chips:
                    try:
                        chip.all_permille(pilot.PAUSED_PERMILLE)
                    except Exception:
                        pass
        if self.sim:
            for p in self.pilots:
                p.set_permille(pilot.PAUSED_PERMILLE)


def force_safe(board, machine):
    """From the board file alone, with no Outputs object (its constructor failed):
    native pins +12 V, /OE high. Each step on its own: one failing skips no other."""
    spec = board.get("pilots", {})
    if spec.get("sim") or machine is None:
        return
    for pin in spec.get("native", ()):
        try:
            NativePWM(machine, pin, spec.get("invert", False))
        except Exception:
            pass
    if spec.get("oe") is not None:
        try:
            machine.Pin(spec["oe"], machine.Pin.OUT, value=1)
        except Exception:
            pass


def build(board, machine, clock=None):
    """All pilot outputs of the board, in charger order, every one safe.

    Expanders that do not answer are left off (/OE high) and retried by
    later writes; this never raises OSError. ValueError: a bad board file.
    """
    out = Outputs(board, machine, clock)
    out.start()
    return out.pilots
