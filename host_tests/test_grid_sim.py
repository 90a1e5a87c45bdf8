"""Limits from outside (firmware/control/grid.py) in the simulator: each signal moves
the effective limit within one period, the site stays under it (the overload
invariant, judged as the fuzzer judges it), expiry and failsafe come at their
times, schedules wait for a clock, and the demand cap keeps a day's
quarter-hours under it."""

import os
import sys

from test_simulate import simulate

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import fuzzlib  # noqa: E402

PERIOD = 0.5
SETTLE = 5.0 + 2 * PERIOD      # the EV's response and a period to see it


def site(events, duration=200, grid=None, chargers=3, **extra):
    sc = {"duration": duration, "mains_hz": 60, "voltage": 120,
          "site": {"phases": ["L1", "L2"], "limit": 80, "margin": 2},
          "chargers": [{"id": "c%d" % i, "phases": ["L1", "L2"], "max": 32} for i in range(chargers)],
          "control": {"holdoff_ms": 0},
          "events": [{"t": 0, "load": {"L1": 10, "L2": 8}}] +
                    [{"t": 1, "plug": "c%d" % i, "kwh": 100} for i in range(chargers)] + events}
    if grid is not None:
        sc["grid"] = grid
    sc.update(extra)
    return sc


def invariant_holds(sc):
    res = fuzzlib.run([sc])[0]
    problems, worst, _ = fuzzlib.judge(sc, res)
    assert not problems, "\n".join(problems)


def at(trace, t):
    return next(r for r in trace if abs(r["t"] - t) < 1e-9)


def under(trace, t0, t1, limits):
    """Every row in [t0, t1): the site's true current within its limit (the
    slack the invariant allows: 0.5 A + 2 %)."""
    rows = [r for r in trace if t0 <= r["t"] < t1]
    assert rows
    for r in rows:
        for p, a in limits.items():
            got = r["phases"][p]["actual"]
            assert got <= a + 0.5 + 0.02 * got, (r["t"], p, got, a)


def test_grid_limit_command_follows_in_a_period_and_ends_at_its_expiry(tmp_path):
    sc = site([{"t": 60, "cmd": {"cmd": "grid_limit", "limit": [40, 35], "for_s": 60}}])
    trace = simulate(tmp_path, sc)
    assert at(trace, 59.5)["limit"] == {"L1": 80, "L2": 80}
    assert at(trace, 59.5)["limit_source"] == "site"
    assert max(r["phases"]["L1"]["actual"] for r in trace if 40 <= r["t"] < 60) > 60   # the cars took the room
    r = at(trace, 60)                                 # the period it arrives in
    assert r["limit"] == {"L1": 40, "L2": 35} and r["limit_source"] == "command"
    under(trace, 60 + SETTLE, 120, {"L1": 40, "L2": 35})
    assert at(trace, 119.5)["limit_source"] == "command"
    assert at(trace, 120)["limit"] == {"L1": 80, "L2": 80}   # its expiry, to the period
    assert at(trace, 120)["limit_source"] == "site"
    assert max(r["phases"]["L1"]["actual"] for r in trace if r["t"] >= 180) > 60   # raised again, slowly
    invariant_holds(sc)


def test_aggregator_topic_failsafe_at_boot_and_when_it_goes_silent(tmp_path):
    msg = {"limit": 50, "for_s": 30}
    sc = site([{"t": 20, "grid_msg": dict(msg, ts=1)}, {"t": 40, "grid_msg": dict(msg, ts=2)},
               {"t": 60, "grid_msg": dict(msg, ts=3)},
               {"t": 80, "grid_msg": dict(msg, ts=3)}],     # a retained copy again: no refresh
              duration=200, grid={"topic": True, "failsafe_a": 20, "failsafe_s": 60})
    trace = simulate(tmp_path, sc)
    for t in (0, 19.5):
        assert at(trace, t)["limit_source"] == "failsafe" and at(trace, t)["limit"]["L1"] == 20
    under(trace, SETTLE, 20, {"L1": 20, "L2": 20})
    assert at(trace, 20)["limit_source"] == "grid" and at(trace, 20)["limit"]["L1"] == 50
    assert at(trace, 89.5)["limit_source"] == "grid"
    # silent since its refresh at 60 s: the failsafe from 90 s for 60 s, not the full limit
    assert at(trace, 90)["limit_source"] == "failsafe" and at(trace, 90)["limit"] == {"L1": 20, "L2": 20}
    under(trace, 90 + SETTLE, 150, {"L1": 20, "L2": 20})
    assert at(trace, 149.5)["limit_source"] == "failsafe"
    assert at(trace, 150)["limit_source"] == "site" and at(trace, 150)["limit"]["L1"] == 80
    invariant_holds(sc)


