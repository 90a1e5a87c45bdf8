"""What the cars get of what the limit leaves (issue 21): scenarios and figures.

    import utilisation
    sc = utilisation.kettle(readback=False)
    rows = utilisation.simulate(sc)                  # simulation/simsite.py on the unix port
    for s in utilisation.stretches(sc, rows): print(s)

The truth is the simulator's: the house load comes from the scenario's load
events, each car's maximum from its plug event, and what the cars could take
on a line is min(limit - margin - house, what the plugged cars take there).
A stretch is the time between two changes of the house; its figures:
- `steady`: the cars' draw over what they could take, from 60 s after the
  change to the end of the stretch (the least row: "within 60 s, and stays");
- `t95`: seconds from the change until the cars first draw >= 95 %;
- `paused_s`: car-seconds a plugged car had no offer in the stretch;
- `room_covers_mins`: the room left every plugged car's minimum.

`python3 tools/utilisation.py` prints the bench's table (also `make bench`).
"""

import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpenv  # noqa: E402

SETTLE_S = 60.0
VARIANTS = (("read-back", {"readback": True}), ("no read-back", {"readback": False}),
            ("own CTs", {"readback": False, "charger_cts": True}))


def simulate(sc, timeout=900):
    """Run a scenario through the hub's own loop (simsite.run); the trace rows."""
    import tempfile
    fd, path = tempfile.mkstemp(suffix=".json", prefix="almhub-util-")
    with os.fdopen(fd, "w") as f:
        json.dump(sc, f)
    try:
        r = mpenv.run(["-X", "heapsize=4M", "-c", "import simsite\nsimsite.main(%r)\n" % path],
                      capture_output=True, text=True, timeout=timeout)
    finally:
        os.unlink(path)
    if r.returncode:
        raise RuntimeError("simsite failed: " + (r.stdout + r.stderr)[-2000:])
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def kettle(readback=True, charger_cts=False):
    """The issue's site: 1 phase, 40 A, margin 0, three cars (32, 16 and 10 A),
    the house at 4 A, a kettle (14), back (4), 20 A, then 2 A."""
    return {"duration": 1200, "site": {"phases": ["L1"], "limit": 40, "margin": 0},
            "chargers": [{"id": "a"}, {"id": "b"}, {"id": "c"}],
            "readback": readback, "charger_cts": charger_cts,
            "events": [{"t": 0, "load": {"L1": 4}},
                       {"t": 1, "plug": "a", "ev_max": 32, "kwh": 200},
                       {"t": 1, "plug": "b", "ev_max": 16, "kwh": 200},
                       {"t": 1, "plug": "c", "ev_max": 10, "kwh": 200},
                       {"t": 300, "load": {"L1": 14}}, {"t": 500, "load": {"L1": 4}},
                       {"t": 800, "load": {"L1": 20}}, {"t": 1000, "load": {"L1": 2}}]}


def walk(seed=1, duration=3600, readback=True, charger_cts=False, step_s=(60, 300)):
    """A 3-phase 63 A site (margin 3) with 11 chargers spread over the lines,
    cars of 10-32 A, and a house that wanders: a step on one line every
    1-5 minutes (a random walk between 0 and 40 A)."""
    rnd = random.Random(seed)
    phases = ["L1", "L2", "L3"]
    chargers = [{"id": "c%d" % i, "phases": [phases[i % 3]]} for i in range(11)]
    events = [{"t": 0, "load": {"L1": 8, "L2": 5, "L3": 10}}]
    events += [{"t": 1 + i, "plug": c["id"], "ev_max": rnd.choice([10, 16, 24, 32]), "kwh": 500}
               for i, c in enumerate(chargers)]
    house = {"L1": 8, "L2": 5, "L3": 10}
    t = 0
    while True:
        t += rnd.randint(*step_s)
        if t >= duration:
            break
        p = rnd.choice(phases)
        house[p] = max(0, min(40, house[p] + rnd.choice([-1, 1]) * rnd.randint(2, 12)))
        events.append({"t": t, "load": {p: house[p]}})
    return {"duration": duration, "site": {"phases": phases, "limit": 63, "margin": 3},
            "chargers": chargers, "readback": readback, "charger_cts": charger_cts, "events": events}


