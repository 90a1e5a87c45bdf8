"""US services: split-phase legs, 208 V line-to-line chargers, the phasor arithmetic."""
import alloc
import json
import simsite
from mpunit import close, eq, ok

HEAPSIZE = "2M"   # the simulated world (waveforms of 15 clamps) runs here too, as in tools/simulate.py
PAIRS = ([0, 1], [1, 2], [2, 0], [1, 0], [2, 1], [0, 2])


def test_the_allocators_table_agrees_with_the_voltages():
    # alloc.weight is a table of +-30 degrees; simsite derives the same from the
    # line voltages: they must agree for every wiring on every line
    for nph, wirings in ((1, ([0],)), (2, ([0], [1], [0, 1], [1, 0])),
                         (3, ([0], [1], [2], [0, 1, 2]) + PAIRS)):
        for ph in wirings:
            for p in ph:
                a = complex(alloc.weight(nph, ph, p))
                b = simsite.line_weight(nph, ph, p)
                close(a, b, "%d lines, %r on %d" % (nph, ph, p))


def test_line_current_of_line_to_line_loads():
    lines = simsite.Lines(3, [[0, 1], [1, 2], [2, 0]])
    for iab, ibc, ica in ((10, 10, 10), (16, 0, 32), (7, 0, 0), (0, 24, 9)):
        a, b, c = lines.amps([0, 0, 0], [iab, ibc, ica])
        # |I_a| = sqrt(I_ab^2 + I_ca^2 + I_ab I_ca), and the same round the lines
        for got, x, y in ((a, iab, ica), (b, ibc, iab), (c, ica, ibc)):
            close(got, (x * x + y * y + x * y) ** 0.5, "%r %r" % (x, y))
    # balanced: sqrt(3), not 2, times a charger's current per line
    close(lines.amps([0, 0, 0], [10, 10, 10])[0], 10 * 3 ** 0.5, "sqrt(3)")
    # split-phase: a 240 V load is on both legs in full, in phase with each
    eq(simsite.Lines(2, [[0, 1], [1]]).amps([5, 3], [20, 10]), [25.0, 33.0])


def test_room_is_the_circle():
    import random
    random.seed(5)
    for _ in range(400):
        a = complex(random.uniform(-30, 60), random.uniform(-30, 30))
        b = complex(random.uniform(0.1, 5), random.uniform(-2, 2))
        cap = random.uniform(0, 100)
        s = alloc.room(a, b, cap)
        if abs(a) > cap:
            eq(s, -1)
            continue
        ok(s >= 0 and abs(a + s * b) <= cap + alloc.EPS_A, "%r %r %r: %r" % (a, b, cap, s))
        ok(abs(a + (s + 1) * b) > cap, "%r %r %r: %r is not the most" % (a, b, cap, s))
    eq(alloc.room(10, 2, 31), 10)       # plain amps: (cap - load) // count, as before


def fill(nph, chargers, avail):
    site = alloc.Site(["L1", "L2", "L3"][:nph], [],
                      [alloc.Charger("c%d" % i, alloc.ROOT, ph, 6, mx) for i, (ph, mx) in enumerate(chargers)])
    x = site.fill(avail, [mx for ph, mx in chargers], list(range(len(chargers))))
    lines = simsite.Lines(nph, [ph for ph, mx in chargers]).amps([0] * nph, x)
    return x, lines


def test_balanced_208v_site_uses_the_phasor_limit():
    # 30 chargers, 10 on each pair: never over, and >= 95 % of what the lines allow
    chargers = [(PAIRS[i % 3], 32) for i in range(30)]
    for avail, use in ((200, 0.95), (150, 0.95), (97, 0.9), (61, 0.9)):
        x, lines = fill(3, chargers, [avail] * 3)
        for a in lines:
            ok(a <= avail + alloc.EPS_A, "%r over %r" % (lines, avail))
        # where some must pause (6 A each at least), whole chargers leave a gap
        ok(max(lines) >= use * avail, "%r uses %r of %r" % (x, lines, avail))
        on = [o for o in x if o]       # at 61 A not all 30 fit at 6 A: the rest are paused
        ok(max(on) - min(on) <= 1 and (len(on) == 30 or min(on) == 6), "fair: %r" % x)
    # summing the amps (2 per charger) would have used sqrt(3)/2 = 87 % only
    x, lines = fill(3, [(p, 80) for p in PAIRS[:3]], [100] * 3)
    eq(x, [58, 57, 57])         # 57 * sqrt(3) = 98.7 A per line, and the odd amp: A carries 99.6 A
    ok(max(lines) <= 100, "%r" % lines)


def test_mixed_wiring_never_over_any_line():
    import random
    random.seed(11)
    for _ in range(120):
        nph = random.choice((2, 3))
        chargers = []
        for i in range(random.randint(1, 12)):
            n = random.randint(1, nph)
            first = random.randrange(nph)
            chargers.append(([(first + k) % nph for k in range(n)], random.randint(6, 48)))
        avail = [random.randint(0, 120) for _ in range(nph)]
        x, lines = fill(nph, chargers, avail)
        for p in range(nph):
            ok(lines[p] <= avail[p] + alloc.EPS_A, "%r -> %r over %r" % (chargers, lines, avail))
        for (ph, mx), o in zip(chargers, x):
            ok(o == 0 or 6 <= o <= mx, "%r" % x)


