"""Where several hubs share one connection (issue 24; docs/multi-hub.md):
the most this hub's cars may use on a line, alone at its safe share or
with the others heard (control/peers.py), and this hub's claim.

    a = shared.cap(ctl, p, now, top, a)     # in Controller.step, step 4
    held, lo, cars, want, pri = shared.claim(ctl, now)

Functions of the Controller (`self` is it), apart so that a hub alone on its
connection never loads them (RAM on a board). Pure logic.
"""

from array import array

from micropython import const

_MIN_A = const(6)         # J1772's least offer: a slot
_FADE_MS = const(10000)   # beliefs seen above the mains are still counted, 1 A less every 10 s
_NAN = float("nan")       # (m_prev, house_a: none yet)

def own(self, p, now):
    """This hub's cars on line p: (the least they may draw: what it believes,
    but not a raise the car has not had response_ms to follow; the most:
    their committed offers; how many want current; what they want; the most
    they draw before a raise is followed: committed, but a raise counted
    from the offer before it)."""
    rt, pre = self.rise_t, self.pre_a
    if rt is None or pre is None:     # the first call: raises are followed from now on
        rt = self.rise_t = [None] * self.n
        pre = self.pre_a = [0] * self.n
    # On a line the cars add as phasors, all within 30 degrees of its voltage
    # (line to neutral, line to line, three-phase): the least is the sum of
    # their in-phase parts (a lower bound that adds across hubs), the most
    # the magnitude of their sum (an upper bound; hubs' add to more).
    lo = w = up = 0.0
    hi = 0
    cars = 0
    ws, d, resp = self.site.wts, self.draws, self.cfg["response_ms"]
    for i in range(self.n):
        ls = self.site.chargers[i].phases
        for j in range(len(ls)):
            if ls[j] != p:
                continue
            x = ws[i][j]
            k = x.real if isinstance(x, complex) else x
            a = d.took_ca[i] / 100
            o, cm = self.offer[i], self.committed(i, now)
            hi += cm * x
            if rt[i] is not None and self._since(now, rt[i]) < resp:
                o = pre[i] if pre[i] < o else o
                cm = pre[i] if pre[i] < cm else cm
            lo += (a if a < o else o) * abs(k)
            up += cm * abs(x)
            if self._want[i]:
                cars += 1
                w += self._want[i] * abs(x)
    return lo, abs(hi), cars, w, up


