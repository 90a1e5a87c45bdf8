"""Charging sessions per bay, kept on flash and published when they close.

    s = Sessions(ids, by, "sessions.log")   # by: hub.energy_by ("pilot", "ct", "meter" or "none")
    for rec in s.update(now_ms, ticks_diff, states, draws, offers, wh_of, wall_of) or (): publish(rec)
    s.records(since)                                # dicts, oldest first

Pure logic and one file. A session runs from a car's arrival to its
departure where the pilot is read back (B, C or D after A; back to A), else
from the first to the last draw of the bay's own CT (>= 0.5 A; it ends
15 minutes after the last, with that last draw as its end). A board with
neither has no sessions. Each record: the bay, start and end on the log's
clock (seconds that go on from the last record across reboots, a power
cut's gap not counted), and on the wall clock (Unix seconds) where the hub
had one at that moment (0/None where not), the energy (Wh: `measured` where
the bay's own CT and a voltage reference meter real power, else the hub's
estimate), and the peak amps. A session identifies a bay, never a
person: no card, no car, no name is kept.

On flash: a ring.Ring of KEEP records (the last 1024), 61 bytes each (62 KB).
"""

import array

import ring

KEEP = 1024
IDLE_MS = 900000          # own CT: no draw this long ends the session
DRAW_A = 0.5              # a CT below this reads no car
_FMT = "<IIIIIIHB32s"     # seq, start, end, start_wall, end_wall, wh, peak (0.1 A), flags, bay
_MEASURED = 1


def _no_wall():
    return 0


class Sessions:
    def __init__(self, ids, by, path, keep=KEEP, readback=False):
        self.ids = list(ids)
        self.by = list(by)
        # the pilot bounds a session wherever it is read back, even where an
        # own CT meters the energy (its draw then gives the peak)
        self.pilot = [readback or b == "pilot" for b in by]
        self.ring = ring.Ring(path, _FMT, keep)
        last = self.ring.last
        self.clock_s = last[2] if last else 0     # the log's clock goes on after its last record
        self.clock_ms = 0
        self.prev = None
        n = len(self.ids)
        self.open = [False] * n
        self.start_s = [0] * n
        self.start_wall = [0] * n
        # kept for a session's hours, in arrays: a float object each would be
        # placed among a period's garbage and pin a hole in the heap
        self.start_wh = array.array("d", bytes(8 * n))
        self.peak = array.array("i", bytes(4 * n))   # tenths of amps (an int read allocates nothing)
        self.last_draw = [0] * n     # the log's clock (ms since boot) of the last draw

    def _close(self, i, end_s, wh, wall):
        self.open[i] = False
        e = int(wh - self.start_wh[i] + 0.5)
        rec = (self.start_s[i], end_s, self.start_wall[i], wall,
               e if e > 0 else 0, self.peak[i],
               _MEASURED if self.by[i] == "meter" else 0, self.ids[i].encode()[:32])
        self.ring.append(*rec)
        return self.as_dict((self.ring.seq - 1,) + rec)

    def update(self, now, ticks_diff, states, draws, offers, wh_of, wall_of=None):
        """One period: a list of the sessions that closed, or None (nothing made
        in a period without an arrival or a departure). states: read-back letters
        or None; draws: per charger amps of its own CT or None; offers: amps
        offered; wh_of(i): charger i's energy counter (Wh), asked at a start or an
        end; wall_of(): Unix seconds now, 0 while the hub has no wall clock, asked
        likewise (None: no wall clock)."""
        wall_of = wall_of or _no_wall
        if self.prev is not None:
            dt = ticks_diff(now, self.prev)
            if 0 <= dt < 3600000:
                self.clock_ms += dt
        self.prev = now
        t_ms = self.clock_ms
        t_s = self.clock_s + t_ms // 1000
        closed = None
        for i in range(len(self.ids)):
            by = self.by[i]
            if self.pilot[i]:
                st = states[i] if states is not None else None
                if st in ("B", "C", "D"):
                    if not self.open[i]:
                        self._start(i, t_s, wh_of(i), wall_of())
                    a = offers[i] if by == "pilot" else draws[i] if draws is not None else None
                    if a is not None and a * 10 > self.peak[i] and st != "B":
                        self.peak[i] = int(a * 10 + 0.5)
                elif st == "A" and self.open[i]:
                    closed = closed or []
                    closed.append(self._close(i, t_s, wh_of(i), wall_of()))
            elif (by == "ct" or by == "meter") and draws is not None:
                a = draws[i]
                if a is not None and a >= DRAW_A:
                    if not self.open[i]:
                        self._start(i, t_s, wh_of(i), wall_of())
                    self.last_draw[i] = t_ms
                    if a * 10 > self.peak[i]:
                        self.peak[i] = int(a * 10 + 0.5)
                elif self.open[i] and t_ms - self.last_draw[i] >= IDLE_MS:
                    closed = closed or []
                    ago = (t_ms - self.last_draw[i]) // 1000   # the end was the last draw
                    wall = wall_of()
                    closed.append(self._close(i, self.clock_s + self.last_draw[i] // 1000, wh_of(i),
                                              wall - ago if wall else 0))
        return closed

    def _start(self, i, t_s, wh, wall):
        self.open[i] = True
        self.start_s[i] = t_s
        self.start_wall[i] = wall
        self.start_wh[i] = wh
        self.peak[i] = 0

    def as_dict(self, v):
        seq, start, end, start_wall, end_wall, wh, peak, flags, bay = v
        return {"seq": seq, "bay": bay.rstrip(b"\0").decode(), "start": start, "end": end,
                "start_wall": start_wall or None, "end_wall": end_wall or None,
                "kwh": wh / 1000, "peak_a": peak / 10, "measured": bool(flags & _MEASURED)}

    def records(self, since=0, most=20):
        """Up to `most` records with seq > since, oldest first, as dicts."""
        out = []
        for v in self.ring.records(since):
            out.append(self.as_dict(v))
            if len(out) >= most:
                break
        return out

    def forget(self):
        """Erase every record on the flash (the sessions now open go on)."""
        self.ring.erase()
