"""Several hubs on one connection, silent to each other (issue 24): each hub's
own Controller (firmware/control/control.py) at its safe share reads the same
mains (house + every hub's cars); cars follow their offer after a delay.

    rows, excuse, limit, demand = hubsite.run(rng, k, n, seconds, readback=True)
    rows, excuse, limit = hubsite.run3(rng, k, n, seconds)     # three phases, 1-3 lines a charger
    hubsite.judge(rows, excuse, limit, demand)  # (worst A over outside excuses, fill or None)
    hubsite.band(rows, excuse, limit)            # the same beyond the clamps' band

Control logic only, as the controller runs on a board; the physics is this
file's. The full simulator (simsite.py) runs one hub; this is the model the
test (host_tests/mp/test_hubs.py) and `make bench` (hubs) share.
"""

import config
import control
import peers
import shared

PERIOD = 500
EXCUSE_MS = PERIOD + 5000     # the house rose: one period + the EV's 5 s to cut


class Car:
    """Follows a new offer after `delay` ms (IEC 61851-1: at most 5 s), up to ev_max."""

    def __init__(self, ev_max, delay):
        self.ev_max, self.delay = ev_max, delay
        self.draw, self.want, self.since = 0.0, 0, 0

    def see(self, t, offer):
        if offer != self.want:
            self.want, self.since = offer, t
        if t - self.since >= self.delay:
            self.draw = float(min(self.want, self.ev_max))


class Net:
    """The broker between the hubs: claims delivered `delay` periods later;
    faults (kind, hub or None, from s, to s): "isolated" (its claims neither
    go out nor come in), "down" (a power cut), "broker" (nothing delivered)."""

    def __init__(self, faults, delay):
        self.faults, self.delay, self.wire = faults, delay, []

    def fault(self, kind, j, t):
        for f in self.faults:
            if f[0] == kind and (f[1] is None or f[1] == j) and f[2] * 1000 <= t < f[3] * 1000:
                return True
        return False

    def send(self, t, j, ctl):
        if not self.fault("isolated", j, t):
            self.wire.append((t + self.delay * PERIOD, j, ctl.claims.peers.mine(0, shared.claim(ctl, t))))

    def deliver(self, t, hubs):
        keep = []
        for msg in self.wire:
            if msg[0] > t:
                keep.append(msg)
            elif not self.fault("broker", None, t) and not self.fault("isolated", msg[1], t):
                for j in range(len(hubs)):
                    if j != msg[1] and not self.fault("isolated", j, t) and not self.fault("down", j, t):
                        hubs[j].claims.peers.heard(msg[2], t)
        self.wire = keep


