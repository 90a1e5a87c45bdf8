"""alloc.Site.fill: equal shares through nested circuits and phases, >= min or paused."""
from array import array
import alloc
from alloc import Charger as C
from mpunit import eq, ok, raises


def site(chargers, circuits=(), phases=("L1", "L2", "L3")):
    return alloc.Site(phases, circuits, chargers)


def check_limits(s, avail, offers):
    """Every node-phase within its capacity; every offer 0 or in [min, max]."""
    cap = s.caps(avail)
    used = [0] * s.ncons
    for i, o in enumerate(offers):
        ch = s.chargers[i]
        ok(o == 0 or ch.min_a <= o <= ch.max_a, "offer %d of %s" % (o, ch.id))
        for k in s.cons[i]:
            used[k] += o
    for k in range(s.ncons):
        ok(used[k] <= cap[k], "node-phase %d: %d > %d" % (k, used[k], cap[k]))


# (name, chargers, circuits, avail, want, order, expected offers)
CASES = (
    ("no chargers", [], [], [40, 40, 40], [], [], []),
    ("one charger, room", [C("a")], [], [40, 40, 40], [32], [0], [32]),
    ("one charger, capped by avail", [C("a")], [], [20.9, 40, 40], [32], [0], [20]),
    ("one charger, below min", [C("a")], [], [5.9, 40, 40], [32], [0], [0]),
    ("equal shares", [C("a"), C("b"), C("c")], [], [48, 0, 0], [32] * 3, [0, 1, 2], [16, 16, 16]),
    ("odd amps in order", [C("a"), C("b"), C("c")], [], [47, 0, 0], [32] * 3, [2, 0, 1], [16, 15, 16]),
    ("leftover of a capped EV", [C("a", max_a=10), C("b"), C("c")], [], [48, 0, 0], [32] * 3,
     [0, 1, 2], [10, 19, 19]),
    ("not wanting", [C("a"), C("b")], [], [40, 0, 0], [0, 32], [0, 1], [0, 32]),
    ("sum of minimums too big: last in order paused",
     [C("a"), C("b"), C("c")], [], [17, 0, 0], [32] * 3, [1, 2, 0], [0, 9, 8]),
    ("nested circuits", [C("a", "g1"), C("b", "g1"), C("c", "g2"), C("d")],
     [("g0", "", 50), ("g1", "g0", 20), ("g2", "g0", 40)], [100, 0, 0], [32] * 4, [0, 1, 2, 3],
     [10, 10, 30, 32]),
    ("nested, parent binds", [C("a", "g1"), C("b", "g2"), C("c", "g2")],
     [("g0", "", 36), ("g1", "g0", 32), ("g2", "g0", 32)], [100, 0, 0], [32] * 3, [0, 1, 2],
     [12, 12, 12]),
    ("three-phase charger on the short phase",
     [C("a", phases=(0, 1, 2)), C("b", phases=(1,)), C("c", phases=(2,))], [], [40, 14, 40],
     [32] * 3, [0, 1, 2], [7, 7, 32]),
    ("per-phase: chargers on other phases unaffected",
     [C("a", phases=(0,)), C("b", phases=(1,)), C("c", phases=(2,))], [], [8, 100, 3],
     [32] * 3, [0, 1, 2], [8, 32, 0]),
)


def test_table():
    for name, chs, circuits, avail, want, order, expect in CASES:
        s = site(chs, circuits)
        got = s.fill(avail, want, order)
        eq(got, expect, name)
        check_limits(s, avail, got)


def test_floor_is_served_first():
    s = site([C("a"), C("b", floor_a=14), C("c")])
    got = s.fill([30, 0, 0], [32] * 3, [0, 1, 2], [0, 14, 0])
    eq(got[1] >= 14, True, "floor %r" % got)
    check_limits(s, [30, 0, 0], got)


def test_floor_is_a_minimum_not_a_head_start():
    # before: a charger with a floor got its floor plus an equal share on top
    # (the permit report showed 15 A beside 9 A); now max(floor, fair share)
    s = site([C("a"), C("b", floor_a=10), C("c")])
    eq(s.fill([48, 0, 0], [32] * 3, [0, 1, 2], [0, 10, 0]), [16, 16, 16])
    eq(s.fill([36, 0, 0], [32] * 3, [0, 1, 2], [0, 14, 0]), [11, 14, 11])    # the floor binds
    eq(s.fill([34, 0, 0], [32] * 3, [2, 1, 0], [0, 14, 0]), [10, 14, 10])
    eq(s.fill([47, 0, 0], [32] * 3, [2, 1, 0], [0, 10, 0]), [15, 16, 16])   # odd amps in order
    s3 = site([C("a", phases=(0, 1, 2), max_a=16, floor_a=6), C("b", phases=(0,)), C("c", phases=(1,))])
    eq(s3.fill([34, 40, 40], [32] * 3, [0, 1, 2], [6, 0, 0]), [16, 18, 24])


