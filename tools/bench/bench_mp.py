"""Bench, MicroPython side: run by tools/bench.py on the unix port.

    micropython bench_mp.py rms OUTFILE | measure | control
"""
import json
import sys
import time
from array import array

import ct
import simadc


def best_rate(fn, samples, min_s=0.5, runs=3):
    """Samples per second, best of `runs` timings of at least min_s/runs each."""
    best = None
    for _ in range(runs):
        n = 0
        t0 = time.ticks_us()
        while True:
            fn()
            n += 1
            dt = time.ticks_diff(time.ticks_us(), t0)
            if dt >= min_s * 1e6 / runs:
                break
        per = dt / n
        best = per if best is None or per < best else best
    return samples / best * 1e6, best


def burst():
    adc = simadc.SimADC([simadc.Clamp(32.0, simadc.EV), simadc.Clamp(12.0, simadc.SMPS),
                         simadc.Clamp(3.0, simadc.EV, 50.0)], 4000)
    m = ct.Meter(adc, [0.01] * 3)
    adc.read_into(m.buf, m.frames)
    return adc, m


def rms(path, quick):
    adc, m = burst()
    with open(path, "wb") as f:
        f.write(m.buf)
    out = array("i", bytes(4 * ct.NSTATS * 3))
    n = m.frames * 3
    args = (m.buf, 3, 0, m.frames, 4, m.bias, out)
    v, _ = best_rate(lambda: ct.accumulate(*args), n, 0.2 if quick else 1.0)
    viper_stats = list(out)
    p, _ = best_rate(lambda: ct.accumulate_py(*args), n, 0.2 if quick else 1.0)
    ok = list(out) == viper_stats
    print(json.dumps({"viper": v, "plain": p, "stats": viper_stats, "same": ok,
                      "bias": list(m.bias), "frames": m.frames}))


class Replay:
    """A sampler that hands back the burst already in the buffer."""

    def __init__(self, adc):
        self.channels = adc.channels
        self.rate_hz = adc.rate_hz

    def read_into(self, buf, frames):
        return frames


def measure(quick):
    adc, m = burst()
    m.adc = Replay(adc)
    t = [0]

    def one():
        t[0] += 1
        m.measure(t[0])
    _, us = best_rate(one, 1, 0.2 if quick else 1.0)
    print(json.dumps({"measure_us": us, "frames": m.frames, "channels": 3}))


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    if sys.argv[1] == "rms":
        rms(sys.argv[2], quick)
    elif sys.argv[1] == "measure":
        measure(quick)


def control(quick):
    import simsite
    n = 30
    sc = {"duration": 3600, "mains_hz": 50, "voltage": 230,
          "site": {"phases": ["L1", "L2", "L3"], "limit": 100, "margin": 3},
          "chargers": [{"id": "c%d" % i, "phases": [("L1", "L2", "L3")[i % 3]], "min": 6, "max": 32}
                       for i in range(n)],
          "control": {"holdoff_ms": 0},
          "events": [{"t": 0, "load": {"L1": 10, "L2": 5, "L3": 7}}] +
                    [{"t": 1, "plug": "c%d" % i, "ev_max": 32, "kwh": 500} for i in range(n)]}
    sim = simsite.Sim(sc)
    periods = 120 if quick else 600
    t0 = time.ticks_us()
    worst_ctl = 0
    total_ctl = 0
    ctl = sim.hub.ctl
    step = ctl.step
    timed = [0]

    def timed_step(*a):
        s = time.ticks_us()
        r = step(*a)
        timed[0] = time.ticks_diff(time.ticks_us(), s)
        return r
    ctl.step = timed_step
    for k in range(periods):
        sim.step(k * 1000)
        total_ctl += timed[0]
        worst_ctl = max(worst_ctl, timed[0])
    wall_us = time.ticks_diff(time.ticks_us(), t0)
    print(json.dumps({"chargers": n, "periods": periods, "control_mean_us": total_ctl / periods,
                      "control_worst_us": worst_ctl, "sim_s_per_wall_s": periods / (wall_us / 1e6)}))


if __name__ == "__main__" and sys.argv[1] == "control":
    control("--quick" in sys.argv)