def test_dry_contact_debounced_and_unreadable_taken_as_closed(tmp_path):
    sc = site([{"t": 30, "contact": True}, {"t": 90, "contact": False}, {"t": 140, "contact": None}],
              grid={"contact_limit_a": 15})
    trace = simulate(tmp_path, sc)
    assert at(trace, 30.5)["limit_source"] == "site"          # held for its debounce first
    assert at(trace, 31)["limit_source"] == "contact" and at(trace, 31)["limit"]["L2"] == 15
    under(trace, 31 + SETTLE, 90, {"L1": 15, "L2": 15})
    assert all(c["offered"] == 0 for c in at(trace, 89.5)["chargers"].values())   # 15 A: no room for 6 A
    assert at(trace, 91)["limit_source"] == "site"
    assert at(trace, 140)["limit_source"] == "contact"          # unreadable: at once
    under(trace, 140 + SETTLE, 200, {"L1": 15, "L2": 15})
    invariant_holds(sc)


def _schedule():
    # Monday 2026-06-01, 13:59 UTC = 09:59 EDT: at 10:00 the hour's limit drops to 30 A;
    # the window pauses the cars from 10:02
    return {"schedule": {"utc_offset_min": -300, "dst": "us",
                         "hourly": [None] * 10 + [30] + [None] * 13,
                         "windows": [{"days": "mon-fri", "from": "10:02", "to": "10:03", "ev_max_a": 0}]}}


def test_schedule_applies_by_the_clock_and_not_without_one(tmp_path):
    sc = site([], duration=240, grid=_schedule(), clock="2026-06-01T13:59:00")
    trace = simulate(tmp_path, sc)
    assert at(trace, 59.5)["limit_source"] == "site" and at(trace, 59.5)["schedule"] == "on"
    assert at(trace, 60)["limit"] == {"L1": 30, "L2": 30} and at(trace, 60)["limit_source"] == "schedule"
    under(trace, 60 + SETTLE, 240, {"L1": 30, "L2": 30})
    assert any(c["offered"] for c in at(trace, 170)["chargers"].values())
    assert all(c["offered"] == 0 for c in at(trace, 180)["chargers"].values())   # the window: paused
    assert all(c["offered"] == 0 for c in at(trace, 239.5)["chargers"].values()) # min pause, then slowly back
    invariant_holds(sc)
    # the same without a clock: nothing scheduled applies, and the trace says why
    sc.pop("clock")
    trace = simulate(tmp_path, sc)
    assert all(r["limit_source"] == "site" and r["schedule"] == "no clock" for r in trace)
    assert any(c["offered"] for c in at(trace, 180)["chargers"].values())


def _day(cap):
    """A day of a small depot on 120/240 V: the house follows the day, cars
    come in the morning and the evening and would charge at up to 96 A."""
    house = [(0, 10), (6 * 3600, 25), (9 * 3600, 15), (17 * 3600, 40), (21 * 3600, 35), (23 * 3600, 12)]
    ev = [{"t": t, "load": {"L1": a, "L2": a - 4}} for t, a in house]
    for k, (t, kwh) in enumerate([(7 * 3600, 30), (8 * 3600, 40), (17 * 3600 + 600, 60), (18 * 3600, 25)]):
        c = "c%d" % (k % 3)
        ev += [{"t": t, "plug": c, "kwh": kwh, "ev_max": 48}, {"t": t + 3 * 3600 + 1800, "unplug": c}]
    s = {"phases": ["L1", "L2"], "limit": 150, "margin": 3}
    if cap:
        s["demand_cap_a"] = cap
    return {"duration": 86400, "mains_hz": 60, "voltage": 120, "clock": "2026-06-01T04:00:00",
            "site": s, "chargers": [{"id": "c%d" % i, "phases": ["L1", "L2"], "max": 48} for i in range(3)],
            "control": {"holdoff_ms": 0, "period_ms": 1000}, "events": ev}


def _quarter_means(trace):
    """Per clock-aligned quarter-hour (the trace's demand rows), L1's mean of the truth."""
    out, acc, n = [], 0.0, 0
    for r in trace:
        acc += r["phases"]["L1"]["actual"]
        n += 1
        if "demand" in r:
            out.append((r["t"], acc / n))
            acc, n = 0.0, 0
    return out


def test_demand_cap_keeps_every_quarter_hour_of_a_day_under_it(tmp_path):
    free = _quarter_means(simulate(tmp_path, _day(None)))
    assert max(m for _, m in free) > 85, "uncapped, the evening sets a peak over the cap"
    trace = simulate(tmp_path, _day(70))
    means = _quarter_means(trace)
    assert len(means) == 96
    assert max(m for _, m in means) <= 70.0, max(means, key=lambda x: x[1])
    assert all(r["limit_source"] in ("demand_cap", "site") for r in trace)
    # the energy still went in: every car took all it asked for by the end of its stay, or the cap was used
    busy = [m for t, m in means if 17 * 3600 + 1800 <= t <= 20 * 3600]
    assert min(busy) > 60, busy


