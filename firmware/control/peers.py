"""The other hubs of this connection, heard through the broker (issue 24,
item 5): a hub that sees a peer it cannot share the connection with safely
gives up its share until the conflict has been gone for a lease.

    w = Watch(me, site, boot, ticks_diff)     # site: config's site section (validated)
    why = w.heard(claim, now, wall_s)         # a parsed claim: None, or a new conflict
    w.conflict(now)                           # the conflict heard within a lease, or None
    c = w.mine(wall_s)                        # this hub's claim (retained on almhub/<id>/claim)

A claim is {"hub", "boot" (a number this boot drew), "seq", "site_id",
"site" (a checksum of the site section), "ts" (wall seconds or 0)}. A claim
of another site (site_id) is none of this hub's business. Of this site:
- a claim with this hub's id and another boot: two hubs share one id, and
  both would take its share;
- a hub that is not in site.hubs: its share is in nobody's sum;
- another site section: the shares may not add up.
Each takes this hub's share to 0 (its cars wait; control/claims.py) with an
event, for as long as such a claim is heard and one lease after. A claim
older than the lease by the wall clocks of both hubs (a retained one of a
hub that is gone) is not taken. Pure logic: no hardware, no clock.
"""

LEASE_MS = 10000
_STALE_S = 60          # a retained claim this much older than our wall clock is a gone hub's


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


class Watch:
    def __init__(self, me, site, boot, ticks_diff, lease_ms=LEASE_MS):
        self.me = me
        self.hubs = site["hubs"]
        self.site_id = site.get("id", "")
        self.site_sum = checksum(site)
        self.boot = boot
        self.ticks_diff = ticks_diff
        self.lease_ms = lease_ms
        self.seq = 0
        self.why = None       # the last conflict heard
        self.t = None         # type: int | None  # when it was heard (ticks)
        self.heard_t = {}     # hub -> when its last good claim came (ticks)

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
            why = "hub id %s is used by two hubs" % h
        elif h not in self.hubs:
            why = "hub %s is not in site.hubs" % h
        elif site != self.site_sum:
            why = "hub %s has another site section" % h
        else:
            self.heard_t[h] = now
            return None
        new = self.conflict(now) != why
        self.why, self.t = why, now
        return why if new else None

    def conflict(self, now):
        if self.t is not None and 0 <= self.ticks_diff(now, self.t) < self.lease_ms:
            return self.why
        self.t = None
        return None

    def fresh(self, now):
        """The listed peers heard within a lease."""
        return [h for h in self.hubs if h in self.heard_t and 0 <= self.ticks_diff(now, self.heard_t[h]) < self.lease_ms]

    def mine(self, wall_s=0):
        self.seq += 1
        return {"hub": self.me, "boot": self.boot, "seq": self.seq, "site_id": self.site_id,
                "site": self.site_sum, "ts": wall_s}
