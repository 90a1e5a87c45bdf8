"""Scenario fuzzing: random sites and events through the simulator's engine,
checked against the overload invariant.

    import fuzzlib
    results = fuzzlib.run([scenario, ...])          # simulation/simsite.py on the unix port
    problems, worst_as = fuzzlib.judge(scenario, results[0])

The generator (`scenarios()`, a Hypothesis strategy) draws sites of 1, 2
(split-phase) or 3 phases at 120 or 230 V with nested circuits, 1-30
chargers (line to neutral, across two lines, three-phase), boards with and
without pilot read-back and with or without a CT per charger, and events:
arrivals, departures, load steps (the house alone may go over the limit),
cars that start late, take less than offered, stop drawing or take more of
a standing offer, a house that wanders (random walks of steps), every
sensor fault, commands (valid or not), and limits from outside: an
aggregator's grid_limit messages (and its failsafe when they stop, and at
boot), grid_limit commands, a dry contact that closes, opens or cannot be
read; and solar generation coming and going (a voltage reference per line,
site.pv, chargers in surplus mode).

The invariant (docs/load-management.md, "The invariant"), checked on the simulator's truth
(`actual`, what the clamps would read with perfect sensors), never on what
the hub believes:
- no phase or circuit is over its limit, except within W of something the hub
  did not cause: a load step, a sensor fault or its end, a command, an
  arrival (plus the car's own delay, up to 5 s, before it draws), a late
  start, a car taking more (or less) of a standing offer, boot.
  W = the EV's response (5 s) + 2 periods (the measurement, and the
  read-back's debounce).
- what is over counts only above what the hub cannot help: the non-EV load
  itself when that alone is over, and, while a phase's CT is lost, the non-EV
  load plus the fallback budget (the installer's figure of what is safe blind).
- a tolerance of the measurement's slack (0.5 A + 2 %), as in control.py.
- every period: offers within min..max, duties exactly J1772's, offers within
  limit - margin per phase and within every circuit (checked in the engine).
"""

import json
import os
import tempfile

import mpenv

from hypothesis import strategies as st

FAULTS = ["open", "shorted", "stuck", "saturated", "bias", "slipped"]
HUB_FAULTS = ("down", "isolated", "broker", "msg_delay")     # several hubs (simulation/multisite.py)
HEAPSIZE = "16M"


def run(scenarios, timeout=1800, engine="simsite"):
    """Run scenarios through simsite.check_main (or multisite's, for
    several hubs: each scenario's "mqtt" names the broker); one result dict each."""
    fd, path = tempfile.mkstemp(suffix=".json", prefix="almhub-fuzz-")
    with os.fdopen(fd, "w") as f:
        json.dump(scenarios, f)
    try:
        r = mpenv.run(["-X", "heapsize=" + HEAPSIZE, "-c",
                       "import %s\n%s.check_main(%r)\n" % (engine, engine, path)],
                      capture_output=True, text=True, timeout=timeout)
    finally:
        os.unlink(path)
    out = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    if r.returncode != 0 or len(out) != len(scenarios):
        raise RuntimeError("%s.check_main failed (%d): %s" % (engine, r.returncode, (r.stdout + r.stderr)[-3000:]))
    return out


def run_hubs(scenarios, host, port, timeout=1800):
    """Several hubs' scenarios (hub_scenarios) against the broker at host:port."""
    for sc in scenarios:
        sc["mqtt"] = {"host": host, "port": port}
    return run(scenarios, timeout, "multisite")


def _excuses(sc):
    """(time, window extra) of everything the hub did not cause: events, and
    the limits from outside that lower it at their own times (a contact
    after its debounce, a topic's signal ending in the failsafe)."""
    ev = [(0.0, 5.0)]   # boot: cars may be plugged from the start
    for e in sc.get("events", []):
        t = float(e["t"])
        if any(k in e for k in HUB_FAULTS):
            if e.get("down") is False:
                ev.append((t, 5.0))    # a hub boots again: its cars may draw at once
            continue                   # the faults of several hubs: never an excuse
        ev.append((t, 5.0 if "plug" in e else 1.5 if "contact" in e else 0.0))
        if "plug" in e and e.get("wait"):
            ev.append((t + e["wait"], 0.0))     # a late starter takes its standing offer
        if "grid_msg" in e and isinstance(e["grid_msg"].get("for_s"), (int, float)):
            ev.append((t + e["grid_msg"]["for_s"], 0.0))
        if isinstance(e.get("cmd"), dict) and isinstance(e["cmd"].get("for_s"), (int, float)):
            ev.append((t + e["cmd"]["for_s"], 0.0))
    if sc.get("clock") and (sc.get("grid") or {}).get("schedule"):
        import calendar
        import time
        # a schedule changes on the wall clock's minutes (hours, windows' HH:MM)
        wall0 = calendar.timegm(time.strptime(sc["clock"], "%Y-%m-%dT%H:%M:%S"))
        ev += [(float(t), 0.0) for t in range(-(wall0 % 60) % 60, int(sc["duration"]) + 1, 60)]
    return ev


