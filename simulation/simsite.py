"""A simulated site around the real hub, in simulated time, on the unix port.

    simsite.main("scenario.json")     # one JSON line per control period

The hub (hub.Hub: Meter, health, Controller, pilot duties) runs unchanged; only
the world is simulated: non-EV load per phase, EVs that plug in, follow their
pilot after a response delay and stop when their energy is delivered, and CT
clamps whose waveforms (simadc) the Meter samples each period. A scenario
(tools/simulate.py, docs/simulator.md, "Scenarios") holds the site, the chargers and timed events.
"""

import json
import math
import sys

import config
import demand
import hub
import pilot
import simadc

_EVENT_KINDS = ("load", "plug", "unplug", "sensor", "cmd", "contact", "grid_msg", "pv", "ev")
_FAULTS = ("open", "shorted", "stuck", "saturated", "bias", "slipped")
# the pilot's high level a car's state shows (IEC 61851-1 Table A.4), in mV
_LEVEL_MV = {"A": 12000, "B": 9000, "C": 6000}


_STATE_FILES = ("state.json", "energy.json", "demand.log", "sessions.log")


def _ticks_diff(a, b):
    return a - b


class SimEV:
    """The car behind one charger."""

    def __init__(self, nphases):
        self.nphases = nphases
        self.plugged = False
        self.ev_max = 0
        self.wh_left = 0.0
        self.delay_ms = 2000
        self.pending = []     # (when, offer) the car has yet to act on
        self.following = 0    # the offer the car acts on now
        self.draw = 0.0
        self.state = "A"
        self.seen = 0
        self.start_ms = 0

    def plug(self, ev_max, kwh, delay_ms, now=0, wait_ms=0):
        self.plugged, self.ev_max, self.wh_left, self.delay_ms = True, ev_max, kwh * 1000.0, delay_ms
        self.pending, self.following, self.seen = [], 0, 0
        self.state = "B"
        self.start_ms = now + wait_ms    # a car that starts late (its own timer, a cold battery)

    def unplug(self):
        self.plugged = False
        self.state, self.draw = "A", 0.0

    def offer(self, now, amps):
        """The hub's offer at `now`; the car answers it after its delay."""
        if amps != self.seen:
            self.seen = amps
            self.pending.append((now + self.delay_ms, amps))

    def update(self, now, dt_ms, volts):
        """Act on due offers, draw for the next dt_ms."""
        while self.pending and self.pending[0][0] <= now:
            self.following = self.pending.pop(0)[1]
        if not self.plugged:
            self.state, self.draw = "A", 0.0
            return
        if self.following >= 6 and self.wh_left > 0 and self.ev_max > 0 and now >= self.start_ms:
            self.state, self.draw = "C", float(min(self.following, self.ev_max))
            self.wh_left -= self.draw * volts * dt_ms / 3600000.0
        else:
            self.state, self.draw = "B", 0.0


class Lines:
    """What each line's CT sees: the phasor sum of the currents on it, at unity
    power factor. A line-to-neutral or three-phase load is in phase with its
    line's voltage; on a three-phase site a load wired line to line (208 V) is
    at +30 degrees on its first line and -30 on its second, so a line carries
    |I_an + I_ab e^{j30} + I_ca e^{-j30}|, i.e. sqrt(I_ab^2 + I_ca^2 + I_ab I_ca)
    without line-to-neutral load. On a split-phase service the 240 V load
    flows out one leg and back on the other, in phase with each: plain sums."""

    def __init__(self, nph, ch_phases):
        self.nph = nph
        self.w = [[0j] * len(ch_phases) for _ in range(nph)]   # per line, per charger
        for i, ph in enumerate(ch_phases):
            for p in ph:
                self.w[p][i] = line_weight(nph, ph, p)

    def amps(self, load, draws, pv=None):
        """Per line, its current: negative while the line exports (solar
        generation `pv` on it, in phase with its voltage, over what it uses)."""
        out = []
        for p in range(self.nph):
            z = complex(load[p] - (pv[p] if pv else 0))
            for i, w in enumerate(self.w[p]):
                if w:
                    z += w * draws[i]
            out.append(abs(z) if z.real >= 0 else -abs(z))
        return out


