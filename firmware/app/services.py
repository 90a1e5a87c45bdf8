"""What runs around the control step: commands, saved overrides, energy, MQTT.

    sv = Services(hub, cfg, clock, state_path="state.json", energy_path="energy.json")
    sv.period(now_ms)          # after hub.step(now_ms), in the period's slack

The control step never waits on any of this: it runs after the step, the
MQTT link's calls are bounded by its socket timeout, and a command only
changes the controller between two steps. Overrides set by commands are
saved atomically and re-applied at boot within the hard limits.
"""

import gc
import json

import commands
import config
import demand
import grid
import health
import mqttlink
import sessions
import store
import telemetry

_CAPTURES = 4   # capture files kept on the flash; older ones are removed
_DRAW_A = 0.5       # a charger's own CT below this reads no car
_FLUSH_MS = 60000   # amp-ms sums go into Wh every minute (an int stays small: 80 A * 60 s)


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
        # volts per amp of each charger's connection (line to neutral, split-phase
        # 240 V, 208 V line to line, three-phase)
        self.volts = [config.charger_volts(cfg["site"], len(c.phases)) for c in hub.ctl.site.chargers]
        self.capture_dir = capture_dir
        self.hard = commands.Hard(cfg)
        self.overrides = commands.restore(store.load_json(state_path, {}) or {}, hub.ctl, self.hard, hub.grid)
        gc.collect()    # a stage of boot ends: its garbage freed before the next's lasting objects (see Hub)
        # the point of common coupling's import and export per phase, where a
        # voltage reference gives power a sign
        self.pcc = [p for p in range(len(hub.pw_phase)) if hub.pw_phase[p] is not None]
        self.pcc_keys = [("import_" if k % 2 == 0 else "export_") + cfg["site"]["phases"][self.pcc[k // 2]]
                         for k in range(2 * len(self.pcc))]
        self.energy_keys = hub.ids + self.pcc_keys
        self.energy = store.Energy(energy_path, self.energy_keys)
        self.w_ms = [0.0] * len(self.energy_keys)   # metered W*ms since the last flush
        gc.collect()
        self.link = None
        if mq:
            try:
                self.link = mqttlink.Link(mq, self.hub_id, self.command, clock,
                                          on_grid=self.grid_message if hub.grid.topic else None)
            except (OSError, ValueError) as e:   # the CA file missing or no certificate: no MQTT,
                print("almhub: mqtt: %s (no MQTT)" % e)    # control goes on
        gc.collect()
        self.ntp = None
        if cfg.get("ntp"):
            import ntp
            try:
                self.ntp = ntp.Ntp(cfg["ntp"], clock)
            except OSError as e:    # no network stack: no wall clock, control goes on
                print("almhub: ntp: %s (no wall clock)" % e)
        self.phases = cfg["site"]["phases"]
        self.demand_log = demand.Log(capture_dir + "demand.log", len(self.phases))
        hub.demand.start(self.demand_log.end_s)   # the log's clock goes on after its last interval
        self.demand_seen = hub.demand.count
        gc.collect()
        self.sessions = sessions.Sessions(hub.ids, hub.energy_by, capture_dir + "sessions.log",
                                          readback=hub.readback is not None)
        self.heap = None  # type: tuple | None  # (free, largest block) at boot, for telemetry
        self.amp_ms = [0] * len(hub.ids)   # per charger, since the last flush into energy
        self.acc_ms = 0
        # the clock's epoch (time.gmtime(0): 1970 on the unix port, 2000 on some boards)
        gm = getattr(clock, "gmtime", None)
        self._epoch = 946684800 if gm is not None and gm(0)[0] == 2000 else 0
        self.up_ms = 0        # summed per period: ticks_diff is only valid within 2**29 ms
        self.last = None
        self.save_failed = 0
        self.logged = hub.logged
        self.captures = _last_capture(capture_dir)   # numbering goes on across reboots
        self.capture_due = None
        hub.wall_s = self.wall_s      # schedules need the wall clock
        self.aligned = False          # the demand intervals not yet on the wall clock's quarter-hours

    def telemetry(self):
        self._flush()      # kWh as of now
        try:
            return self.writer.payload(self.hub, self.energy, self.up_ms // 1000, self.heap, self.clock_source())
        except (ValueError, IndexError):   # never seen: the buffer is sized for the site
            return telemetry.state(self.hub_id, self.hub, self.energy, self.up_ms // 1000, self.heap,
                                   self.clock_source())

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
            reply["events"] = [[t, text] for t, text in self.hub.log[-8:]]
        elif name == "capture":
            self.captures += 1
            self.capture_due = "%scapture-%d.csv" % (self.capture_dir, self.captures)
            reply["file"] = self.capture_due
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

    def _energy(self, now):
        if self.last is not None:
            dt = self.clock.ticks_diff(now, self.last)
            if not 0 <= dt < 3600000:
                dt = 0       # a clock that jumped: count nothing rather than a week
            self.up_ms += dt
            hub = self.hub
            ctl, states, acc, by = hub.ctl, hub.states, self.amp_ms, hub.energy_by
            m = hub.meter
            for i in range(len(acc)):   # whole amp-milliseconds: no float per charger per period
                src = by[i]
                if src == "ct":         # its own CT: what it draws (at the nominal voltage)
                    c = hub.charger_ch[i]
                    if m.status[c] == health.OK:
                        a = m.irms_a[c]
                        if a >= _DRAW_A:      # below: the clamp's noise, not a car
                            acc[i] += int(a * dt)
                elif src == "pilot" and states[i] in ("C", "D"):
                    acc[i] += ctl.offer[i] * dt   # the offer while the car says it charges
                elif src == "meter":    # real power: its own CT and the voltage reference
                    w = hub.power.w[hub.pw_charger[i]]
                    if w is not None and w > 0 and m.irms_a[hub.charger_ch[i]] >= _DRAW_A:
                        self.w_ms[i] += w * dt
            n = len(acc)
            for k in range(len(self.pcc)):   # signed at the PCC: import > 0, export < 0
                w = hub.power.w[hub.pw_phase[self.pcc[k]]]
                if w is not None:
                    if w >= 0:
                        self.w_ms[n + 2 * k] += w * dt
                    else:
                        self.w_ms[n + 2 * k + 1] -= w * dt
            self.acc_ms += dt
            if self.acc_ms >= _FLUSH_MS:
                self._flush()
        self.last = now
        self.energy.maybe_save(now, self.clock.ticks_diff)
        if self.energy.failed != self.save_failed:   # a full flash: say so once per failure
            self.save_failed = self.energy.failed
            self.hub.event(now, "energy not saved: %s" % self.energy.error)

    def _flush(self):
        """The amp-milliseconds and watt-milliseconds counted so far into watt-hours."""
        acc, wms, keys = self.amp_ms, self.w_ms, self.energy_keys
        for i in range(len(acc)):
            if acc[i]:
                self.energy.add(self.hub.ids[i], acc[i] * self.volts[i] / 3600000)
                acc[i] = 0
        for k in range(len(wms)):
            if wms[k]:
                self.energy.add(keys[k], wms[k] / 3600000)
                wms[k] = 0.0
        self.acc_ms = 0

    def _capture(self, path):
        """Write the burst; only the last _CAPTURES are kept (flash space)."""
        import capture
        import os
        self.capture_due = None
        m = self.hub.meter
        try:
            old = "%scapture-%d.csv" % (self.capture_dir, self.captures - _CAPTURES)
            if self.captures > _CAPTURES:
                try:
                    os.remove(old)
                except OSError:
                    pass
            with open(path, "w") as f:
                capture.write_csv(f, self.hub.ct_names, m.buf, m.frames)
        except OSError as e:
            self.hub.event(self.clock.ticks_ms(), "capture not written: %s" % e)

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
            self.link.outbox.append((telemetry.topic(self.hub_id, "demand"),
                                     demand.message(seq, end_s, means, maxes, self.phases), True))

    def _wh_of(self, i):
        """Charger i's energy counter now (Wh), what is not yet flushed included."""
        return self.energy.value(self.hub.ids[i]) + (self.amp_ms[i] * self.volts[i] + self.w_ms[i]) / 3600000

    def wall_s(self):
        """Unix seconds, or 0 while the hub has no wall clock: NTP's once it
        has answered, else the clock's own where it is plausibly set (a
        board's RTC that nothing set starts in 2000: before 2025 is unset)."""
        if self.ntp is not None and self.ntp.synced:
            return self.ntp.unix_s(self.clock.ticks_ms())
        t = getattr(self.clock, "time", None)
        if t is None:
            return 0
        s = int(t()) + self._epoch
        return s if s >= grid.WALL_VALID else 0

    def clock_source(self):
        """Where the wall clock comes from: "ntp", "rtc" (set some other way) or "unset"."""
        if self.ntp is not None and self.ntp.synced:
            return "ntp"
        return "rtc" if self.wall_s() else "unset"

    def period(self, now):
        if self.ntp is not None:
            self.ntp.service(now)
        if not self.aligned:
            w = self.wall_s()
            if w:     # quarter-hours on the clock (a utility's), the interval's sums kept
                self.hub.demand.start(w, keep=True)
                self.aligned = True
        self._energy(now)
        hub = self.hub
        closed = self.sessions.update(now, self.clock.ticks_diff, hub.states, hub.draws, hub.ctl.offer,
                                      self._wh_of, self.wall_s)
        if closed and self.link is not None:
            for rec in closed:   # QoS 1: the broker acknowledges it (the log on flash keeps it anyway)
                self.link.outbox.append((telemetry.topic(self.hub_id, "session"), json.dumps(rec), False, 1))
        if self.hub.demand.count != self.demand_seen:
            self._demand(now)
        if self.capture_due:
            self._capture(self.capture_due)
        if self.link is None:
            return
        log = self.hub.log
        new = self.hub.logged - self.logged
        for t, text in log[len(log) - min(new, len(log)):]:
            self.link.outbox.append((telemetry.topic(self.hub_id, "event"), text, False))
        self.logged = self.hub.logged
        del self.link.outbox[:-16]   # while the broker is away, keep only the latest
        self.link.service(now, self.telemetry, self.discovery)


def _last_capture(capture_dir):
    """The highest N of capture-N.csv in capture_dir (0 if none)."""
    import os
    d, _, prefix = capture_dir.rpartition("/")
    last = 0
    try:
        names = os.listdir(d or ".")
    except OSError:
        return 0
    for name in names:
        head = prefix + "capture-"
        if name.startswith(head) and name.endswith(".csv"):
            try:
                last = max(last, int(name[len(head):-4]))
            except ValueError:
                pass
    return last
