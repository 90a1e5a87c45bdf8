"""SAE J1772 / IEC 61851-1 control pilot: amps <-> duty, and the pilot's state.

    permille = amps_to_duty_permille(16)    # 266 (26.6 %): 15.96 A, never more than 16 A
    st = PilotState(time.ticks_diff); st.update(now_ms, 9000)   # "B" once held 500 ms

The only module that computes a duty. Amps in are whole amps (the allocator
works in whole amps); a duty is an int in permille (0.1 %), so there is no
float on the way to the outputs. Pure logic: no hardware, no `time`.

IEC 61851-1:2017 Table A.7 (what the EVSE sends): 6 A <= I <= 51 A: duty % =
I / 0.6 (10-85 %); 51 A < I <= 80 A: duty % = I / 2.5 + 64 (85-96 %). In
permille that is I * 50 / 3 (floored: the car may never read more than asked)
and I * 4 + 640 (exact). Table A.8 (what the EV reads) is the inverse, with
8-10 % as 6 A, 96-97 % as 80 A, 3-7 % digital communication and anything
else "no charging allowed".
"""

from micropython import const

MIN_A = const(6)     # below this there is no valid offer: pause instead
MAX_A = const(80)
_SEG_A = const(51)   # last current of the first segment (85.0 % exactly)

# The two offers that are not a PWM. Both are a constant level, so neither
# allows charging (Table A.8: < 3 % and > 97 %):
# - constant +12 V (100 %): states B1/C1 of Table A.3, "EVSE not ready": the
#   car stays connected and stops drawing. A paused charger, and the boot state.
PAUSED_PERMILLE = const(1000)
# - constant -12 V (0 %): state F, "EVSE not available" (Table A.3). Our
#   outputs are PWM into a +-12 V driver stage, so 0 % duty IS the -12 V level;
#   there is no third level to pick. For a charger in error or disabled: unlike
#   a pause, the car is told this EVSE will not charge it at all.
DISABLED_PERMILLE = const(0)

# decode_duty_permille codes: negative, so never mistaken for a current
DIGITAL = const(-1)   # 3-7 %: digital communication (ISO 15118 / DIN 70121)
ERROR = const(-2)     # no valid offer: charging not allowed (includes both constants)


def amps_to_duty_permille(amps):
    """Duty (permille) that offers `amps` (int, 6-80 A); ValueError otherwise.

    Rounded down, so the duty never means more than `amps`. Table A.7 leaves
    a gap at 52 A: the second formula gives 84.8 %, which the car reads with
    the first (Table A.8) as 50.88 A: less than asked, so safe, and what the
    standard says to send.
    """
    # type() rather than isinstance(): True and 16.0 are refused too
    if type(amps) is not int or not MIN_A <= amps <= MAX_A:
        raise ValueError("pilot offer must be a whole 6-80 A, got %r" % (amps,))
    if amps <= _SEG_A:
        return amps * 50 // 3    # I / 0.6 %, floored; 51 A is exactly 850
    return amps * 4 + 640        # I / 2.5 + 64 %, exact in permille


def decode_duty_permille(permille):
    """What a duty offers, as Table A.8 reads it: DECI-amps (int), or DIGITAL / ERROR.

    Floored like the encoder, so a round trip never gives more than was offered.
    """
    if type(permille) is not int:
        raise ValueError("duty %r permille: not an int" % (permille,))
    if 30 <= permille <= 70:
        return DIGITAL
    if 80 <= permille < 100:
        return 60                              # 8-10 %: 6 A
    if 100 <= permille <= 850:
        return permille * 6 // 10              # duty % * 0.6 A
    if 850 < permille <= 960:
        return (permille - 640) * 25 // 10     # (duty % - 64) * 2.5 A
    if 960 < permille <= 970:
        return 800                             # 96-97 %: 80 A
    return ERROR                               # < 3 %, 7-8 %, > 97 %


def _check(permille):
    if type(permille) is not int or not 0 <= permille <= 1000:
        raise ValueError("duty %r permille out of range" % (permille,))


def duty_to_u16(permille):
    """For PWM.duty_u16: 0..65535, 1000 permille is 65535 (constant high). Floored."""
    _check(permille)
    return permille * 65535 // 1000


def duty_to_pca9685(permille):
    """PCA9685 counts: 0..4095 high per 4096-count period, or 4096 for 100 %.

    4096 is 0x1000, bit 12: exactly the FULL ON bit of LEDn_ON (PCA9685
    datasheet 7.3.3), as a 4096-count high time cannot be written. Floored.
    """
    _check(permille)
    return permille * 4096 // 1000


# Pilot high level in mV (after the read-back divider is undone) -> state.
# IEC 61851-1 Table A.4 nominal +-1 V, both edges inclusive:
#   A 11.0..13.0 V  B 8.0..10.0 V  C 5.0..7.0 V  D 2.0..4.0 V
#   E -1.0..1.0 V   F -13.0..-11.0 V
# Between bands (e.g. 10.5 V) there is no state: noise or a bad contact.
_BANDS = (("A", 11000, 13000), ("B", 8000, 10000), ("C", 5000, 7000),
          ("D", 2000, 4000), ("E", -1000, 1000), ("F", -13000, -11000))
_SAFER = "AEF"   # no vehicle, or an error: believed after safe_ms


def state_of_mv(mv):
    """The state letter whose band holds `mv`, or None between bands."""
    for st, lo, hi in _BANDS:
        if lo <= mv <= hi:
            return st
    return None


class PilotState:
    """Debounced pilot state from read-back voltages.

    A new state is reported once seen continuously for hold_ms (500 ms: the
    B->C and C->B debounce real EVSE stacks use), or only safe_ms for a
    safer state (A unplugged, E short, F unavailable). A voltage in no band
    held for hold_ms is reported as E. Until a state has held, the report is
    "A": no vehicle, so nothing is offered on a guess; after forget() it is
    None ("not read back"), as readback.Readback starts every charger.

    Time: now_ms from ticks_ms(), compared with the `ticks_diff` handed in
    (the port's own time.ticks_diff). Not a local 2**30 mask: ticks wrap at
    2**30 on the 32-bit boards but at 2**62 on the 64-bit unix port.
    """

    def __init__(self, ticks_diff, hold_ms=500, safe_ms=100):
        self.ticks_diff = ticks_diff
        self.hold_ms = hold_ms
        self.safe_ms = safe_ms
        self.state = "A"  # type: str | None
        self._cand = None    # the state seen since _since, not yet reported
        self._since = 0

    def forget(self):
        """The read-back was lost: report None (not read back) until a state
        has held again, rather than a state from before the gap."""
        self.state = None
        self._cand = None

    def update(self, now_ms, mv):
        """Feed one read-back (mV) at now_ms; returns the debounced state letter
        (None after forget() until a state has held)."""
        seen = state_of_mv(mv)
        st = seen or "E"
        if st == self.state:
            self._cand = None
            return st
        if st != self._cand:
            self._cand = st
            self._since = now_ms
        # between bands is not a proven error: it must last the full hold
        need = self.safe_ms if seen is not None and st in _SAFER else self.hold_ms
        if self.ticks_diff(now_ms, self._since) >= need:
            self.state = st
            self._cand = None
        return self.state
