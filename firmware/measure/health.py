"""Sensor health of a CT channel, judged from one capture's statistics.

    st = classify(mean12, min12, max12, frames)
    NAMES[st]  # -> "ok", "open", ...

Pure logic: no hardware, no clock. Inputs are 12-bit ADC units (0..4095).
The wiring these signatures assume (docs/boards-and-wiring.md, "CT input"): the bias divider
reaches the ADC pin only through the clamp's burden, and a 470 k pull-down
sits on the pin. So an unplugged or broken clamp reads ~0 V ("open"), a pin
shorted to the supply reads ~3.3 V ("shorted"), and a healthy input idles at
mid-rail with a few LSB of noise.
"""

from micropython import const

OK = const(0)
MISSING = const(1)    # the sampler returned fewer samples than asked
STALE = const(2)      # no fresh capture in time, or the same capture again
OPEN = const(3)       # pin pulled to 0 V: clamp unplugged or its lead broken
SHORTED = const(4)    # pin at the supply rail
STUCK = const(5)      # every sample identical: a live ADC always shows noise
SATURATED = const(6)  # a live signal reaches a rail: clipped, the reading is too low
BIAS = const(7)       # mid-rail bias drifted out of its band

NAMES = ("ok", "missing", "stale", "open", "shorted", "stuck", "saturated", "bias")

FULL12 = const(4095)
_OPEN_MAX = const(123)      # 3 % of full scale
_SHORT_MIN = const(3972)    # 97 % of full scale
_BIAS_MIN = const(1433)     # 35 % of full scale: the divider's tolerance band
_BIAS_MAX = const(2662)     # 65 %
_RAIL_LO = const(2)         # a sample this close to a rail is clipped: the
_RAIL_HI = const(4093)      # front end keeps 100 A at crest factor 3 clear of it


def classify(mean12, min12, max12, frames):
    """Status of one channel from a whole capture (ints, 12-bit units)."""
    if frames <= 0:
        return MISSING
    if max12 <= _OPEN_MAX:
        return OPEN
    if min12 >= _SHORT_MIN:
        return SHORTED
    if max12 == min12:
        return STUCK
    if min12 <= _RAIL_LO or max12 >= _RAIL_HI:
        return SATURATED
    if mean12 < _BIAS_MIN or mean12 > _BIAS_MAX:
        return BIAS
    return OK
