"""What each charger draws, learned from the mains clamps alone (issue 21).

    d = Draws(site)                        # alloc.Site: chargers, phases, weights
    d.offered(i, old_a, new_a, now)        # every offer change is a probe
    d.update(now, m_ca, good, known_ca, states, settle_ms)   # once a period
    d.house[p]                             # the non-EV load, centiamps

Pure logic: no hardware, no clock (ticks_diff is handed in).

Without a CT per charger the hub sees one number per line: M = house + the
EVs. Every offer change is a probe: the change of M in the EV's response
time after it says how much of it the car took. From those answers each
charger has a belief:
- took_ca: what it draws now (centiamps). A charger with its own CT, or
  a read-back state that cannot draw (A, B, E, F), is known exactly.
- pend_ca: the change its last offer change should still bring (a raise
  not yet taken, a cut not yet followed), consumed as M moves the same way.
- cap_ca: the most the car took when offered more (its own maximum, a
  battery that is nearly full); 0 where none was seen. Forgotten after
  CAP_MS so that a car that may take more again is asked again.
What M does that no probe explains goes to the house, except for two
signatures that only a car makes: M falls by exactly what one car draws (it
stopped: full, or unplugged without read-back) or rises by exactly what an
idle car's standing offer gives (a late start). So the house estimate follows
the house both ways (capacity is won back when the house drops) and a cut
when a line is over is computed from what the cars really draw, not from the
top of everything they might draw (no needless pause).

The belief is what a cut rests on (control.py): offers are cut until the
house estimate plus the cars' beliefs fit. A belief too high (a car that
stopped while the house rose in the same period, a silent taper) makes a cut
fall short; the controller then cuts from the top after one response time
(`forget`), so two unseen changes at once cost two rounds, not a lasting
overload.
"""

from array import array

CAP_MS = 600000        # a learned car maximum is asked again after 10 minutes
_SLACK_CA = 50         # 0.5 A: a change smaller than this is noise
_NOISE_CA = 10         # 0.1 A (+ 0.2 %): the house estimate does not follow less


def _real(w):
    return w.real if isinstance(w, complex) else w


