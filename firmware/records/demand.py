"""15-minute demand: per phase, the mean current of each interval and the
highest control-period reading in it, kept on flash for 40 days.

    d = Demand(nph)                          # in the hub: hub.step feeds it
    d.add(now_ms, phase_a, phase_ok, ticks_diff)
    if d.count != seen: d.last               # (end_s, means, maxes), None where no data

    log = Log("demand.log", nph)             # on the flash (Services writes it)
    log.append(end_s, means, maxes)
    for seq, end_s, means, maxes in log.records(): ...

Pure logic and plain files. The evidence a service is sized from (NEC 220.87:
125 % of the highest 15-minute demand over 30 days) and a utility's
15-minute demand: a monitor-only hub (clamps, no chargers) logs it too.

Time: an interval ends every 900 s of the log's clock. That clock is Unix
time when the hub knows it (`start(t_s)`, from NTP), else it goes on from
the last interval on the flash (`start(log.end_s)`): the seconds are then
the log's own, and a power cut's gap is not in them. Only healthy readings
count; an interval with none has no mean and no max (None).

The file is a ring of KEEP fixed-size records (slot = seq % KEEP), each with
its sequence number and a checksum, written in place: one record per
interval (96 a day: littlefs spreads the writes). A power cut mid-write
spoils only the slot being written (the oldest record); the last complete
interval is kept, and the next boot carries on after it.
"""

import json
from array import array

import ring

INTERVAL_S = 900
KEEP = 3840            # 40 days of 15-minute intervals
_NONE = 0xFFFF         # no healthy reading in the interval
_MAX_DT_MS = 60000     # a longer gap between periods (a stall) is not counted


class Demand:
    """The interval being measured; `last` is the one finished most recently.

    Sums, counts and peaks are arrays written in place: a period makes no
    object that outlives it (a float kept for a quarter-hour, made among a
    period's garbage, pins a hole in the heap; on 32 bits a float is an object)."""

    def __init__(self, nph, interval_s=INTERVAL_S):
        self.nph = nph
        self.interval_ms = interval_s * 1000
        self.amp_ms = array("d", bytes(8 * nph))   # A*ms of healthy readings
        self.imp_ms = array("d", bytes(8 * nph))   # the same of import (what a utility bills)
        self.ok_ms = array("i", bytes(4 * nph))    # their ms (< 2**31: one interval)
        self.peak = array("d", bytes(8 * nph))     # the highest reading; < 0: none
        self._sum = array("d", bytes(8 * nph))     # the same of the interval last finished
        self._ok = array("i", bytes(4 * nph))
        self._peak = array("d", bytes(8 * nph))
        self.last_end = 0
        self.start(0)
        self.prev = None
        self.count = 0        # intervals finished since boot

    @property
    def last(self):
        """(end_s, means, maxes) of the interval finished last, None where it had
        no healthy reading; None before the first (built when asked: rarely)."""
        if not self.count:
            return None
        r = range(self.nph)
        return (self.last_end, [self._sum[p] / self._ok[p] if self._ok[p] else None for p in r],
                [self._peak[p] if self._peak[p] >= 0 else None for p in r])

    def start(self, t_s, keep=False):
        """Set the log's clock (seconds): intervals end on its multiples of the
        interval. keep: the sums so far stay in the interval now running (the
        clock became known mid-interval: its mean may count a little more)."""
        iv = self.interval_ms // 1000
        self.begin_s = t_s - t_s % iv
        self.pos_ms = (t_s % iv) * 1000
        if not keep:
            self._reset()

    def _reset(self):
        for p in range(self.nph):
            self.amp_ms[p] = 0
            self.imp_ms[p] = 0
            self.ok_ms[p] = 0
            self.peak[p] = -1

    def add(self, now, amps, ok, ticks_diff, signed=None):
        """One control period's readings (amps per phase, health per phase;
        signed: the same with export < 0 where a voltage reference gives
        direction: export counts as no import, issue 22)."""
        dt = 0
        if self.prev is not None:
            dt = ticks_diff(now, self.prev)
            if not 0 <= dt < _MAX_DT_MS:
                dt = 0
        self.prev = now
        for p in range(self.nph):
            if ok[p]:
                a = amps[p]
                self.amp_ms[p] += a * dt
                if signed is not None:
                    a = signed[p] if signed[p] > 0 else 0
                self.imp_ms[p] += a * dt
                a = amps[p]
                self.ok_ms[p] += dt
                if a > self.peak[p]:
                    self.peak[p] = a
        self.pos_ms += dt
        if self.pos_ms >= self.interval_ms:
            self.pos_ms -= self.interval_ms
            self.begin_s += self.interval_ms // 1000
            self.last_end = self.begin_s
            for p in range(self.nph):
                self._sum[p] = self.amp_ms[p]
                self._ok[p] = self.ok_ms[p]
                self._peak[p] = self.peak[p]
            self.count += 1
            self._reset()


def _tenths(a):
    if a is None:
        return _NONE
    t = int(a * 10 + 0.5)
    return t if t < _NONE else _NONE - 1


def _amps(t):
    return None if t == _NONE else t / 10


class Log:
    """The intervals on the flash: a ring.Ring of KEEP records (see the module doc)."""

    def __init__(self, path, nph, keep=KEEP):
        self.nph = nph
        self.ring = ring.Ring(path, "<II%dH" % (2 * nph), keep)
        self.size = self.ring.size
        self.end_s = self.ring.last[1] if self.ring.last else 0   # the last record's end

    @property
    def seq(self):
        return self.ring.seq

    @property
    def failed(self):
        return self.ring.failed

    @property
    def error(self):
        return self.ring.error

    def records(self, since=0):
        """(seq, end_s, means, maxes) of every good record with seq > since, oldest first."""
        nph = self.nph
        for v in self.ring.records(since):
            t = v[2:]
            yield v[0], v[1], [_amps(t[2 * p]) for p in range(nph)], [_amps(t[2 * p + 1]) for p in range(nph)]

    def append(self, end_s, means, maxes):
        """Write one interval in its slot; False (and `error`) if the flash refused."""
        vals = []
        for p in range(self.nph):
            vals.append(_tenths(means[p]))
            vals.append(_tenths(maxes[p]))
        if not self.ring.append(int(end_s), *vals):
            return False
        self.end_s = int(end_s)
        return True


def csv(records, phases):
    """The intervals as CSV lines (tools/report.py --demand reads them)."""
    yield "end," + ",".join("%s_mean,%s_max" % (p, p) for p in phases)
    for seq, end_s, means, maxes in records:
        cells = []
        for p in range(len(phases)):
            for a in (means[p], maxes[p]):
                cells.append("" if a is None else "%.1f" % a)
        yield "%d,%s" % (end_s, ",".join(cells))


def phases_obj(means, maxes, phases):
    """{"L1": {"mean": 21.4, "max": 38.0}, ...}: the simulator's `demand` object."""
    d = {}
    for p, name in enumerate(phases):
        d[name] = {"mean": None if means[p] is None else round(means[p], 1),
                   "max": None if maxes[p] is None else round(maxes[p], 1)}
    return d


def message(seq, end_s, means, maxes, phases):
    """The MQTT message on almhub/<id>/demand."""
    return json.dumps({"seq": seq, "end": end_s, "phases": phases_obj(means, maxes, phases)})
