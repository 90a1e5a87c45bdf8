"""Bench, MicroPython side: run by tools/bench.py on the unix port.

    micropython bench_mp.py rms OUTFILE [--quick]   # also writes the burst to OUTFILE
    micropython bench_mp.py power OUTFILE [--quick] # the real-power kernel, the same way
    micropython bench_mp.py measure|control [--quick]

Each section prints one JSON line of figures; tools/bench.py formats them.
"""
import json
import sys
import time
from array import array

import ct
import health
import simadc

NCH = 3


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
    """A Meter at 4000 Hz with its real burst length, filled with EV/SMPS currents."""
    adc = simadc.SimADC([simadc.Clamp(32.0, simadc.EV), simadc.Clamp(12.0, simadc.SMPS),
                         simadc.Clamp(3.0, simadc.EV, 50.0)], 4000)
    m = ct.Meter(adc, [0.01] * NCH)
    adc.read_into(m.buf, m.frames)
    return adc, m


def rms(quick, path):
    adc, m = burst()
    with open(path, "wb") as f:  # the C reference reads the very same samples
        f.write(m.buf)
    out = array("i", bytes(4 * ct.NSTATS * NCH))
    cyc = array("i", bytes(4 * NCH * (m.cycles + 1)))
    n = m.frames * NCH
    # cut into cycles as the RMS pass cuts its window (the C reference sums
    # the span only: the cut changes none of those sums)
    args = (m.buf, NCH, 0, m.frames, m.cycles, m.shift, m.bias, out, cyc)
    secs = 0.5 if quick else 1.5
    v, _ = best_rate(lambda: ct.accumulate(*args), n, secs)
    viper_stats = list(out)
    for k in range(len(out)):
        out[k] = 0
    p, _ = best_rate(lambda: ct.accumulate_py(*args), n, secs)
    print(json.dumps({"viper": v, "plain": p, "stats": viper_stats, "same": list(out) == viper_stats,
                      "bias": list(m.bias), "shift": m.shift, "channels": NCH, "frames": m.frames}))


def power_section(quick, path):
    """The real-power kernel on a burst: current on channel 0, voltage on channel 2."""
    import power
    adc, m = burst()
    with open(path, "wb") as f:
        f.write(m.buf)
    pairs = array("i", [0, 2])
    skew = array("b", [power.skew_q5(0, 2, NCH)])
    out = array("i", bytes(4 * power.NOUT))
    args = (m.buf, NCH, 0, m.frames, m.shift, m.bias, pairs, skew, out, array("i", [0]))
    n = m.frames * 2           # samples read: a current and a voltage a frame
    secs = 0.5 if quick else 1.5
    v, _ = best_rate(lambda: power.products(*args), n, secs)
    viper = list(out)
    p, _ = best_rate(lambda: power.products_py(*args), n, secs)
    print(json.dumps({"viper": v, "plain": p, "sums": viper, "same": list(out) == viper, "skew": skew[0],
                      "bias": list(m.bias), "shift": m.shift, "channels": NCH, "frames": m.frames}))


class Replay:
    """A sampler that hands back the burst already in the buffer: no ADC cost."""

    def __init__(self, adc):
        self.channels = adc.channels
        self.rate_hz = adc.rate_hz

    def read_into(self, buf, frames):
        return frames


def measure(quick, *_):
    adc, m = burst()
    m.adc = Replay(adc)
    prev = m.prev
    t = [0]

    def one():
        # Meter takes the very same burst again for a stopped sampler (STALE)
        # and then skips the crossings; un-match the last burst's sums so each
        # timed call takes the full path a fresh burst takes
        prev[0] += 1
        t[0] += 1
        m.measure(t[0])
    _, us = best_rate(one, 1, 0.5 if quick else 1.5)
    print(json.dumps({"measure_us": us, "frames": m.frames, "channels": NCH, "hz": m.hz,
                      "span_frames": m.span_frames,
                      "status": [health.NAMES[s] for s in m.status]}))


def control(quick, *_):
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
    ctl = sim.hub.ctl
    step = ctl.step
    timed = [0]

    def timed_step(*a):
        s = time.ticks_us()
        r = step(*a)
        timed[0] = time.ticks_diff(time.ticks_us(), s)
        return r
    ctl.step = timed_step
    worst_ctl = total_ctl = 0
    t0 = time.ticks_us()
    for k in range(periods):
        sim.step(k * 1000)
        total_ctl += timed[0]
        worst_ctl = max(worst_ctl, timed[0])
    wall_us = time.ticks_diff(time.ticks_us(), t0)
    print(json.dumps({"chargers": n, "periods": periods, "control_mean_us": total_ctl / periods,
                      "control_worst_us": worst_ctl, "sim_s_per_wall_s": periods / (wall_us / 1e6)}))


SECTIONS = {"rms": rms, "power": power_section, "measure": measure, "control": control}

if __name__ == "__main__":
    argv = [a for a in sys.argv[1:] if a != "--quick"]
    SECTIONS[argv[0]]("--quick" in sys.argv, *argv[1:])
