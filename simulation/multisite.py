"""Several hubs on one site, each its own firmware on its own MQTT connection
to a real broker, around one simulated site's physics (issue 24, item 6).

    multisite.main("hubs.json")        # one JSON line per control period
    multisite.check_main("list.json")  # the fuzzer's: the invariant's evidence per scenario

A scenario is simsite's with "hubs" in place of "chargers":

    {"site": {...}, "mqtt": {"host": "127.0.0.1", "port": 1883},
     "hubs": [{"id": "h1", "chargers": [...]}, {"id": "h2", "chargers": [...], "readback": false}]}

Every hub gets the same "site" (site.hubs, where it is not given, lists the
hubs in order); a hub's own "site" keys are laid over it, to show what a
misconfigured hub does. Each hub is a simsite.Sim: the hub's own Hub and
Services (its Watch, its claims, its mqttlink.Link to the broker), its
clamps on the incoming lines, its chargers' pilots and read-back. The lines
carry the house and every hub's cars (simsite.Lines over all chargers).

Events are simsite's, with a "hub" on those that happen at one hub
("sensor": its clamp, "cmd", "grid_msg", "contact"), and:
    {"t": T, "hub": "h2", "down": true|false}      a power cut (its cars stop) / back: a fresh boot
    {"t": T, "hub": "h2", "isolated": true|false}  it runs and measures, its connection cut / back
    {"t": T, "broker": "down"|"up"}                every hub's connection cut / back
    {"t": T, "msg_delay": S}                       claims reach each hub S s late (0: at once)
A cut connection is closed under the hub and its reconnects are refused,
as a broker that is gone looks to its clients; the broker keeps its
retained claims, as one with persistence does. The hubs run one after the
other each period, on simulated time; the claims cross the broker in real
time, a few ms a period.
"""

import json
import socket
import time

import config
import mqttlink
import simsite

_DEAD = ("127.0.0.1", 1)          # a port nothing listens on: a connect is refused
_HUB_EVENTS = ("sensor", "cmd", "grid_msg", "contact")
_OWN = ("down", "isolated")


def _nodelay(init):
    """mqttlink's socket with Nagle's algorithm off. Simulated periods pass
    some hundred times faster than real ones: a claim held back for the
    peer's delayed ACK (40 ms on Linux) would arrive many periods late, where
    on a board it is a tenth of one."""
    def make(self, *args):
        init(self, *args)
        self.raw.setsockopt(6, 1, 1)     # IPPROTO_TCP, TCP_NODELAY
    return make


setattr(mqttlink._Sock, "__init__", _nodelay(mqttlink._Sock.__init__))


