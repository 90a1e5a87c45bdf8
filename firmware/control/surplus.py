"""Solar surplus: chargers that charge only from what the site exports. Pure logic.

    s = Surplus(ctl, [True, False, ...], ticks_diff)   # which chargers are in surplus mode
    s.update(now, export_a, states, draws)   # each period, before ctl.step
    ctl.claims.surplus_a[i]    # None: not in surplus mode; 0: paused; else the most it may be offered

export_a: per phase, the amps the site exports (real power / volts, import
negative), from a voltage reference; None where direction is unknown.

A surplus charger's share is what its lines export plus what it draws now
(its own CT, or its offer while its car charges), less RESERVE_A, less what
surplus chargers before it in the controller's order were given. It starts
when that share has held >= its minimum for HOLD_MS; it pauses when, at its
minimum, its lines have imported for HOLD_MS (a share under the minimum);
between, it follows the share, raised only a whole amp and a half above its
cap, cut as soon as the share is under it. With no direction (a voltage
reference lost) it is paused at once: nothing from the grid is taken for sun.

Only ever a cap: the controller still keeps every limit, and a surplus
charger is paused (want 0) rather than given less than its minimum.
"""

HOLD_MS = 60000     # a start or a pause must have held this long: no chattering
RESERVE_A = 1.0     # left exported: a phase balanced to 0 A reads like a clamp that slipped off
_RAISE_A = 1.5      # a cap goes up only when the share is this far above it
# read-back states without a charging car. A tuple, not "AEF": a charger not
# read back (None: at boot until a state has held, or its ADC silent) is in
# none of them, where `None in "AEF"` raises TypeError and stopped the hub.
_IDLE = ("A", "E", "F")


class Surplus:
    def __init__(self, ctl, modes, ticks_diff):
        self.ctl = ctl
        self.td = ticks_diff
        n, nph = ctl.n, len(ctl.claims.site_a)
        self.on = bytearray(n)          # charging from surplus (started)
        self.since = [None] * n         # when the pending start or pause began (None: none)
        self.pool = [0.0] * nph         # scratch: per phase, what is left to give
        ctl.claims.surplus_a = [None] * n
        ctl.surplus = self           # commands switch a charger's mode through it
        for i in range(n):
            self.set_mode(i, modes[i])

    def set_mode(self, i, on):
        """Charger i into surplus mode (paused until a minute of surplus) or out of it."""
        if (self.ctl.claims.surplus_a[i] is not None) == bool(on):
            return                  # as it is: a charging car is not paused by a repeat
        self.on[i] = 0
        self.since[i] = None
        self.ctl.claims.surplus_a[i] = 0 if on else None

    def update(self, now, export_a, states, draws):
        ctl = self.ctl
        cap, chargers, pool = ctl.claims.surplus_a, ctl.site.chargers, self.pool
        for p in range(len(pool)):
            e = export_a[p]
            pool[p] = e - RESERVE_A if e is not None else -1e9   # unknown: nothing to give
        for i in range(ctl.n):            # what the surplus chargers draw is theirs again
            if cap[i] is None:
                continue
            # (its offer while its car is in B: the car may start any moment, and
            # a surplus kept for it is only not given to another surplus charger)
            d = draws[i] if draws is not None and draws[i] is not None else \
                ctl.offer[i] if states is None or states[i] not in _IDLE else 0
            if d:
                for p in chargers[i].phases:
                    pool[p] += d
        for i in ctl.order:
            c = cap[i]
            if c is None:
                continue
            ch = chargers[i]
            give = 1e9
            for p in ch.phases:           # (a loop: no generator a charger a period)
                if pool[p] < give:
                    give = pool[p]
            if give < -1e8 or (states is not None and states[i] in _IDLE) or not ctl.claims.enabled[i]:
                c, self.on[i], self.since[i] = 0, 0, None      # no direction, no car, or paused
            elif not self.on[i]:
                c = 0
                if give < ch.min_a:
                    self.since[i] = None
                elif self._held(i, now):
                    self.on[i], self.since[i] = 1, None
                    c = min(int(give), ch.max_a)
            elif give < ch.min_a:        # at its minimum the site imports: a pause, if it holds
                c = ch.min_a
                if self._held(i, now):
                    c, self.on[i], self.since[i] = 0, 0, None
            else:
                self.since[i] = None
                if give < c or give >= c + _RAISE_A:
                    c = min(int(give), ch.max_a)
            cap[i] = c
            if c:
                for p in ch.phases:
                    pool[p] -= c

    def _held(self, i, now):
        """The pending change of charger i began (now, if not yet) HOLD_MS ago."""
        if self.since[i] is None:
            self.since[i] = now
        return self.td(now, self.since[i]) >= HOLD_MS

    def state(self, i):
        """Charger i's surplus state for telemetry: None (not in surplus mode),
        "charging", "starting", "pausing" or "waiting"."""
        if self.ctl.claims.surplus_a[i] is None:
            return None
        if self.on[i]:
            return "pausing" if self.since[i] is not None else "charging"
        return "starting" if self.since[i] is not None else "waiting"