def _house_at(sc):
    """[(t, {phase: amps})]: the house as its load events set it, at every
    change of the house or of what a car takes (a car's own maximum, a late
    start): each starts a stretch."""
    phases = sc["site"]["phases"]
    cur = {p: 0.0 for p in phases}
    out = []
    times = [(float(e["t"]), e) for e in sc["events"] if "load" in e or "ev" in e]
    times += [(float(e["t"]) + e["wait"], None) for e in sc["events"] if "plug" in e and e.get("wait")]
    for t, e in sorted(times, key=lambda x: x[0]):
        if e is not None and "load" in e:
            cur = dict(cur)
            cur.update({p: float(a) for p, a in e["load"].items()})
        if out and out[-1][0] == t:
            out[-1] = (t, cur)
        else:
            out.append((t, cur))
    return out


def _cars(sc, t=None):
    """{charger id: (its car's maximum at t, drawing from)} from the plug and ev events."""
    chs = {c["id"]: c for c in sc["chargers"]}
    out = {}
    for e in sorted(sc["events"], key=lambda e: e["t"]):
        if t is not None and e["t"] > t:
            break
        if "plug" in e:
            c = chs[e["plug"]]
            out[e["plug"]] = (min(e.get("ev_max", 32), c.get("max", 32)),
                              float(e["t"]) + e.get("delay", 2) + e.get("wait", 0))
        elif "ev" in e and e["ev"] in out:
            c = chs[e["ev"]]
            out[e["ev"]] = (min(e["ev_max"], c.get("max", 32)), out[e["ev"]][1])
    return out


def could_take(sc, house, t):
    """Per line: min(limit - margin - house, what the cars plugged by t take)."""
    site = sc["site"]
    lim = site["limit"]
    chs = {c["id"]: c for c in sc["chargers"]}
    out = {}
    for k, p in enumerate(site["phases"]):
        top = (lim[k] if isinstance(lim, list) else lim) - site.get("margin", 0) - house[p]
        want = sum(m for cid, (m, at) in _cars(sc, t).items()
                   if at <= t and p in chs[cid].get("phases", site["phases"][:1]))
        out[p] = max(0.0, min(top, want))
    return out


def drawn(sc, row):
    """Per line, what the cars draw (single-line chargers, as these scenarios have)."""
    site = sc["site"]
    chs = {c["id"]: c for c in sc["chargers"]}
    out = {p: 0.0 for p in site["phases"]}
    for cid, ch in row["chargers"].items():
        for p in chs[cid].get("phases", site["phases"][:1]):
            out[p] += ch["draw"]
    return out


def stretches(sc, rows):
    """The figures of every stretch between two changes of the house."""
    changes = _house_at(sc)
    cars = _cars(sc)
    mins = {c["id"]: c.get("min", 6) for c in sc["chargers"]}
    period = rows[1]["t"] - rows[0]["t"]
    out = []
    for k, (t0, house) in enumerate(changes):
        t1 = changes[k + 1][0] if k + 1 < len(changes) else rows[-1]["t"] + period
        mine = [r for r in rows if t0 <= r["t"] < t1]
        t95, steady, paused, stops = None, None, 0.0, 0
        last = {}
        covers = True
        for r in mine:
            could = could_take(sc, house, r["t"])
            got = drawn(sc, r)
            u = min(got[p] / could[p] if could[p] > 0 else 1.0 for p in could)
            if t95 is None and u >= 0.95:
                t95 = r["t"] - t0
            if r["t"] >= t0 + SETTLE_S:
                steady = u if steady is None else min(steady, u)
            for cid, ch in r["chargers"].items():
                if cid in cars and cars[cid][1] <= r["t"] and ch["offered"] == 0:
                    paused += period
                    if last.get(cid, 0) > 0:
                        stops += 1
                last[cid] = ch["offered"]
        room = could_take(sc, house, t1)
        for p in sc["site"]["phases"]:
            lim = sc["site"]["limit"]
            top = (lim[sc["site"]["phases"].index(p)] if isinstance(lim, list) else lim) \
                - sc["site"].get("margin", 0) - house[p]
            need = sum(mins[cid] for cid in cars if p in
                       {c["id"]: c for c in sc["chargers"]}[cid].get("phases", sc["site"]["phases"][:1]))
            if top < need:
                covers = False
        out.append({"t": t0, "house": house, "steady": steady, "t95": t95, "paused_s": paused, "pauses": stops,
                    "room_covers_mins": covers, "length_s": t1 - t0, "could": room})
    return out


