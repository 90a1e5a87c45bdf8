"""Limits from outside the site's own configuration: a grid operator's or an
aggregator's signal with an expiry, a dry contact, schedules and a 15-minute
demand cap. Each only ever lowers the limit; the lowest is in force and is
named (`source`).

    g = Grid(cfg, ticks_diff)                 # the validated config
    g.signal(vals, for_s, now, watched)       # grid_limit: watched on the aggregator's topic
    g.contact(reading, now)                   # the dry contact each period: 1 closed, 0 open, None unreadable
    g.update(now, wall_s, base, demand)       # -> g.limit_a, g.ev_cap_a, g.imp_a, g.source (per period)

Pure logic: the time comes in as ticks (now, compared with ticks_diff only)
and as Unix seconds (wall_s, 0 when the hub has no wall clock).

- A signal lasts for_s. One by command ends there. On the watched topic the
  sender refreshes it; when its refreshes stop (the expiry passes with no
  newer one), `failsafe_a` holds for `failsafe_s`, not the full limit; a hub
  that watches the topic starts in that failsafe at boot (it cannot know
  what it was under before). The two are kept apart: a command does not end
  the topic's signal, nor its failsafe.
- The dry contact applies `contact_limit_a` while closed, after the reading
  held for CONTACT_DEBOUNCE_MS; a pin that cannot be read, or one that
  changes more than CONTACT_FLIPS times within CONTACT_WINDOW_MS, is taken
  as closed until it has been steady for CONTACT_WINDOW_MS.
- Schedules need the wall clock: an hourly limit profile (config, or a
  day-ahead one pushed for a date), and time-of-use windows per weekday that
  cap what the EVs may use together (0: paused). Without a clock none of them
  applies (`schedule_on` False): a wrong clock must not pause every car.
- The demand cap keeps the mean of the current quarter-hour (hub.demand's
  interval, clock-aligned once the hub knows the time) under demand_cap_a:
  the limit is the cap itself, or less where the interval has already used
  more than its share (the house rose): what the cap leaves for the rest.
  It caps import (`imp_a`), not the magnitude: a utility bills what the
  site draws, so where a voltage reference gives direction, export counts
  as no import and the controller keeps it on the signed non-EV estimate.
"""

SITE = "site"
COMMAND = "command"
GRID = "grid"
FAILSAFE = "failsafe"
CONTACT = "contact"
SCHEDULE = "schedule"
DEMAND = "demand_cap"

CONTACT_DEBOUNCE_MS = 1000
CONTACT_FLIPS = 6
CONTACT_WINDOW_MS = 60000
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_FOR_S = 86400
MAX_PROFILE_DAYS = 7      # a day-ahead profile: at most a week ahead
MAX_PROFILES = 9          # yesterday's (local midnight may be behind UTC), today's, a week's
WALL_VALID = 1735689600   # 2025-01-01T00:00:00Z: a wall clock before it is unset or wrong
WALL_MAX = 4102444800     # 2100-01-01: no sender's clock is past it
MAX_TS_AHEAD_S = 300      # a sender's clock may be this far ahead of the hub's
MAX_TS_STEP = 86400       # from one message's ts to the next: a day of seconds, or of counts
_SIGS = (COMMAND, GRID)


def no_clock():
    # type: () -> int
    """Unix seconds where there is no wall clock: 0."""
    return 0