def line_weight(nph, phases, p):
    """The phasor, relative to line p's own voltage, of a unit current drawn
    by a load wired across `phases`, as line p's CT sees it. Derived from the
    voltages themselves (the allocator uses a table; a test compares them):
    a load across two lines draws a current along the voltage between them
    (unity power factor), out on the first line and back on the second."""
    if len(phases) != 2:
        return 1 + 0j        # line to neutral, or a balanced three-phase load
    v = _V2 if nph == 2 else _V3
    d = v[phases[0]] - v[phases[1]]
    i = d / abs(d)
    if p == phases[1]:
        i = -i
    return i / v[p]


_V2 = (1 + 0j, -1 + 0j)      # split-phase legs, 180 degrees apart
_V3 = (1 + 0j, complex(-0.5, -0.8660254037844386), complex(-0.5, 0.8660254037844386))


class Readback:
    """The sim board's read-back (hal.make_readback): the board's own
    readback.Readback, its divider, diode and debounce, over simadc.PilotADC
    chips whose lines show each car's state as a voltage, or -12 V where the
    hub drives state F. So the site boots as a board does: every charger not
    read back (None) until a state has held."""

    def __init__(self, evs, pilots):
        import hal
        self.evs = evs
        self.pilots = pilots
        self.rb = None
        self.none = []       # the states of a site with no chargers (monitor only): no chip to read
        if evs:
            self.rb = hal.make_readback({"readback": {"sim": len(evs)}}, None, _ticks_diff)
            self.set_levels()
            self.rb.calibrate()      # as main.Boot does: every pilot at +12 V before the first step

    def set_levels(self):
        chips = self.rb.chips
        for i, ev in enumerate(self.evs):
            mv = -12000 if self.pilots[i].permille == pilot.DISABLED_PERMILLE else _LEVEL_MV[ev.state]
            chips[i >> 3].level_mv[i & 7] = mv

    def states(self, now):
        if self.rb is None:
            return self.none
        self.set_levels()
        return self.rb.states(now)


def events_of(sc):
    """(where, event) of a scenario's events, each an object with a time in the run."""
    events = sc.get("events", [])
    if not isinstance(events, list):
        raise config.ConfigError("events: expected a list")
    out = []
    for i, e in enumerate(events):
        w = "events[%d]" % i
        if not isinstance(e, dict):
            raise config.ConfigError(w + ": expected an object")
        config._num(e.get("t"), w + ".t", 0, sc.get("duration", 0))
        out.append((w, e))
    return out


def _check_events(sc):
    phases = sc["site"]["phases"]
    ids = [c["id"] for c in sc.get("chargers", [])]
    events = sc.get("events", [])
    for w, e in events_of(sc):
        kinds = [k for k in _EVENT_KINDS if k in e]
        if len(kinds) != 1:
            raise config.ConfigError(w + ": needs exactly one of " + ", ".join(_EVENT_KINDS))
        kind = kinds[0]
        allowed = {"load": ("t", "load"), "plug": ("t", "plug", "ev_max", "kwh", "delay", "wait"),
                   "ev": ("t", "ev", "ev_max"),
                   "unplug": ("t", "unplug"), "sensor": ("t", "sensor", "fault"), "cmd": ("t", "cmd"),
                   "contact": ("t", "contact"), "grid_msg": ("t", "grid_msg"), "pv": ("t", "pv")}[kind]
        config._keys(e, allowed, w)
        if kind in ("load", "pv"):
            config._keys(e[kind], phases, "%s.%s" % (w, kind))
            for p, a in e[kind].items():
                config._num(a, "%s.%s.%s" % (w, kind, p), 0, 10000)
        elif kind in ("plug", "unplug", "ev"):
            if e[kind] not in ids:
                raise config.ConfigError("%s.%s: no charger %r" % (w, kind, e[kind]))
            if kind in ("plug", "ev"):
                config._num(e.get("ev_max", 32), w + ".ev_max", 0, 80)
            if kind == "plug":
                config._num(e.get("kwh", 50), w + ".kwh", 0, 1000)
                config._num(e.get("delay", 2), w + ".delay", 0, 5)
                config._num(e.get("wait", 0), w + ".wait", 0, 86400)
        elif kind in ("cmd", "grid_msg"):
            if not isinstance(e[kind], dict):
                raise config.ConfigError("%s.%s: expected an object (as on the %s topic)" % (
                    w, kind, "cmd" if kind == "cmd" else "grid_limit"))
        elif kind == "contact":
            if e["contact"] not in (True, False, None):
                raise config.ConfigError(w + ".contact: true (closed), false (open) or null (unreadable)")
        else:
            if e["sensor"] not in phases:
                raise config.ConfigError("%s.sensor: %r is not a phase" % (w, e["sensor"]))
            if e.get("fault") is not None and e["fault"] not in _FAULTS:
                raise config.ConfigError("%s.fault: one of %s or null" % (w, ", ".join(_FAULTS)))
    return sorted(events, key=lambda e: e["t"])