def _check(sc):
    """Validate a multi-hub scenario; returns (the site, [(hub id, its simsite scenario)], site events)."""
    config._keys(sc, ("duration", "mains_hz", "voltage", "site", "hubs", "control", "events", "mqtt",
                      "charger_cts", "vt"), "scenario")
    hubs = sc.get("hubs")
    if not isinstance(hubs, list) or not 1 <= len(hubs) <= 16:
        raise config.ConfigError("hubs: a list of 1 to 16 hubs")
    mq = sc.get("mqtt")
    if not isinstance(mq, dict) or not isinstance(mq.get("host"), str) or not isinstance(mq.get("port"), int):
        raise config.ConfigError("mqtt: {\"host\": ..., \"port\": ...}, the broker the hubs share")
    site = sc.get("site")
    if not isinstance(site, dict):
        raise config.ConfigError("site: expected an object")
    ids = []
    for j, h in enumerate(hubs):
        w = "hubs[%d]" % j
        if not isinstance(h, dict):
            raise config.ConfigError(w + ": expected an object")
        config._keys(h, ("id", "chargers", "readback", "site"), w)
        if not isinstance(h.get("id"), str) or h["id"] in ids:
            raise config.ConfigError(w + ".id: a hub id, none twice")
        ids.append(h["id"])
    if "hubs" not in site:
        site = dict(site, hubs=ids)
    owner = {}
    for h in hubs:
        for c in h.get("chargers", []):
            if not isinstance(c, dict) or c.get("id") in owner:
                raise config.ConfigError("hubs.%s.chargers: charger ids are the site's: %r twice"
                                         % (h["id"], c.get("id") if isinstance(c, dict) else c))
            owner[c["id"]] = h["id"]
    own = {i: [] for i in ids}
    common = []
    for w, e in simsite.events_of(sc):
        who = e.get("hub")
        if who is not None and who not in own:
            raise config.ConfigError("%s.hub: no hub %r" % (w, who))
        if "broker" in e or "msg_delay" in e:
            config._keys(e, ("t", "broker") if "broker" in e else ("t", "msg_delay"), w)
            if "broker" in e and e["broker"] not in ("down", "up"):
                raise config.ConfigError(w + ".broker: \"down\" or \"up\"")
            if "msg_delay" in e:
                config._num(e["msg_delay"], w + ".msg_delay", 0, 60)
            common.append(e)
        elif any(k in e for k in _OWN):
            kind = "down" if "down" in e else "isolated"
            config._keys(e, ("t", "hub", kind), w)
            if who is None or not isinstance(e[kind], bool):
                raise config.ConfigError("%s: {\"t\", \"hub\", \"%s\": true|false}" % (w, kind))
            common.append(e)
        elif any(k in e for k in _HUB_EVENTS):
            if who is None:
                raise config.ConfigError(w + ": whose? a \"hub\" for " + "/".join(_HUB_EVENTS))
            own[who].append(dict((k, v) for k, v in e.items() if k != "hub"))
        elif any(k in e for k in ("plug", "unplug", "ev")):
            cid = e.get("plug", e.get("unplug", e.get("ev")))
            if cid not in owner:
                raise config.ConfigError("%s: no charger %r on any hub" % (w, cid))
            own[owner[cid]].append(e)
        else:
            common.append(e)      # load, pv: the site's (simsite checks them)
    out = []
    for h in hubs:
        s = dict(site)
        s.update(h.get("site", {}))
        hsc = {"duration": sc.get("duration"), "site": s, "chargers": h.get("chargers", []),
               "control": sc.get("control", {}), "events": own[h["id"]],
               "mqtt": dict(mq, hub_id=h["id"]), "readback": h.get("readback", True)}
        for k in ("mains_hz", "voltage", "charger_cts", "vt"):
            if k in sc:
                hsc[k] = sc[k]
        out.append((h["id"], hsc))
    world = {"duration": sc.get("duration"), "site": dict(site), "events": [e for e in common
                                                                           if "load" in e or "pv" in e]}
    for k in ("mains_hz", "voltage"):
        if k in sc:
            world[k] = sc[k]
    simsite.check(world)     # the site's own events, as simsite takes them
    return site, out, sorted(common, key=lambda e: e["t"])


class Hub:
    """One hub of the site: its simsite.Sim (firmware, clamps, pilots, cars) and its state dir."""

    def __init__(self, hid, sc, state):
        self.id = hid
        self.sc = sc
        self.state = state
        self.sim = None
        self.cars = []       # type: list  # its cars (simsite.SimEV), kept across its reboots
        self.inbox = []      # (due ms, claim) not yet delivered
        self.cut = False     # its connection is cut (isolated, or the broker down)
        self.isolated = False
        self.faults = None   # its clamps' faults, kept across a power cut

    def boot(self, world, now):
        """A fresh boot at `now`: new firmware, the same cars and flash."""
        sim = simsite.Sim(self.sc, services=False)
        if not self.cars:
            self.cars = sim.evs
        else:
            sim.evs[:] = self.cars          # its read-back holds the list
        sim.now = now
        while sim.next_event < len(sim.events) and sim.events[sim.next_event]["t"] * 1000 < now:
            sim.next_event += 1             # what happened while it was down is gone
        if self.faults is not None:
            for c, f in zip(sim.adc.clamps, self.faults):
                c.fault = f
        sim.services(simsite.SimClock(sim), self.state)
        deliver = sim.sv.peer_message

        def later(msg):       # a claim off the broker, delivered after the scenario's delay
            if world.delay_ms:
                self.inbox.append((sim.now + world.delay_ms, msg))
            else:
                deliver(msg)
        sim.sv.link.on_peer = later
        self.sim = sim
        self.inbox = []
        if self.cut:
            self.connection(False)

    def deliver(self, now):
        keep = []
        for due, msg in self.inbox:
            if due <= now:
                self.sim.sv.peer_message(msg)
            else:
                keep.append((due, msg))
        self.inbox = keep

    def connection(self, up):
        """Cut its connection (closed under it, reconnects refused) or give it back."""
        self.cut = not up
        if self.sim is None:
            return
        link = self.sim.sv.link
        if up:
            link.addr = None                     # resolved afresh: the broker's own
            return
        link.addr = socket.getaddrinfo(_DEAD[0], _DEAD[1])
        _close(self.sim)                          # the hub finds it at its next read

    def power_off(self):
        """A power cut: its pilots are dead, so its cars stop at once; its
        connection goes with it."""
        _close(self.sim)
        self.faults = [c.fault for c in self.sim.adc.clamps]
        self.sim = None
        for ev in self.cars:
            ev.pending, ev.following, ev.seen = [], 0, 0
            ev.draw = 0.0
            if ev.plugged:
                ev.state = "B"


