"""draws.Draws on its own (issue 21): what each charger draws, from the mains alone."""
import alloc
import draws
from mpunit import eq, ok

SETTLE = 5500


def tracker(n=3, nph=1):
    phases = ["L1", "L2", "L3"][:nph]
    site = alloc.Site(phases, [], [alloc.Charger("c%d" % i, alloc.ROOT, [i % nph]) for i in range(n)])
    return draws.Draws(site, lambda a, b: a - b)


def feed(d, t0, t1, m_of, offers, states=None):
    """Periods of 500 ms from t0 to t1: M (amps, per line) from m_of(t)."""
    t = t0
    while t <= t1:
        m = [int(a * 100) for a in m_of(t)]
        d.update(t, m, [True] * len(m), [-1] * d.n, states, offers, SETTLE)
        t += 500


def test_a_raise_answered_is_what_the_car_draws():
    d = tracker(n=1)
    offers = [0]
    feed(d, 0, 2000, lambda t: [4.0], offers)            # the house alone
    offers[0] = 12
    d.offered(0, 0, 12, 2500)
    feed(d, 2500, 10000, lambda t: [4.0 + (12 if t >= 4500 else 0)], offers)
    eq(d.took_ca[0], 1200)
    eq(d.pend_ca[0], 0)
    eq(d.house[0], 400)


def test_a_car_that_takes_less_shows_its_own_maximum():
    d = tracker(n=1)
    offers = [0]
    feed(d, 0, 1000, lambda t: [4.0], offers)
    offers[0] = 16
    d.offered(0, 0, 16, 1500)
    feed(d, 1500, 10000, lambda t: [4.0 + (10 if t >= 3500 else 0)], offers)   # it takes 10 of 16
    eq(d.took_ca[0], 1000)
    eq(d.cap_a(0, 10000), 10)
    eq(d.house[0], 400)
    eq(d.cap_a(0, 10000 + draws.CAP_MS), 0)       # asked again later: a car may take more


def test_the_house_dropping_is_won_back_not_taken_for_a_car():
    # two cars at 9 and 8 A, the house drops 10 A: no car draws exactly that much
    d = tracker(n=2)
    offers = [9, 8]
    d.took_ca[0], d.took_ca[1] = 900, 800
    feed(d, 0, 1000, lambda t: [14.0 + 17], offers)
    feed(d, 1500, 5000, lambda t: [4.0 + 17], offers)
    eq((d.took_ca[0], d.took_ca[1]), (900, 800))
    eq(d.house[0], 400)
    eq((d.suspect[0], d.suspect[1]), (0, 0))


def suspected(took_a, m_before, m_after):
    """Two cars drawing took_a; M falls from m_before to m_after, just what car 0
    draws: it is suspected, and cut to 6 A to ask. The tracker and the offers."""
    d = tracker(n=2)
    offers = list(took_a)
    d.took_ca[0], d.took_ca[1] = took_a[0] * 100, took_a[1] * 100
    feed(d, 0, 1000, lambda t: [m_before], offers)
    feed(d, 1500, 1500, lambda t: [m_after], offers)
    eq(d.suspect[0], 1)
    offers[0] = 6
    d.offered(0, took_a[0], 6, 1500)
    return d, offers


def test_a_drop_one_car_would_explain_is_asked_with_a_cut():
    # M falls by 9 A, what car 0 draws: stopped, or the house (10 A)?
    d, offers = suspected((9, 12), 31.0, 22.0)
    # it still charges: it follows the cut (M falls 3 A more), so the house dropped
    feed(d, 2000, 9000, lambda t: [22.0 - (3 if t >= 3000 else 0)], offers)
    eq(d.suspect[0], 0)
    eq(d.took_ca[0], 600)
    eq(d.house[0], 100)


def test_a_suspect_that_does_not_follow_its_cut_had_stopped():
    d, offers = suspected((10, 12), 30.0, 20.0)        # house 8 A; car 0 stops
    feed(d, 2000, 9000, lambda t: [20.0], offers)       # nothing follows the cut
    eq(d.suspect[0], 0)
    eq(d.took_ca[0], 0)
    eq(d.house[0], 800)


def test_a_start_of_a_standing_offer_is_the_car_not_the_house():
    d = tracker(n=2)
    offers = [6, 10]
    d.took_ca[1] = 1000
    feed(d, 0, 1000, lambda t: [15.0], offers)          # house 5 A, car 0 idle at its standing 6 A
    ok(d.idle(0), "idle")
    feed(d, 1500, 3000, lambda t: [21.0], offers)       # a late starter takes its 6 A
    eq(d.took_ca[0], 600)
    eq(d.house[0], 500)


def test_two_raises_on_one_line_wait_for_each_other():
    # M shows the sum of the answers on a line: a second raise there waits
    d = tracker(n=3, nph=2)     # c0 and c2 on L1, c1 on L2
    offers = [6, 6, 6]
    for i in range(3):
        d.took_ca[i] = 600
    feed(d, 0, 1000, lambda t: [12.0, 6.0], offers)
    offers[0] = 12
    d.offered(0, 6, 12, 1500)
    ok(d.crowded(2), "c2 shares L1 with c0's raise")
    ok(not d.crowded(1), "c1 is alone on L2")
    feed(d, 2000, 8000, lambda t: [18.0, 6.0], offers)
    ok(not d.crowded(2), "answered: L1 is free again")


def test_a_read_back_start_is_credited_by_its_state():
    d = tracker(n=2)
    offers = [6, 6]
    feed(d, 0, 1000, lambda t: [3.0], offers, ["B", "B"])
    d.offered(0, 0, 6, 1500)
    d.offered(1, 0, 6, 1500)
    ok(not d.crowded(0), "starts that read-back shows go together")
    # only c1's car starts; its state says so, whatever M shows first
    d2 = tracker(n=2)
    feed(d2, 0, 1000, lambda t: [3.0], offers, ["B", "B"])
    d2.offered(0, 0, 6, 1500)
    d2.offered(1, 0, 6, 1500)
    t = 2000
    while t <= 9000:
        st = ["B", "C" if t >= 3500 else "B"]
        d2.update(t, [300 + (600 if t >= 3000 else 0)], [True], [-1, -1], st, offers, SETTLE)
        t += 500
    eq((d2.took_ca[0], d2.took_ca[1]), (0, 600))
    eq(d2.house[0], 300)


def test_forget_takes_every_unknown_draw_as_house():
    d = tracker(n=2)
    offers = [10, 10]
    d.took_ca[0], d.took_ca[1] = 1000, 1000
    feed(d, 0, 1000, lambda t: [25.0], offers)
    d.forget(0)
    feed(d, 1500, 1500, lambda t: [25.0], offers)
    eq((d.took_ca[0], d.took_ca[1]), (0, 0))
    eq(d.house[0], 2500)
