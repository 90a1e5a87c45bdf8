"""The load manager's decision for one control period: offers per charger.

    ctl = Controller(cfg)
    offers = ctl.step(now_ms, phase_a, phase_ok, states)   # whole amps, 0 = paused

Pure logic: no hardware, the time comes in as now_ms (wrap-safe ticks_diff is
handed in, so the unix port and the boards share this code).

Every period:
1. Health. A phase whose measurement is unhealthy (or stale) puts the
   chargers that draw on it in fallback at once: each is offered at most its
   minimum, and together no more than the phase's fallback budget (the last
   in the rotation order are paused). Leaving fallback needs the phase
   healthy for holdoff_ms.
2. What is free. non-EV load = measured phase current - what the EVs draw.
   Without a CT per charger the EV draw is estimated as the lower of the
   offer now and any offer of the last response_ms, and only for a charger
   whose pilot says it is charging (C/D) or whose state is not read back: an
   EV still answering a raise is not counted at its new offer, and a car that
   finished (back in B) is not counted at all. available = limit - margin -
   non-EV, taken down at once and up only by more than 1 A (no hunting on
   noise).
3. Share (alloc.Site.fill): equal shares through every circuit and phase,
   >= min or paused; the order is the rotation: highest priority first, then
   least charging time. The order is redrawn every slot_ms only, so who
   charges changes in minutes-long slots, not every period.
4. Pace. A cut goes out at once. A raise waits raise_interval_ms since that
   charger's last change, goes up at most ramp_a, and is granted only if,
   counting every charger at the larger of its offer and any offer it had in
   the last response_ms (an EV may take that long to follow a cut), every
   node and phase stays within its capacity. A paused charger stays paused
   for min_pause_ms.
"""

import alloc
import config

DEFAULTS = {
    "period_ms": 500,          # control period: a 245 ms burst + a few ms of work
    "response_ms": 5000,       # IEC 61851-1: an EV follows a new offer within 5 s
    "raise_interval_ms": 5000,  # >= 5 s between duty changes of one charger
    "ramp_a": 6,               # largest raise per step
    "slot_ms": 300000,         # rotation slot: 5 minutes
    "min_pause_ms": 60000,     # a paused EV is left paused this long (no stop/start chatter)
    "holdoff_ms": 30000,       # healthy measurement needed before leaving fallback
}

NORMAL = "normal"
_SLACK_A = 0.5
FALLBACK = "fallback"


