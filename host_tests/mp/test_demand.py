"""demand: the 15-minute means and peaks, and their log on flash (reboots, power cuts, a full flash)."""
import os

import demand
from mpunit import eq, ok

PATH = "/tmp/almhub_test_demand.log"


def fresh():
    try:
        os.remove(PATH)
    except OSError:
        pass


def diff(a, b):
    return a - b


def test_interval_mean_and_peak():
    d = demand.Demand(2)
    # L1: 10 A for 600 s then 40 A for 300 s (mean 20), L2: a 90 A spike of one period
    t = 0
    while t <= 900000:
        a1 = 10.0 if t <= 600000 else 40.0
        a2 = 90.0 if t == 300000 else 5.0
        d.add(t, [a1, a2], [True, True], diff)
        if t < 900000:
            eq(d.count, 0, "t=%d" % t)
        t += 500
    eq(d.count, 1)
    end_s, means, maxes = d.last
    eq(end_s, 900)
    ok(abs(means[0] - 20.0) < 0.05, "%r" % means)
    ok(abs(means[1] - 5.0) < 0.1, "%r" % means)
    eq(maxes, [40.0, 90.0])


def test_only_healthy_readings_count():
    d = demand.Demand(2)
    t = 0
    while t <= 900000:
        lost = 100000 <= t < 200000
        d.add(t, [999.0 if lost else 12.0, 3.0], [not lost, False], diff)
        t += 500
    end_s, means, maxes = d.last
    ok(abs(means[0] - 12.0) < 1e-6 and maxes[0] == 12.0, "the lost CT's readings are not in it: %r" % (d.last,))
    eq((means[1], maxes[1]), (None, None))     # no healthy reading at all: no data, not 0 A


def test_clock_aligned_and_stalls_not_counted():
    d = demand.Demand(1)
    d.start(1000)                 # the log's clock at 1000 s: the interval ends at 1800 s
    t = 0
    while d.count == 0:
        d.add(t, [7.0], [True], diff)
        t += 500
    eq(d.last[0], 1800)
    eq(t - 500, 800000)
    d2 = demand.Demand(1)
    d2.add(0, [1.0], [True], diff)
    d2.add(3600000, [1.0], [True], diff)      # a period an hour late (a stall): no time counted
    eq(d2.count, 0)
    eq(d2.pos_ms, 0)


def test_log_survives_a_reboot_and_goes_round():
    fresh()
    log = demand.Log(PATH, 3, keep=8)
    eq(list(log.records()), [])
    for k in range(1, 21):
        ok(log.append(900 * k, [k, k + 0.5, None], [2 * k, 99.94, None]), "append %d" % k)
    again = demand.Log(PATH, 3, keep=8)            # the reboot
    recs = list(again.records())
    eq([r[0] for r in recs], list(range(13, 21)))   # the last 8, oldest first
    eq(recs[-1], (20, 18000, [20.0, 20.5, None], [40.0, 99.9, None]))
    eq((again.seq, again.end_s), (21, 18000))
    eq(os.stat(PATH)[6], 8 * log.size)                # bounded: the ring never grows
    eq([r[0] for r in again.records(since=18)], [19, 20])
    lines = list(demand.csv(again.records(since=19), ["L1", "L2", "L3"]))
    eq(lines, ["end,L1_mean,L1_max,L2_mean,L2_max,L3_mean,L3_max", "18000,20.0,40.0,20.5,99.9,,"])


def test_a_power_cut_mid_write_keeps_the_last_complete_interval():
    fresh()
    log = demand.Log(PATH, 3, keep=8)
    for k in range(1, 11):
        log.append(900 * k, [k, k, k], [k, k, k])
    # the 11th write is cut half way: its slot holds half a new record over an old one
    whole = demand.Log(PATH, 3, keep=8)
    whole.append(9900, [11, 11, 11], [11, 11, 11])
    with open(PATH, "rb") as f:
        new = f.read()
    fresh()
    log = demand.Log(PATH, 3, keep=8)
    for k in range(1, 11):
        log.append(900 * k, [k, k, k], [k, k, k])
    slot = 11 % 8
    with open(PATH, "r+b") as f:
        f.seek(slot * log.size)
        f.write(new[slot * log.size:slot * log.size + log.size // 2])
    after = demand.Log(PATH, 3, keep=8)
    recs = list(after.records())
    eq(recs[-1][:2], (10, 9000))          # the last complete interval
    eq([r[0] for r in recs], [4, 5, 6, 7, 8, 9, 10])   # the torn slot (seq 3's) is gone, nothing else
    eq(after.seq, 11)
    ok(after.append(9900, [11, 11, 11], [11, 11, 11]), "writes again")
    eq([r[0] for r in demand.Log(PATH, 3, keep=8).records()][-2:], [10, 11])


def test_garbage_and_a_full_flash_raise_nothing():
    fresh()
    with open(PATH, "wb") as f:
        f.write(b"\xff" * 100 + b"garbage" * 30)
    log = demand.Log(PATH, 2)
    eq(list(log.records()), [])
    eq(log.seq, 1)
    bad = demand.Log("/nonexistent-dir/demand.log", 2)
    eq(bad.append(900, [1, 2], [3, 4]), False)
    ok(bad.failed == 1 and bad.error is not None, "counted")
    eq(bad.seq, 1)


def test_message():
    import json
    m = json.loads(demand.message(7, 900, [21.44, None], [38.0, None], ["L1", "L2"]))
    eq(m, {"seq": 7, "end": 900, "phases": {"L1": {"mean": 21.4, "max": 38.0}, "L2": {"mean": None, "max": None}}})