def check(sc):
    """Validate a scenario dict; returns (config, events sorted by time)."""
    config._keys(sc, ("duration", "mains_hz", "voltage", "site", "chargers", "control", "events", "mqtt",
                      "readback", "charger_cts", "vt", "grid", "clock"), "scenario")
    if "clock" in sc:
        clock_s(sc["clock"])
    for k, dflt in (("readback", True), ("charger_cts", False), ("vt", False)):
        if not isinstance(sc.get(k, dflt), bool):
            raise config.ConfigError("%s: true or false" % k)
    config._num(sc.get("duration"), "duration", 1, 7 * 86400)
    if sc.get("mains_hz", 50) not in (50, 60):
        raise config.ConfigError("mains_hz: 50 or 60")
    config._num(sc.get("voltage", 230), "voltage", 100, 480)
    site = sc.get("site")
    if "voltage" in sc and isinstance(site, dict) and "voltage" not in site:
        site = dict(site, voltage=sc["voltage"])    # the scenario's voltage, as before site.voltage
    cfg = {"site": site, "chargers": sc.get("chargers", []), "control": sc.get("control", {})}
    for k in ("mqtt", "grid"):
        if k in sc:
            cfg[k] = sc[k]
    cfg = config.validate(cfg)
    return cfg, _check_events(sc)


def clock_s(v):
    """Unix seconds of a scenario's "clock": "YYYY-MM-DDTHH:MM:SS" (UTC)."""
    import grid
    if not isinstance(v, str) or len(v) != 19 or v[10] != "T":
        raise config.ConfigError("clock: \"YYYY-MM-DDTHH:MM:SS\" (UTC), got %r" % (v,))
    try:
        day = grid.parse_date(v[:10])
        hms = v[11:].split(":")
        if len(hms) != 3 or not all(len(x) == 2 and x.isdigit() for x in hms):
            raise ValueError("a time as HH:MM:SS")
        h, m, sec = int(hms[0]), int(hms[1]), int(hms[2])
        if h > 23 or m > 59 or sec > 59:
            raise ValueError("a time as HH:MM:SS")
    except ValueError as e:
        raise config.ConfigError("clock: %s" % e)
    return day * 86400 + h * 3600 + m * 60 + sec


_CT_RATINGS = (100, 200, 400, 600, 800, 1200, 2000)    # A: split-core clamps as sold


