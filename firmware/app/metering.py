"""Metering: each charger's energy and the site's import and export, counted
every period into watt-hour counters kept on flash (store.Energy).

    m = Metering(hub, cfg, clock, "energy.json")
    m.period(now_ms)       # after each control step
    m.wh(i)                # charger i's Wh now, what is not yet flushed included
    m.flush()              # what is counted so far into Wh (before telemetry)
    m.energy               # the counters: store.Energy
    m.up_ms                # time metered since boot

Each charger is metered by what the hub chose for it (hub.energy_by): "ct"
its own clamp at the nominal voltage, "pilot" the offer while the car says
it charges, "meter" real power from its own clamp and a voltage reference.
The point of common coupling's import and export are metered per phase where
a voltage reference gives power a sign. Whole amp-milliseconds per charger
per period (no float per charger), flushed into Wh every minute.
"""

import health
import store

_DRAW_A = 0.5       # a charger's own CT below this reads no car
_FLUSH_MS = 60000   # amp-ms sums go into Wh every minute (an int stays small: 80 A * 60 s)


class Metering:
    def __init__(self, hub, cfg, clock, energy_path):
        self.hub = hub
        self.clock = clock
        # volts per amp of each charger's connection (the hub's: line to neutral, split-phase
        # 240 V, 208 V line to line, three-phase)
        self.volts = hub.charger_v
        self.pcc = [p for p in range(len(hub.pw_phase)) if hub.pw_phase[p] is not None]
        self.keys = hub.ids + [("import_" if k % 2 == 0 else "export_") + cfg["site"]["phases"][self.pcc[k // 2]]
                               for k in range(2 * len(self.pcc))]
        self.energy = store.Energy(energy_path, self.keys)
        self.w_ms = [0.0] * len(self.keys)   # metered W*ms since the last flush
        self.amp_ms = [0] * len(hub.ids)     # per charger, since the last flush
        self.acc_ms = 0
        self.up_ms = 0        # summed per period: ticks_diff is only valid within 2**29 ms
        self.last = None
        self.save_failed = 0

    def period(self, now):
        if self.last is not None:
            dt = self.clock.ticks_diff(now, self.last)
            if not 0 <= dt < 3600000:
                dt = 0       # a clock that jumped: count nothing rather than a week
            self.up_ms += dt
            self._count(dt)
            self.acc_ms += dt
            if self.acc_ms >= _FLUSH_MS:
                self.flush()
        self.last = now
        self.energy.maybe_save(now, self.clock.ticks_diff)
        if self.energy.failed != self.save_failed:   # a full flash: say so once per failure
            self.save_failed = self.energy.failed
            self.hub.event(now, "energy not saved: %s" % self.energy.error)

    def _count(self, dt):
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

    def flush(self):
        """The amp-milliseconds and watt-milliseconds counted so far into watt-hours."""
        acc, wms, keys = self.amp_ms, self.w_ms, self.keys
        for i in range(len(acc)):
            if acc[i]:
                self.energy.add(keys[i], acc[i] * self.volts[i] / 3600000)
                acc[i] = 0
        for k in range(len(wms)):
            if wms[k]:
                self.energy.add(keys[k], wms[k] / 3600000)
                wms[k] = 0.0
        self.acc_ms = 0

    def wh(self, i):
        """Charger i's energy counter now (Wh), what is not yet flushed included."""
        return self.energy.value(self.keys[i]) + (self.amp_ms[i] * self.volts[i] + self.w_ms[i]) / 3600000
