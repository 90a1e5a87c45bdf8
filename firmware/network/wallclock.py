"""The hub's wall clock: NTP's once it has answered, else the board's own
clock where it is plausibly set.

    w = WallClock(clock, ntp)         # ntp: an ntp.Ntp, or None (no server configured)
    w.service(now_ms)                 # once a period
    w.wall_s()                        # Unix seconds, 0 while the hub has none
    w.source()                        # "ntp", "rtc" or "unset"

Apart from ntp.py so that a hub without an NTP server never loads the SNTP
client (its RAM: the module's classes stay out of the heap).
"""

import grid


class WallClock:
    """A board's RTC that nothing set starts in 2000: before 2025 is unset."""

    def __init__(self, clock, ntp=None):
        self.clock = clock
        self.ntp = ntp
        # the clock's epoch (time.gmtime(0): 1970 on the unix port, 2000 on some boards)
        gm = getattr(clock, "gmtime", None)
        self._epoch = 946684800 if gm is not None and gm(0)[0] == 2000 else 0

    def service(self, now):
        if self.ntp is not None:
            self.ntp.service(now)

    def wall_s(self):
        """Unix seconds, or 0 while the hub has no wall clock."""
        if self.ntp is not None and self.ntp.synced:
            return self.ntp.unix_s(self.clock.ticks_ms())
        t = getattr(self.clock, "time", None)
        if t is None:
            return 0
        s = int(t()) + self._epoch
        return s if s >= grid.WALL_VALID else 0

    def source(self):
        """Where the wall clock comes from: "ntp", "rtc" (set some other way) or "unset"."""
        if self.ntp is not None and self.ntp.synced:
            return "ntp"
        return "rtc" if self.wall_s() else "unset"