def per_phase(v, nph):
    """A number for every phase, a list of them, or None."""
    if v is None:
        return None
    return list(v) if isinstance(v, list) else [v] * nph


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil(days):
    """(y, m, d) of days since 1970-01-01."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def parse_date(s):
    """Days since 1970 of "YYYY-MM-DD", or ValueError."""
    if not isinstance(s, str) or len(s) != 10 or s[4] != "-" or s[7] != "-":
        raise ValueError("a date as YYYY-MM-DD")
    try:
        y, m, d = int(s[:4]), int(s[5:7]), int(s[8:])
    except ValueError:
        raise ValueError("a date as YYYY-MM-DD")
    if not (2000 <= y <= 2199 and 1 <= m <= 12 and 1 <= d <= 31) or civil(days_from_civil(y, m, d)) != (y, m, d):
        raise ValueError("no such date %s" % s)
    return days_from_civil(y, m, d)


def _sunday(y, m, n):
    """Days since 1970 of the n-th Sunday of month m (n = -1: the last)."""
    if n < 0:
        nxt = days_from_civil(y + (m == 12), m % 12 + 1, 1)
        last = nxt - 1
        return last - (last + 4) % 7      # 1970-01-01 was a Thursday: (days + 4) % 7 == 0 on Sundays
    first = days_from_civil(y, m, 1)
    return first + (3 - first) % 7 + 7 * (n - 1)


def local_s(wall_s, offset_min, dst):
    """Local time in seconds since 1970 (as if UTC): the standard offset, plus
    an hour in summer by the US rule (2 AM local, second Sunday in March to
    first Sunday in November) or the EU one (01:00 UTC, last Sundays of March
    and October)."""
    t = wall_s + offset_min * 60
    if dst == "us":
        y = civil(t // 86400)[0]
        start = _sunday(y, 3, 2) * 86400 + 7200            # standard time
        end = _sunday(y, 11, 1) * 86400 + 3600             # 2 AM daylight = 1 AM standard
        if start <= t < end:
            t += 3600
    elif dst == "eu":
        y = civil(wall_s // 86400)[0]
        if _sunday(y, 3, -1) * 86400 + 3600 <= wall_s < _sunday(y, 10, -1) * 86400 + 3600:
            t += 3600
    return t


def parse_hhmm(s):
    """Minutes of "HH:MM" (24:00 allowed as the end of a day), or ValueError."""
    if not isinstance(s, str) or len(s) != 5 or s[2] != ":" or not (s[:2] + s[3:]).isdigit():
        raise ValueError("a time as HH:MM")
    h, m = int(s[:2]), int(s[3:])
    if m > 59 or h > 24 or (h == 24 and m):
        raise ValueError("a time as HH:MM, 00:00 to 24:00")
    return h * 60 + m


def parse_days(v):
    """Weekday numbers (Monday 0) of "mon-fri", "sat", "all" or a list of names."""
    if v == "all":
        return tuple(range(7))
    if isinstance(v, str) and "-" in v:
        a, _, b = v.partition("-")
        if a not in DAYS or b not in DAYS:
            raise ValueError("days: names such as mon-fri")
        i, j = DAYS.index(a), DAYS.index(b)
        return tuple((i + k) % 7 for k in range((j - i) % 7 + 1))
    names = [v] if isinstance(v, str) else v
    if not isinstance(names, list) or not names or any(d not in DAYS for d in names):
        raise ValueError("days: \"all\", a range such as \"mon-fri\" or a list of mon..sun")
    return tuple(DAYS.index(d) for d in names)


class Grid:
    def __init__(self, cfg, ticks_diff):
        site = cfg["site"]
        g = cfg.get("grid") or {}
        self.nph = nph = len(site["phases"])
        self.td = ticks_diff
        self.topic = bool(g.get("topic", False))
        self.failsafe_a = per_phase(g.get("failsafe_a"), nph)
        self.failsafe_ms = int(g.get("failsafe_s", 0) * 1000)
        self.contact_a = per_phase(g.get("contact_limit_a"), nph)
        self.demand_cap_a = per_phase(site.get("demand_cap_a"), nph)
        sc = g.get("schedule") or {}
        self.offset_min = sc.get("utc_offset_min", 0)
        self.dst = sc.get("dst", "none")
        self.hourly = [per_phase(v, nph) for v in sc["hourly"]] if "hourly" in sc else None
        self.windows = [(parse_days(w["days"]), parse_hhmm(w["from"]), parse_hhmm(w["to"]),
                         per_phase(w["ev_max_a"], nph)) for w in sc.get("windows", ())]
        # a schedule section (even with no hourly limits or windows) gives the
        # wall clock's zone: day-ahead profiles are placed by it
        self.scheduled = "schedule" in g
        self.today = None           # the local day of the last period with a clock
        self.profiles = {}          # day (since 1970, local) -> 24 limits per phase (day-ahead)
        # outputs, reused every period
        self.limit_a = [None] * nph  # type: list
        self.ev_cap_a = [None] * nph  # type: list
        self.imp_a = [None] * nph  # type: list  # the demand cap: on import, not magnitude
        self.source = SITE
        self.schedule_on = False
        self.window = None          # the time-of-use window in force (its index), or None
        # the signals: by command and on the topic, each [limits, start, ms] or None
        self.sig = {COMMAND: None, GRID: None}  # type: dict
        self.sig_ts = None          # the last topic message's "ts": a refresh must be newer
        self.fs_t = None            # the failsafe's start (ticks), or None
        self.boot = self.topic and self.failsafe_a is not None
        self.src = [SITE] * nph
        self._dem = [0.0] * nph     # the demand cap's limits, reused
        # the contact
        self.closed = False
        self.raw = None             # the last reading (1, 0 or None)
        self.raw_t = None
        self.flips = 0
        self.flip_t = None
        self.suspect = False        # unreadable or chattering: taken as closed

    # -- inputs -----------------------------------------------------------
    def check_ts(self, ts, wall_s):
        """Why a topic message's ts cannot be taken, or None. ts must grow from
        message to message; it is bounded by what the hub can check (issue 22:
        one message with ts 1e12 locked the aggregator out until a reboot):
        a wall time (>= 2025) is at most MAX_TS_AHEAD_S ahead of the hub's wall
        clock, or, with no clock, at most MAX_TS_STEP ahead of the last ts; a
        counter (< 2025) at most MAX_TS_STEP past the last. A sender that
        restarts its counter is heard again once its last limit has expired
        (its failsafe, then the site's limit): the last ts is forgotten then."""
        last = self.sig_ts
        if last is not None and ts == last:
            return "ts %d again (a retained copy)" % ts
        if last is not None and ts < last:
            return "ts %d is older than the last (%d): a restarted sender is heard again when its limit expires" % (
                ts, last)
        if ts >= WALL_VALID and wall_s >= WALL_VALID:
            if ts > wall_s + MAX_TS_AHEAD_S:
                return "ts %d is %d s ahead of the hub's clock" % (ts, ts - wall_s)
        elif last is not None and ts > last + MAX_TS_STEP:
            return "ts %d jumps %d past the last (%d)" % (ts, ts - last, last)
        elif last is None and ts > WALL_MAX:
            return "ts %d is past 2100" % ts
        return None

    def message(self, vals, for_s, ts, wall_s, now):
        """A parsed message on the aggregator's topic (commands.grid_message),
        taken as Services and the simulator take it: None, or why it changed
        nothing (for the event topic). wall_s: the hub's wall clock, 0 if unset."""
        if ts is not None:
            why = self.check_ts(ts, wall_s)
            if why is not None:
                return "grid_limit ignored: %s" % why
        if ts is not None and wall_s and ts >= WALL_VALID:    # ts is the time it was sent: what is left
            left = ts + for_s - wall_s
            if left <= 0:
                return "grid_limit expired (sent %d s ago)" % (wall_s - ts)
            if left < for_s:
                for_s = left        # (a ts ahead of the hub's clock does not stretch it)
        self.signal(vals, for_s, now, True, ts)
        return None

    def signal(self, vals, for_s, now, watched, ts=None):
        """A grid_limit: vals per phase (A), for for_s seconds (at most
        MAX_FOR_S: a remaining time computed from a ts must not stretch it past
        what ticks_diff keeps on a board). watched: from the aggregator's
        topic, which is refreshed (its silence brings the failsafe). Returns
        False for a topic message no newer than the last (a retained copy
        delivered again at a reconnect is not a refresh)."""
        if watched and ts is not None:
            if self.sig_ts is not None and ts <= self.sig_ts:
                return False
            self.sig_ts = ts
        if for_s > MAX_FOR_S:
            for_s = MAX_FOR_S
        self.sig[GRID if watched else COMMAND] = [per_phase(vals, self.nph), now, int(for_s * 1000)]
        if watched:
            self.fs_t = None
            self.boot = False
        return True

    def contact(self, reading, now):
        """The dry contact's reading this period: 1 closed, 0 open, None unreadable."""
        td = self.td
        if reading != self.raw:
            self.raw = reading
            self.raw_t = now
            if self.flip_t is None or td(now, self.flip_t) >= CONTACT_WINDOW_MS:
                self.flip_t, self.flips = now, 0
            self.flips += 1
            if self.flips > CONTACT_FLIPS:
                self.suspect = True
        if reading is None:
            self.suspect = True
        elif self.suspect and self.raw_t is not None and td(now, self.raw_t) >= CONTACT_WINDOW_MS:
            self.suspect = False        # steady for a minute: believed again
        if reading is not None and self.raw_t is not None and td(now, self.raw_t) >= CONTACT_DEBOUNCE_MS:
            self.closed = reading == 1

    # -- each period --------------------------------------------------------
    def _take(self, vals, src, p):
        v = vals[p]
        if v is not None and (self.limit_a[p] is None or v < self.limit_a[p]):
            self.limit_a[p] = v
            self.src[p] = src

    def update(self, now, wall_s, base, demand=None):
        """The outside limits in force now, per phase (limit_a, ev_cap_a), and
        the source of the lowest limit (`source`; SITE where none is below base)."""
        td = self.td
        nph = self.nph
        lim, src = self.limit_a, self.src
        for p in range(nph):
            lim[p] = None
            self.ev_cap_a[p] = None
            self.imp_a[p] = None
        if self.boot:               # watching a topic, nothing heard since boot
            self.boot = False
            self.fs_t = now
        for k in _SIGS:
            s = self.sig[k]
            if s is not None and td(now, s[1]) >= s[2]:
                self.sig[k] = None
                if k == GRID:
                    self.sig_ts = None      # a sender that restarted its counter is heard again
                    if self.failsafe_a is not None:
                        self.fs_t = now     # the sender went silent
        if self.fs_t is not None and td(now, self.fs_t) >= self.failsafe_ms:
            self.fs_t = None
        self.schedule_on = self.scheduled and wall_s > 0
        self.window = None
        hour = None
        if self.schedule_on:
            t = local_s(wall_s, self.offset_min, self.dst)
            day, minute = t // 86400, t % 86400 // 60
            self.today = day
            hour = self.profiles.get(day) or self.hourly
            hour = hour[minute // 60] if hour else None
            wd = (day + 3) % 7      # 1970-01-01 was a Thursday (Monday 0)
            for k in range(len(self.windows)):
                days, a, b, _ = self.windows[k]
                # an overnight window's tail after midnight belongs to the day it began
                if (a <= minute < b and wd in days) if a <= b else (
                        minute >= a and wd in days or minute < b and (wd + 6) % 7 in days):
                    self.window = k
                    break
        dem = self._demand(demand) if self.demand_cap_a is not None and demand is not None else None
        for p in range(nph):
            for k in _SIGS:
                if self.sig[k] is not None:
                    self._take(self.sig[k][0], k, p)
            if self.fs_t is not None:
                self._take(self.failsafe_a, FAILSAFE, p)
            if self.contact_a is not None and (self.closed or self.suspect):
                self._take(self.contact_a, CONTACT, p)
            if hour is not None:
                self._take(hour, SCHEDULE, p)
            if dem is not None:
                self.imp_a[p] = dem[p]
            if self.window is not None:
                self.ev_cap_a[p] = self.windows[self.window][3][p]
        self.source = SITE
        for p in range(nph):
            i = self.imp_a[p]
            if i is not None and i < base[p] and (lim[p] is None or i < lim[p]):
                self.source = DEMAND
                break
            if lim[p] is not None and lim[p] < base[p]:
                self.source = src[p]
                break
        return lim

    def _demand(self, d):
        """Per phase, the most the site may draw for the rest of the interval so
        that the interval's mean stays under the cap (None: no constraint)."""
        rest = d.interval_ms - d.pos_ms
        if rest <= 0:
            return None     # the interval ends now: the next starts afresh (the cap
            # held to its last period: it lifted in the last second before, issue 22)
        out = self._dem
        for p in range(self.nph):
            cap = self.demand_cap_a[p]
            x = (cap * (d.ok_ms[p] + rest) - d.imp_ms[p]) / rest
            if x > cap:
                x = cap     # steady at the cap, not a burst that spends the budget early
            out[p] = int(x * 10) / 10 if x > 0 else 0     # down to 0.1 A
        return out

    def profile(self, day, hourly):
        """A day-ahead limit profile for local day `day` (days since 1970):
        24 limits (A, a list per phase, or None). Days that have passed are
        dropped (a far-future date must not erase today's: issue 22); at most
        MAX_PROFILES are kept, the farthest dropped first. Raises ValueError
        for a date this hub cannot place or keep."""
        if not self.scheduled:
            raise ValueError("no grid.schedule in the configuration: a profile has no time zone to be placed in")
        if self.today is not None and not self.today - 1 <= day <= self.today + MAX_PROFILE_DAYS:
            raise ValueError("date: more than %d days ahead, or passed" % MAX_PROFILE_DAYS)
        for k in list(self.profiles):
            if self.today is not None and k < self.today - 1:
                del self.profiles[k]
        self.profiles[day] = [per_phase(v, self.nph) for v in hourly]
        while len(self.profiles) > MAX_PROFILES:
            del self.profiles[max(self.profiles)]

    def left_s(self, now):
        """For telemetry: the seconds the signal in force (or the failsafe) has left, or None."""
        td = self.td
        left = None
        for k in _SIGS:
            s = self.sig[k]
            if s is not None and self.source == k:
                left = (s[2] - td(now, s[1])) // 1000
        if self.source == FAILSAFE:
            left = (self.failsafe_ms - td(now, self.fs_t)) // 1000
        return left