def scenario(site, chargers, events, duration=150):
    return {"duration": duration, "mains_hz": 60, "site": site, "chargers": chargers,
            "control": {"holdoff_ms": 5000}, "events": events}


def run(sc, at, excused=()):
    """Run a scenario; (sim, {t_ms: (actual, offers)} at the times `at`); every
    period's offers and duties are right and no line or circuit is over its
    limit, except within the windows `excused` ((from_ms, to_ms): a load step)."""
    sim = simsite.Sim(json.loads(json.dumps(sc)))
    seen = {}
    now = 0
    while now <= sim.duration_ms:
        actual, measured, offers = sim.step(now)
        eq(sim.offers_ok(offers), "", "t=%d" % now)
        over = sim.overloads(now, actual)
        ok(not over or any(a <= now <= b for a, b in excused), "t=%d over: %r" % (now, over))
        if now in at:
            seen[now] = (actual, list(offers))
        now += sim.period_ms
    return sim, seen


def test_208v_building_in_the_simulator():
    # 120/208 V: 12 Level 2 chargers line to line, a house on every line
    chargers = [{"id": "s%d" % i, "phases": [["A", "B"], ["B", "C"], ["C", "A"]][i % 3], "max": 32}
                for i in range(12)]
    site = {"phases": ["A", "B", "C"], "voltage": 120, "limit": 150, "margin": 10}
    events = [{"t": 0, "load": {"A": 20, "B": 12, "C": 30}}]
    events += [{"t": 1, "plug": c["id"], "kwh": 100} for c in chargers]
    events += [{"t": 90, "load": {"A": 60, "B": 12, "C": 30}}]
    sim, seen = run(scenario(site, chargers, events, duration=200), (85000, 200000), ((90000, 96000),))
    ok(207 < sim.volts[0] < 208, "208 V: %r" % sim.volts[0])
    # settled before the step: the fullest line is within 5 % of limit - margin
    actual, offers = seen[85000]
    ok(0.95 * 140 <= max(actual) <= 140.5, "lines %r, offers %r" % (actual, offers))
    # the step is cut at once (from the top: whoever drew), then raised again
    # after the minimum pause (60 s)
    actual, offers = seen[200000]
    ok(0.9 * 140 <= max(actual) <= 140.5, "after the step: %r" % actual)


def test_split_phase_house_in_the_simulator():
    # 120/240 V, 100 A service: two 240 V chargers and a 120 V one on L2
    chargers = [{"id": "ev1", "phases": ["L1", "L2"], "max": 40}, {"id": "ev2", "phases": ["L1", "L2"], "max": 40},
                {"id": "ev3", "phases": ["L2"], "max": 16}]
    site = {"phases": ["L1", "L2"], "limit": 100, "margin": 20}
    events = [{"t": 0, "load": {"L1": 30, "L2": 10}}] + [{"t": 1, "plug": c["id"], "kwh": 100} for c in chargers]
    sim, seen = run(scenario(site, chargers, events, duration=80), (80000,))
    eq(sim.volts, [240, 240, 120])
    actual, offers = seen[80000]
    # L1 carries the house's 30 A and both 240 V chargers: 50 A left for them, 25 A each
    eq(offers[:2], [25, 25])
    ok(79.5 <= actual[0] <= 80.5 and actual[1] <= 80.5, "%r" % actual)


class Clock:
    def ticks_ms(self):
        return 0

    def ticks_diff(self, a, b):
        return a - b


def test_energy_uses_each_connections_real_voltage():
    # before: every charger's energy was counted at 230 V per phase
    import services
    chargers = [{"id": "ev240", "phases": ["L1", "L2"], "max": 40}, {"id": "ev120", "phases": ["L2"], "max": 16}]
    sc = scenario({"phases": ["L1", "L2"], "limit": 100, "margin": 20}, chargers,
                  [{"t": 0, "load": {"L1": 5, "L2": 5}}] + [{"t": 0, "plug": c["id"], "kwh": 100} for c in chargers],
                  duration=60)
    sim = simsite.Sim(sc)
    d = "/tmp/almhub_test_us_"
    sv = services.Services(sim.hub, sim.cfg, Clock(), d + "state.json", d + "energy.json")
    sv.energy.wh = dict((c["id"], 0.0) for c in chargers)    # whatever an earlier run saved
    expect = [0.0, 0.0]
    now = 0
    while now <= sim.duration_ms:
        actual, measured, offers = sim.step(now)
        if now:
            for i, v in enumerate((240, 120)):
                if sim.hub.states[i] in ("C", "D"):
                    expect[i] += offers[i] * v * sim.period_ms / 3600000
        sv.period(now)
        now += sim.period_ms
    sv.telemetry()     # what a telemetry message would show now
    ok(expect[0] > 100 and expect[1] > 20, "charged: %r" % expect)
    ok(abs(sv.energy.value("ev240") - expect[0]) <= 0.02 * expect[0], "%r vs %r" % (sv.energy.wh, expect))
    ok(abs(sv.energy.value("ev120") - expect[1]) <= 0.02 * expect[1], "%r vs %r" % (sv.energy.wh, expect))
