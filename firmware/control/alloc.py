"""Sharing capacity between chargers: equal shares through nested limits, per phase.

    site = Site(["L1", "L2", "L3"], circuits, chargers)
    offers = site.fill(avail_a, want_a, order)   # whole amps, 0 = paused

Pure logic: no hardware, no clock. Amps are whole amps (the pilot's offers
are whole amps too).

The site is a tree: the point of common coupling (PCC) is the root, circuits
(a sub-panel, a charger group's breaker) hang below it, and every charger sits
on one circuit (or on the root) and draws on one, two or three phases
(lines). A node's limit holds on each line it carries.

A line's current is the phasor sum of what is drawn on it (unity power
factor). Line-to-neutral and three-phase chargers, and 240 V chargers across
the two legs of a split-phase service, are in phase with the line: their
amps add. On a three-phase site a charger wired line to line (208 V) is 30
degrees off each of its lines (`weight`), so chargers on L1-L2 and L3-L1
give L1 sqrt(I_ab^2 + I_ca^2 + I_ab I_ca), not the sum: a balanced 208 V
site carries sqrt(3), not 2, times a charger's current per line. Such a
constraint's load is a complex number and its room is found on a circle. `fill` is progressive filling
(max-min fairness): every charger that may charge is raised by the same step
until it reaches what it wants or one of the nodes on its way up is full;
leftovers go on to the others. An odd amp that cannot go to all of a full
node's chargers goes to the first in `order` (the rotation's order), so
shares differ by at most 1 A. A charger whose share falls below its minimum
cannot charge (J1772: below 6 A there is no valid offer): the last such
charger in `order` is paused and the rest refilled, until every offer is 0
or at least its minimum.
"""

ROOT = ""  # the id of the PCC node
_J30 = complex(0.8660254037844386, 0.5)   # e^{j30 degrees}
_J30N = complex(0.8660254037844386, -0.5)  # e^{-j30 degrees} (MicroPython's complex has no conjugate())
# The tolerance of a phasor comparison, A: a board computes in single
# precision (24 bits: 6e-5 A at 1000 A), so a load that exactly fills a line
# in exact arithmetic fits there too; 0.1 mA over is no current at all.
EPS_A = 1e-4


def weight(nph, phases, p):
    """The unit phasor, relative to line p's voltage, of a charger across
    `phases` as line p sees it: 1, except line to line on a three-phase site,
    +30 degrees on the line whose successor (L1->L2->L3->L1) is the other
    line, -30 degrees on the other (I_a = I_an + I_ab e^{j30} + I_ca e^{-j30})."""
    if nph != 3 or len(phases) != 2:
        return 1
    other = phases[1] if phases[0] == p else phases[0]
    return _J30 if other == (p + 1) % 3 else _J30N


def fits(z, cap):
    """Does a load z (amps, or a phasor of amps) fit in cap?"""
    if isinstance(z, complex):
        return abs(z) <= cap + EPS_A
    return z <= cap


def room(a, b, cap):
    """The most amps s >= 0 (whole) with |a + s*b| <= cap; -1 if not even 0 fits.
    a: the load so far, b: what one more amp of each charger adds (real: a
    count of chargers; complex: their phasors summed)."""
    if not isinstance(a, complex) and not isinstance(b, complex):
        return (cap - a) // b
    if abs(a) > cap + EPS_A:
        return -1
    a, b = complex(a), complex(b)     # (MicroPython's int has no .real)
    # |a + s b|^2 = cap^2: bb s^2 + 2 ab s + (|a|^2 - cap^2) = 0, the positive root
    bb = b.real * b.real + b.imag * b.imag
    ab = a.real * b.real + a.imag * b.imag
    c = a.real * a.real + a.imag * a.imag - cap * cap
    d = ab * ab - bb * c
    s = int((-ab + (d if d > 0 else 0) ** 0.5) / bb + EPS_A)
    while s > 0 and abs(a + s * b) > cap + EPS_A:   # rounding: never over the circle
        s -= 1
    return s