def run(rng, k, n, seconds, readback=True, talk=False, delay=1, faults=(), limit=None):
    """k hubs of n chargers on one 1-phase site; the house steps at random
    every 20 s or so, and holds for the last 90 s. rng: the random module
    (seeded) or any object with random, randrange and choice. talk: the hubs
    publish their claims (peers.py) each period, each delivered `delay`
    periods later to the others; faults: (kind, hub or None, from s, to s)
    with kind "isolated" (its claims neither go out nor come in), "down" (a
    power cut: no control, its cars stop; a fresh boot at its return) or
    "broker" (nothing is delivered). Returns (rows [(t ms, total A, house
    A, room A)], the times of house rises, the limit, what the cars could
    take together)."""
    limit, margin = limit or rng.choice((60, 100, 200)), 2
    s = {"id": "park", "phases": ["L1"], "limit": limit, "margin": margin, "hubs": ["h%d" % j for j in range(k)]}
    if rng.random() < 0.5:
        w = [rng.random() + 0.2 for _ in range(k)]
        s["shares"] = {"h%d" % j: int(1000 * w[j] / sum(w)) / 1000 for j in range(k)}
    config.validate({"site": s})
    boots = [0]

    def boot(j):
        ctl = control.Controller(s, [{"id": "c%d" % i, "max": 32} for i in range(n)], {"holdoff_ms": 0})
        ctl.claims.share = config.share_of(s, "h%d" % j)
        if talk:
            boots[0] += 1
            ctl.claims.take_peers(peers.Watch("h%d" % j, s, boots[0], lambda a, b: a - b))
        return ctl

    hubs, cars = [], []
    for j in range(k):
        hubs.append(boot(j))
        cars.append([Car(rng.choice((16, 32)), rng.randrange(0, 4501, 500)) if rng.random() < 0.8 else None
                     for _ in range(n)])
    net = Net(faults, delay)
    fault = net.fault
    house, rows, excuse = rng.randrange(0, limit // 2), [], []
    t = 0
    while t <= seconds * 1000:
        if t % 20000 == 0 and t and t < (seconds - 90) * 1000 and rng.random() < 0.5:
            new = rng.randrange(0, limit - margin)
            if new > house:
                excuse.append(t)
            house = new
        total = house + sum(c.draw for cs in cars for c in cs if c is not None)
        if talk:
            net.deliver(t, hubs)
        for j in range(k):
            ctl, cs = hubs[j], cars[j]
            if fault("down", j, t):
                for c in cs:
                    if c is not None:
                        c.see(t, 0)
                        c.draw = 0.0        # no pilot: the car stops at once
                if not fault("down", j, t + PERIOD):
                    hubs[j] = boot(j)       # back: a fresh boot
                continue
            st = [("C" if ctl.offer[i] else "B") if c is not None else "A" for i, c in enumerate(cs)]
            offers = ctl.step(t, [total], [True], st if readback else None)
            for c, o in zip(cs, offers):
                if c is not None:
                    c.see(t, o)
            if talk:
                net.send(t, j, ctl)
        rows.append((t, total, house, limit - margin - house))
        t += PERIOD
    demand = sum(c.ev_max for cs in cars for c in cs if c is not None)
    return rows, excuse, limit, demand


def judge(rows, excuse, limit, demand):
    """(the worst amps over the limit outside the excuses, the rows over, and
    the cars' part of what they could take in the last steady minute, or
    None where the house left under 20 A or moved in it)."""
    worst, over = 0.0, []
    for r in rows:
        t = r[0]
        if any(0 <= t - e < EXCUSE_MS for e in excuse):
            continue
        if r[1] - limit > worst:
            worst = r[1] - limit
        if r[1] - limit > 0.5:
            over.append(r)
    last = [r for r in rows if r[0] >= rows[-1][0] - 60000]
    fill = None
    if len(set(r[2] for r in last)) == 1 and last[-1][3] > 20:
        fill = (last[-1][1] - last[-1][2]) / min(last[-1][3], demand)
    return worst, over, fill


def band(rows, excuse, limit):
    """The worst amps outside the excuses beyond the clamps' band, 0.5 A +
    2 % of the current: within it the firmware reads a line as at its
    limit (control.py's over), as fuzzlib.judge does."""
    worst = 0.0
    for r in rows:
        if not any(0 <= r[0] - e < EXCUSE_MS for e in excuse):
            x = r[1] - limit - 0.5 - 0.02 * r[1]
            if x > worst:
                worst = x
    return worst


LINES = (["L1"], ["L2"], ["L3"], ["L1", "L2"], ["L2", "L3"], ["L1", "L3"], ["L1", "L2", "L3"])


def run3(rng, k, n, seconds, readback=True, talk=False, delay=1, faults=(), limit=None, fill=None):
    """As run (talk: no faults but late claims), on a three-phase site whose chargers take 1 line (to neutral),
    2 (line to line) or 3; each line's current is the phasor sum of the cars
    on it (the allocator's weights) plus its house. Returns (rows [(t ms,
    the worst line's current less its limit, any house rise in the last
    EXCUSE_MS)], the house rises, the limit). fill: a list that gets the
    cars' part over the last minute (the house holds for the last 90 s):
    the sum of their line currents against that of one ideal allocator
    (alloc.Site.fill over every hub's cars at once, with the room the house
    truly leaves)."""
    limit, margin = limit or rng.choice((60, 100, 200)), 2
    s = {"id": "park", "phases": ["L1", "L2", "L3"], "limit": limit, "margin": margin, "hubs": ["h%d" % j for j in range(k)]}
    config.validate({"site": s})
    hubs, cars = [], []
    for j in range(k):
        chs = [{"id": "c%d" % i, "max": 32, "phases": rng.choice(LINES)} for i in range(n)]
        ctl = control.Controller(s, chs, {"holdoff_ms": 0})
        ctl.claims.share = config.share_of(s, "h%d" % j)
        if talk:
            ctl.claims.take_peers(peers.Watch("h%d" % j, s, j + 1, lambda a, b: a - b))
        hubs.append(ctl)
        cars.append([Car(rng.choice((16, 32)), rng.randrange(0, 4501, 500)) if rng.random() < 0.8 else None
                     for _ in range(n)])
    house = [rng.randrange(0, limit // 2) for _ in range(3)]
    rows, excuse = [], []
    net = Net(faults, delay)
    t = 0
    while t <= seconds * 1000:
        if t % 20000 == 0 and t and t < (seconds - 90) * 1000 and rng.random() < 0.5:
            p = rng.randrange(3)
            new = rng.randrange(0, limit - margin)
            if new > house[p]:
                excuse.append(t)
            house[p] = new
        total = []
        for p in range(3):
            z = 0
            for ctl, cs in zip(hubs, cars):
                site = ctl.site
                for i, c in enumerate(cs):
                    if c is not None and c.draw:
                        ls = site.chargers[i].phases
                        for jj in range(len(ls)):
                            if ls[jj] == p:
                                z += c.draw * site.wts[i][jj]
            total.append(house[p] + abs(z))
        if talk:
            net.deliver(t, hubs)
        for j, (ctl, cs) in enumerate(zip(hubs, cars)):
            st = [("C" if ctl.offer[i] else "B") if c is not None else "A" for i, c in enumerate(cs)]
            offers = ctl.step(t, total, [True] * 3, st if readback else None)
            for c, o in zip(cs, offers):
                if c is not None:
                    c.see(t, o)
            if talk:
                net.send(t, j, ctl)
        rows.append((t, max(total) - limit))
        if fill is not None and t >= (seconds - 60) * 1000:
            fill.append(sum(total[p] - house[p] for p in range(3)) / _ideal(hubs, cars, limit - margin, house))
        t += PERIOD
    if fill:
        f = sum(fill) / len(fill)
        del fill[:]
        fill.append(f)
    return rows, excuse, limit


def _ideal(hubs, cars, top, house):
    """The sum of the line currents one allocator over every hub's cars gives."""
    import alloc
    chs, want, ws = [], [], []
    for ctl, cs in zip(hubs, cars):
        for i, c in enumerate(cs):
            ch = ctl.site.chargers[i]
            chs.append(alloc.Charger(len(chs), alloc.ROOT, ch.phases, 6, 32))
            want.append(min(c.ev_max, 32) if c is not None else 0)
            ws.append((ch.phases, ctl.site.wts[i]))
    site = alloc.Site(["L1", "L2", "L3"], [], chs)
    got = site.fill([top - h for h in house], want, list(range(len(chs))))
    z = [0, 0, 0]
    for a, (ps, w) in zip(got, ws):
        for j in range(len(ps)):
            z[ps[j]] += a * w[j]
    return sum(abs(x) for x in z)


def move(talk, delay=1, seconds=200, arrive_s=120):
    """How fast room moves to a car that plugs in at another hub: 3 hubs of 4
    chargers on one 100 A line (house 20 A); hub h0's four cars (32 A each)
    hold the room; at arrive_s a car (32 A, 2 s to follow) plugs in at h1.
    Returns (s until it is offered current, s until it draws its fair part
    (a fifth of the room) less 1 A, or None, the worst A over the limit)."""
    s = {"id": "park", "phases": ["L1"], "limit": 100, "margin": 2, "hubs": ["h0", "h1", "h2"]}
    config.validate({"site": s})
    hubs, cars = [], []
    for j in range(3):
        ctl = control.Controller(s, [{"id": "c%d" % i, "max": 32} for i in range(4)], {"holdoff_ms": 0})
        ctl.claims.share = config.share_of(s, "h%d" % j)
        if talk:
            ctl.claims.take_peers(peers.Watch("h%d" % j, s, j + 1, lambda a, b: a - b))
        hubs.append(ctl)
        cars.append([Car(32, 2000) if j == 0 else None for _ in range(4)])
    net = Net((), delay)
    fair = (100 - 2 - 20) / 5
    offered = drawn = None
    worst = 0.0
    t = 0
    while t <= seconds * 1000:
        if t == arrive_s * 1000:
            cars[1][0] = Car(32, 2000)
        total = 20 + sum(c.draw for cs in cars for c in cs if c is not None)
        worst = max(worst, total - 100)
        if talk:
            net.deliver(t, hubs)
        for j in range(3):
            ctl, cs = hubs[j], cars[j]
            st = [("C" if ctl.offer[i] else "B") if c is not None else "A" for i, c in enumerate(cs)]
            offers = ctl.step(t, [total], [True], st)
            for c, o in zip(cs, offers):
                if c is not None:
                    c.see(t, o)
            if talk:
                net.send(t, j, ctl)
        if t >= arrive_s * 1000:
            if offered is None and hubs[1].offer[0] >= 6:
                offered = (t - arrive_s * 1000) / 1000
            if drawn is None and cars[1][0].draw >= fair - 1:
                drawn = (t - arrive_s * 1000) / 1000
        t += PERIOD
    return offered, drawn, worst