class Draws:
    def __init__(self, site, ticks_diff):
        self.site = site
        self.ticks_diff = ticks_diff
        n, nph = len(site.chargers), site.nph
        self.n, self.nph = n, nph
        # per charger: its lines and the in-phase part of its weight on each
        self.lines = [tuple(site.chargers[i].phases) for i in range(n)]
        self.wr = [tuple(_real(site.weight_of(i, p)) for p in self.lines[i]) for i in range(n)]
        self.took_ca = array("i", bytes(4 * n))
        self.pend_ca = array("i", bytes(4 * n))
        self.cap_ca = array("i", bytes(4 * n))
        self.cap_t = [None] * n          # type: list
        self.pend_t = [None] * n         # type: list  # when the pending change began
        self.exp_ca = array("i", bytes(4 * n))  # the change asked for at that time
        # a drop of M that one car's stop would explain, while the house may
        # as well have dropped: the car is cut to its minimum, and its answer
        # tells (a car that still draws follows the cut)
        self.suspect = bytearray(n)
        # an answer that may well be "nothing" (an idle charger asked, a car
        # that took less before, a suspect): asked alone on its lines, and its
        # share of what M shows comes after the others'
        self.reprobe = bytearray(n)
        self.unsure = bytearray(n)
        self.suspect_t = [None] * n      # type: list
        self.known = bytearray(n)        # exact this period (own CT, or a state that cannot draw)
        self.rb = bytearray(n)           # its pilot is read back (a start is seen)
        self.in_b = bytearray(n)         # read back in state B (a car, not charging)
        self.house = [None] * nph        # type: list  # centiamps
        self._r = [0] * nph
        self._tried = bytearray(n)

    def idle(self, i):
        """Charger i draws nothing and expects nothing: at most a standing minimum."""
        return self.took_ca[i] <= 0 and self.pend_ca[i] <= 0

    def cap_a(self, i, now, room=True):
        """The most charger i's car was seen to take (whole amps, rounded), or 0.
        Asked again after CAP_MS where its lines have room for the question
        (else the others would be cut for it), after 3 CAP_MS regardless."""
        c = self.cap_ca[i]
        if not c:
            return 0
        age = self.ticks_diff(now, self.cap_t[i]) if self.cap_t[i] is not None else -1
        if not 0 <= age < (3 * CAP_MS if not room else CAP_MS):
            self.cap_ca[i] = 0      # asked again: a car may take more later
            self.reprobe[i] = 1
            return 0
        return (c + 50) // 100     # (a car at 10.03 A of 11 offered is a 10 A car)

    def settled_ca(self, i):
        """What charger i should draw once its last change has been followed."""
        return self.took_ca[i] + self.pend_ca[i]

    def offered(self, i, old_a, new_a, now):
        """Charger i's offer changed: what should it draw once the car follows?"""
        if self.known[i]:
            return
        t = self.took_ca[i]
        new = new_a * 100
        c = self.cap_ca[i]
        if c and new > c:
            new = c
        if new_a < old_a:
            if self.idle(i):
                return              # a cut of a standing offer nobody draws: nothing to see
            exp = new if new < self.settled_ca(i) else self.settled_ca(i)
        else:
            exp = new if new > t else t
        if new_a > old_a and self._start_rb(i) and not self.pend_ca[i]:
            self.unsure[i] = 2       # a start its read-back will show
        else:
            self.unsure[i] = 1 if new_a > old_a and self._isolated(i) or self.suspect[i] else 0
        self.pend_ca[i] = exp - t
        self.exp_ca[i] = exp - t
        self.pend_t[i] = now
        self.reprobe[i] = 0

    def _waiting(self, k):
        """Does charger k wait for M to answer a change? (A start its read-back
        will show needs no line of its own.)"""
        return (self.pend_ca[k] or self.suspect[k]) and not self.known[k] and not (
            self.rb[k] and self.unsure[k] == 2)

    def _shared(self, p, i, also=-1):
        """Does another charger than i (or `also`, about to be changed) wait
        for an answer on line p?"""
        for k in range(self.n):
            if k != i and (k == also or self._waiting(k)) and p in self.lines[k]:
                return True
        return False

    def _start_rb(self, k):
        """Is charger k's change a start its read-back will show (B to C)?"""
        return self.rb[k] and self.took_ca[k] <= 0 and self.pend_ca[k] >= 0 and not self.suspect[k]

    def crowded(self, i):
        """Would a raise of charger i now be mistaken for another's answer? A
        raise may be taken or not, and M shows only the sum of the answers on a
        line. So a raise needs a line where no other change waits, and every
        change waiting keeps one (a cut and a raise of the same size answered
        together move M by nothing). Line-to-line chargers on a three-phase
        site are raised two at a time; single-line ones, one per line.
        (Raising cars that charge together was tried: a house step during
        their answers was then credited to them 10-100 times as often.)"""
        if self._start_rb(i) and not self.pend_ca[i]:
            return False     # the read-back tells who started: starts go together, beside cuts too
        if not any(not self._shared(p, i) for p in self.lines[i]):
            return True
        for k in range(self.n):
            if k != i and self._waiting(k) and not any(not self._shared(p, k, i) for p in self.lines[k]):
                return True
        return False

    def _isolated(self, i):
        """Must a raise of charger i be read alone? (A start is seen by read-back.)"""
        return bool(self.suspect[i] or self.reprobe[i] or (self.idle(i) and not self.rb[i]))

    def forget(self, p):
        """A cut did not bring line p under its limit in time: every belief on it
        may be high. What no own CT shows is taken as drawing nothing, so the
        next cut is from the top (everything above the known draws is house,
        on every line those chargers load)."""
        for i in range(self.n):
            if p in self.lines[i] and not self.known[i]:
                t = self.took_ca[i]
                ls, ws = self.lines[i], self.wr[i]
                for j in range(len(ls)):
                    if self.house[ls[j]] is not None:
                        self.house[ls[j]] += int(t * ws[j])
                self.took_ca[i] = 0
                self.pend_ca[i] = 0

    def update(self, now, m_ca, good, known_ca, states, offers, settle_ms, limit_ca=None):
        """Take this period's measurement. m_ca: per line, the measured current
        (centiamps); good: per line, believed; known_ca: per charger, the draw
        its own CT measures (centiamps) or -1; states: per charger, read-back
        letter or None; offers: per charger, whole amps; settle_ms: how long a
        car has to follow an offer (its response, plus a period's measurement);
        limit_ca: per line, its limit: over it, nothing is held back for answers
        still to come (a cut must count all it cannot explain as house)."""
        n, nph = self.n, self.nph
        took, pend, lines, wr = self.took_ca, self.pend_ca, self.lines, self.wr
        b = 0
        for i in range(n):
            k = known_ca[i]
            st = states[i] if states is not None else None
            self.rb[i] = 0 if states is None else 1
            self.in_b[i] = 1 if st == "B" else 0
            if k < 0 and st is not None and st in "AEF":
                k = 0               # read back: no car, an error, no supply
            if k >= 0:
                took[i], pend[i] = k, 0
                self.known[i] = 1
            else:
                self.known[i] = 0
                if st == "B" and not pend[i] and took[i]:
                    b = 1           # read back: not charging (any more): see below

        # the residual of each believed line: what the beliefs do not explain
        r = self._r
        for p in range(nph):
            if not good[p]:
                r[p] = 0
                continue
            ev = 0
            for i in range(n):
                if took[i]:
                    ls = lines[i]
                    for j in range(len(ls)):
                        if ls[j] == p:
                            ev += int(took[i] * wr[i][j])
            if self.house[p] is None:
                self.house[p] = m_ca[p] - ev
            r[p] = m_ca[p] - self.house[p] - ev
        if states is not None:
            for i in range(n):     # read back charging, believed drawing nothing: it is in the house
                st = states[i]
                if st is not None and st in "CD" and took[i] <= 0 and not pend[i] and not self.known[i] \
                        and offers[i] > 0:
                    c = self.cap_ca[i]
                    x = offers[i] * 100 if not c or c > offers[i] * 100 else c
                    took[i] = x
                    self._take(i, x)
        if b:
            for i in range(n):
                if states[i] == "B" and not pend[i] and took[i] and not self.known[i]:
                    self._take(i, -took[i])
                    took[i] = 0
        # 0. a start its read-back shows (B to C): credited at once, in full
        # (M shows the sum of every answer of the period; the state tells whose)
        if states is not None:
            for i in range(n):
                st = states[i]
                if pend[i] > 0 and self.unsure[i] == 2 and st is not None and st in "CD" and not self.known[i]:
                    took[i] += pend[i]
                    self._take(i, pend[i])
                    pend[i] = 0
        # 1. changes the hub asked for, as M shows them: all of a line's at once
        # where M moved by just their sum (a cut and a raise answered in the
        # same period); otherwise cuts first (a car follows a cut), then
        # raises, the unsure ones last
        for i in range(n):
            if pend[i] and not self.known[i] and self._all_seen(i, good):
                took[i] += pend[i]
                self._take(i, pend[i])
                pend[i] = 0
        for k in range(4 * n):
            i = k % n
            cls = 0 if pend[i] < 0 else 1 if self.unsure[i] == 2 else 3 if self.unsure[i] else 2
            if not pend[i] or self.known[i] or k // n != cls:
                continue
            if True:
                x = self._seen(i, pend[i], good)
                if x and (x > _NOISE_CA or x < -_NOISE_CA or x == pend[i]):   # (noise is no answer)
                    took[i] += x
                    pend[i] -= x
                    self._take(i, x)
                if pend[i] and self.pend_t[i] is not None and self.ticks_diff(now, self.pend_t[i]) >= settle_ms:
                    if self.suspect[i] and pend[i] < 0:
                        self.suspect[i] = 0
                        if -pend[i] * 2 > -self.exp_ca[i]:    # it did not follow the cut: it had stopped
                            self._take(i, -took[i])
                            took[i], pend[i] = 0, 0
                            continue
                    if 0 < took[i] < _SLACK_CA:
                        self._take(i, -took[i])      # what it took is noise: it draws nothing
                        took[i] = 0
                    if pend[i] > 0 and took[i] > 0 and offers[i] * 100 > took[i] + _SLACK_CA:
                        if any(not self._shared(p, i) for p in lines[i]):
                            self.cap_ca[i] = took[i]     # offered more than it took: its own maximum
                            self.cap_t[i] = now
                        else:
                            self.reprobe[i] = 1          # among others: whose shortfall? Ask it alone
                    elif pend[i] < 0:
                        took[i] += pend[i]           # it drew less than believed already
                        self._take(i, pend[i])
                    pend[i] = 0
                    self.unsure[i] = 0
        for i in range(n):     # a suspect's answer: it followed its cut (alive), or it was not asked
            if not self.suspect[i] or pend[i]:
                continue
            t, ts = self.pend_t[i], self.suspect_t[i]
            if t is not None and ts is not None and self.ticks_diff(t, ts) >= 0 and self.exp_ca[i] < 0:
                self.suspect[i] = 0      # followed the cut asked after the suspicion: still charging
            elif ts is None or self.ticks_diff(now, ts) >= settle_ms:
                self.suspect[i] = 0      # not asked (no cut was possible): taken as stopped
                self._take(i, -took[i])
                took[i] = 0
        # 2. what no probe explains: a car's own signature (one or more), or the house
        tried = self._tried
        for p in range(nph):
            for i in range(n):
                tried[i] = 0
            slack = _SLACK_CA + abs(m_ca[p]) // 50 if good[p] else 0
            while good[p] and not -slack <= r[p] <= slack:
                best = self._signature(p, r[p], slack, states, offers)
                if best < 0:
                    break
                tried[best] = 1
                if r[p] < 0 and (offers[best] - self.site.chargers[best].min_a) * 100 > slack + 50:
                    self.suspect[best] = 1       # the house, or this car stopping: ask it (a cut)
                    self.suspect_t[best] = now
                    break                        # (one stop explains it: one car is asked)
                step = -took[best] if r[p] < 0 else self._start(best, offers[best], r[p], p)
                took[best] += step
                if took[best] < 0:
                    took[best] = 0
                self._take(best, step)
        # 3. the rest is the house
        for p in range(nph):      # (within noise the house stays: no hunting)
            if not good[p] or self.house[p] is None:
                continue
            x = r[p]
            if limit_ca is None or m_ca[p] <= limit_ca[p]:
                # what the answers still to come may be is held back: a start is
                # seen by the read-back a moment after M shows it
                h = self._pending(p, x > 0)
                if x > 0 and h > 0:
                    x = x - h if x > h else 0
                elif x < 0 and h < 0:
                    x = x - h if x < h else 0
            if abs(x) > _NOISE_CA + abs(m_ca[p]) // 500:
                self.house[p] += x
                r[p] -= x

    # -- helpers ---------------------------------------------------------
    def _signature(self, p, r_p, slack, states, offers):
        """The charger on line p whose stop (r_p < 0) or start (r_p > 0) best
        explains the residual r_p: a car read back as charging that was
        believed idle first; otherwise the closest within slack; -1 if none."""
        took, pend, best, err = self.took_ca, self.pend_ca, -1, slack + 1
        for i in range(self.n):
            if self.known[i] or pend[i] or self._tried[i] or self.suspect[i] or p not in self.lines[i]:
                continue
            if r_p < 0:
                if took[i] <= 0:
                    continue
                step = -took[i]                          # it stopped
            else:
                if offers[i] < 1:
                    continue
                c = self.cap_ca[i]
                top = offers[i] * 100 if not c or c > offers[i] * 100 else c
                step = top - took[i]                     # it took its standing offer
                if step <= 0:
                    continue
                st = states[i] if states is not None else None
                if st in ("C", "D") and took[i] <= 0:    # read back: this one started
                    return i
            e = self._fits(i, step, slack)
            if e is not None and e < err:
                best, err = i, e
        return best

    def _w(self, i, p):
        ls = self.lines[i]
        for j in range(len(ls)):
            if ls[j] == p:
                return self.wr[i][j]
        return 0

    def _start(self, i, offer_a, r_p, p):
        c = self.cap_ca[i]
        top = offer_a * 100 if not c or c > offer_a * 100 else c
        w = self._w(i, p) or 1
        x = int(r_p / w)
        return min(top - self.took_ca[i], x) if x > 0 else 0

    def _all_seen(self, i, good):
        """Does every line of charger i show, within noise, the whole of what
        the changes pending on it still ask for?"""
        ls = self.lines[i]
        for j in range(len(ls)):
            p = ls[j]
            if not good[p]:
                return False
            s = 0
            for k in range(self.n):
                if self.pend_ca[k] and p in self.lines[k] and not self.known[k]:
                    s += int(self.pend_ca[k] * self._w(k, p))
            if abs(s) <= _SLACK_CA or abs(self._r[p] - s) > _SLACK_CA // 2:
                return False     # (a sum within noise would be "seen" before anyone answered)
        return True

    def _seen(self, i, want, good):
        """How much of a change `want` (centiamps, signed) of charger i the
        residuals of all its lines show (the least of them; 0 if any line
        shows none, or is not believed)."""
        if want > 0 and self.in_b[i]:
            return 0          # read back: not charging (yet)
        ls, ws, r = self.lines[i], self.wr[i], self._r
        x = want
        alone = False         # read it where no other change is pending, if it has such a line
        for j in range(len(ls)):
            if not self._shared(ls[j], i):
                alone = True
        for j in range(len(ls)):
            p = ls[j]
            if alone and self._shared(p, i):
                continue
            if not good[p] or not ws[j]:
                return 0
            w = ws[j]
            s = r[p] // w if w == 1 else int(r[p] / w)    # (a float is a heap object on a board)
            if abs(r[p]) > abs(self._pending(p, want > 0)) + _SLACK_CA:
                return 0     # more than every change asked for: the house moved too, whose is it?
            if want > 0:
                if s <= 0:
                    return 0
                if s < x:
                    x = s
            else:
                if s >= 0:
                    return 0
                if s > x:
                    x = s
        return x

    def _pending(self, p, up):
        """What the changes still pending on line p ask for together, raises
        (up) or cuts (centiamps, signed)."""
        s = 0
        for k in range(self.n):
            x = self.pend_ca[k]
            if x and (x > 0) == up and p in self.lines[k] and not self.known[k]:
                s += int(x * self._w(k, p))
        return s

    def _fits(self, i, step, slack):
        """How far a change `step` of charger i is from every residual on its
        lines (centiamps), or None if one of them does not show it."""
        ls, ws, r = self.lines[i], self.wr[i], self._r
        worst = 0
        for j in range(len(ls)):
            e = abs(r[ls[j]] - int(step * ws[j]))
            if e > slack:
                return None
            if e > worst:
                worst = e
        return worst

    def _take(self, i, x):
        """Charger i's belief moved by x: its lines' residuals move the other way."""
        ls, ws, r = self.lines[i], self.wr[i], self._r
        for j in range(len(ls)):
            r[ls[j]] -= int(x * ws[j])
