"""Pilot outputs from a board definition: the MCU's own PWM, then PCA9685 channels.

    pilots = outputs.build(board, machine)    # each one already safe (+12 V, no offer)
    pilots[7].set_permille(266)

`machine` is handed in (the real module on a board, a fake in tests), so this
file imports no hardware. board["pilots"]:
    {"sim": 30,                                  # unix port: 30 simulated outputs, or
     "native": [GPIO, ...],                      # RP2040 PWM slices / ESP32 LEDC
     "i2c": {"id": 0, "scl": 5, "sda": 4, "freq": 400000},
     "pca9685": [{"addr": 64, "channels": 16}, ...],
     "invert": false}                            # the +-12 V driver stage inverts?
Charger i is driven by output i: native pins first, then expander channels.
"""

import pilot
import pca9685

PILOT_HZ = 1000  # J1772 / IEC 61851-1: 1 kHz +-2 %


class NativePWM:
    """One MCU PWM pin as a pilot output; constructed already at +12 V (no offer)."""

    def __init__(self, machine, pin, invert=False):
        self.invert = invert
        safe = pilot.duty_to_u16(pilot.PAUSED_PERMILLE)
        self.pwm = machine.PWM(machine.Pin(pin), freq=PILOT_HZ,
                               duty_u16=65535 - safe if invert else safe)

    def set_permille(self, permille):
        d = pilot.duty_to_u16(permille)   # refuses a value out of range
        self.pwm.duty_u16(65535 - d if self.invert else d)


class SimPilot:
    """A pilot output on the unix port: remembers its duty (permille)."""

    def __init__(self):
        self.permille = pilot.PAUSED_PERMILLE

    def set_permille(self, permille):
        if not 0 <= permille <= 1000:
            raise ValueError("duty %r permille out of range" % (permille,))
        self.permille = permille


def build(board, machine):
    """All pilot outputs of the board, in charger order, every one safe."""
    spec = board.get("pilots", {})
    if spec.get("sim"):
        return [SimPilot() for _ in range(spec["sim"])]
    invert = spec.get("invert", False)
    outs = [NativePWM(machine, pin, invert) for pin in spec.get("native", ())]
    if spec.get("pca9685"):
        bus = spec["i2c"]
        i2c = machine.I2C(bus["id"], scl=machine.Pin(bus["scl"]), sda=machine.Pin(bus["sda"]),
                          freq=bus.get("freq", 400000))
        for exp in spec["pca9685"]:
            chip = pca9685.PCA9685(i2c, exp["addr"], invert)
            chip.init(PILOT_HZ)
            chip.all_permille(pilot.PAUSED_PERMILLE)
            outs += [pca9685.Channel(chip, ch) for ch in range(exp.get("channels", 16))]
    return outs