def judge(sc, res):
    """(problems, worst over in A*s outside the excuses, total over in A*s)."""
    if "error" in res:
        return ["exception: " + res["error"]], 0.0, 0.0
    problems = []
    if res["bad"]:
        problems.append("hard limit or duty: " + res["bad"])
    period = res["period_ms"] / 1000.0
    w = res["response_ms"] / 1000.0 + 2 * period
    excuses = _excuses(sc)
    episodes = {}
    total = 0.0
    for t, kind, name, actual, limit, nonev, fb in res["over"]:
        floor = max(limit, nonev + (fb or 0))
        excess = actual - floor - (0.5 + 0.02 * actual)
        if excess <= 0:
            continue
        total += excess * period
        if any(0 <= t - et <= w + extra + 1e-9 for et, extra in excuses):
            continue
        key = (kind, name)
        episodes[key] = episodes.get(key, 0.0) + excess * period
        if len(problems) < 5:
            problems.append("t=%.1f %s %s: %.2f A over %.2f A (non-EV %.2f, fallback %s)"
                            % (t, kind, name, actual, floor, nonev, fb))
    worst = max(episodes.values()) if episodes else 0.0
    return problems, worst, total


def longest_episode(res):
    """The longest run of consecutive periods (s) any phase or circuit is over
    what the hub could help (as judge counts it), whatever caused it."""
    if "over" not in res:
        return 0.0
    period = res["period_ms"] / 1000.0
    last, length, longest = {}, {}, 0.0
    for t, kind, name, actual, limit, nonev, fb in res["over"]:
        if actual - max(limit, nonev + (fb or 0)) - (0.5 + 0.02 * actual) <= 0:
            continue
        key = (kind, name)
        run = length[key] + period if key in last and abs(t - last[key] - period) < 1e-6 else period
        last[key], length[key] = t, run
        longest = max(longest, run)
    return longest


