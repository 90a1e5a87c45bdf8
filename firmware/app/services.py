"""What runs around the control step: commands, saved overrides, sessions,
the demand log, events and MQTT.

    sv = Services(hub, cfg, clock, state_path="state.json", energy_path="energy.json")
    sv.period(now_ms)          # after hub.step(now_ms), in the period's slack

The control step never waits on any of this: it runs after the step, the
MQTT link's calls are bounded by its socket timeout, and a command only
changes the controller between two steps. Overrides set by commands are
saved atomically and re-applied at boot within the hard limits.

Each reason to change has its unit: metering (metering.Metering: energy per
charger and at the connection), the wall clock (wallclock.WallClock, with
ntp.Ntp where a server is configured), captures (capture.Captures, loaded
at the first ask), the MQTT outbox (mqttlink.Link.post); this wires them.
"""

import gc
import json

import commands
import demand
import metering
import mqttlink
import sessions
import store
import telemetry
import wallclock

_OUTBOX_KEEP = 16   # while the broker is away, only the latest messages are kept
_EVENTS_SHOWN = 8   # the last events a status reply shows, and all the log keeps once posted


class Services:
    def __init__(self, hub, cfg, clock, state_path="state.json", energy_path="energy.json",
                 capture_dir=""):
        self.hub = hub
        self.clock = clock
        mq = cfg.get("mqtt")
        self.hub_id = (mq or {}).get("hub_id", "hub")
        # the telemetry buffer (5 KB for 30 chargers) first, into the heap the
        # boot's last collection left clean: placed among the services' own
        # garbage it sat higher (11.8 -> 12.8 KiB largest block after a
        # simulated hour, 32 bits, ROMFS, tools/bench.py heap's program)
        self.writer = telemetry.Writer(self.hub_id, hub)
        self.state_path = state_path
        self.hard = commands.Hard(cfg)
        self.overrides = commands.restore(store.load_json(state_path, {}) or {}, hub.ctl, self.hard, hub.grid)
        gc.collect()    # a stage of boot ends: its garbage freed before the next's lasting objects (see Hub)
        self.metering = metering.Metering(hub, cfg, clock, energy_path)
        self.energy = self.metering.energy     # the counters (telemetry, tests)
        gc.collect()
        self.link = None
        self.watch = None       # several hubs: the others' claims (control/peers.py)
        site = cfg["site"]
        if mq and "hubs" in site:
            import os
            import peers
            self.watch = peers.Watch(self.hub_id, site, int.from_bytes(os.urandom(4), "big") >> 2,
                                     clock.ticks_diff)
            self.share = hub.ctl.claims.share     # its safe share (config.share_of), given back after a conflict
            hub.ctl.claims.take_peers(self.watch)     # what the others hold and want: the controller reads it
            # its claim written into a buffer of its own each period: a dict and
            # its json.dumps a period cost 2.4 KiB of the smallest heap (32 bits, ROMFS)
            self.claim_w = telemetry.ClaimWriter(self.watch)
        if mq:
            try:
                self.link = mqttlink.Link(mq, self.hub_id, self.command, clock,
                                          on_grid=self.grid_message if hub.grid.topic else None,
                                          on_peer=self.peer_message if self.watch is not None else None)
            except (OSError, ValueError) as e:   # the CA file missing or no certificate: no MQTT,
                print("almhub: mqtt: %s (no MQTT)" % e)    # control goes on
        gc.collect()
        sntp = None
        if cfg.get("ntp"):
            try:
                import ntp      # only where a server is configured: the client stays out of RAM otherwise
                sntp = ntp.Ntp(cfg["ntp"], clock)
            except OSError as e:    # no network stack: no wall clock, control goes on
                print("almhub: ntp: %s (no wall clock)" % e)
        self.clock_of = wallclock.WallClock(clock, sntp)
        self.phases = cfg["site"]["phases"]
        self.demand_log = demand.Log(capture_dir + "demand.log", len(self.phases))
        hub.demand.start(self.demand_log.end_s)   # the log's clock goes on after its last interval
        self.demand_seen = hub.demand.count
        gc.collect()
        self.sessions = sessions.Sessions(hub.ids, hub.energy_by, capture_dir + "sessions.log",
                                          readback=hub.readback is not None)
        self.heap = None  # type: tuple | None  # (free, largest block) at boot, for telemetry
        self.logged = hub.logged
        self.capture_dir = capture_dir
        self.captures = None    # capture.Captures, made at the first ask (numbering goes on across reboots)
        self.wall_s = self.clock_of.wall_s
        hub.wall_s = self.wall_s      # schedules need the wall clock
        self.aligned = False          # the demand intervals not yet on the wall clock's quarter-hours

    def telemetry(self):
        self.metering.flush()      # kWh as of now
        up_s = self.metering.up_ms // 1000
        try:
            return self.writer.payload(self.hub, self.energy, up_s, self.heap, self.clock_of.source())
        except (ValueError, IndexError):   # never seen: the buffer is sized for the site
            return telemetry.state(self.hub_id, self.hub, self.energy, up_s, self.heap, self.clock_of.source())

    def discovery(self):
        return telemetry.discovery(self.writer, self.hub)

    def command(self, payload):
        reply, cmd = commands.handle(payload, self.hub.ctl, self.hard, self.overrides, self.hub.grid,
                                     self.clock.ticks_ms())
        if cmd is None:
            return reply
        name = cmd["cmd"]
        if name == "sessions":
            reply["sessions"] = self.sessions.records(cmd["since"])
            return reply
        if name == "forget_sessions":
            self.sessions.forget()
            self.hub.event(self.clock.ticks_ms(), "sessions forgotten")
            return reply
        if name == "status":
            doc = self.telemetry()[1]
            reply["status"] = st = json.loads(doc) if isinstance(doc, str) else json.loads(bytes(doc))
            ctl = self.hub.ctl
            for i, cid in enumerate(self.hub.ids):   # who limits each charger (its claims)
                ch = st.get("chargers", {}).get(cid)
                if ch is not None:
                    ch["by"] = ctl.claims.charger(i, ctl.site.chargers[i].max_a)[1]
            reply["events"] = [[t, text] for t, text in self.hub.log[-_EVENTS_SHOWN:]]
        elif name == "capture":
            if self.captures is None:
                import capture
                self.captures = capture.Captures(self.capture_dir)
            reply["file"] = self.captures.ask()
        else:
            try:
                store.save_json(self.state_path, self.overrides)
            except OSError as e:   # applied, but will not survive a reboot: say so
                reply["saved"] = False
                reply["warning"] = "not saved: %s" % e
            self.hub.event(self.clock.ticks_ms(), "command %s" % name)
        return reply

    def grid_message(self, payload):
        """A message on almhub/<id>/grid_limit (the aggregator's, retained):
        {"limit": A or [A per phase], "for_s": S, "ts": a number that grows
        with every message (optional)}. A refresh extends the limit; a bad
        message changes nothing and is said on the event topic."""
        now = self.clock.ticks_ms()
        try:
            vals, for_s, ts = commands.grid_message(payload, len(self.phases))
        except commands.Refused as e:
            self.hub.event(now, "grid_limit refused: %s" % e.args[0])
            return
        why = self.hub.grid.message(vals, for_s, ts, self.wall_s(), now)
        if why is not None:
            self.hub.event(now, why)

    def peer_message(self, payload):
        """A hub's claim on almhub/<hub>/claim (our own comes back too): a
        conflict takes this hub's share to 0 at once (control/peers.py)."""
        now = self.clock.ticks_ms()
        try:
            c = json.loads(payload)
        except ValueError:
            return
        why = self.watch.heard(c, now, self.wall_s())
        if why is not None:
            self.hub.ctl.claims.share = 0.0
            self.hub.event(now, "share 0, its chargers wait: %s" % why)

    def _peers(self, now):
        """Several hubs: the share back a lease after the last conflict; this
        hub's claim posted each period (what it holds and wants, its turns)."""
        import shared     # loaded with the watch (several hubs), already in RAM
        w, cl = self.watch, self.hub.ctl.claims
        if cl.share != self.share and w.conflict(now) is None:
            cl.share = self.share
            self.hub.event(now, "share back: no conflict for %d s" % (w.lease_ms // 1000))
        if self.link.up:
            self.link.post("claim", self.claim_w.write(w, self.wall_s(), shared.claim(self.hub.ctl, now)), True)

    def _demand(self, now):
        """A 15-minute interval ended: on the flash, and on almhub/<id>/demand (retained)."""
        d = self.hub.demand
        self.demand_seen = d.count
        end_s, means, maxes = d.last
        log = self.demand_log
        seq = log.seq
        if not log.append(end_s, means, maxes) and log.failed == 1:
            self.hub.event(now, "demand not saved: %s" % log.error)
        if self.link is not None:
            self.link.post("demand", demand.message(seq, end_s, means, maxes, self.phases), True)

    def clock_source(self):
        """Where the wall clock comes from: "ntp", "rtc" (set some other way) or "unset"."""
        return self.clock_of.source()

    def period(self, now):
        self.clock_of.service(now)
        if not self.aligned:
            w = self.wall_s()
            if w:     # quarter-hours on the clock (a utility's), the interval's sums kept
                self.hub.demand.start(w, keep=True)
                self.aligned = True
        self.metering.period(now)
        hub = self.hub
        closed = self.sessions.update(now, self.clock.ticks_diff, hub.states, hub.draws, hub.ctl.offer,
                                      self.metering.wh, self.wall_s)
        if closed and self.link is not None:
            for rec in closed:   # QoS 1: the broker acknowledges it (the log on flash keeps it anyway)
                self.link.post("session", json.dumps(rec), False, 1)
        if self.hub.demand.count != self.demand_seen:
            self._demand(now)
        if self.captures is not None and self.captures.due:
            m = self.hub.meter
            err = self.captures.write(self.hub.ct_names, m.buf, m.frames)
            if err is not None:
                self.hub.event(self.clock.ticks_ms(), "capture not written: %s" % err)
        if self.link is None:
            return
        if self.watch is not None:
            self._peers(now)
        log = self.hub.log
        new = self.hub.logged - self.logged
        for t, text in log[len(log) - min(new, len(log)):]:
            self.link.post("event", text)
        self.logged = self.hub.logged
        # posted: only those a status reply shows are kept (the room stays); the
        # rest, ~1.5 KB of texts kept for nothing, was 1 KiB of the smallest heap
        del log[:-_EVENTS_SHOWN]
        self.link.keep(_OUTBOX_KEEP)
        self.link.service(now, self.telemetry, self.discovery)
