"""The other hubs of this connection, heard through the broker (issue 24,
item 5): a hub that sees a peer it cannot share the connection with safely
gives up its share until the conflict has been gone for a lease.

    w = Watch(me, site, boot, ticks_diff)     # site: config's site section (validated)
    why = w.heard(claim, now, wall_s)         # a parsed claim: None, or a new conflict
    w.conflict(now)                           # the conflict heard within a lease, or None
    c = w.mine(wall_s, co)                    # this hub's claim (retained on almhub/<id>/claim)
    w.all_fresh(now); w.turn(now)             # hubs that hear each other: may this one raise now

Where hubs agree on shares (control.py, _shared), a claim also carries
"held", "lo", "want" (A per phase: the most and the least its cars may
draw, what they want), "cars" (per phase: how many want current), "pri"
(of them, how many have a priority above 0: short room goes to them first,
site-wide) and "n" (how many turns it has taken). Raises go round: a hub may raise only in
its turn, when the sum of every hub's n, as it has heard them, modulo the
number of hubs is its place in site.hubs; it takes its turn by counting
it. A hub that has not heard the last turn sees the turn before, which is
the one that took it: two hubs never hold the turn at once, so no two
raise on one measurement. A peer heard with a new boot, or not heard for a
lease, stops the round (every hub goes to its safe share alone) until it
has been heard for a lease.

A claim is {"hub", "boot" (a number this boot drew), "seq", "site_id",
"site" (a checksum of the site section), "ts" (wall seconds or 0)}. A claim
of another site (site_id) is none of this hub's business. Of this site:
- a claim with this hub's id and another boot, heard again with a newer
  seq (once is this hub's own from before a reboot, retained): two hubs
  share one id, and both would take its share;
- a hub that is not in site.hubs: its share is in nobody's sum;
- another site section: the shares may not add up.
Each takes this hub's share to 0 (its cars wait; control/claims.py) with an
event, for as long as such a claim is heard and one lease after. A claim
older than the lease by the wall clocks of both hubs (a retained one of a
hub that is gone) is not taken. Pure logic: no hardware, no clock.
"""

from array import array

from micropython import const

LEASE_MS = 10000
_STALE_S = const(60)         # a retained claim this much older than our wall clock is a gone hub's


def checksum(v):
    """A checksum of a JSON value, the same for the same value on every hub
    (keys sorted, numbers as %g, so 100 and 100.0 agree)."""
    h = 2166136261
    for ch in _canon(v):
        h = ((h ^ ord(ch)) * 16777619) & 0xFFFFFFFF
    return h


def _canon(v):
    # type: (object) -> str
    if isinstance(v, dict):
        return "{" + ",".join(_canon(k) + ":" + _canon(v[k]) for k in sorted(v)) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_canon(x) for x in v) + "]"
    if isinstance(v, bool) or v is None:
        return "T" if v is True else "F" if v is False else "N"
    if isinstance(v, (int, float)):
        return "%g" % v
    return repr(v)


def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _amps(v, nph):
    if not isinstance(v, list) or len(v) != nph:
        return False
    for x in v:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 <= x <= 10000:
            return False
    return True