@st.composite
def scenarios(draw, max_chargers=30, duration=240):
    nph = draw(st.sampled_from([1, 2, 3]))        # 2: a 120/240 V split-phase service
    three = nph > 1
    phases = ["L1", "L2", "L3"][:nph]
    limit = draw(st.integers(20, 160))
    per_phase = three and draw(st.booleans())
    limits = [draw(st.integers(20, 160)) for _ in phases] if per_phase else [limit] * len(phases)
    margin = draw(st.integers(0, min(limits) // 5))
    site = {"phases": phases, "limit": limits if per_phase else limit, "margin": margin,
            "voltage": 120 if nph == 2 else draw(st.sampled_from([120, 230]))}
    if draw(st.booleans()):
        site["fallback"] = draw(st.integers(0, min(limits) - margin))
    circuits = []
    for k in range(draw(st.integers(0, 3))):
        parent = draw(st.sampled_from([None] + [c["id"] for c in circuits]))
        top = min(limits) if parent is None else int([c["limit"] for c in circuits if c["id"] == parent][0])
        lim = draw(st.integers(min(16, top), top))
        if draw(st.booleans()):
            lim = lim + 0.5   # a decimal breaker rating in the file
        circuits.append({"id": "k%d" % k, "limit": lim, "parent": parent})
    site["circuits"] = circuits
    chargers = []
    for i in range(draw(st.integers(1, max_chargers))):
        ch = {"id": "c%d" % i}
        # line to neutral, across two lines (240 V split-phase, 208 V line to line), or three-phase
        n = draw(st.integers(1, nph))
        first = draw(st.integers(0, nph - 1))
        ch["phases"] = [phases[(first + k) % nph] for k in range(n)]
        circ = draw(st.sampled_from([None] + circuits))
        cap = 32
        if circ is not None:
            ch["circuit"] = circ["id"]
            cap = min(cap, int(circ["limit"]))
        if cap < 6:
            ch.pop("circuit", None)
            cap = 32
        mn = draw(st.integers(6, min(10, cap)))
        ch["min"], ch["max"] = mn, draw(st.integers(mn, cap))
        if draw(st.integers(0, 4)) == 0:
            ch["priority"] = draw(st.integers(-2, 2))
        chargers.append(ch)
    ids = [c["id"] for c in chargers]
    events = []
    t_of = st.integers(0, duration * 2).map(lambda x: x / 2.0)
    for _ in range(draw(st.integers(0, 40))):
        t = draw(t_of)
        kind = draw(st.sampled_from(["plug", "plug", "plug", "unplug", "load", "load", "sensor", "cmd",
                                     "grid_msg", "contact", "pv", "ev", "walk"]))
        if kind == "plug":
            e = {"t": t, "plug": draw(st.sampled_from(ids)), "ev_max": draw(st.integers(6, 32)),
                 "kwh": draw(st.sampled_from([0.05, 0.5, 5, 50])), "delay": draw(st.integers(0, 5))}
            if draw(st.integers(0, 3)) == 0:
                e["wait"] = draw(st.integers(1, 120))      # a late starter
            events.append(e)
        elif kind == "ev":      # a car takes less (a full battery: 0) or more than before
            events.append({"t": t, "ev": draw(st.sampled_from(ids)), "ev_max": draw(st.sampled_from([0, 6, 10, 16, 32]))})
        elif kind == "walk":    # the house wanders: steps of a few amps every few seconds to minutes
            p = draw(st.sampled_from(phases))
            a = draw(st.integers(0, int(max(limits) * 0.6)))
            u = t
            for _ in range(draw(st.integers(2, 8))):
                u += draw(st.integers(2, 90))
                if u > duration:
                    break
                a = max(0, a + draw(st.integers(-8, 8)))
                events.append({"t": float(u), "load": {p: a}})
        elif kind == "unplug":
            events.append({"t": t, "unplug": draw(st.sampled_from(ids))})
        elif kind == "load":
            events.append({"t": t, "load": {p: draw(st.integers(0, int(max(limits) * 1.1))) for p in phases
                                            if draw(st.booleans())} or {phases[0]: 0}})
        elif kind == "sensor":
            p = draw(st.sampled_from(phases))
            events.append({"t": t, "sensor": p, "fault": draw(st.sampled_from(FAULTS))})
            events.append({"t": min(duration, t + draw(st.integers(1, 90))), "sensor": p, "fault": None})
        elif kind == "grid_msg":      # the aggregator's topic (its failsafe when it goes silent)
            events.append({"t": t, "grid_msg": {"limit": draw(_grid_limits(limits)),
                                                "for_s": draw(st.integers(1, 120))}})
        elif kind == "contact":
            events.append({"t": t, "contact": draw(st.sampled_from([True, False, None]))})
        elif kind == "pv":            # the sun on some lines (a cloud: 0), export where it is more than the load
            events.append({"t": t, "pv": {p: draw(st.integers(0, int(max(limits) * 1.2))) for p in phases
                                          if draw(st.booleans())} or {phases[0]: 0}})
        else:
            events.append({"t": t, "cmd": draw(_commands(ids, limits, margin))})
    # rotation slots short enough that a case sees handovers (grid cuts among them)
    control = {"holdoff_ms": draw(st.sampled_from([0, 5000, 30000])),
               "slot_ms": draw(st.sampled_from([60000, 90000, 300000]))}
    sc = {"duration": duration, "mains_hz": draw(st.sampled_from([50, 60])),
          "readback": draw(st.booleans()), "charger_cts": draw(st.integers(0, 3)) == 0,
          "site": site, "chargers": chargers, "control": control, "events": events}
    if any("pv" in e for e in events) or draw(st.integers(0, 5)) == 0:
        # generation behind the mains CTs, a voltage reference per line, some chargers in surplus mode
        sc["vt"], site["pv"] = True, True
        for ch in chargers:
            if draw(st.booleans()):
                ch["surplus"] = True
    if any("grid_msg" in e or "contact" in e for e in events):
        # watched (the failsafe at boot too) or not; a contact wired
        sc["grid"] = {"topic": draw(st.booleans()), "failsafe_a": draw(st.integers(0, max(limits))),
                      "failsafe_s": draw(st.integers(0, 120)), "contact_limit_a": draw(st.integers(0, max(limits)))}
    return sc


def kettle_hubs(steps, readback, duration):
    """The kettle site of tools/utilisation.py on two hubs (multisite): clamps
    on the incoming phase only, 80 A, margin 0, each hub cars of 32, 16 and
    10 A plugged at 1 s; steps: ((s, house A), ...)."""
    return {"duration": duration, "site": {"id": "kettle", "phases": ["L1"], "limit": 80, "margin": 0},
            "hubs": [{"id": h, "readback": readback, "chargers": [{"id": "%s-%d" % (h, i), "max": 32} for i in range(3)]}
                     for h in ("h1", "h2")],
            "events": [{"t": t, "load": {"L1": a}} for t, a in steps] +
                      [{"t": 1, "plug": "%s-%d" % (h, i), "ev_max": m, "kwh": 500}
                       for h in ("h1", "h2") for i, m in enumerate((32, 16, 10))]}


@st.composite
def hub_scenarios(draw, duration=180):
    """Several hubs on one site (simulation/multisite.py): a site drawn as
    scenarios() draws one, its chargers shared among 2-4 hubs (a circuit's
    on one hub, said so, or on any), random shares, each
    hub with or without read-back; its load steps, arrivals, departures and
    clamp faults (at one hub), and the faults of several hubs: a hub's power
    cut, a hub isolated from the broker, the broker down, claims late."""
    base = draw(scenarios(max_chargers=24, duration=duration))
    site = dict(base["site"], id="fuzz")
    site.pop("pv", None)
    k = draw(st.integers(2, 4))
    ids = ["h%d" % j for j in range(k)]
    if draw(st.booleans()):
        w = [draw(st.integers(1, 9)) for _ in ids]
        site["shares"] = {h: int(1000 * x / sum(w)) / 1000 for h, x in zip(ids, w)}
    root = {}
    for c in site["circuits"]:
        root[c["id"]] = root[c["parent"]] if c["parent"] else c["id"]
    # a circuit tree on one hub, said so (site.circuits[].hub: all of its room
    # that hub's), or its chargers on any hub (each at its share of it)
    home = {r: draw(st.sampled_from(ids + [None])) for r in sorted(set(root.values()))}
    for c in site["circuits"]:
        if c["parent"] is None and home[c["id"]] is not None:
            c["hub"] = home[c["id"]]
    hubs = [{"id": h, "chargers": [], "readback": draw(st.booleans())} for h in ids]
    owner = {}
    for ch in base["chargers"]:
        ch.pop("surplus", None)
        h = home[root[ch["circuit"]]] if "circuit" in ch else None
        h = h or draw(st.sampled_from(ids))
        hubs[ids.index(h)]["chargers"].append(ch)
        owner[ch["id"]] = h
    events = []
    whose = {p: draw(st.sampled_from(ids)) for p in site["phases"]}    # a clamp's fault and its end, one hub's
    for e in base["events"]:
        if any(x in e for x in ("cmd", "grid_msg", "contact", "pv")):
            continue
        if "sensor" in e:
            e = dict(e, hub=whose[e["sensor"]])
        events.append(e)
    t_of = st.integers(0, duration * 2).map(lambda x: x / 2.0)
    for _ in range(draw(st.integers(1, 4))):
        t = draw(t_of)
        end = min(duration, t + draw(st.integers(2, 90)))
        kind = draw(st.sampled_from(["down", "isolated", "broker", "msg_delay"]))
        if kind == "broker":
            events += [{"t": t, "broker": "down"}, {"t": end, "broker": "up"}]
        elif kind == "msg_delay":
            events += [{"t": t, "msg_delay": draw(st.sampled_from([0.5, 1, 2, 4]))}, {"t": end, "msg_delay": 0}]
        else:
            h = draw(st.sampled_from(ids))
            events += [{"t": t, "hub": h, kind: True}, {"t": end, "hub": h, kind: False}]
    return {"duration": duration, "mains_hz": base["mains_hz"], "charger_cts": base["charger_cts"],
            "site": site, "hubs": hubs, "control": base["control"], "events": events}


def _grid_limits(limits):
    """A grid_limit's limit: one for every phase, or one per phase (above the site's too)."""
    one = st.integers(0, max(limits) + 20)
    return st.one_of(one, st.lists(one, min_size=len(limits), max_size=len(limits)))


def _commands(ids, limits, margin):
    cid = st.sampled_from(ids + ["nope"])
    return st.one_of(
        st.fixed_dictionaries({"cmd": st.just("set_limit"),
                               "limit": st.integers(0, max(limits) + 10)}),
        st.fixed_dictionaries({"cmd": st.just("set_margin"), "margin": st.integers(0, max(limits))}),
        st.fixed_dictionaries({"cmd": st.just("set_max"), "charger": cid, "max": st.integers(0, 40)}),
        st.fixed_dictionaries({"cmd": st.sampled_from(["pause", "resume"]), "charger": cid}),
        st.fixed_dictionaries({"cmd": st.just("priority"), "charger": cid, "priority": st.integers(-5, 5)}),
        st.fixed_dictionaries({"cmd": st.sampled_from(["fly", "status"])}),
        st.fixed_dictionaries({"cmd": st.just("grid_limit"), "limit": _grid_limits(limits),
                               "for_s": st.integers(0, 120)}),
    )
