"""Sharing capacity between chargers: equal shares through nested limits, per phase.

    site = Site(["L1", "L2", "L3"], circuits, chargers)
    offers = site.fill(avail_a, want_a, order)   # whole amps, 0 = paused

Pure logic: no hardware, no clock. Amps are whole amps (the pilot's offers
are whole amps too).

The site is a tree: the point of common coupling (PCC) is the root, circuits
(a sub-panel, a charger group's breaker) hang below it, and every charger sits
on one circuit (or on the root) and draws on one or three phases. A node's
limit holds on each phase it carries. `fill` is progressive filling
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
        # per charger: the node-phase constraints it counts in (node * nph + phase)
        self.cons = []
        for ch in self.chargers:
            if ch.circuit not in index:
                raise ValueError("charger %s: circuit %r is not defined" % (ch.id, ch.circuit))
            for p in ch.phases:
                if not 0 <= p < self.nph:
                    raise ValueError("charger %s: no phase %r on this site" % (ch.id, p))
            ks = []
            n = index[ch.circuit]
            while n >= 0:
                for p in ch.phases:
                    ks.append(n * self.nph + p)
                n = self.parent[n]
            self.cons.append(tuple(ks))
        self.ncons = len(self.parent) * self.nph

    def caps(self, avail_a):
        """Capacity of every node-phase: the root's from avail_a, circuits' limits."""
        cap = [0] * self.ncons
        for p in range(self.nph):
            a = int(avail_a[p])  # whole amps, rounded down: never more than available
            cap[p] = a if a > 0 else 0
        for n in range(1, len(self.parent)):
            for p in range(self.nph):
                cap[n * self.nph + p] = self.limit_a[n]
        return cap

    def _raise(self, cap, used, x, want, order):
        """Progressive filling from x up to want (lists, changed in place)."""
        cons = self.cons
        live = [i for i in order if x[i] < want[i] and all(used[k] < cap[k] for k in cons[i])]
        while live:
            count = [0] * self.ncons
            for i in live:
                for k in cons[i]:
                    count[k] += 1
            step = min(want[i] - x[i] for i in live)
            for k in range(self.ncons):
                if count[k]:
                    step = min(step, (cap[k] - used[k]) // count[k])
            if step > 0:
                for i in live:
                    x[i] += step
                    for k in cons[i]:
                        used[k] += step
            else:
                # a node cannot give everyone 1 A more: the odd amps go in order
                for i in live:
                    if all(used[k] < cap[k] for k in cons[i]):
                        x[i] += 1
                        for k in cons[i]:
                            used[k] += 1
            live = [i for i in live if x[i] < want[i] and all(used[k] < cap[k] for k in cons[i])]

    def fill(self, avail_a, want_a, order, base_a=None):
        """Offers (whole amps, 0 = paused) for every charger.

        avail_a: per phase, amps the PCC leaves for the chargers.
        want_a:  per charger, the most it may be offered (0: not charging).
        order:   charger indices, first = first served (rotation, priority).
                 Chargers not in order get 0.
        base_a:  per charger, amps that must be offered first, if any (the
                 floor of a permit); still 0 or >= min.
        """
        n = len(self.chargers)
        want_a = [min(w, ch.max_a) for w, ch in zip(want_a, self.chargers)]
        active = [False] * n
        for i in order:
            active[i] = want_a[i] >= self.chargers[i].min_a
        while True:
            cap = self.caps(avail_a)
            used = [0] * self.ncons
            x = [0] * n
            run = [i for i in order if active[i]]
            if base_a is not None:
                for i in run:
                    b = min(base_a[i], want_a[i])
                    if b and all(used[k] + b <= cap[k] for k in self.cons[i]):
                        x[i] = b
                        for k in self.cons[i]:
                            used[k] += b
            self._raise(cap, used, x, want_a, run)
            short = [i for i in run if x[i] < self.chargers[i].min_a]
            if not short:
                return x
            active[short[-1]] = False
