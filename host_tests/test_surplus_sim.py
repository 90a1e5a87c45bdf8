"""Solar surplus in the simulator (firmware/control/surplus.py through the hub): on a
120/240 V split-phase service with one voltage reference, a 240 V charger in
surplus mode starts a minute after export reaches its minimum, charges with
the site still exporting, is cut at once when a cloud comes and paused a
minute later, and never chatters; the site's limits hold as the fuzzer
judges them."""

from test_grid_sim import invariant_holds
from test_simulate import simulate


def sunny(events, duration=900, plug_grid=None, limit=100):
    sc = {"duration": duration, "mains_hz": 60, "voltage": 120, "vt": True,
          "site": {"phases": ["L1", "L2"], "limit": limit, "margin": 2, "pv": True},
          "chargers": [{"id": "sun", "phases": ["L1", "L2"], "max": 40, "surplus": True},
                       {"id": "grid", "phases": ["L1", "L2"], "max": 40}],
          "control": {"holdoff_ms": 0},
          "events": [{"t": 0, "load": {"L1": 4, "L2": 3}}, {"t": 1, "plug": "sun", "kwh": 200}] + events}
    if plug_grid is not None:
        sc["events"].append({"t": plug_grid, "plug": "grid", "kwh": 200})
    return sc


def offer(trace, t):
    return next(r for r in trace if abs(r["t"] - t) < 1e-9)["chargers"]["sun"]["offered"]


def test_starts_after_a_minute_follows_the_sun_and_pauses_a_minute_after_a_cloud(tmp_path):
    sc = sunny([{"t": 30, "pv": {"L1": 20, "L2": 20}},      # 20 A at 240 V: 4.8 kW
                {"t": 300, "pv": {"L1": 30, "L2": 30}},
                {"t": 450, "pv": {"L1": 6, "L2": 6}},      # a cloud: under the charger's 6 A
                {"t": 700, "pv": {"L1": 25, "L2": 25}}])
    trace = simulate(tmp_path, sc)
    first = next(r["t"] for r in trace if r["chargers"]["sun"]["offered"])
    assert first == 90.0, first                              # 60 s after the export began
    assert trace[0]["chargers"]["sun"]["surplus"] == "waiting"
    assert next(r for r in trace if r["t"] == 60)["chargers"]["sun"]["surplus"] == "starting"
    # following: what the sun leaves over the house (4 and 3 A), less the 1 A kept
    # exported, in whole amps (a measurement a hair under 15 A gives 14)
    assert 14 <= offer(trace, 299.5) <= 15
    assert 24 <= offer(trace, 449.5) <= 25
    for t0, t1 in ((120, 300), (330, 450), (790, 900)):       # settled: the site exports
        for r in trace:
            if t0 <= r["t"] < t1:
                for p in ("L1", "L2"):
                    assert r["phases"][p]["actual"] < 0, (r["t"], p, r["phases"][p])
    # the cloud: cut to its minimum in the period it comes, paused after a minute of import
    assert offer(trace, 450) == 6
    assert offer(trace, 509.5) == 6 and offer(trace, 510) == 0
    assert any("sun paused" in e[1] for r in trace for e in r.get("events", ()) if r["t"] == 510)
    assert next(r for r in trace if r["t"] == 700)["chargers"]["sun"]["surplus"] == "starting"
    assert offer(trace, 759.5) == 0 and offer(trace, 760) == 6
    # never chattering: every start and pause a minute or more after the last
    changes, on = [], False
    for r in trace:
        now = r["chargers"]["sun"]["offered"] > 0
        if now != on:
            changes.append(r["t"])
            on = now
    assert changes == [90.0, 510.0, 760.0], changes
    invariant_holds(sc)


def test_a_charger_on_the_grid_takes_the_sun_first_and_the_site_limit_holds(tmp_path):
    # the other charger, not in surplus mode, uses the export itself: no surplus is
    # left, so the surplus charger pauses a minute later; under a tight limit
    # with the sun coming and going, no phase is over its limit beyond the excuses
    sc = sunny([{"t": 30, "pv": {"L1": 30, "L2": 30}}, {"t": 200, "pv": {"L1": 0, "L2": 0}},
                {"t": 260, "pv": {"L1": 35, "L2": 35}}, {"t": 500, "pv": {"L1": 10, "L2": 10}}],
               duration=700, plug_grid=150, limit=40)
    trace = simulate(tmp_path, sc)
    assert offer(trace, 149.5) > 6                  # charging from the sun before the other car came
    paused = next(r["t"] for r in trace if r["t"] > 150 and not r["chargers"]["sun"]["offered"])
    assert paused <= 200 + 60 + 0.5, paused        # the other car took the export: a minute of import
    assert max(r["chargers"]["grid"]["offered"] for r in trace) > 20
    invariant_holds(sc)