def pauses(rows, cars):
    """Pauses (an offer going to 0 while the car is plugged) and paused car-seconds."""
    period = rows[1]["t"] - rows[0]["t"]
    n, secs = 0, 0.0
    last = {}
    for r in rows:
        for cid, ch in r["chargers"].items():
            if cid not in cars or cars[cid][1] > r["t"]:
                continue
            if ch["offered"] == 0:
                secs += period
                if last.get(cid, 0) > 0:
                    n += 1
            last[cid] = ch["offered"]
    return n, secs


def walk_figures(sc, rows):
    """An hour's random walk: mean and least utilisation after the first
    minute of each stretch, pauses per car-hour, paused car-seconds."""
    cars = _cars(sc)
    st = stretches(sc, rows)
    changes = _house_at(sc)
    us = []
    for r in rows:
        k = max(i for i, (t, _) in enumerate(changes) if t <= r["t"])
        if r["t"] < changes[k][0] + SETTLE_S or r["t"] < 60:
            continue
        could = could_take(sc, changes[k][1], r["t"])
        got = drawn(sc, r)
        us.append(min(1.0, sum(got.values()) / max(1e-9, sum(could.values()))))   # (over: 100 %, no more)
    n, secs = pauses(rows, cars)
    hours = len(cars) * (rows[-1]["t"] - 60) / 3600.0
    return {"mean": sum(us) / len(us), "least": min(us),
            "settled": [s["steady"] for s in st if s["steady"] is not None],
            "pauses_per_car_h": n / hours, "paused_s": secs, "pauses": n}


def table(quick=False):
    """The bench's utilisation section: the kettle site's stretches and the walk
    (quick: the walk's first 15 minutes)."""
    print("Utilisation: what the cars draw of what they could take (issue 21; tools/utilisation.py)")
    print("  kettle site: 1 phase 40 A, margin 0, cars of 32, 16 and 10 A; steady = least row from 60 s")
    print("  after the change to the next one; t95 = first row at >= 95 %")
    print("  %-13s %-22s %8s %8s %8s %9s" % ("board", "house", "steady", "t95 s", "paused", "to 95 %"))
    for name, kw in VARIANTS:
        sc = kettle(**kw)
        for s in stretches(sc, simulate(sc)):
            print("  %-13s %-22s %7.0f %% %8s %7.0f s %9s" % (
                name, "%s A from %d s" % (s["house"]["L1"], s["t"]), 100 * (s["steady"] or 0),
                "-" if s["t95"] is None else "%.1f" % s["t95"], s["paused_s"],
                "ok" if s["steady"] is not None and s["steady"] >= 0.95 else "SHORT"))
    print("  walk: 3 phases 63 A, 11 chargers, the house stepping every 1-5 min, %s"
          % ("15 minutes (--quick)" if quick else "one hour"))
    print("  %-13s %8s %8s %12s %14s %8s" % ("board", "mean", "least", "pauses/car-h", "paused car-s", "pauses"))
    for name, kw in VARIANTS:
        sc = walk(duration=900 if quick else 3600, **kw)
        f = walk_figures(sc, simulate(sc))
        print("  %-13s %7.1f %% %7.1f %% %12.2f %14.0f %8d" % (
            name, 100 * f["mean"], 100 * f["least"], f["pauses_per_car_h"], f["paused_s"], f["pauses"]))


if __name__ == "__main__":
    table("--quick" in sys.argv)
