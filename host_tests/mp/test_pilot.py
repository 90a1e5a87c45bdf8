"""pilot: the J1772 table at every breakpoint, decode round trips, debounced states."""
import pilot
from mpunit import eq, ok, raises

# amps -> duty permille, from the standard's formulas (floored for segment 1)
TABLE = ((6, 100), (7, 116), (10, 166), (16, 266), (32, 533), (40, 666), (48, 800),
         (50, 833), (51, 850), (52, 848), (63, 892), (79, 956), (80, 960))


def test_breakpoints():
    for amps, permille in TABLE:
        eq(pilot.amps_to_duty_permille(amps), permille, "%d A" % amps)


def test_out_of_range_refused():
    for bad in (0, 5, 81, -6, 16.0, "16", None, True):
        raises(ValueError, pilot.amps_to_duty_permille, bad)
    raises(ValueError, pilot.duty_to_u16, 1001)
    raises(ValueError, pilot.duty_to_u16, -1)


def test_decoded_offer_never_exceeds_what_was_asked():
    for amps in range(6, 81):
        d = pilot.decode_duty_permille(pilot.amps_to_duty_permille(amps))
        ok(0 < d <= amps * 10, "%d A decodes to %r dA" % (amps, d))
        ok(d >= amps * 10 - 15, "%d A decodes to %r dA: too little" % (amps, d))


def test_decode_bands():
    for permille, want in ((20, pilot.ERROR), (30, pilot.DIGITAL), (50, pilot.DIGITAL), (75, pilot.ERROR),
                           (80, 60), (100, 60), (266, 159), (850, 510), (900, 650), (960, 800),
                           (965, 800), (975, pilot.ERROR), (1000, pilot.ERROR)):
        eq(pilot.decode_duty_permille(permille), want, "%d permille" % permille)


def test_duty_u16():
    eq(pilot.duty_to_u16(1000), 65535)
    eq(pilot.duty_to_u16(0), 0)
    eq(pilot.duty_to_u16(266), 17432)


def test_states_from_voltage():
    for mv, st in ((12000, "A"), (11000, "A"), (9000, "B"), (6000, "C"), (3000, "D"), (0, "E"),
                   (-12000, "F"), (10500, None), (-5000, None)):
        eq(pilot.state_of_mv(mv), st, "%d mV" % mv)


def test_debounce():
    s = pilot.PilotState(lambda a, b: a - b)
    eq(s.update(0, 9000), "A")        # B must hold 500 ms
    eq(s.update(400, 9000), "A")
    eq(s.update(500, 9000), "B")
    eq(s.update(600, 6000), "B")      # C must hold 500 ms too
    eq(s.update(800, 9000), "B")      # a blip does not count
    eq(s.update(900, 6000), "B")
    eq(s.update(1399, 6000), "B")
    eq(s.update(1400, 6000), "C")
    eq(s.update(1450, 12000), "C")    # unplugged: safer, 100 ms is enough
    eq(s.update(1550, 12000), "A")
    eq(s.update(1600, 10500), "A")    # between bands: an error only if it lasts
    eq(s.update(2100, 10500), "E")


def test_readback_debounces_every_charger():
    volts = [12000, 9000, 6000]
    rb = pilot.Readback(lambda i: volts[i], 3, lambda a, b: a - b)
    eq(list(rb.states(0)), ["A", "A", "A"])
    eq(list(rb.states(600)), ["A", "B", "C"])
    volts[2] = 0
    eq(list(rb.states(650)), ["A", "B", "C"])
    eq(list(rb.states(800)), ["A", "B", "E"])