def test_random_sites_never_exceed_a_limit():
    import random
    random.seed(5)
    for trial in range(300):
        nc = random.randint(0, 4)
        circuits = []
        for c in range(nc):
            parent = "" if c == 0 or random.random() < 0.5 else "g%d" % random.randint(0, c - 1)
            circuits.append(("g%d" % c, parent, random.randint(0, 80)))
        chs = []
        for i in range(random.randint(0, 30)):
            where = "" if not circuits or random.random() < 0.3 else random.choice(circuits)[0]
            phases = (0, 1, 2) if random.random() < 0.3 else (random.randint(0, 2),)
            mn = random.randint(6, 10)
            chs.append(C("c%d" % i, where, phases, mn, random.randint(mn, 80), 0))
        s = site(chs, circuits)
        avail = [random.uniform(-10, 200) for _ in range(3)]
        want = [random.choice((0, 6, 16, 32, 80)) for _ in chs]
        order = list(range(len(chs)))
        for j in range(len(order) - 1, 0, -1):  # no random.shuffle in MicroPython
            r = random.randint(0, j)
            order[j], order[r] = order[r], order[j]
        got = s.fill(avail, want, order)
        check_limits(s, avail, got)
        for i, o in enumerate(got):
            ok(o <= want[i], "never above what is wanted")


def test_bad_trees_are_refused():
    raises(ValueError, site, [C("a", "nope")])
    raises(ValueError, site, [], [("g1", "g0", 20)])
    raises(ValueError, site, [], [("g1", "", 20), ("g1", "", 20)])
    raises(ValueError, site, [C("a", phases=(3,))])
    raises(ValueError, C, "x", "", (0,), 5, 32)
    raises(ValueError, C, "x", "", (0,), 16, 10)


def test_fill_allocates_nothing():
    # it runs every control period: the heap is locked while it shares (issue 12).
    # Line-to-line chargers on a three-phase site are the exception (complex numbers).
    import micropython
    chargers = [C("c%d" % i, ("g1", "g2", "")[i % 3], phases=((i % 3,), (0, 1, 2))[i % 5 == 0],
                  max_a=16 + i % 17) for i in range(30)]
    s = site(chargers, [("g0", "", 90), ("g1", "g0", 40), ("g2", "g0", 63)])
    avail = [70.5, 55.0, 80.25]
    want = [32] * 30
    order = list(range(29, -1, -1))
    floors = [6 if i % 7 == 0 else 0 for i in range(30)]
    short = [10, 0, 3]         # short of room: pausing in order
    first = list(s.fill(avail, want, order, floors))
    micropython.heap_lock()
    try:
        offers = s.fill(avail, want, order, floors)
        s.fill(short, want, order, floors)
    finally:
        micropython.heap_unlock()
    offers = s.fill(avail, want, order, floors)
    eq(list(offers), first)
    check_limits(s, short, s.fill(short, want, order, floors))


_F = array("f", [0.0])


def f32(x):
    """x rounded to single precision, as a board's float holds it."""
    _F[0] = x
    return _F[0]


def test_a_limit_at_its_boundary_in_both_precisions():
    # issue 22: the boards compute in single precision. A line-to-line load
    # that exactly fills a line (s chargers' phasors against a cap of |s w|)
    # fits in doubles and, its values rounded to a board's float, fits there
    # too: the same answer, and never over the cap by more than alloc's tolerance
    for p, ph in ((0, [0, 1]), (1, [0, 1]), (0, [2, 0])):
        w = complex(alloc.weight(3, ph, p))
        w32 = complex(f32(w.real), f32(w.imag))
        for base in (0, 7, 48):
            a = complex(base, 0)
            for s in range(1, 90):
                cap = abs(a + s * w)
                for prec, (aa, ww, cc) in (("double", (a, w, cap)), ("single", (a, w32, f32(cap)))):
                    got = alloc.room(aa, ww, cc)
                    ok(got == s, "%s: %r + %d * %r against %r: %d" % (prec, aa, s, ww, cc, got))
                    ok(abs(a + got * w) <= cc + alloc.EPS_A, "%s: over" % prec)
    # whole amps (a split-phase or single-phase line): exact in both
    for cap in (16, 40, 100, 200):
        for used in (0, 5, 15):
            ok(alloc.room(used, 1, f32(cap)) == cap - used and alloc.room(used, 1, cap) == cap - used, "%r" % cap)
