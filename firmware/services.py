"""What runs around the control step: commands, saved overrides, energy, MQTT.

    sv = Services(hub, cfg, clock, state_path="state.json", energy_path="energy.json")
    sv.period(now_ms)          # after hub.step(now_ms), in the period's slack

The control step never waits on any of this: it runs after the step, the
MQTT link's calls are bounded by its socket timeout, and a command only
changes the controller between two steps. Overrides set by commands are
saved atomically and re-applied at boot within the hard limits.
"""

import json

import commands
import mqttlink
import store
import telemetry


class Services:
    def __init__(self, hub, cfg, clock, state_path="state.json", energy_path="energy.json",
                 voltage=230, capture_dir=""):
        self.hub = hub
        self.clock = clock
        self.state_path = state_path
        self.voltage = voltage
        self.capture_dir = capture_dir
        self.hard = commands.Hard(cfg)
        self.overrides = commands.restore(store.load_json(state_path, {}) or {}, hub.ctl, self.hard)
        self.energy = store.Energy(energy_path, hub.ids)
        mq = cfg.get("mqtt")
        self.hub_id = (mq or {}).get("hub_id", "hub")
        self.link = None
        if mq:
            try:
                self.link = mqttlink.Link(mq, self.hub_id, self.command, clock)
            except OSError as e:   # e.g. the CA file is missing: no MQTT, control goes on
                print("almhub: mqtt: %s (no MQTT)" % e)
        self.t0 = clock.ticks_ms()
        self.last = None
        self.logged = hub.logged
        self.captures = 0
        self.capture_due = None

    def telemetry(self):
        up = self.clock.ticks_diff(self.clock.ticks_ms(), self.t0) // 1000
        return telemetry.state(self.hub_id, self.hub, self.energy, up)

    def discovery(self):
        return telemetry.discovery(self.hub_id, self.hub)

    def command(self, payload):
        reply, cmd = commands.handle(payload, self.hub.ctl, self.hard, self.overrides)
        if cmd is None:
            return reply
        name = cmd["cmd"]
        if name == "status":
            reply["status"] = json.loads(self.telemetry()[1])
            reply["events"] = [[t, text] for t, text in self.hub.log[-8:]]
        elif name == "capture":
            self.captures += 1
            self.capture_due = "%scapture-%d.csv" % (self.capture_dir, self.captures)
            reply["file"] = self.capture_due
        else:
            store.save_json(self.state_path, self.overrides)
            self.hub.event(self.clock.ticks_ms(), "command %s" % name)
        return reply

    def _energy(self, now):
        if self.last is not None:
            dt = self.clock.ticks_diff(now, self.last)
            ctl, states = self.hub.ctl, self.hub.states
            for i, cid in enumerate(self.hub.ids):
                charging = states[i] in ("C", "D") if states else ctl.offer[i] > 0
                if charging:
                    phases = len(ctl.site.chargers[i].phases)
                    self.energy.add(cid, ctl.offer[i] * self.voltage * phases * dt / 3600000)
        self.last = now
        self.energy.maybe_save(now, self.clock.ticks_diff)

    def _capture(self, path):
        import capture
        m = self.hub.meter
        with open(path, "w") as f:
            capture.write_csv(f, self.hub.ct_names, m.buf, m.frames)
        self.capture_due = None

    def period(self, now):
        self._energy(now)
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
