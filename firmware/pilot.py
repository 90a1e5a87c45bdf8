"""SAE J1772 / IEC 61851-1 control pilot: amps <-> duty, and the pilot's state.

    permille = amps_to_duty_permille(16)     # 266 (26.6 %), never more than 16 A
    st = PilotState(); st.update(now_ms, 9000)   # -> "B" once held 500 ms

The only module that computes a duty. Amps are whole amps; a duty is in
permille (0.1 %), so there is no float on the way to the outputs. Pure logic.

IEC 61851-1 Annex A: 6-51 A: duty % = A / 0.6 (10-85 %); 51-80 A: duty % =
A / 2.5 + 64 (85-96 %). Rounding is down, so the duty never means more than
asked (26.6 % is 15.96 A for 16 A). A constant +12 V (100 %) offers nothing:
a paused charger; a constant -12 V (0 %) is state F, "EVSE not available":
the safe state of a charger in error or disabled.
"""

from micropython import const

MIN_A = const(6)
MAX_A = const(80)
PAUSED_PERMILLE = const(1000)    # constant +12 V: connected, no current offered
DISABLED_PERMILLE = const(0)     # constant -12 V: state F, EVSE not available
DIGITAL = const(-1)              # decode: 3-7 % asks for digital communication
ERROR = const(-2)                # decode: no valid meaning


def amps_to_duty_permille(amps):
    """Duty (permille) that offers `amps` (int, 6-80), rounded to offer no more."""
    if not isinstance(amps, int) or isinstance(amps, bool) or not MIN_A <= amps <= MAX_A:
        raise ValueError("pilot offer must be a whole 6-80 A, got %r" % (amps,))
    if amps <= 51:
        return amps * 50 // 3    # A / 0.6 %, in permille, floored
    return amps * 4 + 640        # A / 2.5 + 64 %, exact in permille


def decode_duty_permille(permille):
    """Deci-amps a duty offers (reading a duty back), or DIGITAL / ERROR."""
    if 30 <= permille <= 70:
        return DIGITAL
    if 80 <= permille < 100:
        return 60
    if 100 <= permille <= 850:
        return permille * 6 // 10
    if 850 < permille <= 960:
        return (permille - 640) * 25 // 10
    if 960 < permille <= 970:
        return 800
    return ERROR


def duty_to_u16(permille):
    """For PWM.duty_u16: 1000 permille is 65535 (constant high)."""
    if not 0 <= permille <= 1000:
        raise ValueError("duty %r permille out of range" % (permille,))
    return permille * 65535 // 1000


# Pilot high level in millivolts (after the read-back divider is undone) ->
# state, IEC 61851-1 Table A.4 nominal +-1 V. Between bands: no state.
_BANDS = (("A", 11000, 13000), ("B", 8000, 10000), ("C", 5000, 7000),
          ("D", 2000, 4000), ("E", -1000, 1000), ("F", -13000, -11000))
_SAFER = "AEF"                  # no vehicle, or an error: act at once


def state_of_mv(mv):
    for st, lo, hi in _BANDS:
        if lo <= mv <= hi:
            return st
    return None


class PilotState:
    """Debounced pilot state from read-back voltages.

    A new state is reported once seen continuously for hold_ms (500 ms, the
    B->C debounce real EVSE stacks use), or safe_ms for a safer state (A, E,
    F). A voltage in no band for hold_ms reports E (error).
    """

    def __init__(self, ticks_diff, hold_ms=500, safe_ms=100):
        self.ticks_diff = ticks_diff
        self.hold_ms = hold_ms
        self.safe_ms = safe_ms
        self.state = "A"
        self._cand = None
        self._since = 0

    def update(self, now_ms, mv):
        st = state_of_mv(mv) or "E"
        if st == self.state:
            self._cand = None
            return self.state
        if st != self._cand:
            self._cand, self._since = st, now_ms
        need = self.safe_ms if st in _SAFER and state_of_mv(mv) else self.hold_ms
        if self.ticks_diff(now_ms, self._since) >= need:
            self.state, self._cand = st, None
        return self.state


class Readback:
    """Pilot states of all chargers from their read-back voltages (hal.py).

    read_mv(i) -> the pilot's high level in mV for charger i (the board's
    divider undone). states(now_ms) -> a letter per charger, debounced.
    """

    def __init__(self, read_mv, n, ticks_diff):
        self.read_mv = read_mv
        self.debounce = [PilotState(ticks_diff) for _ in range(n)]
        self.now = [None] * n

    def states(self, now_ms):
        out = self.now
        for i, d in enumerate(self.debounce):
            out[i] = d.update(now_ms, self.read_mv(i))
        return out
