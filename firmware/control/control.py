"""The load manager's decision for one control period: offers per charger.

    ctl = Controller(site_cfg, chargers_cfg, control_cfg, ticks_diff)
    offers = ctl.step(now_ms, phase_a, phase_ok, states, draws)   # whole amps, 0 = paused

Pure logic: no hardware, the time comes in as now_ms (wrap-safe ticks_diff is
handed in, so the unix port and the boards share this code).

The invariant it keeps (docs/load-management.md, "The invariant"): no choice of the hub
takes a phase or a circuit over its limit, and nothing it cannot see (a car
arriving at a bay with a standing offer, a car taking more of its offer, a
load step, a lost clamp) keeps one over for longer than one period plus the
EV's response (5 s). It rests on:

- Beliefs from the mains (draws.Draws, issue 21). Without a CT per charger
  each charger's draw is learned from M's answers to its offer changes; the
  non-EV estimate is M less those beliefs, so it follows the house both
  ways. Offers are shared from limit - margin - estimate; a raise is granted
  only into what the line keeps once every pending raise is taken (EVs as a
  phasor sum, the house by magnitude), and on circuits (no clamp) only into
  what no committed offer holds (an EV has response_ms to follow a cut;
  `committed`).
- Cuts that are enough: a phase over its limit has the rise in its estimate,
  so offers are cut until the beliefs fit, by about the excess. If it is still
  over one response time later a belief was high (two unseen changes at
  once): every belief on it is forgotten and the next cut is from the top.
- Standing minimums: a bay whose car draws nothing keeps its minimum (a car
  may start at any moment), credited on its lines where they could take it,
  booked on circuits.
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
2. Beliefs and the estimate (_learn).
3. What each charger may want: its max (a command may lower it), a car's own
   maximum as seen, a standing minimum for a bay nobody draws at.
4. What is free: limit - margin - non-EV estimate, down at once, up only by
   more than 1 A (no hunting on noise).
5. Share (alloc.Site.fill): max-min fair shares through every circuit and
   phase, >= min or paused; the order is the rotation: highest priority
   first, then least charging time, redrawn every slot_ms.
6. Pace. A cut goes out at once. A raise waits raise_interval_ms since that
   charger's last change and its last raise's answer, goes up at most
   ramp_a, one probe at a time per line, the lowest offers first. A paused
   charger stays paused for min_pause_ms.

Timestamps older than _FORGET_MS are dropped each period: ticks_diff is only
valid within 2**29 ms (6.2 days) on the boards, and a bay idle for a week
must not look as if it changed a moment ago.
"""

import alloc
import claims
import draws as draws_mod

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
_HAIR_A = 0.05          # a house read a hair over a whole amp does not cost the cars that amp
_PROBE_MS = 300000      # an idle charger is offered a step more every 5 minutes: is a car drawing?


