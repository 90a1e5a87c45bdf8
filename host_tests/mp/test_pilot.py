"""pilot: the J1772 table at every breakpoint, decode never above the offer, debounced states."""
import time

import micropython

import pilot
from mpunit import eq, ok, raises

# amps -> (duty % by the standard's formula, permille we send): floored in the
# first segment, exact in the second; 52 A falls in the standard's gap
TABLE = ((6, 10.0, 100), (7, 11.667, 116), (10, 16.667, 166), (16, 26.667, 266),
         (32, 53.333, 533), (40, 66.667, 666), (48, 80.0, 800), (50, 83.333, 833),
         (51, 85.0, 850), (52, 84.8, 848), (63, 89.2, 892), (79, 95.6, 956), (80, 96.0, 960))


def test_breakpoints():
    for amps, percent, permille in TABLE:
        got = pilot.amps_to_duty_permille(amps)
        eq(got, permille, "%d A" % amps)
        ok(-0.001 < percent * 10 - got < 1, "%d A: %d permille is not %.3f %% floored" % (amps, got, percent))


def test_51_amp_boundary_uses_the_first_segment():
    # I / 2.5 + 64 would give 84.4 % at 51 A, which the car reads as 50.64 A
    eq(pilot.amps_to_duty_permille(51), 850)
    eq(pilot.decode_duty_permille(850), 510)


def test_out_of_range_refused():
    for bad in (0, 5, 81, 100, -6, -1, 16.0, 6.5, "16", None, True, False):
        raises(ValueError, pilot.amps_to_duty_permille, bad)
    for fn in (pilot.duty_to_u16, pilot.duty_to_pca9685):
        for bad in (1001, -1, 500.0, None, True):
            raises(ValueError, fn, bad)
    raises(ValueError, pilot.decode_duty_permille, 266.0)


def test_round_trip_never_gives_more_than_offered():
    for amps in range(6, 81):
        d = pilot.decode_duty_permille(pilot.amps_to_duty_permille(amps))
        ok(0 < d <= amps * 10, "%d A decodes to %r dA: more than offered" % (amps, d))
        if amps == 52:
            eq(d, 508, "52 A: the standard's gap, read as 50.88 A")
        else:
            ok(d >= amps * 10 - 2, "%d A decodes to %r dA: too little" % (amps, d))


def test_decode_bands():
    for permille, want in ((0, pilot.ERROR), (29, pilot.ERROR), (30, pilot.DIGITAL),
                           (50, pilot.DIGITAL), (70, pilot.DIGITAL), (71, pilot.ERROR),
                           (79, pilot.ERROR), (80, 60), (99, 60), (100, 60), (266, 159),
                           (850, 510), (851, 527), (900, 650), (960, 800), (961, 800),
                           (970, 800), (971, pilot.ERROR), (1000, pilot.ERROR)):
        eq(pilot.decode_duty_permille(permille), want, "%d permille" % permille)


def test_decode_is_monotonic_over_the_offers():
    last = 0
    for permille in range(80, 971):
        d = pilot.decode_duty_permille(permille)
        ok(d >= last, "%d permille decodes to %d dA, below %d" % (permille, d, last))
        last = d


def test_constant_levels_offer_nothing():
    eq(pilot.PAUSED_PERMILLE, 1000)     # +12 V, B1/C1
    eq(pilot.DISABLED_PERMILLE, 0)      # -12 V, state F
    eq(pilot.decode_duty_permille(pilot.PAUSED_PERMILLE), pilot.ERROR)
    eq(pilot.decode_duty_permille(pilot.DISABLED_PERMILLE), pilot.ERROR)


def test_duty_u16():
    for permille, u16 in ((0, 0), (1, 65), (100, 6553), (266, 17432), (999, 65469), (1000, 65535)):
        eq(pilot.duty_to_u16(permille), u16, "%d permille" % permille)


def test_duty_pca9685():
    for permille, counts in ((0, 0), (1, 4), (100, 409), (266, 1089), (999, 4091), (1000, 4096)):
        eq(pilot.duty_to_pca9685(permille), counts, "%d permille" % permille)
    for permille in range(1000):
        ok(pilot.duty_to_pca9685(permille) * 1000 <= permille * 4096, "never longer than asked")


def test_states_from_voltage():
    for mv, st in ((13000, "A"), (12000, "A"), (11000, "A"), (10999, None), (10001, None),
                   (10000, "B"), (9000, "B"), (8000, "B"), (7500, None), (6000, "C"),
                   (3000, "D"), (1500, None), (1000, "E"), (0, "E"), (-1000, "E"),
                   (-5000, None), (-11000, "F"), (-12000, "F"), (-13000, "F"), (-13001, None),
                   (13001, None)):
        eq(pilot.state_of_mv(mv), st, "%d mV" % mv)


def _diff(a, b):
    return a - b


def test_debounce():
    s = pilot.PilotState(_diff)
    eq(s.update(0, 9000), "A")        # B must hold 500 ms
    eq(s.update(400, 9000), "A")
    eq(s.update(500, 9000), "B")
    eq(s.update(600, 6000), "B")      # B->C: 500 ms
    eq(s.update(800, 9000), "B")      # a blip back does not count
    eq(s.update(900, 6000), "B")
    eq(s.update(1399, 6000), "B")
    eq(s.update(1400, 6000), "C")
    eq(s.update(1500, 9000), "C")     # C->B: 500 ms too
    eq(s.update(1999, 9000), "C")
    eq(s.update(2000, 9000), "B")
    eq(s.update(2100, 12000), "B")    # unplugged: safer, 100 ms is enough
    eq(s.update(2200, 12000), "A")
    eq(s.update(2300, 10500), "A")    # between bands: an error only if it lasts
    eq(s.update(2799, 10500), "A")
    eq(s.update(2800, 10500), "E")


def test_safer_states_are_quick():
    for mv, st in ((0, "E"), (-12000, "F")):
        s = pilot.PilotState(_diff)
        s.update(0, 6000)
        eq(s.update(500, 6000), "C")
        eq(s.update(600, mv), "C")
        eq(s.update(699, mv), "C")
        eq(s.update(700, mv), st, "C -> %s in 100 ms" % st)


def test_debounce_across_the_ticks_wrap():
    # the port's own ticks_diff: t0 a little before ticks_ms() wraps to 0
    t0 = time.ticks_add(0, -300)
    s = pilot.PilotState(time.ticks_diff)
    eq(s.update(t0, 9000), "A")
    eq(s.update(time.ticks_add(t0, 499), 9000), "A")
    eq(s.update(time.ticks_add(t0, 500), 9000), "B")   # 200 ms after the wrap


def _locked(s):
    micropython.heap_lock()
    try:
        for now in range(0, 1000, 100):
            s.update(now, 6000)
            pilot.amps_to_duty_permille(16)
            pilot.amps_to_duty_permille(63)
            pilot.duty_to_u16(266)
            pilot.duty_to_pca9685(266)
            pilot.decode_duty_permille(266)
    finally:
        micropython.heap_unlock()


def test_hot_path_allocates_nothing():
    # the read-back's loop over every charger: test_readback.test_states_allocates_nothing
    s = pilot.PilotState(_diff)
    _locked(s)
    eq(s.state, "C")