def cap(self, p, now, top, a):
    """The most this hub's cars may use together on line p where several hubs
    share the connection (issue 24; docs/multi-hub.md); a: the same for one
    hub alone (the caps from outside apply to every hub's cars together).

    Alone (no peers, or one not heard for a lease; control/peers.py): its
    share of what the house and the others' cars leave. The others lie
    between the mains less the most and less the least its own cars may
    draw, and the estimate moves only when the mains leaves those bounds:
    started high, lowered when the mains falls below, raised when the
    mains rises past what its cars may draw. Believing its own raise drawn
    before the mains shows it would count that room twice (two hubs took
    one room), so the most counts a raise only once the car has had
    response_ms to follow it. Taking the least for the others every period
    counted its own cuts not yet followed as the others' load: each hub cut
    again on them, halving its room a period (26, 13, 6.5, 3 A: every car
    paused, tools/simulate.py on a two-hub scenario). For a lease (and two
    periods) after it last heard them all, and after boot, it does not
    raise: they may still count on its last claim.

    Every peer heard: the house is kept within the mains less the most and
    less the least every hub's cars may draw; the room is what the house
    leaves, less what the other hubs hold; it raises only in its turn (one
    hub at a time: each rise of the mains is one hub's), and never above
    its fair part (every hub's cars at one level). A cut stops at its safe
    share of the room: each hub cutting by the whole excess cut it twice
    over and paused every car at a kettle (tools/bench.py multihub)."""
    cl = self.claims
    ps = cl.peers
    lo, hi, cars, want, up = own(self, p, now)
    m = self._m[p] / 100
    mp = self.m_prev
    if mp is None:
        # this module's state per line, made on first use; amps in arrays
        # (NaN: none yet), not lists of the floats each period made: those
        # stayed, scattered through the free end of the heap
        nph = self.site.nph
        mp = self.m_prev = array("d", [_NAN] * nph)
        self.house_a = array("d", [_NAN] * nph)
        self.bias_a = array("d", bytes(8 * nph))
        self.over_s = [None] * nph      # since when over its limit (_round)
    ha = self.house_a
    h = mp[p]
    dm = m - h if h == h else 0.0     # what the mains did since the last period
    mp[p] = m
    if ps is None or not self._fresh:      # (Controller.step: every peer heard this period)
        # house_a: here the others (house and other hubs' cars), from the first period alone
        h = ha[p] if ps is None or self.lost_t is not None else _NAN
        x = m - lo
        if h != h or h > x or m > self.eff_a[p]:
            h = x
        elif h < m - up:
            h = m - up
        ha[p] = h
        x = top - (h if h > 0 else 0.0)
        a = (a if a < x else x) * cl.share
        if ps is not None:
            if self.lost_t is None:
                self.lost_t = now
            if self._since(now, self.lost_t) < ps.lease_ms + 2 * self.cfg["period_ms"] and a > hi:
                a = hi
        return a
    self.lost_t = None
    lo_o = held_o = 0.0
    for j in range(len(ps.ids)):
        lo_o += ps.lo[j * ps.nph + p]
        held_o += ps.held[j * ps.nph + p]
    # The house lies between the mains less the most and less the least
    # every hub's cars may draw; it moves only when the mains leaves those
    # bounds. A car taking a raise is then not taken for the house (that
    # cut, and paused the car for min_pause_ms, again and again), and a
    # house that rises by more than every pending raise could explain is
    # cut for at once (the one hub's draw tracker holds back the same).
    # A line over its limit shows beliefs too high. In rounds (_round), not
    # again while a round's cuts are followed, the house is taken at the
    # bound that is safe, plus what the beliefs were lately seen above the
    # mains (bias_a: a bay without read-back believed drawing that is empty,
    # hidden once the house is larger); in the first round at least where
    # it was believed (never below none) plus what the mains rose: a step
    # measured, not believed.
    x, hb = m - lo - lo_o, m - hi - held_o
    b = self.bias_a
    y = b[p] - self.cfg["period_ms"] / _FADE_MS
    b[p] = -x if -x > y else (y if y > 0 else 0.0)
    h = ha[p]
    r = _round(self, p, now, m > self.eff_a[p])
    if r:
        y = x + b[p]
        if r == 1 and h == h and (h if h > 0 else 0.0) + dm > y:
            y = (h if h > 0 else 0.0) + dm
        h = y
    elif h != h or h > x:
        h = x
    elif h < hb:
        h = hb
    ha[p] = h
    x = h if h > 0 else 0.0
    room = top - x
    c = cl.ev_cap(p)                        # a time-of-use window: every hub's cars together
    if c is not None and room > c:
        room = c
    c = cl.imp(p)                           # the demand cap: on the site's import
    if c is not None and c - cl.margin_a - x < room:
        room = c - cl.margin_a - x
    mine = room - held_o                    # what no other hub holds
    o = offered(self, p)
    if o > mine:
        # a cut: every hub sees the line over at once, and each cutting to
        # what the others' claims leave cut twice over (every car paused
        # for min_pause_ms at each kettle); so no hub cuts below its safe
        # share of the room, and those add to the room whatever each hub
        # does (the claims are a period behind the cuts)
        x = cl.share * room
        x = o if o < x else x
        if x > mine:
            mine = x
    if not self._turn:
        # no raise; a cut to what the others leave, from the offers as they
        # are (a cut still held for response_ms is not cut again); where
        # they fit, they stay as they are (no sharing out afresh: a car cut
        # to 0 would wait min_pause_ms)
        if o <= mine:
            mine = o
        else:
            self._keep = False
    f = fair(self, p, room, cars, want, now)
    return mine if mine < f else f


def _round(self, p, now, over):
    """Is this period a round of cuts on line p, over its limit: 1 its first
    period over (no cut for it yet: the house did it), 2 once the cuts of
    the last round have had response_ms, else 0. The house is then read as
    the mains less what the cars are believed to draw at least; not between
    rounds: the least counts a cut at once, the mains only once the car
    has followed it, and reading the two each period cut again for the same
    excess (every car paused for min_pause_ms at each kettle)."""
    ov = self.over_s
    t = ov[p]
    if not over:
        ov[p] = None
        return 0
    if t is not None and self._since(now, t) < self.cfg["response_ms"] + self.cfg["period_ms"]:
        return 0
    ov[p] = now         # the next round once these cuts are followed
    return 1 if t is None else 2


def offered(self, p):
    """What this hub offers on line p now, weighted as its cars load it."""
    x = 0.0
    ws = self.site.wts
    for i in range(self.n):
        ls = self.site.chargers[i].phases
        for j in range(len(ls)):
            if ls[j] == p:
                x += self.offer[i] * abs(ws[i][j])
    return x


