"""Claims: every limit and cap the controller keeps, each with its source.

Each source writes only its own claim here; the controller reads them all
every period and writes none (issue 23: commands wrote into the
controller's lists, and the hub aliased a list the grid changed in place,
so a grid that made a new list would have cut the controller off from
every outside limit).

    c = claims.Claims(limit_a, margin_a, max_a)     # the controller's (ctl.claims)
    c.site_a[p]      the site's limit: config.json's, or lower by set_limit (commands)
    c.margin_a       what is kept free: config.json's, or set_margin (commands)
    c.outside        grid.Grid or None: per period its limit_a, ev_cap_a and imp_a,
                     each from a source with its expiry (a command, the topic, its
                     failsafe, the contact, a schedule, the demand cap), the lowest
                     named in its `source` (hub.Hub gives it: take_outside)
    c.user_max[i]    charger i's maximum: config.json's, or lower by set_max (commands)
    c.enabled[i]     False: paused by command (pause / resume)
    c.surplus_a[i]   solar surplus (surplus.Surplus): None, not in surplus mode;
                     0 paused; else the most the sun leaves it
    c.share          this hub's part of the room where several hubs share the
                     connection (config.share_of: 1.0 alone, 0.0 unlisted)

    c.limit(p)       the limit in force on phase p: the site's, or an outside one where lower
    c.source()       who sets the lowest: "site" or the grid's source name
    c.ev_cap(p)      what the EVs together may use (a time-of-use window), or None
    c.imp(p)         what the site may import (the demand cap), or None
    c.charger(i, max_a)  (amps, who): the most charger i may be offered, and
                     who says so: "charger" (its own maximum), "command", "surplus", "paused"

Pure logic; the lists are made once (no allocation per period).
"""

SITE = "site"


class Claims:
    def __init__(self, limit_a, margin_a, max_a):
        self.site_a = list(limit_a)
        self.margin_a = margin_a
        self.outside = None
        self.user_max = list(max_a)
        self.enabled = [True] * len(max_a)
        self.surplus_a = [None] * len(max_a)  # type: list
        self.share = 1.0
        self.peers = None     # the other hubs' claims (peers.Watch: several hubs on one connection)

    def take_peers(self, watch):
        """The other hubs' claims: a peers.Watch, read each period (shared.cap)."""
        self.peers = watch

    def take_outside(self, grid):
        """The limits from outside: a grid.Grid, read each period (never copied)."""
        self.outside = grid

    def limit(self, p):
        lim, g = self.site_a[p], self.outside
        if g is not None:
            c = g.limit_a[p]
            if c is not None and c < lim:
                return c
        return lim

    def source(self):
        return self.outside.source if self.outside is not None else SITE

    def ev_cap(self, p):
        return self.outside.ev_cap_a[p] if self.outside is not None else None

    def imp(self, p):
        return self.outside.imp_a[p] if self.outside is not None else None

    def charger(self, i, max_a):
        if not self.enabled[i]:
            return 0, "paused"
        a = self.user_max[i]
        who = "command" if a < max_a else "charger"
        s = self.surplus_a[i]
        if s is not None and s < a:
            a, who = s, "surplus"
        return a, who