class Controller:
    def __init__(self, site_cfg, chargers_cfg, control_cfg=None, ticks_diff=None):
        c = dict(DEFAULTS)
        c.update(control_cfg or {})
        self.cfg = c
        self.ticks_diff = ticks_diff or (lambda a, b: a - b)
        s = site_cfg
        self.phase_names = list(s["phases"])
        nph = len(self.phase_names)
        self.limit_a = _per_phase(s["limit"], nph)
        self.margin_a = s.get("margin", 0)
        self.fallback_a = _per_phase(s.get("fallback", [(l - self.margin_a) // 2 for l in self.limit_a]), nph)
        circuits = [(ci["id"], ci.get("parent") or alloc.ROOT, ci["limit"])
                    for ci in config.circuits_in_order(s.get("circuits", ()))]
        chargers = []
        for ch in chargers_cfg:
            chargers.append(alloc.Charger(
                ch["id"], ch.get("circuit") or alloc.ROOT,
                [self.phase_names.index(p) for p in ch.get("phases", self.phase_names[:1])],
                ch.get("min", 6), ch.get("max", 32), ch.get("priority", 0), ch.get("floor", 0)))
        self.site = alloc.Site(self.phase_names, circuits, chargers)
        # a permit's guaranteed current, served first (never below the charger's min)
        self.floors = [max(ch.floor_a, ch.min_a) if ch.floor_a else 0 for ch in chargers]
        n = len(chargers)
        self.n = n
        self.offer = [0] * n
        self.prev = [0] * n            # the offer before the last change
        self.changed = [None] * n      # when the offer last changed
        self.served_ms = [0] * n       # charging time, for the rotation
        self.user_max = [ch.max_a for ch in chargers]  # commands may lower it
        self.enabled = [True] * n
        self.order = list(range(n))
        self.slot_start = None
        self.avail = [0.0] * nph
        self.nonev = [None] * nph          # the non-EV load estimate
        self.phase_fault = [True] * nph      # until a healthy measurement arrives
        self.healthy_since = [None] * nph
        self.mode = FALLBACK
        self.last_ms = None

    # -- helpers --------------------------------------------------------
    def _since(self, now, t):
        return self.ticks_diff(now, t) if t is not None else 1 << 29

    def committed(self, i, now):
        """The most charger i may draw now: an EV takes response_ms to follow a cut."""
        if self._since(now, self.changed[i]) < self.cfg["response_ms"]:
            return max(self.offer[i], self.prev[i])
        return self.offer[i]

    def draw_range(self, i, now, state):
        """(least, most) charger i's EV can be drawing now, from offers and state."""
        if state is not None and state not in "CD":
            return 0, 0
        if self._since(now, self.changed[i]) < self.cfg["response_ms"]:
            return min(self.offer[i], self.prev[i]), max(self.offer[i], self.prev[i])
        return self.offer[i], self.offer[i]

    def _set(self, i, amps, now):
        if amps != self.offer[i]:
            self.prev[i] = self.offer[i]
            self.offer[i] = amps
            self.changed[i] = now

    # -- the period -----------------------------------------------------
    def step(self, now, phase_a, phase_ok, states=None, draws=None):
        """One control period. phase_a: measured amps per phase; phase_ok: health
        per phase; states: pilot state letter per charger or None (not read back);
        draws: per charger, amps its own healthy CT measures or None (no CT).
        Returns the offers (amps)."""
        cfg, site, n = self.cfg, self.site, self.n
        states = states or [None] * n
        # time served, for the rotation
        if self.last_ms is not None:
            dt = self.ticks_diff(now, self.last_ms)
            for i in range(n):
                if self.offer[i] and states[i] in (None, "C", "D"):
                    self.served_ms[i] += dt
        self.last_ms = now
        # 1. health, with hold-off on the way back
        for p in range(site.nph):
            if not phase_ok[p]:
                self.phase_fault[p] = True
                self.healthy_since[p] = None
            elif self.phase_fault[p]:
                if self.healthy_since[p] is None:
                    self.healthy_since[p] = now
                if self._since(now, self.healthy_since[p]) >= cfg["holdoff_ms"]:
                    self.phase_fault[p] = False
        self.mode = FALLBACK if True in self.phase_fault else NORMAL
        # 2. what is free
        for p in range(site.nph):
            if self.phase_fault[p]:
                self.avail[p] = float(self.fallback_a[p])
                self.nonev[p] = None
                continue
            lo_ev = hi_ev = 0
            for i, ch in enumerate(site.chargers):
                if p in ch.phases:
                    if draws is not None and draws[i] is not None:  # its own CT: no guessing
                        lo = hi = draws[i]
                    else:
                        lo, hi = self.draw_range(i, now, states[i])
                    lo_ev += lo
                    hi_ev += hi
            # The non-EV load lies in [M - most EVs draw, M - least they draw].
            # Keep the estimate while it stays in that band (a car answering an
            # offer moves M, not the house); otherwise take the band's top:
            # the safe side when the house's load stepped.
            # The band is widened by the measurement's and the cars' slack (an
            # EV draws a little under its offer), so noise does not count as a step.
            slack = _SLACK_A + 0.02 * phase_a[p]
            top = phase_a[p] - lo_ev
            nonev = self.nonev[p]
            if nonev is None or not phase_a[p] - hi_ev - slack <= nonev <= top + slack:
                nonev = top
            self.nonev[p] = nonev
            a = self.limit_a[p] - self.margin_a - nonev
            if a < self.avail[p] or a > self.avail[p] + 1.0:
                self.avail[p] = a
        # 3. share
        want = [0] * n
        for i, ch in enumerate(site.chargers):
            if self.enabled[i] and states[i] not in ("A", "E", "F"):  # a car, no error
                want[i] = self.user_max[i]
                if any(self.phase_fault[p] for p in ch.phases):
                    want[i] = min(want[i], ch.min_a)
        if self.slot_start is None or self._since(now, self.slot_start) >= cfg["slot_ms"]:
            self.slot_start = now
            self.order.sort(key=lambda i: (-site.chargers[i].priority, self.served_ms[i], i))
        target = site.fill(self.avail, want, self.order, self.floors)
        # 4. pace: cuts now, raises paced and only into capacity nobody may still be using
        for i in range(n):
            if target[i] < self.offer[i]:
                self._set(i, target[i] if target[i] >= site.chargers[i].min_a else 0, now)
        cap = site.caps(self.avail)
        used = [0] * site.ncons
        for i in range(n):
            for k in site.cons[i]:
                used[k] += self.committed(i, now)
        for i in self.order:
            t, o, ch = target[i], self.offer[i], site.chargers[i]
            if t <= o or self._since(now, self.changed[i]) < cfg["raise_interval_ms"]:
                continue
            if o == 0 and self.changed[i] is not None and self._since(now, self.changed[i]) < cfg["min_pause_ms"]:
                continue
            new = min(t, max(o + cfg["ramp_a"], ch.min_a))
            room = min(cap[k] - used[k] for k in site.cons[i]) + self.committed(i, now)
            new = min(new, room)
            if new > o and new >= ch.min_a:
                for k in site.cons[i]:
                    used[k] += new - self.committed(i, now)
                self._set(i, new, now)
        return self.offer


def _per_phase(v, nph):
    if isinstance(v, (int, float)):
        return [v] * nph
    if len(v) != nph:
        raise ValueError("a per-phase value needs one number per phase")
    return list(v)