def test_one_message_from_the_future_locks_nobody_out(tmp_path):
    # issue 22: a 60 A site, a car taking 48 A; a message with ts 1e12, then
    # 12 A limits at 60 s and 120 s with real ts: both were ignored, silently
    wall0 = 1780272000                                  # 2026-06-01T00:00:00Z
    sc = {"duration": 200, "site": {"phases": ["L1"], "limit": 60, "margin": 0},
          "chargers": [{"id": "c0", "max": 48}], "control": {"holdoff_ms": 0},
          "grid": {"topic": True, "failsafe_a": 60, "failsafe_s": 1}, "clock": "2026-06-01T00:00:00",
          "events": [{"t": 0, "load": {"L1": 2}}, {"t": 1, "plug": "c0", "ev_max": 48, "kwh": 100},
                     {"t": 30, "grid_msg": {"limit": 50, "for_s": 600, "ts": 10 ** 12}},
                     {"t": 60, "grid_msg": {"limit": 12, "for_s": 600, "ts": wall0 + 60}},
                     {"t": 120, "grid_msg": {"limit": 12, "for_s": 600, "ts": wall0 + 120}}]}
    trace = simulate(tmp_path, sc)
    said = [e[1] for r in trace for e in r.get("events", ())]
    assert any("grid_limit ignored" in s and "ahead of the hub's clock" in s for s in said), said
    r = at(trace, 60)
    assert r["limit"] == {"L1": 12} and r["limit_source"] == "grid", r
    assert at(trace, 120)["limit"] == {"L1": 12}
    under(trace, 60 + SETTLE, 200, {"L1": 12})
    invariant_holds(sc)


def test_export_is_not_load_for_the_demand_cap(tmp_path):
    # issue 22: a site exporting 32 A under a 25 A demand cap left its surplus
    # charger at 0 A (export counted as load, the cap fell to 19.4 A)
    sc = {"duration": 600, "mains_hz": 60, "voltage": 120, "vt": True, "clock": "2026-06-01T12:00:00",
          "site": {"phases": ["L1", "L2"], "limit": 100, "margin": 2, "pv": True, "demand_cap_a": 25},
          "chargers": [{"id": "sun", "phases": ["L1", "L2"], "max": 40, "surplus": True},
                       {"id": "grid", "phases": ["L1", "L2"], "max": 40}],
          "control": {"holdoff_ms": 0},
          "events": [{"t": 0, "load": {"L1": 3, "L2": 3}}, {"t": 0, "pv": {"L1": 35, "L2": 35}},
                     {"t": 1, "plug": "sun", "kwh": 200},
                     {"t": 300, "plug": "grid", "kwh": 200, "ev_max": 30}]}
    trace = simulate(tmp_path, sc)
    assert min(r["chargers"]["sun"]["offered"] for r in trace if 120 <= r["t"] < 300) >= 29, "the sun's surplus"
    # a car on the grid may import up to the cap on top of the sun: 30 A here, none paused
    assert min(r["chargers"]["grid"]["offered"] for r in trace if 420 <= r["t"] <= 600) == 30
    assert all(r["phases"]["L1"]["actual"] <= 25 + 0.5 for r in trace if r["t"] >= 300 + SETTLE)
    invariant_holds(sc)


def test_commands_and_topic_messages_go_through_the_hubs_services(tmp_path):
    # issue 22: the simulator handled commands itself (commands.handle), so
    # the hub's Services path (its saving, its events, its clock) was never run
    wall0 = 1780272000                                  # 2026-06-01T00:00:00Z
    sc = site([{"t": 30, "cmd": {"cmd": "grid_limit", "limit": 40, "for_s": 60}},
               {"t": 40, "grid_msg": {"limit": 30, "for_s": 600, "ts": wall0 + 40 - 590}}],
              duration=120, grid={"topic": True, "failsafe_a": 80, "failsafe_s": 1},
              clock="2026-06-01T00:00:00")
    trace = simulate(tmp_path, sc)
    said = [e[1] for r in trace for e in r.get("events", ())]
    assert "command grid_limit" in said, said          # Services' own event, with its save
    # the topic's limit counts from its ts on the hub's wall clock: 10 s left at 40 s
    assert at(trace, 45)["limit"] == {"L1": 30, "L2": 30} and at(trace, 45)["limit_source"] == "grid"
    assert at(trace, 55)["limit_source"] != "grid", at(trace, 55)
    invariant_holds(sc)