class Watch:
    def __init__(self, me, site, boot, ticks_diff, lease_ms=LEASE_MS):
        self.me = me
        self.hubs = site["hubs"]
        self.ids = [h for h in self.hubs if h != me]     # the peers, in site.hubs order
        self.place = self.hubs.index(me) if me in self.hubs else -1
        nph = len(site["phases"])
        k = len(self.ids)
        self.t = [None] * k          # type: list  # when each was last heard (ticks)
        self.since = [None] * k      # type: list  # heard without a break (or a new boot) since
        self.boots = [None] * k      # type: list
        self.seqs = [-1] * k
        # per peer and phase, peer j's phase p at j * nph + p (one list each, not one a peer);
        # the amps in arrays: not the floats each claim's parse made, left
        # scattered among its garbage every period (the heap in pieces)
        self.held = array("d", bytes(8 * k * nph))
        self.lo = array("d", bytes(8 * k * nph))
        self.want = array("d", bytes(8 * k * nph))
        self.cars = [0] * (k * nph)
        self.pri = [0] * (k * nph)     # of them, how many have a priority above 0
        self.n = [0] * k
        self.co = [False] * k        # its claims carry what it holds and wants
        self.turns = 0               # this hub's turns taken
        self.nph = nph
        self.site_id = site.get("id", "")
        self.site_sum = checksum(site)
        self.boot = boot
        self.ticks_diff = ticks_diff
        self.lease_ms = lease_ms
        self.seq = 0
        self.ghost = None     # (boot, seq) of the last claim heard with this hub's id and another boot
        self.why = None       # the last conflict heard
        self.why_t = None     # type: int | None  # when it was heard (ticks)

    def heard(self, c, now, wall_s=0):
        """Take a claim; a conflict it shows that was not already standing, or None."""
        if not isinstance(c, dict) or c.get("site_id") != self.site_id:
            return None       # not a claim of this site
        h, boot, site, ts = c.get("hub"), c.get("boot"), c.get("site"), c.get("ts", 0)
        if not isinstance(h, str) or not _int(boot) or not _int(site) or not _int(ts):
            return None
        if wall_s and ts and wall_s - ts > _STALE_S:
            return None       # a retained claim of a hub that is gone
        if h == self.me:
            if boot == self.boot:
                return None   # our own, back from the broker
            seq, g = c.get("seq"), self.ghost
            if not _int(seq):
                return None
            if g is None or g[0] != boot or seq <= g[1]:
                # this hub's claim from before it booted, retained by the broker
                # (heard at each subscribe), or another hub's first: its next tells
                self.ghost = (boot, seq)
                return None
            why = "hub id %s is used by two hubs" % h
        elif h not in self.hubs:
            why = "hub %s is not in site.hubs" % h
        elif site != self.site_sum:
            why = "hub %s has another site section" % h
        else:
            self._take(self.ids.index(h), c, now, boot)
            return None
        new = self.conflict(now) != why
        self.why, self.why_t = why, now
        return why if new else None

    def _take(self, j, c, now, boot):
        seq = c.get("seq")
        if not _int(seq):
            return
        t = self.t[j]
        lapsed = t is None or not 0 <= self.ticks_diff(now, t) < self.lease_ms
        if boot != self.boots[j] or lapsed:
            self.boots[j], self.since[j] = boot, now     # a new boot or a break: heard afresh
        elif seq <= self.seqs[j]:
            return               # late or replayed: changes nothing
        self.seqs[j], self.t[j] = seq, now
        held, lo, want, cars, n = c.get("held"), c.get("lo"), c.get("want"), c.get("cars"), c.get("n")
        if _amps(held, self.nph) and _amps(lo, self.nph) and _amps(want, self.nph) and _amps(cars, self.nph) \
                and _int(n) and n >= 0:
            pri = c.get("pri")          # (a claim without it: none)
            pri = pri if _amps(pri, self.nph) else None
            for p in range(self.nph):
                q = j * self.nph + p
                self.held[q] = float(held[p])
                self.lo[q] = float(lo[p] if lo[p] < held[p] else held[p])
                self.want[q] = float(want[p])
                self.cars[q] = int(cars[p])
                self.pri[q] = int(pri[p]) if pri else 0
            self.n[j] = n
            self.co[j] = True
        else:
            self.co[j] = False

    def fresh(self, j, now):
        """Peer j heard within a lease, for a lease without a break, with what it holds."""
        t, s = self.t[j], self.since[j]
        return t is not None and self.co[j] and 0 <= self.ticks_diff(now, t) < self.lease_ms \
            and self.ticks_diff(now, s) >= self.lease_ms

    def all_fresh(self, now):
        if self.place < 0 or self.conflict(now) is not None:
            return False
        for j in range(len(self.ids)):
            if not self.fresh(j, now):
                return False
        return True

    def rounds(self):
        """The turns every hub has taken, as heard: the site's common count."""
        total = self.turns
        for x in self.n:
            total += x
        return total

    def holds_turn(self):
        """The turns as heard make it this hub's (whether every peer is fresh aside)."""
        return self.rounds() % len(self.hubs) == self.place

    def turn(self, now):
        """This hub's turn to raise (every peer fresh)."""
        return self.all_fresh(now) and self.holds_turn()

    def conflict(self, now):
        if self.why_t is not None and 0 <= self.ticks_diff(now, self.why_t) < self.lease_ms:
            return self.why
        self.why_t = None
        return None

    def heard_ids(self, now):
        """The listed peers heard within a lease."""
        return [self.ids[j] for j in range(len(self.ids))
                if self.t[j] is not None and 0 <= self.ticks_diff(now, self.t[j]) < self.lease_ms]

    def mine(self, wall_s=0, co=None):
        """This hub's claim; co: (held, lo, cars, want, pri) per phase (shared.claim)."""
        self.seq += 1
        c = {"hub": self.me, "boot": self.boot, "seq": self.seq, "site_id": self.site_id,
             "site": self.site_sum, "ts": wall_s}
        if co is not None:
            c["held"], c["lo"], c["cars"], c["want"] = co[0], co[1], co[2], co[3]
            if len(co) > 4:
                c["pri"] = co[4]
            c["n"] = self.turns
        return c