def _close(sim):
    """Close a hub's connection under it (no DISCONNECT: the broker sends its will)."""
    sock = sim.sv.link.sock
    if sock is not None:
        try:
            sock.raw.close()
        except OSError:
            pass


class MultiSim:
    def __init__(self, sc, ideal=False):
        self.site, hubs, self.events = _check(sc)
        self.duration_ms = int(sc["duration"] * 1000)
        self.delay_ms = 0
        self.broker_down = False
        self.now = 0
        tag = "".join("%02x" % b for b in __import__("os").urandom(4))
        self.hubs = [Hub(hid, hsc, "/tmp/almhub-msim-%s-%s-" % (tag, hid)) for hid, hsc in hubs]
        for h in self.hubs:
            h.boot(self, 0)
        first = self.hubs[0].sim
        self.phases = first.phases
        self.period_ms = first.period_ms
        self.response_ms = first.hub.ctl.cfg["response_ms"]
        # the lines over every hub's chargers: one site's physics
        chs = []
        for h in self.hubs:
            chs += h.sim.ch_phases
        self.lines = simsite.Lines(len(self.phases), chs)
        self.load = [0.0] * len(self.phases)
        self.pv = [0.0] * len(self.phases)
        self.limit = [float(x) for x in self.site_limits(sc["site"])]
        self.next_event = 0
        self.top = [x - sc["site"].get("margin", 0) for x in self.limit]
        # each circuit's limit and the chargers (over all hubs, in the lines'
        # order) on it or below it: its truth is every hub's cars on it
        parent = dict((c["id"], c) for c in sc["site"].get("circuits", []))
        self.circuits = [(c["id"], c["limit"], []) for c in sc["site"].get("circuits", [])]
        g = 0
        for hid, hsc in hubs:
            for ch in hsc["chargers"]:
                cid = ch.get("circuit")
                while cid:
                    for c in self.circuits:
                        if c[0] == cid:
                            c[2].append(g)
                    cid = parent[cid].get("parent")
                g += 1
        self.one = None       # with ideal: one allocator over every hub's chargers (rows' "ideal_a")
        if ideal:
            import alloc
            chs, self.wts = [], []
            for h in self.hubs:
                site = h.sim.hub.ctl.site
                for i, ch in enumerate(site.chargers):
                    chs.append(alloc.Charger(len(chs), alloc.ROOT, ch.phases, ch.min_a, ch.max_a))
                    self.wts.append(site.wts[i])
            self.one = alloc.Site(self.phases, [], chs)

    def site_limits(self, site):
        lim = site["limit"]
        return lim if isinstance(lim, list) else [lim] * len(site["phases"])

    def _apply(self, now):
        while self.next_event < len(self.events) and self.events[self.next_event]["t"] * 1000 <= now:
            e = self.events[self.next_event]
            self.next_event += 1
            h = None
            for x in self.hubs:
                if x.id == e.get("hub"):
                    h = x
            if "load" in e or "pv" in e:
                to = self.load if "load" in e else self.pv
                for p, a in e["load" if "load" in e else "pv"].items():
                    to[self.phases.index(p)] = float(a)
            elif "msg_delay" in e:
                self.delay_ms = int(e["msg_delay"] * 1000)
            elif "broker" in e:
                self.broker_down = e["broker"] == "down"
                for x in self.hubs:
                    x.connection(not self.broker_down and not x.isolated)
            elif "isolated" in e:
                h.isolated = e["isolated"]
                h.connection(not self.broker_down and not h.isolated)
            elif e["down"] and h.sim is not None:
                h.power_off()
            elif not e["down"] and h.sim is None:
                h.boot(self, now)

    def step(self, now):
        """One period: the world moves, then each powered hub measures and decides."""
        self.now = now
        self._apply(now)
        draws = []
        for h in self.hubs:
            sim = h.sim
            if sim is not None:
                sim.now = now
                sim._apply_events(now)
                for i, ev in enumerate(h.cars):
                    ev.update(now, self.period_ms, sim.volts[i])
            draws += [ev.draw for ev in h.cars]
        actual = self.lines.amps(self.load, draws, self.pv)
        offers = {}
        for h in self.hubs:
            if h.sim is not None:
                h.deliver(now)
                offers[h.id] = h.sim.decide(now, actual)
        time.sleep_ms(1)      # the broker passes this period's claims on
        return actual, offers

    def record(self, now, actual, offers):
        rec = {"t": now / 1000, "broker": "down" if self.broker_down else "up",
               "phases": {name: {"actual": round(actual[p], 2), "limit": self.limit[p],
                                 "house": round(self.load[p], 2)} for p, name in enumerate(self.phases)},
               "hubs": {}}
        ev = 0.0
        for h in self.hubs:
            sim = h.sim
            if sim is None:
                rec["hubs"][h.id] = {"up": False}
                continue
            measured, off = offers[h.id]
            ctl = sim.hub.ctl
            link = sim.sv.link
            w = sim.sv.watch
            row = {"up": True, "mode": ctl.mode, "mqtt": link.up, "cut": h.cut, "share": ctl.claims.share,
                   "shared": w.all_fresh(now), "heard": w.heard_ids(now),
                   "measured": dict((name, round(measured[p], 2)) for p, name in enumerate(self.phases)),
                   "chargers": sim.chargers(off)}
            for c in row["chargers"].values():
                ev += c["draw"]
            new = sim.new_events()
            if new:
                row["events"] = new
            rec["hubs"][h.id] = row
        rec["cars_a"] = round(ev, 2)
        if self.one is not None:
            rec["ideal_a"] = round(self.ideal(now), 2)
            rec["lines_a"] = round(sum(actual[p] - self.load[p] for p in range(len(self.phases))), 2)
        return rec

    def ideal(self, now):
        """The sum of the line currents one allocator over every hub's
        chargers gives the cars that want current now, with the room the
        house truly leaves (rows' "ideal_a"; the cars' own: "lines_a")."""
        want = []
        for h in self.hubs:
            for ev in h.cars:
                ok = ev.plugged and ev.wh_left > 0 and now >= ev.start_ms
                want.append(ev.ev_max if ok else 0)
        chs = self.one.chargers
        for i, c in enumerate(chs):
            want[i] = min(want[i], c.max_a) if want[i] >= c.min_a else 0
        got = self.one.fill([self.top[p] - self.load[p] for p in range(len(self.phases))], want, list(range(len(chs))))
        z = [0j] * len(self.phases)
        for i, a in enumerate(got):
            ps, w = chs[i].phases, self.wts[i]
            for j in range(len(ps)):
                z[ps[j]] += a * w[j]
        return sum(abs(x) for x in z)

    def overloads(self, now, actual):
        """simsite.Sim.overloads for the whole site: a line over its limit and
        over what the house (plus the fallback of every hub blind on it)
        would take alone; a circuit over its limit, every hub's cars on it."""
        out = []
        for p, name in enumerate(self.phases):
            fb, blind = 0.0, False
            for h in self.hubs:
                if h.sim is not None and h.sim.adc.clamps[p].fault is not None:
                    blind = True
                    fb += h.sim.hub.ctl.fallback_a()[p]
            lim = self.limit[p]
            if actual[p] > max(lim, self.load[p] + fb):
                out.append([now / 1000, "phase", name, round(actual[p], 2), lim, round(self.load[p], 2),
                            round(fb, 2) if blind else None])
        draws = []
        for h in self.hubs:
            draws += [ev.draw for ev in h.cars]
        w = self.lines.w
        for cid, lim, on in self.circuits:
            for p, name in enumerate(self.phases):
                z = 0j
                for g in on:
                    z += draws[g] * w[p][g]
                if abs(z) > lim:
                    out.append([now / 1000, "circuit", "%s/%s" % (cid, name), round(abs(z), 2), lim, 0.0, None])
        return out

    def run(self, out):
        try:
            now = 0
            while now <= self.duration_ms:
                actual, offers = self.step(now)
                out(self.record(now, actual, offers))
                now += self.period_ms
        finally:
            self.close()

    def check(self):
        """Run the scenario; the invariant's evidence, as simsite.Sim.check."""
        over, bad, rows = [], "", 0
        try:
            now = 0
            while now <= self.duration_ms:
                actual, offers = self.step(now)
                over += self.overloads(now, actual)
                for h in self.hubs:
                    if not bad and h.sim is not None:
                        bad = h.sim.offers_ok(offers[h.id][1])
                        if bad:
                            bad = "t=%s: %s: %s" % (now / 1000, h.id, bad)
                rows += 1
                now += self.period_ms
        finally:
            self.close()
        return {"rows": rows, "over": over, "bad": bad, "period_ms": self.period_ms,
                "response_ms": self.response_ms}

    def close(self):
        """Every hub's connection closed, its state files removed."""
        import os
        for h in self.hubs:
            if h.sim is not None:
                _close(h.sim)
            for f in simsite._STATE_FILES:
                try:
                    os.remove(h.state + f)
                except OSError:
                    pass


def check_main(path):
    """For the fuzzer: a JSON list of multi-hub scenarios in, one JSON line each out."""
    simsite.check_main(path, MultiSim)


def main(path, ideal=False):
    simsite.load(path, lambda sc: MultiSim(sc, ideal)).run(lambda rec: print(json.dumps(rec)))