def fair(self, p, cap, cars, want, now):
    """This hub's part of cap on line p: every car of every fresh hub at one
    level, a hub never above what its cars want (water-filling). Where the
    level is under a car's minimum (6 A), not every car can charge: the
    site's cars take turns (_slots)."""
    ps = self.claims.peers
    if not cars or ps is None:
        return 0.0
    hubs = [(want / cars, cars, want, ps.place, _pri(self, p))]
    for j in range(len(ps.ids)):
        q = j * ps.nph + p
        if ps.fresh(j, now) and ps.cars[q]:
            c = ps.cars[q]
            k = ps.pri[q]
            hubs.append((ps.want[q] / c, c, ps.want[q], ps.hubs.index(ps.ids[j]), k if k < c else c))
    hubs.sort()
    n = 0
    for h in hubs:
        n += h[1]
    for k in range(len(hubs)):
        per, c, w, pl, _ = hubs[k]
        if per * n > cap:
            if cap + _HAIR_A < _MIN_A * n:
                rnd = ps.rounds() * self.cfg["period_ms"] // self.cfg["slot_ms"]    # the site's rounds
                return _slots(hubs[k:], cap, n, ps.place, rnd) * _MIN_A
            return cap * cars / n           # the level: own cars at it
        cap -= w
        n -= c
        if pl == ps.place:
            return want                     # own cars satisfied below the level
    return want


_HAIR_A = 0.05      # as control.py's
_PHI = 0.6180339887


def _pri(self, p):
    """How many of this hub's cars on line p that want current have a
    priority above 0 (control.py's order serves them first)."""
    k = 0
    for i in range(self.n):
        ch = self.site.chargers[i]
        if self._want[i] and ch.priority > 0 and p in ch.phases:
            k += 1
    return k


def _slots(hubs, cap, n, me, rnd):
    """How many of the room's whole minimums (slots) are hub `me`'s, of the
    hubs still wanting ((per car, cars, want, place, priority cars) each)
    at the level: first the cars with a priority above 0 across the site,
    then the others (_deal each)."""
    slots = int((cap + _HAIR_A) // _MIN_A)      # (a room read a hair under a slot still holds it)
    if slots <= 0:
        return 0        # (no room, or less than none: the others hold more than the room)
    np = 0
    for h in hubs:
        np += h[4]
    first = slots if slots < np else np
    mine = 0
    if first:
        mine = _deal(first, [(h[4], h[3]) for h in hubs], np, me, rnd * _PHI)
    if slots > first and n > np:
        mine += _deal(slots - first, [(h[1] - h[4], h[3]) for h in hubs], n - np, me, rnd * _PHI + 0.5)
    return mine


def _deal(slots, hubs, n, me, x):
    """Hub me's part of `slots` dealt to hubs ((cars, place) each) by their
    cars (n in all). Each hub has slots *
    its cars / n: the whole part, and its fraction as a chance at the slots
    left over. Those go to the hubs whose fractions, laid end to end in
    site.hubs order, hold the points r + j (j = 0, 1, ... below the slots
    left over); r, the fraction of x, moves by the golden ratio each round
    (a round is about slot_ms of the site's turns). Every hub computes the
    same, a hub gets one in a round with the chance of its fraction, and
    no more slots are dealt than there are. Views that differ for a period
    delay a raise only: a hub takes only what no other holds (cap)."""
    left = slots
    for h in hubs:
        left -= int(slots * h[0] / n)
    r = x % 1.0
    acc = 0.0
    for h in sorted(hubs, key=lambda h: h[1]):
        e = slots * h[0] / n
        f = e - int(e)
        j = int(acc - r) if acc > r else 0      # the first point r + j at or past acc
        if r + j < acc:
            j += 1
        if h[1] == me:
            return int(e) + (1 if j < left and r + j < acc + f else 0)
        acc += f
    return 0


def claim(self, now):
    """(held, lo, cars, want, pri) per phase: this hub's claim (peers.Watch.mine)."""
    nph = self.site.nph
    held, lo, cars, want, pri = [0.0] * nph, [0.0] * nph, [0] * nph, [0.0] * nph, [0] * nph
    for p in range(nph):
        l, h, c, w, _ = own(self, p, now)
        held[p], lo[p], cars[p], want[p], pri[p] = round(h, 1), round(l, 1), c, round(w, 1), _pri(self, p)
    return held, lo, cars, want, pri
