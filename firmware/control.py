"""The load manager's decision for one control period: offers per charger.

    ctl = Controller(site_cfg, chargers_cfg, control_cfg, ticks_diff)
    offers = ctl.step(now_ms, phase_a, phase_ok, states, draws)   # whole amps, 0 = paused

Pure logic: no hardware, the time comes in as now_ms (wrap-safe ticks_diff is
handed in, so the unix port and the boards share this code).

The invariant it keeps (README, "Load management"): no choice of the hub
takes a phase or a circuit over its limit, and nothing it cannot see (a car
arriving at a bay with a standing offer, a load step, a lost clamp) keeps
one over for longer than one period plus the EV's response (5 s). It rests
on three rules:

- Booking. Every charger that may draw (a car in B, C or D, or any enabled
  bay where the pilot is not read back) is counted at the most it may draw:
  its offer, or any higher offer of the last response_ms (an EV has that long
  to follow a cut; `committed`). Offers are granted only while
  non-EV estimate + sum of committed <= limit - margin, per phase and circuit.
  So a car that arrives, or one that takes all it was offered, cannot take
  the site over while the estimate is right.
- An estimate that is never low. The non-EV load lies in
  [M - most the EVs can draw, M - least they can draw]; a charger's draw is
  known from its own CT, 0 where the pilot reads A, E or F (no car, or no
  supply), and otherwise anything from 0 to its committed offer (a car in B
  may start at any moment, and the read-back's debounce lags the car). The estimate is kept
  while it lies in that band (a car answering an offer moves M, not the
  house), moved to the band's edge when M leaves it, and set to the band's
  top (every unknown EV taken as drawing nothing: the most the house can be)
  whenever the phase is measured over its limit. A cut computed from the top
  is enough in one round, whoever was drawing.
- Believe only what is plausible. A phase whose CT reads less than the EVs
  known to draw on it (own CTs), or ~0 A while an offer stands on it (a
  clamp that slipped off its cable), is `implausible`: a fallback cause like
  an unhealthy CT.

Every period:
1. Health. A phase whose measurement is unhealthy, stale or implausible puts
   the chargers on it in fallback at once: each is offered at most its
   minimum, together no more than the phase's fallback budget, and no more
   than what the last believed non-EV estimate leaves (a healthy measurement
   during the hold-off is used as it comes). Leaving fallback needs the phase
   healthy for holdoff_ms.
2. What is free: limit - margin - non-EV estimate, down at once, up only by
   more than 1 A (no hunting on noise).
3. Share (alloc.Site.fill): max-min fair shares through every circuit and
   phase, >= min or paused; the order is the rotation: highest priority
   first, then least charging time, redrawn every slot_ms.
4. Pace. A cut goes out at once. A raise waits raise_interval_ms since that
   charger's last change, goes up at most ramp_a, and is granted only into
   capacity that no committed offer still holds. A paused charger stays
   paused for min_pause_ms.

Timestamps older than _FORGET_MS are dropped each period: ticks_diff is only
valid within 2**29 ms (6.2 days) on the boards, and a bay idle for a week
must not look as if it changed a moment ago.
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
FALLBACK = "fallback"
_SLACK_A = 0.5          # measurement slack: a reading this close is not a change
_ZERO_A = 0.3           # below this a phase reads "nothing": not believed while an offer stands
_FORGET_MS = 86400000   # 1 day: longer than any window, well inside ticks_diff's 2**29 ms
_LONG_AGO = 1 << 29
_IDLE = "AEF"           # read-back states that cannot draw (B may start at any moment)


class Controller:
    def __init__(self, site_cfg, chargers_cfg, control_cfg=None, ticks_diff=None):
        c = dict(DEFAULTS)
        c.update(control_cfg or {})
        self.cfg = c
        self.ticks_diff = ticks_diff or (lambda a, b: a - b)
        s = site_cfg
        self.phase_names = list(s["phases"])
        nph = len(self.phase_names)
        self.limit_a = _per_phase(s["limit"], nph)   # the site's: config.json, or lower by set_limit
        # Limits from outside (grid.Grid, each period): a lower site limit per
        # phase (None: none), and a cap on what the EVs together may use
        # (a time-of-use window). eff_a: the limit in force this period.
        self.cap_a = [None] * nph  # type: list
        self.ev_cap_a = [None] * nph  # type: list
        self.eff_a = list(self.limit_a)
        self.margin_a = s.get("margin", 0)
        # None: the default, half of what limit - margin leaves, as they are now
        self.fallback_cfg = _per_phase(s["fallback"], nph) if "fallback" in s else None
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
        # IEC 61851-1: state D (ventilation required) may be supplied only where the
        # charger's site is ventilated; elsewhere D is an error, like E and F
        self.ventilated = [bool(ch.get("ventilation", False)) for ch in chargers_cfg]
        # generation behind the mains CTs (site.pv, or a charger in surplus mode):
        # a mains reading below the chargers' own CTs is then the sun, not a
        # clamp that slipped off (0 A with an offer standing still is)
        self.pv = bool(s.get("pv")) or any(ch.get("surplus", False) for ch in chargers_cfg)
        n = len(chargers)
        self.n = n
        self.offer = [0] * n
        self.changed = [None] * n      # when the offer last changed
        # The most a car may still draw after a cut: the highest offer cut from
        # within response_ms of hold_t (every later cut restarts the window).
        # At boot every charger holds its max: a reset may have left a car
        # drawing an offer this boot knows nothing of.
        self.hold_a = [ch.max_a for ch in chargers]
        self.hold_t = [None] * n
        self.booted = False
        self.stuck_a = [0] * n         # an output that failed may still show this offer
        self.out_fault = [False] * n
        self.served_ms = [0] * n       # charging time, for the rotation
        self.user_max = [ch.max_a for ch in chargers]  # commands may lower it
        # solar surplus (surplus.Surplus, each period): None, or the most a
        # surplus charger may be offered (0: paused); only ever lowers want
        self.surplus_a = [None] * n  # type: list
        self.surplus = None          # the surplus.Surplus setting surplus_a, where one is set up
        self.enabled = [True] * n
        self.order = list(range(n))
        self._want = [0] * n           # scratch, allocated once (a period allocates little)
        self._booked = [0] * n
        self._cap = [0] * self.site.ncons
        self._used = [0] * self.site.ncons
        self.slot_start = None
        self.avail = [0.0] * nph
        self.nonev = [None] * nph  # type: list  # the non-EV load estimate (None: unknown)
        self.phase_fault = [True] * nph      # until a healthy measurement arrives
        self.implausible = [False] * nph
        self.healthy_since = [None] * nph
        self.mode = FALLBACK
        self.last_ms = None

    # -- helpers --------------------------------------------------------
    def _since(self, now, t):
        return self.ticks_diff(now, t) if t is not None else _LONG_AGO

    def _forget(self, now):
        """Drop timestamps before ticks_diff can no longer tell their age."""
        for ts in (self.changed, self.hold_t, self.healthy_since):
            for i in range(len(ts)):
                if ts[i] is not None and not 0 <= self.ticks_diff(now, ts[i]) < _FORGET_MS:
                    ts[i] = None
        if self.slot_start is not None and not 0 <= self.ticks_diff(now, self.slot_start) < _FORGET_MS:
            self.slot_start = None

    def fallback_a(self):
        """Per phase, what the chargers may use together while its CT is lost."""
        return [self._fallback(p) for p in range(len(self.limit_a))]

    def _limit(self, p):
        """Phase p's limit in force: the site's, or an outside one where lower."""
        c, lim = self.cap_a[p], self.limit_a[p]
        return c if c is not None and c < lim else lim

    def _fallback(self, p):
        top = self._limit(p) - self.margin_a
        fb = self.fallback_cfg[p] if self.fallback_cfg is not None else top // 2
        return max(0, min(fb, top))   # never more than limit - margin, as it is now

    def committed(self, i, now):
        """The most charger i's EV may draw now: an EV takes response_ms to follow a cut."""
        c = self.offer[i]
        if self.hold_t[i] is not None and self._since(now, self.hold_t[i]) < self.cfg["response_ms"]:
            c = max(c, self.hold_a[i])
        if self.out_fault[i]:
            c = max(c, self.stuck_a[i])
        return c

    def _set(self, i, amps, now):
        o = self.offer[i]
        if amps == o:
            return
        if amps < o:   # a cut: the car may draw the old offer for response_ms more
            held = self.hold_t[i] is not None and self._since(now, self.hold_t[i]) < self.cfg["response_ms"]
            self.hold_a[i] = max(o, self.hold_a[i]) if held else o
            self.hold_t[i] = now
        self.offer[i] = amps
        self.changed[i] = now

    def output_failed(self, i, now, failsafe):
        """Charger i's pilot output could not be written. failsafe: the board
        forced it off (no offer) by another path; otherwise it may still show
        the old or the new duty, so both stay booked until a write succeeds."""
        if not self.out_fault[i]:
            self.stuck_a[i] = 0 if failsafe else max(self.offer[i], self.committed(i, now))
        self.out_fault[i] = True
        self._set(i, 0, now)

    def output_ok(self, i, now):
        """A write to charger i's output succeeded again: what it showed is held for response_ms."""
        if self.out_fault[i]:
            self.out_fault[i] = False
            if self.stuck_a[i]:
                self.hold_a[i] = max(self.hold_a[i], self.stuck_a[i])
                self.hold_t[i] = now
            self.stuck_a[i] = 0

    def _plausible(self, p, m_a, states, draws, now):
        """Is phase p's reading believable beside what the EVs on it are known to draw?"""
        known = 0.0     # the least the known draws add to the line (in phase with it)
        standing = False
        chargers = self.site.chargers
        for i in range(self.n):     # (no enumerate: a tuple per charger per period)
            if p not in chargers[i].phases:
                continue
            if draws is not None and draws[i] is not None:
                known += draws[i] * _real(self.site.weight_of(i, p))
            if self.offer[i] > 0 or self.out_fault[i]:
                standing = True
        if known and not self.pv and m_a < known - _SLACK_A - 0.05 * known:
            return False     # a sub-CT reads more than the mains: the mains clamp is off
        if m_a < _ZERO_A and (standing or known > _SLACK_A):
            return False     # nothing at all, with an offer standing: a clamp that slipped off
        return True

    def _estimate(self, p, m_a, states, draws, now):
        """The non-EV load on phase p, never below what the measurement allows."""
        lo_ev = 0.0     # the least the EVs can add in phase with the line
        hi_ev = 0       # the most they can add (a phasor where chargers are line to line)
        chargers = self.site.chargers
        for i in range(self.n):
            if p not in chargers[i].phases:
                continue
            w = self.site.weight_of(i, p)
            if draws is not None and draws[i] is not None:   # its own CT: no guessing
                lo_ev += draws[i] * _real(w)
                hi_ev += draws[i] * w
            elif states is None or states[i] is None or states[i] not in _IDLE:
                hi_ev += self.committed(i, now) * w   # C, D, or not read back: 0..committed
        # The non-EV current is taken in phase with its line: then M >= H + Re(EV),
        # so M - Re(EV) is never below it. It adds to the EVs' phasor by magnitude
        # (the allocator's limit - margin - H >= |EVs|), which holds at any angle.
        # In whole centiamps, rounded up (never low), so that a period makes
        # few floats (each is a heap object on the boards).
        x = m_a * 100
        m = int(x)
        if m < x:
            m += 1
        slack = 50 + m // 50                                  # _SLACK_A + 2 %
        top = m - (int(lo_ev * 100) if lo_ev else 0)           # (int() rounds the EVs down)
        bottom = m - (hi_ev * 100 if isinstance(hi_ev, int) else int(abs(hi_ev) * 100))
        est = self.nonev[p]
        if est is None or m > self.eff_a[p] * 100 + slack:
            est = top            # over the limit (or nothing known): a cut that is enough at once
        else:
            e = int(est * 100)
            if e < bottom - slack:
                est = bottom     # the house rose more than every EV could explain
            elif e > top + slack:
                est = top        # the house fell
            else:
                return est       # kept (a float already)
        return est / 100 if est > 0 else 0.0

    # -- the period -----------------------------------------------------
    def step(self, now, phase_a, phase_ok, states=None, draws=None):
        """One control period. phase_a: measured amps per phase; phase_ok: health
        per phase; states: pilot state letter per charger, or None for the whole
        board or one charger (not read back); draws: per charger, amps its own
        healthy CT measures or None (no CT). Returns the offers (amps)."""
        cfg, site, n = self.cfg, self.site, self.n
        if not self.booted:
            self.booted = True
            for i in range(n):
                self.hold_t[i] = now
        self._forget(now)
        # time served, for the rotation
        if self.last_ms is not None:
            dt = self.ticks_diff(now, self.last_ms)
            if 0 < dt < _FORGET_MS:
                for i in range(n):
                    if self.offer[i] and (states is None or states[i] in (None, "C", "D")):
                        self.served_ms[i] += dt
        self.last_ms = now
        # 1. health (measurement and plausibility), with hold-off on the way back
        for p in range(site.nph):
            self.eff_a[p] = self._limit(p)
            good = phase_ok[p]
            self.implausible[p] = good and not self._plausible(p, phase_a[p], states, draws, now)
            good = good and not self.implausible[p]
            if not good:
                self.phase_fault[p] = True
                self.healthy_since[p] = None
            elif self.phase_fault[p]:
                if self.healthy_since[p] is None:
                    self.healthy_since[p] = now
                if self._since(now, self.healthy_since[p]) >= cfg["holdoff_ms"]:
                    self.phase_fault[p] = False
            # 2. what is free
            top = self.eff_a[p] - self.margin_a
            if good:
                self.nonev[p] = self._estimate(p, phase_a[p], states, draws, now)
            est = self.nonev[p]
            cap = self.ev_cap_a[p]   # a time-of-use window: what the EVs may use together
            if self.phase_fault[p]:
                fb = self._fallback(p)
                a = fb if est is None else min(fb, top - est)
                self.avail[p] = float(a if cap is None or a < cap else cap)
            else:
                a = top - est
                if cap is not None and a > cap:
                    a = cap
                if a < self.avail[p] or a > self.avail[p] + 1.0:
                    self.avail[p] = a
        self.mode = FALLBACK if True in self.phase_fault else NORMAL
        # 3. share
        want = self._want
        for i in range(n):
            want[i] = 0
            ch = site.chargers[i]
            st = states[i] if states is not None else None
            if not self.enabled[i] or self.out_fault[i] or st in ("A", "E", "F"):
                continue      # no car, an error, paused by command, or an output that failed
            if st == "D" and not self.ventilated[i]:
                continue      # needs ventilation this site does not have: no supply
            want[i] = self.user_max[i]
            s = self.surplus_a[i]
            if s is not None and s < want[i]:
                want[i] = s
            for p in ch.phases:
                if self.phase_fault[p]:
                    want[i] = min(want[i], ch.min_a)
        if self.slot_start is None or self._since(now, self.slot_start) >= cfg["slot_ms"]:
            self.slot_start = now
            self.order.sort(key=lambda i: (-site.chargers[i].priority, self.served_ms[i], i))
        target = site.fill(self.avail, want, self.order, self.floors)
        # 4. pace: cuts now, raises paced and only into capacity nobody may still be using
        for i in range(n):
            if target[i] < self.offer[i]:
                self._set(i, target[i] if target[i] >= site.chargers[i].min_a else 0, now)
        cap = site.caps(self.avail, self._cap)
        booked = self._booked
        for i in range(n):
            booked[i] = self.committed(i, now)
        used = site.load(booked, self._used)
        for i in self.order:
            t, o, ch = target[i], self.offer[i], site.chargers[i]
            if t <= o or self._since(now, self.changed[i]) < cfg["raise_interval_ms"]:
                continue
            if o == 0 and self.changed[i] is not None and self._since(now, self.changed[i]) < cfg["min_pause_ms"]:
                continue
            c = self.committed(i, now)
            new = min(t, max(o + cfg["ramp_a"], ch.min_a))
            ks, ws = site.cons[i], site.wts[i]
            for j in range(len(ks)):   # what its booking leaves it
                k, w = ks[j], ws[j]
                r = alloc.room(used[k] - c * w, w, cap[k])
                if r < new:
                    new = r
            if new > o and new >= ch.min_a:
                site.add(used, i, max(new, c) - c)
                self._set(i, new, now)
        return self.offer


def _real(w):
    return w.real if isinstance(w, complex) else w


def _per_phase(v, nph):
    if isinstance(v, (int, float)):
        return [v] * nph
    if len(v) != nph:
        raise ValueError("a per-phase value needs one number per phase")
    return list(v)