class Controller:
    def __init__(self, site_cfg, chargers_cfg, control_cfg=None, ticks_diff=None):
        c = dict(DEFAULTS)
        c.update(control_cfg or {})
        self.cfg = c
        self.ticks_diff = ticks_diff or (lambda a, b: a - b)
        s = site_cfg
        self.phase_names = list(s["phases"])
        nph = len(self.phase_names)
        limit_a = _per_phase(s["limit"], nph)
        # eff_a: the limit in force this period (claims: the site's, or one from
        # outside where lower); the demand cap is on import, kept on signed
        # current where a voltage reference gives it, so export is not load
        self.eff_a = list(limit_a)
        # None: the default, half of what limit - margin leaves, as they are now
        self.fallback_cfg = _per_phase(s["fallback"], nph) if "fallback" in s else None
        import config   # boot-only (main unloads it): not a global of this module
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
        # the offer before a raise, for response_ms after it (rise_t): what a
        # hub of several counts its car for until the mains can show the raise
        self.pre_a = None      # type: list | None  # (made by shared.cap: several hubs only)
        self.rise_t = None     # type: list | None
        self.lost_t = None             # since when no peer is heard (several hubs, shared.cap)
        self.over_s = None     # type: list | None  # several hubs: since when each line is over (shared.cap)
        self.m_prev = None     # type: object | None  # several hubs: each line's mains, the last period (an array, shared.cap)
        self.bias_a = None     # type: object | None  # several hubs: by how much beliefs were seen above the mains (an array)
        self._fresh = False            # several hubs: every peer heard, this period
        self._turn = False             # several hubs: this period is this hub's turn to raise
        self.turn_t = None             # several hubs: when it raised in the turn it keeps
        self._keep = False             # several hubs, not its turn, its offers fit: a car that
                                       # still wants its offer keeps it (no sharing out afresh)
        self.house_a = None     # type: object | None  # several hubs: the house, within its bounds (an array, shared.cap)
        self.booted = False
        self.stuck_a = [0] * n         # an output that failed may still show this offer
        self.out_fault = [False] * n
        self.served_ms = [0] * n       # charging time, for the rotation
        # every limit and cap, each written by its source, read here each period
        self.claims = claims.Claims(limit_a, s.get("margin", 0), [ch.max_a for ch in chargers])
        self.surplus = None          # the surplus.Surplus writing claims.surplus_a, where one is set up
        self.order = list(range(n))
        self._want = [0] * n           # scratch, allocated once (a period allocates little)
        self._fine = [False] * nph
        self._base = [0] * n
        self._av = [0.0] * nph
        self.standing_a = [0] * n   # a standing minimum, credited on its lines (no car drawing)
        self._lim = [0] * nph
        self._ask = [0] * n
        del self._ask[:]            # (its room kept: a period appends without growing it)
        self._line = [None] * nph  # type: list
        self._lz = [0] * nph       # type: list
        self._lcap = [0.0] * nph
        self._booked = [0] * n
        self._cap = [0] * self.site.ncons
        self._used = [0] * self.site.ncons
        self.slot_start = None
        # what each charger draws, learned from the mains where it has no CT of its own
        self.draws = draws_mod.Draws(self.site, self.ticks_diff)
        self._known = [-1] * n
        self._m = [0] * nph
        self._good = [False] * nph
        self._credit = [0.0] * nph
        self._idle = bytearray(n)
        self.over_t = [None] * nph  # type: list  # since when each line reads over its limit
        self.avail = [0.0] * nph
        self.nonev = [None] * nph  # type: list  # the non-EV load estimate (None: unknown)
        self.hs = [0.0] * nph      # the same, signed (export < 0) where a VT gives direction
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
        for ts in (self.changed, self.hold_t, self.rise_t, self.healthy_since):
            if ts is None:
                continue      # no rise_t: a hub alone on its connection
            for i in range(len(ts)):
                if ts[i] is not None and not 0 <= self.ticks_diff(now, ts[i]) < _FORGET_MS:
                    ts[i] = None
        if self.slot_start is not None and not 0 <= self.ticks_diff(now, self.slot_start) < _FORGET_MS:
            self.slot_start = None

    def fallback_a(self):
        """Per phase, what the chargers may use together while its CT is lost."""
        return [self._fallback(p) for p in range(len(self.eff_a))]

    def _fallback(self, p):
        cl = self.claims
        top = cl.limit(p)
        i = cl.imp(p)
        top = (i if i is not None and i < top else top) - cl.margin_a   # blind: no direction
        fb = self.fallback_cfg[p] if self.fallback_cfg is not None else top // 2
        fb = max(0, min(fb, top))     # never more than limit - margin, as it is now
        s = cl.share
        return fb if s >= 1 else int(fb * s)    # a site of several hubs: this hub's part

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
        elif self.rise_t is not None and self.pre_a is not None:   # a raise, where several hubs share
            rising = self.rise_t[i] is not None and self._since(now, self.rise_t[i]) < self.cfg["response_ms"]
            self.pre_a[i] = min(o, self.pre_a[i]) if rising else o
            self.rise_t[i] = now
        self.draws.offered(i, o, amps, now)
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

    def _learn(self, now, phase_a, states, draws):
        """Per line, the non-EV estimate: M less what the chargers are believed
        to draw (draws.Draws: own CTs, read-back, and every offer change taken
        as a probe). A line over its limit for longer than a cut needs to show
        has a belief that is too high: cut from the top instead."""
        nph, d = self.site.nph, self.draws
        m, good, known = self._m, self._good, self._known
        for p in range(nph):
            x = phase_a[p] * 100
            m[p] = int(x + 0.5)                          # centiamps
            good[p] = self._fine[p]
        for i in range(self.n):
            k = draws[i] if draws is not None else None
            known[i] = -1 if k is None else int(k * 100 + 0.5)
        cfg = self.cfg
        lim = self._lim
        for p in range(nph):
            lim[p] = int(self.eff_a[p] * 100) + 50 + abs(m[p]) // 50
        d.update(now, m, good, known, states, self.offer, cfg["response_ms"] + cfg["period_ms"], lim)
        # one of several hubs cuts twice from its beliefs before from the top:
        # when the line goes over and once those cuts are followed (shared.py)
        w = cfg["response_ms"] + 2 * cfg["period_ms"]
        if self._fresh:
            w += w
        for p in range(nph):
            if not good[p]:
                continue
            if m[p] > lim[p]:
                if self.over_t[p] is None:
                    self.over_t[p] = now
                elif self._since(now, self.over_t[p]) >= w:
                    d.forget(p)
                    self.over_t[p] = now
            else:
                self.over_t[p] = None
            h = d.house[p]
            self.nonev[p] = h / 100 if h > 0 else 0.0
            self.hs[p] = h / 100          # signed where the step was given direction

    def _faulted(self, i):
        for p in self.site.chargers[i].phases:
            if self.phase_fault[p]:
                return True
        return False

    def _use_a(self, i, now, draws):
        """What charger i counts for on its lines when another is raised: an own
        CT's charger its committed offer (as ever); otherwise what it draws, or
        is still to take of a raise, and its committed offer while it follows a cut."""
        if draws is not None and draws[i] is not None:
            return self.committed(i, now)
        d = self.draws
        u = d.took_ca[i] + (d.pend_ca[i] if d.pend_ca[i] > 0 else 0)
        return u / 100 if u > 0 else 0

    def _hair(self):
        """avail with _HAIR_A more (the allocator takes whole amps, rounded down)."""
        h = self._av
        for p in range(len(h)):
            h[p] = self.avail[p] + _HAIR_A
        return h

    def _room(self, i, a):
        """Had charger i's lines room for a more amps last period?"""
        site = self.site
        ps = site.chargers[i].phases
        for j in range(len(ps)):
            r = self._line[ps[j]]
            if r is None or r < a * abs(site.wts[i][j]):
                return False
        return True

    # -- the period -----------------------------------------------------
    def step(self, now, phase_a, phase_ok, states=None, draws=None, signed_a=None):
        """One control period. phase_a: measured amps per phase; phase_ok: health
        per phase; states: pilot state letter per charger, or None for the whole
        board or one charger (not read back); draws: per charger, amps its own
        healthy CT measures or None (no CT); signed_a: where a voltage reference
        gives direction, phase_a with export negative (the draw tracker's sums
        need it; limits are kept on the magnitude). Returns the offers (amps)."""
        cfg, site, n, cl = self.cfg, self.site, self.n, self.claims
        if not self.booted:
            self.booted = True
            for i in range(n):
                self.hold_t[i] = now
        self._forget(now)
        dr = self.draws
        # time served, for the rotation: time drawing (read back C or D; without
        # read-back, believed drawing)
        if self.last_ms is not None:
            dt = self.ticks_diff(now, self.last_ms)
            if 0 < dt < _FORGET_MS:
                for i in range(n):
                    st = states[i] if states is not None else None
                    if self.offer[i] and (st in ("C", "D") or st is None and dr.took_ca[i] > 0):
                        self.served_ms[i] += dt
        self.last_ms = now
        # 1. health (measurement and plausibility), with hold-off on the way back
        fine = self._fine
        for p in range(site.nph):
            self.eff_a[p] = cl.limit(p)
            good = phase_ok[p]
            self.implausible[p] = good and not self._plausible(p, phase_a[p], states, draws, now)
            good = good and not self.implausible[p]
            fine[p] = good
            if not good:
                self.phase_fault[p] = True
                self.healthy_since[p] = None
            elif self.phase_fault[p]:
                if self.healthy_since[p] is None:
                    self.healthy_since[p] = now
                if self._since(now, self.healthy_since[p]) >= cfg["holdoff_ms"]:
                    self.phase_fault[p] = False
        # 2. what the EVs draw, and so the house
        self._learn(now, phase_a if signed_a is None else signed_a, states, draws)
        self.mode = FALLBACK if True in self.phase_fault else NORMAL
        # 3. what each charger may want
        want, idle = self._want, self._idle
        for i in range(n):
            want[i] = 0
            idle[i] = 0
            ch = site.chargers[i]
            st = states[i] if states is not None else None
            if not cl.enabled[i] or self.out_fault[i] or st in ("A", "E", "F"):
                if st == "A" and not self.offer[i]:
                    self.changed[i] = None    # no car since its pause: the next one starts at once
                continue      # no car, an error, paused by command, or an output that failed
            if st == "D" and not self.ventilated[i]:
                continue      # needs ventilation this site does not have: no supply
            want[i] = cl.user_max[i]
            s = cl.surplus_a[i]
            if s is not None and s < want[i]:
                want[i] = s
            if draws is None or draws[i] is None:
                probing = dr.pend_ca[i] > 0 and dr.unsure[i] and dr.took_ca[i] <= 0
                if (dr.idle(i) or probing) and self.offer[i] >= ch.min_a:
                    # offered and nothing drawn: a standing minimum, for a car
                    # that may start at any moment; asked again now and then,
                    # where the line has room (a start the mains could not
                    # tell apart from the house)
                    m = ch.min_a
                    if probing or self._since(now, self.changed[i]) >= _PROBE_MS and self._room(i, m + cfg["ramp_a"]):
                        m += cfg["ramp_a"]
                    if m < want[i]:
                        want[i] = m
                    idle[i] = 1
                elif dr.suspect[i]:
                    if ch.min_a < want[i]:
                        want[i] = ch.min_a   # stopped, or the house dropped? a cut asks
                else:
                    c = dr.cap_a(i, now, self._room(i, cfg["ramp_a"]))   # the car's own maximum, as seen
                    if c and c < want[i]:
                        want[i] = c if c >= ch.min_a else ch.min_a
            for p in ch.phases:
                if self.phase_fault[p]:
                    want[i] = min(want[i], ch.min_a)
        pe = cl.peers     # several hubs that hear each other: one raises at a time (peers.py)
        several = cl.share < 1 or pe is not None
        self._fresh = pe is not None and pe.all_fresh(now)
        self._turn = self._fresh and pe is not None and pe.holds_turn()     # (freshness decided once)
        if not self._turn:
            self.turn_t = None
        elif self.turn_t is not None and pe is not None:
            # its raise is being answered: no other hub raises until the car
            # has had response_ms (each hub's mains then shows one raise at a
            # time: a car's answer read as another hub's had the empty bays
            # of a hub without read-back believed drawing 25 A)
            self._turn = False
            if self._since(now, self.turn_t) >= cfg["response_ms"] + cfg["period_ms"]:
                pe.turns += 1
                self.turn_t = None
        self._keep = self._fresh and not self._turn    # shared.cap may clear it
        # 4. what is free: limit - margin - non-EV estimate, down at once, up only
        # by more than 1 A (no hunting on noise); an idle charger's standing
        # minimum is not drawn, so it does not take the others' room (credit)
        for p in range(site.nph):
            top = self.eff_a[p] - cl.margin_a
            est = self.nonev[p]
            cap = cl.ev_cap(p)   # a time-of-use window: what the EVs may use together
            if self.phase_fault[p]:
                fb = self._fallback(p)
                a = fb if est is None else min(fb, top - est)
                self.avail[p] = float(a if cap is None or a < cap else cap)
                self._credit[p] = 0.0
            else:
                a = top - est
                if cap is not None and a > cap:
                    a = cap
                i = cl.imp(p)
                if i is not None and i - cl.margin_a - self.hs[p] < a:
                    a = i - cl.margin_a - self.hs[p]    # import: export is not load
                if several:
                    import shared     # one of several hubs: only then loaded
                    a = shared.cap(self, p, now, top, a)
                base = self.avail[p] - self._credit[p]
                if a < base or a > base + 1.0:
                    base = a
                self._credit[p] = 0.0
                self.avail[p] = base
        # a standing minimum is kept only where the line could take it if the
        # others were cut (a car that starts there is then cut for in one round);
        # it is offered first (a base, as a permit's floor), and credited
        base, std = self._base, self.standing_a
        for i in range(n):
            base[i] = self.floors[i]
            std[i] = 0
            if not (idle[i] and want[i] and self.offer[i]):
                continue
            ch = site.chargers[i]
            o = self.offer[i] if self.offer[i] < want[i] else want[i]
            for p in ch.phases:
                if self.phase_fault[p] or self.avail[p] < o:
                    o = 0
            if not o:
                continue      # no room even for its minimum: a charger like the others
            std[i] = o
            if o > base[i]:
                base[i] = o
            ps = ch.phases
            for j in range(len(ps)):
                self._credit[ps[j]] += o * abs(site.wts[i][j])
        if not self._fresh:
            for p in range(site.nph):
                self.avail[p] += self._credit[p]
        # (hubs that hear each other book every offer: a standing minimum
        # credited here is room another hub may be given)
        if self.slot_start is None or self._since(now, self.slot_start) >= cfg["slot_ms"]:
            self.slot_start = now
            self.order.sort(key=lambda i: (-site.chargers[i].priority, self.served_ms[i], i))
        # 5. share (a standing minimum the fill could not keep gives its credit back)
        target = site.fill(self._hair(), want, self.order, base)
        for _ in range(n):
            again = False
            for i in range(n):
                if std[i] and target[i] < std[i]:
                    ps = site.chargers[i].phases
                    for j in range(len(ps)):
                        x = std[i] * abs(site.wts[i][j])
                        self.avail[ps[j]] -= x
                        self._credit[ps[j]] -= x
                    std[i] = 0
                    base[i] = self.floors[i]
                    again = True
            if not again:
                break
            target = site.fill(self._hair(), want, self.order, base)
        # 6. pace: cuts now, raises paced and only into capacity nobody may still be using
        for i in range(n):
            if target[i] < self.offer[i] and not (self._keep and want[i] >= self.offer[i] and
                                                 not self._faulted(i)):
                self._set(i, target[i] if target[i] >= site.chargers[i].min_a else 0, now)
        cap = site.caps(self.avail, self._cap)
        booked = self._booked
        for i in range(n):
            booked[i] = self.committed(i, now)
        used = site.load(booked, self._used)
        # a line's own room: what it carries once every raise is taken, against
        # limit - margin - house (the EVs as a phasor sum, as the allocator adds
        # them; the house by magnitude)
        line, lz, lcap = self._line, self._lz, self._lcap
        for p in range(site.nph):
            lz[p] = 0
        for i in range(n):            # each charger's use once, onto every line it loads
            u = self._use_a(i, now, draws)
            if u:
                ps, ws = site.chargers[i].phases, site.wts[i]
                for j in range(len(ps)):
                    lz[ps[j]] += u * ws[j]
        for p in range(site.nph):
            if self.phase_fault[p]:
                line[p] = None
                continue
            z = lz[p]
            top = self.eff_a[p] - cl.margin_a
            c = cl.ev_cap(p)
            if c is not None and self.nonev[p] + c < top:
                top = self.nonev[p] + c
            c = cl.imp(p)
            if c is not None and c - cl.margin_a - self.hs[p] < top - self.nonev[p]:
                top = c - self.hs[p] + self.nonev[p] - cl.margin_a
            lcap[p] = top - self.nonev[p] + _HAIR_A
            if several and self.avail[p] + _HAIR_A < lcap[p]:
                lcap[p] = self.avail[p] + _HAIR_A    # one of several hubs: its part, cuts still held in it
            line[p] = lcap[p] - abs(z)
        # the lowest offers first: a raise is a probe, and lines answer one at a
        # time, so the charger furthest behind asks first (no starving the last in order)
        ask = self._ask
        del ask[:]
        for i in self.order:
            if target[i] > self.offer[i]:
                ask.append(i)
        ask.sort(key=lambda i: self.offer[i])
        for i in ask:
            t, o, ch = target[i], self.offer[i], site.chargers[i]
            if t <= o or self._since(now, self.changed[i]) < cfg["raise_interval_ms"]:
                continue
            if o == 0 and self.changed[i] is not None and self._since(now, self.changed[i]) < cfg["min_pause_ms"]:
                continue
            if dr.pend_ca[i] > 0 and not dr.known[i]:
                continue      # its last raise not yet answered: a probe at a time
            if not (draws is not None and draws[i] is not None) and dr.crowded(i):
                continue      # an answer on its lines would not tell whose it is
            c = self.committed(i, now)
            new = min(t, max(o + cfg["ramp_a"], ch.min_a))
            ks, ws = site.cons[i], site.wts[i]
            u = self._use_a(i, now, draws)
            for j in range(len(ks)):   # what its booking leaves it
                k, w = ks[j], ws[j]
                if k < site.nph and line[k] is not None:
                    r = int(alloc.room(lz[k] - u * w, w, lcap[k])) if lcap[k] >= 0 else -1
                else:
                    r = alloc.room(used[k] - c * w, w, cap[k])
                if r < new:
                    new = r
            if new > o and new >= ch.min_a:
                site.add(used, i, max(new, c) - c)
                for j in range(len(ks)):
                    k = ks[j]
                    if k < site.nph and line[k] is not None and new > u:
                        lz[k] += (new - u) * ws[j]
                        line[k] = lcap[k] - abs(lz[k])
                self._set(i, new, now)
                if self._turn:
                    self.turn_t = now
        if self._turn and pe is not None and self.turn_t is None:
            pe.turns += 1     # taken, no raise: the next hub's, once it hears this claim
        return self.offer


def _real(w):
    return w.real if isinstance(w, complex) else w


def _per_phase(v, nph):
    if isinstance(v, (int, float)):
        return [v] * nph
    if len(v) != nph:
        raise ValueError("a per-phase value needs one number per phase")
    return list(v)
