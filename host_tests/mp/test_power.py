"""power: the real-power kernel (viper) against its plain oracle, its 32-bit bound, and its accuracy."""
import math
import random
from array import array

import power
from mpunit import eq, ok

HEAPSIZE = "512K"


def run(kernel, buf, nch, start, end, pairs, skew, bias=None, delay=None):
    out = array("i", [0] * (power.NOUT * (len(pairs) // 2)))
    kernel(buf, nch, start, end, 4, bias or array("i", [2048] * nch), array("i", pairs), array("b", skew), out,
           array("i", delay or [0] * (len(pairs) // 2)))
    return out


def test_viper_is_the_plain_oracle():
    random.seed(7)
    for _ in range(40):
        nch = random.randint(2, 5)
        n = random.randint(3, 400)
        buf = array("H", [random.randint(0, 65535) for _ in range(n * nch)])
        pairs = []
        for _ in range(random.randint(1, 3)):
            pairs += [random.randrange(nch), random.randrange(nch)]
        skew = [random.randint(-32, 32) for _ in range(len(pairs) // 2)]
        bias = array("i", [random.randint(0, 4095) for _ in range(nch)])
        start = random.randint(0, n - 2)
        end = random.randint(start + 1, n)
        eq(list(run(power.products, buf, nch, start, end, pairs, skew, bias)),
           list(run(power.products_py, buf, nch, start, end, pairs, skew, bias)), (nch, n, start, end, pairs, skew))
        # a delay round the window (a line the VT's voltage lags), its skew >= 0
        delay = [random.randrange(end - start) for _ in skew]
        skew = [abs(a) if d else a for a, d in zip(skew, delay)]
        eq(list(run(power.products, buf, nch, start, end, pairs, skew, bias, delay)),
           list(run(power.products_py, buf, nch, start, end, pairs, skew, bias, delay)),
           (nch, n, start, end, pairs, skew, delay))


def test_the_32_bit_bound_at_its_extremes():
    # the largest products the bound allows, of either sign, over MAX_FRAMES: every
    # sum stays a 30-bit small int (on a 32-bit port a wrong bound would wrap and
    # differ from the oracle, whose ints do not wrap)
    n = power.MAX_FRAMES
    for pattern in ((65535, 0), (0, 65535), (65535, 65535), (0, 0)):
        buf = array("H", bytes(4 * n))
        for f in range(n):
            buf[2 * f] = pattern[0]                       # the current, at one rail
            buf[2 * f + 1] = pattern[1] if f % 2 else 65535 - pattern[1]  # the voltage swings rail to rail
        for skew in (32, -32, 0):
            got = run(power.products, buf, 2, 0, n, [0, 1], [skew])
            eq(list(got), list(run(power.products_py, buf, 2, 0, n, [0, 1], [skew])), (pattern, skew))
            for v in got:
                ok(-(1 << 30) <= v < (1 << 30), "%r leaves the small ints: %r" % ((pattern, skew), list(got)))


def burst(nch, rate, hz, frames, chans):
    """Round-robin samples: channel c of frame f at (f + c / nch) / rate seconds.
    chans: per channel, [(amplitude counts, harmonic, phase rad), ...]."""
    buf = array("H", bytes(2 * nch * frames))
    for f in range(frames):
        for c in range(nch):
            t = (f + c / nch) / rate
            x = 32768.0
            for amp, h, ph in chans[c]:
                x += amp * 16 * math.sin(2 * math.pi * hz * h * t + ph)
            buf[f * nch + c] = max(0, min(65535, int(x + 0.5)))
    return buf


def test_real_power_within_one_percent():
    # an EV-like current with harmonics against a slightly distorted voltage, power
    # factors 0.5 lagging to 0.8 leading, 47-63 Hz, 5 % to 100 % of the CT's range
    rate, nch = 4000, 3
    a_lsb, v_lsb = 0.05, 0.25          # amps and volts per 12-bit count
    worst = 0.0
    for hz in (47, 50, 60, 63):
        for pf_angle in (60.0, 30.0, 0.0, -25.0, -36.87):   # current lags by this (negative: leads)
            for frac in (0.05, 0.3, 1.0):
                ia = 1800 * frac
                phi = math.radians(pf_angle)
                cur = [(ia, 1, -phi), (ia * 0.2, 3, -3 * phi + 0.4), (ia * 0.1, 5, 1.1)]
                vol = [(1300, 1, 0.0), (1300 * 0.03, 3, 0.2)]
                # the voltage on channel 2, currents on 0 and 1 (1 reversed: export)
                rev = [(a, h, ph + math.pi) for a, h, ph in cur]
                cycles = 10
                frames = int(rate / hz * cycles + 0.5)
                buf = burst(nch, rate, hz, frames, [cur, rev, vol])
                truth = sum(ai * vi / 2 * math.cos(pi - pv) for ai, hi, pi in cur for vi, hv, pv in vol if hi == hv)
                truth *= a_lsb * v_lsb
                skew = [power.skew_q5(0, 2, nch, 0.0, hz, rate), power.skew_q5(1, 2, nch, 0.0, hz, rate)]
                out = run(power.products, buf, nch, 0, frames, [0, 2, 1, 2], skew)
                for k, sign in ((0, 1), (1, -1)):
                    w = power.watts(out, k, frames, a_lsb, v_lsb)
                    err = abs(w - sign * truth) / abs(truth)
                    worst = max(worst, err)
                    ok(err <= 0.01, "%d Hz, %.1f deg, %d %%: %.1f W for %.1f W (%.2f %%)"
                       % (hz, pf_angle, frac * 100, w, sign * truth, err * 100))
    print("worst real-power error: %.3f %%" % (worst * 100))


def test_the_skew_is_needed_and_corrects():
    # without the round-robin correction, P at a power factor of 0.5 is off by a few %
    rate, nch, hz = 4000, 3, 50
    phi = math.radians(60)
    frames = 800
    buf = burst(nch, rate, hz, frames, [[(1500, 1, -phi)], [], [(1500, 1, 0.0)]])
    truth = 1500 * 1500 / 2 * math.cos(phi)
    raw = power.watts(run(power.products, buf, nch, 0, frames, [0, 2], [0]), 0, frames, 1, 1)
    fixed = power.watts(run(power.products, buf, nch, 0, frames, [0, 2], [power.skew_q5(0, 2, nch, 0.0, hz, rate)]),
                        0, frames, 1, 1)
    ok(abs(raw - truth) / truth > 0.02, "uncorrected %.1f vs %.1f" % (raw, truth))
    ok(abs(fixed - truth) / truth < 0.003, "corrected %.1f vs %.1f" % (fixed, truth))
    eq(power.skew_q5(0, 2, 3), 21)                          # 2/3 of a frame
    eq(power.skew_q5(1, 0, 2, 0.0), -16)                    # the voltage first: later
    eq(power.skew_q5(0, 0, 1, 3.6, 50, 4000), -26)          # a CT leading by 3.6 degrees: 0.8 frame


def test_offsets_in_either_bias_add_nothing():
    rate, nch, hz = 4000, 2, 50
    frames = 800                                             # 10 whole cycles
    buf = burst(nch, rate, hz, frames, [[(1000, 1, -0.5)], [(1200, 1, 0.0)]])
    exact = power.watts(run(power.products, buf, nch, 0, frames, [0, 1], [8]), 0, frames, 1, 1)
    off = power.watts(run(power.products, buf, nch, 0, frames, [0, 1], [8], array("i", [2061, 2040])),
                      0, frames, 1, 1)
    ok(abs(off - exact) <= 1e-4 * abs(exact), "%r vs %r" % (off, exact))
    eq(power.pf(-50.0, 100.0), -0.5)
    eq(power.pf(1.0, 0.0), 0.0)