class Charger:
    def __init__(self, id, circuit=ROOT, phases=(0,), min_a=6, max_a=32, priority=0, floor_a=0):
        if min_a < 6 or max_a < min_a:
            raise ValueError("charger %s: need 6 <= min_a <= max_a" % id)
        self.id = id
        self.circuit = circuit
        self.phases = tuple(phases)
        self.min_a = min_a
        self.max_a = max_a
        self.priority = priority
        self.floor_a = floor_a


class Site:
    """The circuit tree and the chargers on it; `fill` shares capacity."""

    def __init__(self, phases, circuits, chargers):
        """circuits: [(id, parent id or ROOT, limit_a)], parents before children."""
        self.phases = list(phases)
        self.nph = len(self.phases)
        self.chargers = list(chargers)
        index = {ROOT: 0}
        self.parent = [-1]
        self.limit_a = [0]             # the root's limit comes with each fill
        self.circuit_ids = [ROOT]
        for cid, parent, limit_a in circuits:
            if cid in index:
                raise ValueError("circuit %s: defined twice" % cid)
            if parent not in index:
                raise ValueError("circuit %s: parent %r is not defined before it" % (cid, parent))
            index[cid] = len(self.parent)
            self.parent.append(index[parent])
            # whole amps, rounded down: a breaker of 32.5 A carries 32 A of offers
            self.limit_a.append(int(limit_a))
            self.circuit_ids.append(cid)
        self.index = index
        # per charger: the node-phase constraints it counts in (node * nph + phase),
        # and the phasor one of its amps adds to each (weight)
        self.cons = []
        self.wts = []
        for ch in self.chargers:
            if ch.circuit not in index:
                raise ValueError("charger %s: circuit %r is not defined" % (ch.id, ch.circuit))
            for p in ch.phases:
                if not 0 <= p < self.nph:
                    raise ValueError("charger %s: no phase %r on this site" % (ch.id, p))
            ks = []
            ws = []
            n = index[ch.circuit]
            while n >= 0:
                for p in ch.phases:
                    ks.append(n * self.nph + p)
                    ws.append(weight(self.nph, ch.phases, p))
                n = self.parent[n]
            self.cons.append(tuple(ks))
            self.wts.append(tuple(ws))
        self.ncons = len(self.parent) * self.nph
        # scratch, allocated once: fill() runs every control period (no garbage)
        n = len(self.chargers)
        self._cap = [0] * self.ncons
        self._used = [0] * self.ncons
        self._step = [0] * self.ncons
        self._x = [0] * n
        self._want = [0] * n
        self._live = bytearray(n)
        self._active = bytearray(n)
        self.phasor = False       # a line-to-line charger on a three-phase site
        for ws in self.wts:
            for w in ws:
                if isinstance(w, complex):
                    self.phasor = True

    def weight_of(self, i, p):
        """Charger i's weight on line p at the PCC (1 where it is in phase)."""
        return weight(self.nph, self.chargers[i].phases, p)

    def load(self, amps, used=None):
        """Per node-phase, the load (amps or a phasor) of amps per charger
        (into `used` if given: a list of ncons)."""
        if used is None:
            used = [0] * self.ncons
        else:
            for k in range(self.ncons):
                used[k] = 0
        for i in range(len(amps)):
            if amps[i]:
                self.add(used, i, amps[i])
        return used

    def add(self, used, i, a):
        """Add a amps of charger i to every constraint it counts in."""
        ks, ws = self.cons[i], self.wts[i]
        for j in range(len(ks)):
            used[ks[j]] += a * ws[j]

    def fits(self, used, cap, i, a):
        """Do a more amps of charger i fit everywhere it counts in?"""
        ks, ws = self.cons[i], self.wts[i]
        if not self.phasor:
            for j in range(len(ks)):
                k = ks[j]
                if used[k] + a > cap[k]:
                    return False
            return True
        for j in range(len(ks)):
            k = ks[j]
            if not fits(used[k] + a * ws[j], cap[k]):
                return False
        return True

    def caps(self, avail_a, cap=None):
        """Capacity of every node-phase: the root's from avail_a, circuits' limits."""
        if cap is None:
            cap = [0] * self.ncons
        for p in range(self.nph):
            a = int(avail_a[p])  # whole amps, rounded down: never more than available
            cap[p] = a if a > 0 else 0
        for n in range(1, len(self.parent)):
            for p in range(self.nph):
                cap[n * self.nph + p] = self.limit_a[n]
        return cap

    def _more(self, i, x, want, used, cap):
        """May charger i still take 1 A more?"""
        return x[i] < want[i] and self.fits(used, cap, i, 1)

    def _raise(self, cap, used, x, want, order):
        """Progressive filling from x up to want (lists, changed in place): the
        chargers at the lowest level are raised together, so one that starts
        higher (its floor) waits until the others reach it: a floor is a
        minimum, not a head start."""
        live, step_of = self._live, self._step
        nlive = 0
        for i in order:
            live[i] = self._active[i] and self._more(i, x, want, used, cap)
            nlive += live[i]
        while nlive:
            level = 1 << 30
            for i in order:
                if live[i] and x[i] < level:
                    level = x[i]
            for k in range(self.ncons):
                step_of[k] = 0              # per constraint: what one amp more for the lowest adds
            step = 1 << 30
            for i in order:
                if live[i]:
                    if x[i] == level:
                        self.add(step_of, i, 1)
                        if want[i] - x[i] < step:
                            step = want[i] - x[i]
                    elif x[i] - level < step:
                        step = x[i] - level  # up to the next level, then that one joins
            for k in range(self.ncons):
                if step_of[k]:
                    r = room(used[k], step_of[k], cap[k])
                    if r < step:
                        step = r
            if step > 0:
                for i in order:
                    if live[i] and x[i] == level:
                        x[i] += step
                        self.add(used, i, step)
            else:
                # a node cannot give the lowest 1 A more each: the odd amps go in order
                for i in order:
                    if live[i] and x[i] == level and self.fits(used, cap, i, 1):
                        x[i] += 1
                        self.add(used, i, 1)
                for i in order:     # those that could not take one are done
                    if live[i] and x[i] == level:
                        live[i] = 0
            nlive = 0
            for i in order:
                if live[i]:
                    live[i] = self._more(i, x, want, used, cap)
                    nlive += live[i]

    def fill(self, avail_a, want_a, order, base_a=None):
        """Offers (whole amps, 0 = paused) for every charger.

        avail_a: per phase, amps the PCC leaves for the chargers.
        want_a:  per charger, the most it may be offered (0: not charging).
        order:   charger indices, first = first served (rotation, priority).
                 Chargers not in order get 0.
        base_a:  per charger, amps that must be offered first, if any (the
                 floor of a permit); still 0 or >= min.

        The list returned is the Site's own, valid until the next fill.
        """
        n = len(self.chargers)
        want, active, x = self._want, self._active, self._x
        for i in range(n):
            w, mx = want_a[i], self.chargers[i].max_a
            want[i] = w if w < mx else mx
            active[i] = 0
        for i in order:
            active[i] = want[i] >= self.chargers[i].min_a
        cap, used = self._cap, self._used
        while True:
            self.caps(avail_a, cap)
            for k in range(self.ncons):
                used[k] = 0
            for i in range(n):
                x[i] = 0
            if base_a is not None:
                for i in order:
                    if active[i]:
                        b = base_a[i] if base_a[i] < want[i] else want[i]
                        if b and self.fits(used, cap, i, b):
                            x[i] = b
                            self.add(used, i, b)
            self._raise(cap, used, x, want, order)
            short = -1
            for i in order:       # the last in order below its minimum is paused
                if active[i] and x[i] < self.chargers[i].min_a:
                    short = i
            if short < 0:
                return x
            active[short] = 0
