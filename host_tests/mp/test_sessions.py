"""sessions: arrival to departure (read-back) or first to last draw (own CT), kept on flash, asked for by command."""
import os

import commands
import sessions
from mpunit import eq, ok

PATH = "/tmp/almhub_test_sessions.log"


def fresh():
    try:
        os.remove(PATH)
    except OSError:
        pass


def diff(a, b):
    return a - b


class Site:
    """Two bays: `bay1` read back, `bay2` with its own CT."""

    def __init__(self, keep=sessions.KEEP, by=("pilot", "ct"), readback=False):
        self.s = sessions.Sessions(["bay1", "bay2"], by, PATH, keep, readback)
        self.wall = 0          # Unix seconds at t = 0, 0: no wall clock
        self.states = ["A", "?"]
        self.draws = [None, 0.0]
        self.offers = [0, 0]
        self.wh = [0.0, 0.0]
        self.t = 0
        self.closed = []

    def run(self, seconds):
        end = self.t + seconds * 1000
        while self.t < end:
            if self.states[0] == "C":
                self.wh[0] += self.offers[0] * 230 * 0.5 / 3600
            if self.draws[1] and self.draws[1] >= 0.5:
                self.wh[1] += self.draws[1] * 230 * 0.5 / 3600
            got = self.s.update(self.t, diff, self.states, self.draws, self.offers, lambda i: self.wh[i],
                                lambda: self.wall + self.t // 1000 if self.wall else 0)
            self.closed += got or []
            self.t += 500


def test_arrival_to_departure_and_first_to_last_draw():
    fresh()
    site = Site()
    site.run(10)
    site.states[0] = "B"                 # a car arrives at bay1 (t = 10 s)
    site.run(5)
    site.states[0], site.offers[0] = "C", 16
    site.run(3600)                       # an hour at 16 A
    site.offers[0] = 10
    site.run(60)
    site.states[0], site.offers[0] = "A", 0    # it leaves
    site.run(5)
    eq(len(site.closed), 1)
    r = site.closed[0]
    eq((r["bay"], r["start"], r["end"], r["measured"]), ("bay1", 10, 3675, False))
    ok(abs(r["kwh"] - (16 * 230 * 3600 + 10 * 230 * 60) / 3.6e6) < 0.002, r)
    eq(r["peak_a"], 16.0)
    # bay2, own CT: 6.5 A for 20 minutes, then nothing; closed 15 minutes after the last draw
    site.draws[1] = 6.5
    site.run(1200)
    site.draws[1] = 0.1                  # below 0.5 A: the clamp's noise, not a car
    site.run(899)
    eq(len(site.closed), 1)
    site.run(2)
    eq(len(site.closed), 2)
    r = site.closed[1]
    eq((r["bay"], r["peak_a"]), ("bay2", 6.5))
    ok(1199 <= r["end"] - r["start"] <= 1200, r)     # the last draw is its end, not the timeout
    ok(abs(r["kwh"] - 6.5 * 230 * 1200 / 3.6e6) < 0.002, r)


def test_measured_with_a_voltage_reference_and_on_the_wall_clock():
    # bay2 metered (own CT and a VT): its record says measured; once the hub
    # has a wall clock (NTP) a record carries Unix seconds beside the log's
    # clock, and the end of a draw-based session is the last draw's time
    fresh()
    site = Site(by=("pilot", "meter"))
    site.run(10)
    site.draws[1] = 12.0
    site.run(600)
    site.draws[1] = 0.0
    site.run(sessions.IDLE_MS // 1000 + 5)
    eq([(r["bay"], r["measured"], r["start_wall"], r["end_wall"]) for r in site.closed],
       [("bay2", True, None, None)])
    site.closed = []
    site.wall = 1780000000 - site.t // 1000     # the clock is set: now is 1780000000
    site.draws[1] = 12.0
    site.run(600)
    site.draws[1] = 0.0
    site.run(sessions.IDLE_MS // 1000 + 5)
    r = site.closed[0]
    eq((r["start_wall"], r["end_wall"] - r["start_wall"], r["end"] - r["start"]), (1780000000, 599, 599))  # the last draw: 599.5 s in
    ok(abs(r["kwh"] - 12 * 230 * 600 / 3600 / 1000) < 0.01, "kwh %r" % r["kwh"])


def test_read_back_bounds_a_metered_bay_and_its_ct_gives_the_peak():
    # bay2 has its own CT (and a VT) on a board that reads its pilot: the
    # session is the car's stay (arrival to departure, not 15 minutes after
    # the last draw), its peak what the CT saw, its energy measured
    fresh()
    site = Site(by=("pilot", "meter"), readback=True)
    site.states = ["A", "A"]
    site.run(10)
    site.states[1] = "B"
    site.run(20)
    site.states[1], site.draws[1], site.offers[1] = "C", 13.5, 32
    site.run(600)
    site.states[1], site.draws[1] = "B", 0.0       # full: the car stays, draws nothing
    site.run(1200)
    eq(site.closed, [])                            # still there after 20 minutes idle
    site.states[1] = "A"
    site.run(5)
    r = site.closed[0]
    eq((r["bay"], r["start"], r["end"], r["peak_a"], r["measured"]), ("bay2", 10, 1830, 13.5, True))


def test_kept_across_a_reboot_and_bounded():
    fresh()
    site = Site(keep=8)
    for k in range(12):                  # twelve short visits
        site.states[0], site.offers[0] = "C", 6
        site.run(60)
        site.states[0], site.offers[0] = "A", 0
        site.run(30)
    eq(len(site.closed), 12)
    again = sessions.Sessions(["bay1", "bay2"], ["pilot", "ct"], PATH, 8)   # the reboot
    recs = again.records(0, most=100)
    eq([r["seq"] for r in recs], list(range(5, 13)))                          # the last 8, oldest first
    eq(recs[-1], site.closed[-1])
    eq([r["seq"] for r in again.records(10)], [11, 12])
    ok(os.stat(PATH)[6] <= 8 * 61, "bounded: %d bytes" % os.stat(PATH)[6])
    # the log's clock goes on after the last record: a new session starts later
    eq(again.clock_s, recs[-1]["end"])
    again.forget()
    eq(again.records(0), [])


def test_a_board_that_sees_neither_keeps_no_sessions():
    fresh()
    s = sessions.Sessions(["bay"], ["none"], PATH)
    for t in range(0, 100000, 500):
        ok(s.update(t, diff, None, None, [32], lambda i: 0.0) is None, "nothing")
    eq(s.records(0), [])


def test_commands():
    import control
    cfg = {"site": {"phases": ["L1"], "limit": 40}, "chargers": [{"id": "bay1"}]}
    ctl = control.Controller(cfg["site"], cfg["chargers"])
    hard = commands.Hard(cfg)
    for payload, good in (('{"cmd": "sessions", "since": 0, "id": 4}', True),
                          ('{"cmd": "sessions", "since": 12}', True),
                          ('{"cmd": "forget_sessions"}', True),
                          ('{"cmd": "sessions"}', "since missing"),
                          ('{"cmd": "sessions", "since": -1, "id": 5}', "since"),
                          ('{"cmd": "sessions", "since": "all"}', "whole number")):
        reply, cmd = commands.handle(payload, ctl, hard, {})
        if good is True:
            ok(reply["ok"] and cmd is not None, "%s: %r" % (payload, reply))
        else:
            ok(not reply["ok"] and good in reply["error"], "%s: %r" % (payload, reply))
    eq(commands.handle('{"cmd": "sessions", "since": -1, "id": 5}', ctl, hard, {})[0]["id"], 5)