def board_for(cfg, mains_hz, charger_cts=False, vt=False):
    """The sim board with one CT per site phase (and one per charger, named
    after it), clamps rated at least 1.25 times the site's limit (the sim
    board's 100 A ones read up to ~200 A of a charger's waveform: a 400 A
    site would look like saturated clamps); with vt, voltage references:
    one AC-AC adapter on L1 for a one- or two-line service (L2 its
    opposite), one per line on three."""
    import hal
    b = dict(hal.load_board("sim"))
    proto = small = b["ct"][0]
    lim = cfg["site"]["limit"]
    lim = max(lim) if isinstance(lim, list) else lim
    rating = _CT_RATINGS[-1]
    for r in _CT_RATINGS:
        if r >= 1.25 * lim:
            rating = r
            break
    if rating != proto["rating_a"]:     # a clamp sized for the service, its burden as the 100 A one's
        proto = dict(proto, rating_a=rating, ratio=proto["ratio"] * rating // proto["rating_a"])
    phases = cfg["site"]["phases"]
    b["ct"] = [dict(proto, name=p) for p in phases]
    if charger_cts:
        b["ct"] += [dict(small, name=c["id"]) for c in cfg["chargers"]]
    if vt:
        if len(phases) == 3:
            b["vt"] = [{"name": "V" + p, "ratio": 281, "lines": {p: 0}} for p in phases]
        else:
            b["vt"] = [{"name": "V1", "ratio": 281, "lines": dict(zip(phases, (0, 180)))}]
    b["mains_hz"] = mains_hz
    return b


class Sim:
    def __init__(self, sc, services=True):
        self.cfg, self.events = check(sc)
        self.duration_ms = int(sc["duration"] * 1000)
        hz = sc.get("mains_hz", 50)
        self.charger_cts = sc.get("charger_cts", False)
        board = board_for(self.cfg, hz, self.charger_cts, sc.get("vt", False))
        import hal
        self.adc = simadc.SimADC([simadc.Clamp(0.0, simadc.EV, hz, a_per_count=k)
                                  for k in hal.calibration(board)], board["adc"]["rate_hz"])
        site = self.cfg["site"]
        # Voltage references: each line's voltage (line to neutral). On a
        # two-line service the VT reads L1, so what flows on L2 alone is seen
        # opposite to it (its clamp's waveform turned by half a cycle); a
        # charger across both legs is in phase with V_L1 - V_L2.
        vts = board.get("vt", ())
        volts = config.voltage(site)
        cl = self.adc.clamps
        for j in range(len(vts)):
            k = len(board["ct"]) + j
            cl[k] = simadc.Clamp(volts, simadc.SINE, hz, a_per_count=cl[k].a_per_count)
        if len(vts) == 1 and len(site["phases"]) == 2:
            opposite = tuple((h, a, ph + h * math.pi) for h, a, ph in simadc.EV)
            flip = [1] + [len(site["phases"]) + i for i, c in enumerate(self.cfg["chargers"])
                          if self.charger_cts and c.get("phases", site["phases"][:1]) == [site["phases"][1]]]
            for k in flip:
                cl[k] = simadc.Clamp(0.0, opposite, hz, a_per_count=cl[k].a_per_count)
        self.phases = site["phases"]
        chs = self.cfg["chargers"]
        self.ids = [c["id"] for c in chs]
        self.ch_phases = [[self.phases.index(p) for p in c.get("phases", self.phases[:1])] for c in chs]
        self.evs = [SimEV(len(p)) for p in self.ch_phases]
        self.volts = [config.charger_volts(site, len(p)) for p in self.ch_phases]
        self.voltage = config.voltage(site)
        self.lines = Lines(len(self.phases), self.ch_phases)
        self.pilots = [simadc.SimPilot() for _ in chs]
        self.readback = sc.get("readback", True)
        self.contact = 0      # the dry contact: 1 closed, 0 open, None unreadable
        wired = "grid" in self.cfg and "contact_limit_a" in self.cfg["grid"]
        self.hub = hub.Hub(board, self.cfg, self.adc, self.pilots, _ticks_diff,
                           Readback(self.evs, self.pilots) if self.readback else None,
                           contact=self.read_contact if wired else None)
        self.wall0 = clock_s(sc["clock"]) if "clock" in sc else 0
        self.now = 0
        if self.wall0:
            self.hub.wall_s = self.wall_s
            self.hub.demand.start(self.wall0)    # quarter-hours on the clock, as Services does
        self.sv = None        # the hub's own Services, where the scenario commands it
        self.own_state = None  # the path prefix of its state, where it is the run's own
        if services and any("cmd" in e or "grid_msg" in e for e in self.events):
            self.services(SimClock(self))
        self.period_ms = self.hub.period_ms
        self.load = [0.0] * len(self.phases)
        self.pv = [0.0] * len(self.phases)    # solar generation per line, A
        self.next_event = 0
        self.seen = 0         # hub log entries already put in a record
        self.taken = []       # entries taken before Services ran (it keeps only the last 8 it posted)
        self.demand_seen = 0  # demand intervals already put in a record

    def services(self, clock, state_dir=None):
        """Run the hub's own Services (firmware/app/services.py) beside it, as a
        board does: commands and the aggregator's topic go through it (its ts
        checks, wall-clock expiry, saved overrides), and each period it meters
        and logs. state_dir: its flash, kept across runs (live); without one,
        a clean state of its own: nothing saved by another run."""
        import os
        import services
        d = state_dir
        if d is None:
            d = self.own_state = "/tmp/almhub-sim-%s-" % "".join("%02x" % b for b in os.urandom(4))
            self.clean()
        self.sv = services.Services(self.hub, self.cfg, clock, d + "state.json", d + "energy.json", d)
        return self.sv

    def read_contact(self):
        if self.contact is None:
            raise OSError(5)      # EIO: an input that cannot be read
        return self.contact

    def wall_s(self):
        return self.wall0 + self.now // 1000

    def _apply_events(self, now):
        while self.next_event < len(self.events) and self.events[self.next_event]["t"] * 1000 <= now:
            e = self.events[self.next_event]
            self.next_event += 1
            if "load" in e or "pv" in e:
                to = self.load if "load" in e else self.pv
                for p, a in e["load" if "load" in e else "pv"].items():
                    to[self.phases.index(p)] = float(a)
            elif "plug" in e:
                self.evs[self.ids.index(e["plug"])].plug(e.get("ev_max", 32), e.get("kwh", 50),
                                                         int(e.get("delay", 2) * 1000), now,
                                                         int(e.get("wait", 0) * 1000))
            elif "ev" in e:       # the car's own maximum changes (0: it stops drawing)
                self.evs[self.ids.index(e["ev"])].ev_max = e["ev_max"]
            elif "unplug" in e:
                self.evs[self.ids.index(e["unplug"])].unplug()
            elif "cmd" in e:      # as it arrives on almhub/<id>/cmd
                print(json.dumps(self.sv.command(json.dumps(e["cmd"]))), file=sys.stderr)
            elif "grid_msg" in e:
                self.grid_msg(e["grid_msg"], now)
            elif "contact" in e:
                self.contact = None if e["contact"] is None else int(e["contact"])
            else:
                self.adc.clamps[self.phases.index(e["sensor"])].fault = e.get("fault")

    def grid_msg(self, msg, now):
        """An aggregator's message on the grid_limit topic, through the hub's
        Services (a hub whose config does not watch the topic never sees one)."""
        if not self.hub.grid.topic:
            print(json.dumps({"grid_limit": "ignored", "error": "grid.topic is not on"}), file=sys.stderr)
            return
        self.sv.grid_message(json.dumps(msg))

    def step(self, now):
        """One period at `now`: the world moves, then the hub measures and decides."""
        self.now = now
        self._apply_events(now)
        for i, ev in enumerate(self.evs):
            ev.update(now, self.period_ms, self.volts[i])
        actual = self.lines.amps(self.load, [ev.draw for ev in self.evs], self.pv)
        measured, offers = self.decide(now, actual)
        return actual, measured, offers

    def decide(self, now, actual):
        """The hub's part of a period: its clamps read the lines' `actual`
        currents (and each charger's CT its car), it measures and decides,
        its cars see the offers, its Services run."""
        for p, a in enumerate(actual):
            self.adc.clamps[p].amps = a       # negative: the waveform turned, as an export shows
        if self.charger_cts:
            for i, ev in enumerate(self.evs):
                self.adc.clamps[len(actual) + i].amps = ev.draw
        self.adc.t = now / 1000
        measured, ok, offers = self.hub.step(now)
        for ev, o in zip(self.evs, offers):
            ev.offer(now, o)
        if self.sv is not None:
            self.taken = self.new_events()
            self.sv.period(now)
        return measured, offers

    def record(self, now, actual, measured, offers):
        phases = {}
        for p, name in enumerate(self.phases):
            ne = self.hub.ctl.nonev[p]
            phases[name] = {"actual": round(actual[p], 2), "measured": round(measured[p], 2),
                            "limit": self.hub.ctl.eff_a[p], "nonev": None if ne is None else round(ne, 2)}
            k = self.hub.pw_phase[p]
            if k is not None:
                w = self.hub.power.w[k]
                phases[name]["w"] = None if w is None else round(w)
        rec = {"t": now / 1000, "mode": self.hub.ctl.mode, "phases": phases, "chargers": self.chargers(offers),
               "limit": dict(zip(self.phases, self.hub.ctl.eff_a)), "limit_source": self.hub.ctl.claims.source()}
        g = self.hub.grid
        if g.scheduled:
            rec["schedule"] = "on" if g.schedule_on else "no clock"
        new = self.new_events()
        if new:
            rec["events"] = new
        d = self.hub.demand
        if d.count != self.demand_seen:      # this row ends a 15-minute interval
            self.demand_seen = d.count
            last = d.last      # (built when asked: once)
            rec["demand"] = demand.phases_obj(last[1], last[2], self.phases)
        return rec

    def chargers(self, offers):
        """A trace row's chargers: offer, duty, what the car draws and shows."""
        out = {}
        states = self.hub.states
        for i, cid in enumerate(self.ids):
            ev = self.evs[i]
            out[cid] = {"offered": offers[i], "duty": self.pilots[i].permille / 10,
                        "draw": ev.draw, "state": states[i] if states and states[i] else "?",
                        "car": ev.state, "believed": self.hub.ctl.draws.took_ca[i] / 100}
            sp = self.hub.surplus_state(i)
            if sp is not None:
                out[cid]["surplus"] = sp
        return out

    def new_events(self):
        """The hub's log entries since the last row: [[t s, text], ...]."""
        log = self.hub.log
        new = [[t / 1000, text] for t, text in log[len(log) - (self.hub.logged - self.seen):]]
        self.seen = self.hub.logged
        if self.taken:
            new, self.taken = self.taken + new, []
        return new

    def run(self, out):
        now = 0
        while now <= self.duration_ms:
            actual, measured, offers = self.step(now)
            out(self.record(now, actual, measured, offers))
            now += self.period_ms
        self.clean()

    def clean(self):
        """Remove the state a run's own Services kept (a live run's is kept)."""
        import os
        d = self.own_state
        if d is None:
            return
        for f in _STATE_FILES:
            try:
                os.remove(d + f)
            except OSError:
                pass

    def limit_of(self, p):
        """Phase p's limit the truth is judged on: the one in force, and the
        demand cap where the hub cannot tell import from export (with a
        voltage reference the cap is on import, which the sun may cover)."""
        ctl = self.hub.ctl
        lim, i = ctl.eff_a[p], ctl.claims.imp(p)
        return i if i is not None and i < lim and self.hub.pw_phase[p] is None else lim

    def overloads(self, now, actual):
        """The truth the overload invariant is checked on, for the rows where a
        phase or a circuit is over its limit, and more than the non-EV load
        (plus the fallback budget while its CT is lost) would be on its own:
        [t, kind, name, actual, limit, non-EV load, fallback budget or None]."""
        ctl = self.hub.ctl
        out = []
        fb = ctl.fallback_a()
        for p, name in enumerate(self.phases):
            faulted = self.adc.clamps[p].fault is not None
            # what the hub cannot help: the house alone over, or, blind, the house plus the fallback
            lim = self.limit_of(p)
            if actual[p] > max(lim, self.load[p] + (fb[p] if faulted else 0)):
                out.append([now / 1000, "phase", name, round(actual[p], 2), lim,
                            round(self.load[p], 2), fb[p] if faulted else None])
        return out + self.circuit_overloads(now)

    def circuit_overloads(self, now):
        """overloads' rows of the circuits, on this hub's chargers' draws."""
        site = self.hub.ctl.site
        out = []
        nph = site.nph
        for node in range(1, len(site.parent)):
            for p in range(nph):
                k = node * nph + p
                z = 0j
                for i, ev in enumerate(self.evs):
                    if k in site.cons[i]:
                        z += ev.draw * self.lines.w[p][i]
                a = abs(z)
                if a > site.limit_a[node]:
                    out.append([now / 1000, "circuit", "%s/%s" % (site.circuit_ids[node], self.phases[p]),
                                round(a, 2), site.limit_a[node], 0.0, None])
        return out

    def offers_ok(self, offers):
        """Hard limits and J1772 duties of this period: '' or what is wrong."""
        ctl = self.hub.ctl
        site = ctl.site
        for i, o in enumerate(offers):
            d = self.pilots[i].permille
            if o and not (site.chargers[i].min_a <= o <= ctl.claims.user_max[i]):
                return "%s offered %r A outside min..max" % (self.ids[i], o)
            want = pilot.amps_to_duty_permille(o) if o else None
            if want is not None and d != want:
                return "%s duty %r for %r A" % (self.ids[i], d, o)
            if not o and d not in (pilot.PAUSED_PERMILLE, pilot.DISABLED_PERMILLE):
                return "%s duty %r with no offer" % (self.ids[i], d)
        used = [0j] * site.ncons       # the line currents the offers make (the sim's physics)
        for i, o in enumerate(offers):
            # a standing minimum where nothing is drawn (or its probe) is not booked on
            # the lines: the mains shows a car that takes it (issue 21); circuits book it
            standing = ctl.standing_a[i] >= o > 0
            for k in site.cons[i]:
                if k >= site.nph or not standing:
                    used[k] += o * self.lines.w[k % site.nph][i]
        for p in range(site.nph):
            lim = self.limit_of(p)
            if abs(used[p]) > max(0, lim - ctl.claims.margin_a) + 1e-6:
                return "%.1f A offered on %s, limit - margin %r" % (abs(used[p]), self.phases[p],
                                                                    lim - ctl.claims.margin_a)
        for k in range(site.nph, site.ncons):
            if abs(used[k]) > site.limit_a[k // site.nph] + 1e-6:
                return "%.1f A offered on circuit %s" % (abs(used[k]), site.circuit_ids[k // site.nph])
        return ""

    def check(self):
        """Run the scenario; returns the invariant's evidence (see check_main)."""
        over, bad = [], ""
        now = 0
        rows = 0
        while now <= self.duration_ms:
            actual, measured, offers = self.step(now)
            over += self.overloads(now, actual)
            if not bad:
                bad = self.offers_ok(offers)
                if bad:
                    bad = "t=%s: %s" % (now / 1000, bad)
            rows += 1
            now += self.period_ms
        return {"rows": rows, "over": over, "bad": bad, "period_ms": self.period_ms,
                "response_ms": self.hub.ctl.cfg["response_ms"]}


def check_main(path, make=None):
    """For the scenario fuzzer: a JSON list of scenarios in, one JSON line per
    scenario out, {"rows", "over", "bad", ...} or {"error": traceback}.
    make: what runs a scenario (Sim; multisite.MultiSim for several hubs)."""
    import gc
    with open(path) as f:
        scenarios = json.load(f)
    for sc in scenarios:
        gc.collect()
        try:
            res = (make or Sim)(sc).check()
        except Exception as e:  # the fuzzer reports any exception as a failure
            sys.print_exception(e, sys.stderr)  # type: ignore  # (the stubs want an IOBase_mp)
            res = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(res))


class SimClock:
    """The simulation's time for the hub's Services: ticks are its
    milliseconds, time() its wall clock (0, unset, without a "clock")."""

    def __init__(self, sim):
        self.sim = sim

    def ticks_ms(self):
        return self.sim.now

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, b):
        return a + b

    def time(self):
        return self.sim.wall_s() if self.sim.wall0 else 0


class ScaledClock:
    """time's ticks, running `speed` times faster (simulated milliseconds).
    No wall clock (no time()): a scenario's hub has none."""

    def __init__(self, speed):
        import time
        self._time = time
        self.speed = speed
        self.t0 = time.ticks_ms()

    def ticks_ms(self):
        return int(self._time.ticks_diff(self._time.ticks_ms(), self.t0) * self.speed)

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, b):
        return a + b


def live(sim, speed, out, state_dir):
    """Run in (scaled) real time with the hub's services: MQTT, commands, energy."""
    import time
    clock = ScaledClock(speed)
    sv = sim.services(clock, state_dir)
    nxt = 0
    while nxt <= sim.duration_ms:
        wall = time.ticks_ms()
        actual, measured, offers = sim.step(nxt)
        rec = sim.record(nxt, actual, measured, offers)
        rec["wall_ms"] = wall
        if sv.link is not None:
            rec["mqtt"] = {"up": sv.link.up, "connects": sv.link.connects, "sent": sv.link.published}
        out(rec)
        nxt += sim.period_ms
        wait = (nxt - clock.ticks_ms()) / speed
        if wait > 0:
            time.sleep_ms(int(wait))


def load(path, make):
    """The scenario at path, made into a simulation by make(scenario); a bad
    one ends the program with status 2 and one line saying why."""
    try:
        with open(path) as f:
            sc = json.load(f)
        return make(sc)
    except OSError as e:
        print("simulate: %s: cannot read (%s)" % (path, e), file=sys.stderr)
        sys.exit(2)
    except (ValueError, TypeError, KeyError) as e:  # ConfigError is a ValueError; json too
        print("simulate: %s: %s" % (path, e), file=sys.stderr)
        sys.exit(2)


def main(path, speed=0, state_dir="/tmp/almhub-sim-"):
    sim = load(path, Sim)
    if speed:
        live(sim, speed, lambda rec: print(json.dumps(rec)), state_dir)
    else:
        sim.run(lambda rec: print(json.dumps(rec)))
