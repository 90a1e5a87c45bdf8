"""Measurement core on the unix port: RMS accuracy, sensor health, 32-bit bounds."""
import micropython
from array import array

import ct
import health
from mpunit import eq, near, ok, raises
from simadc import EV, SINE, SMPS, Clamp, SimADC

HEAPSIZE = "1M"  # the accuracy sweeps hold nine 1000-frame channels at once

RATE = 4000
AMPS = (0.5, 1.0, 2.0, 5.0, 10.0, 16.0, 32.0, 63.0, 100.0)  # up to the clamp's rating


def tolerance(amps):
    return max(0.005 * amps, 0.05)


def sweep(shape, hz, mains_hz, bias=0.5, drift=0.0, windows=3):
    clamps = [Clamp(a, shape, hz, bias=bias + 0.004 * (i - 4), drift_per_s=drift) for i, a in enumerate(AMPS)]
    for cl in clamps:  # the test itself must stay within the ADC's range
        ok(cl.peak_a() / cl.a_per_count + abs(cl.bias - 0.5) * 65535 < 32767 - 800, "clips")
    adc = SimADC(clamps, RATE, seed=int(hz * 10))
    m = ct.Meter(adc, [0.01] * len(clamps), mains_hz=mains_hz)
    for w in range(windows):
        m.measure(w * 250)
        for c, a in enumerate(AMPS):
            eq(health.NAMES[m.status[c]], "ok", "window %d, %r A" % (w, a))
            near(m.irms_a[c], a, tolerance(a), "window %d, %r A %r Hz" % (w, a, hz))
    return m


def test_sine_50_and_60_hz():
    near(sweep(SINE, 50.0, 50).hz, 50.0, 0.1)
    near(sweep(SINE, 60.0, 60).hz, 60.0, 0.1)


def test_ev_charger_current_off_nominal():
    for hz in (47.0, 49.5, 50.5, 61.3, 63.0):
        near(sweep(EV, hz, 60 if hz > 55 else 50).hz, hz, 0.2)


def test_smps_pulses_crest_factor():
    cl = Clamp(10.0, SMPS)
    ok(cl.peak_a() / 10.0 > 2.5, "crest factor")
    for hz in (47.0, 50.0, 60.0, 63.0):
        sweep(SMPS, hz, 0)


def test_drifting_bias_is_tracked():
    # 0.03 of full scale a second (99 mV/s) ramps 2.5 LSB a cycle: with one
    # mean removed over the window 0.5 A would read 1.35 A
    m = sweep(EV, 50.0, 50, bias=0.42, drift=0.03, windows=5)
    # channel 4 sits at the base bias; the tracked bias is the mean over the
    # last RMS window, i.e. the simulated ramp at that window's middle
    t_mid = m.adc.t - m.frames / RATE + (m.window[0] + m.window[1]) / 2 / RATE
    near(m.bias[4] / 4095, 0.42 + 0.03 * t_mid, 0.001)


SAG = 0.020 / 3.3 / 3  # the bias ramps 20 mV over 3 s (a sagging supply), full scale a second


def ramp_windows(amps, hz, mains_hz, drift, noise_lsb=0.8, seed=7, windows=12):
    """Readings of one clamp over `windows` bursts (3 s at 250 ms), and hz seen."""
    adc = SimADC([Clamp(amps, SINE, hz, drift_per_s=drift, noise_lsb=noise_lsb)], RATE, seed=seed)
    m = ct.Meter(adc, [0.01], mains_hz=mains_hz)
    out = []
    for w in range(windows):
        m.measure(w * 250)
        if noise_lsb:  # without noise a flat input has the signature of a stuck ADC
            eq(health.NAMES[m.status[0]], "ok", "window %d" % w)
        out.append(m.irms_a[0])
    return out, m.hz


def test_bias_ramp_within_a_burst_reads_no_current():
    # 0 A: no usable signal, so the nominal window is cut into its cycles.
    # Noise-free, what is read is the ramp alone (the same clamp without it
    # reads exactly 0): one mean over the window read 0.09-0.10 A. What is
    # left is the ADC's own staircase: a 1 LSB step inside a cycle is up to
    # 1/4 LSB**2 there, 0.033 A at worst over a window, 0.024 A on average.
    for hz in (50, 60):
        for drift in (SAG, -SAG):
            flat, _ = ramp_windows(0.0, hz, hz, 0.0, noise_lsb=0.0)
            eq(max(flat), 0.0)
            got, seen_hz = ramp_windows(0.0, hz, hz, drift, noise_lsb=0.0)
            eq(seen_hz, 0.0)  # the nominal window was used
            ok(max(got) < 0.035, "ramp alone reads %r A (%d Hz)" % (max(got), hz))
            ok(sum(got) / len(got) < 0.03, "ramp alone reads %r A on average" % (sum(got) / len(got)))
    # With the simulator's noise (0.8 LSB, its own floor 0.135 A) every
    # window reads what the same clamp reads without the ramp (same noise)
    # within 0.01 A: one mean over the window added up to 0.03 A.
    for seed in (1, 2, 3):
        flat, _ = ramp_windows(0.0, 50.0, 50, 0.0, seed=seed)
        for drift in (SAG, -SAG):
            got, _ = ramp_windows(0.0, 50.0, 50, drift, seed=seed)
            for w in range(len(got)):
                near(got[w], flat[w], 0.01, "window %d, seed %d" % (w, seed))


def test_bias_ramp_under_current_keeps_the_accuracy():
    for drift in (SAG, -SAG, 10 * SAG):
        got, hz = ramp_windows(16.0, 50.0, 50, drift)
        near(hz, 50.0, 0.2)
        for w, a in enumerate(got):
            near(a, 16.0, tolerance(16.0), "window %d, drift %r" % (w, drift))
    # a small current off the nominal frequency: the nominal window, ramped
    for hz, mains_hz in ((47.0, 50), (63.0, 60)):
        got, seen_hz = ramp_windows(0.5, hz, mains_hz, 10 * SAG)
        eq(seen_hz, 0.0)
        for w, a in enumerate(got):
            near(a, 0.5, tolerance(0.5), "window %d, %r Hz" % (w, hz))


def test_cycle_mean_square_equals_its_definition():
    # the per-cycle pass (one kernel call, then per cycle) against the plain
    # definition: each cycle's mean first, squares about it, a ramp fitted
    # to the cycle means; odd spans give half cycles a frame apart, and the
    # reference level (bias) must not matter
    clamps = [Clamp(30.0, SMPS, 49.3, drift_per_s=0.02), Clamp(2.0, EV, 49.3, drift_per_s=-0.03),
              Clamp(0.0, drift_per_s=0.01)]
    adc = SimADC(clamps, RATE)
    m = ct.Meter(adc, [0.01] * 3)
    adc.read_into(m.buf, m.frames)
    out = array("i", bytes(4 * ct.NSTATS * 3))
    ms = array("i", bytes(4 * 3))
    for start, end, ncyc in ((37, 930, 11), (0, m.frames, 1), (5, 901, 7), (100, 163, 3), (3, 20, 4)):
        for bias in (array("i", [2048, 2048, 2048]), array("i", [1500, 2600, 0])):
            cyc = array("i", bytes(4 * 3 * (ncyc + 1)))
            eq(ct.cycle_mean_square(m.buf, 3, start, end, ncyc, 4, bias, cyc, out, ms), ncyc)
            for c in range(3):
                want = ct.cycle_mean_square_py(m.buf, 3, c, start, end, ncyc, 4)
                # integers to 1/64 LSB**2, a few units of it at most
                near(ms[c] / ct.MS_ONE, want, 1e-6 * want + 4 / ct.MS_ONE, "channel %d, %r" % (c, (start, end, ncyc)))
    # ncyc is held to two frames a half cycle and to what cyc holds
    cyc = array("i", bytes(4 * 3 * 6))
    eq(ct.cycle_mean_square(m.buf, 3, 0, 40, 50, 4, m.bias, cyc, out, ms), 5)
    cyc = array("i", bytes(4 * 3 * 100))
    eq(ct.cycle_mean_square(m.buf, 3, 0, 40, 50, 4, m.bias, cyc, out, ms), 10)
    eq(ct.cycle_mean_square(m.buf, 3, 0, 3, 5, 4, m.bias, cyc, out, ms), 1)


def test_frequency_detected_when_config_says_detect():
    adc = SimADC([Clamp(20.0, EV, 60.0)], RATE)
    m = ct.Meter(adc, [0.01], mains_hz=0)
    m.measure(0)
    near(m.hz, 60.0, 0.1)
    eq(m._nominal_hz(), 60)


def test_tiny_current_alone_uses_nominal_window():
    # 0.5 A gives too little swing to mark cycles: the nominal window is used,
    # and off-nominal its error stays far below the 0.05 A floor.
    for hz in (47.0, 63.0):
        adc = SimADC([Clamp(0.5, SINE, hz)], RATE)
        m = ct.Meter(adc, [0.01], mains_hz=50 if hz < 55 else 60)
        for w in range(3):
            m.measure(w)
            eq(m.hz, 0.0)
            near(m.irms_a[0], 0.5, 0.05)


def test_zero_current_reads_near_zero_and_healthy():
    adc = SimADC([Clamp(0.0)], RATE)
    m = ct.Meter(adc, [0.01])
    m.measure(0)
    eq(m.status[0], health.OK)
    ok(m.irms_a[0] < 0.2, "noise floor %r" % m.irms_a[0])


def test_slipped_clamp_reads_no_current_and_healthy():
    # a clamp slipped off its cable: the cable's current is gone, the bias
    # and the noise are not, so health has nothing to see
    for amps in (0.0, 6.0, 16.0, 32.0, 100.0):
        for shape in (SINE, EV, SMPS):
            slipped = SimADC([Clamp(16.0, EV), Clamp(amps, shape, fault="slipped", noise_lsb=0.5)], RATE)
            idle = SimADC([Clamp(16.0, EV), Clamp(0.0, shape, noise_lsb=0.5)], RATE)
            m = ct.Meter(slipped, [0.01] * 2)
            ref = ct.Meter(idle, [0.01] * 2)
            for w in range(3):
                m.measure(w * 250)
                ref.measure(w * 250)
                eq(list(m.buf), list(ref.buf), "the very samples of an idle clamp")
                eq(health.NAMES[m.status[1]], "ok", "%r A" % amps)
                ok(m.irms_a[1] < 0.1, "slipped %r A reads %r A" % (amps, m.irms_a[1]))
                near(m.irms_a[0], 16.0, tolerance(16.0), "its neighbour")
    # with the simulator's default noise it reads that noise, like a clamp at 0 A
    clamps = [Clamp(32.0, EV)]
    m = ct.Meter(SimADC(clamps, RATE), [0.01])
    m.measure(0)
    near(m.irms_a[0], 32.0, tolerance(32.0))
    clamps[0].fault = "slipped"
    m.measure(250)
    eq(m.status[0], health.OK)
    ok(m.irms_a[0] < 0.15, "noise floor %r" % m.irms_a[0])
    clamps[0].fault = None
    m.measure(500)
    near(m.irms_a[0], 32.0, tolerance(32.0), "back on its cable")


def test_each_fault_reported_within_one_window():
    for fault, want in (("open", "open"), ("shorted", "shorted"), ("stuck", "stuck"),
                        ("saturated", "saturated"), ("bias", "bias")):
        clamps = [Clamp(16.0, EV), Clamp(8.0, EV)]
        adc = SimADC(clamps, RATE)
        m = ct.Meter(adc, [0.01, 0.01])
        m.measure(0)
        eq(bytes(m.status), bytes([health.OK, health.OK]))
        clamps[1].fault = fault
        m.measure(250)
        eq(health.NAMES[m.status[1]], want, fault)
        eq(m.status[0], health.OK, "the healthy neighbour of " + fault)
        clamps[1].fault = None
        m.measure(500)
        m.measure(750)  # the bias tracker needs a window to come back from the rail
        eq(m.status[1], health.OK, "recovered from " + fault)


def test_missing_and_stale_samples():
    adc = SimADC([Clamp(16.0)], RATE)
    m = ct.Meter(adc, [0.01], stale_ms=1000)
    m.measure(0)
    eq(m.status[0], health.OK)
    adc.fault = "missing"
    m.measure(250)
    eq(m.status[0], health.MISSING)
    adc.fault = "frozen"  # sampler returns the same burst again
    m.measure(500)
    eq(m.status[0], health.STALE)
    adc.fault = None
    m.measure(750)
    eq(m.status[0], health.OK)
    m.check_stale(1700, lambda a, b: a - b)
    eq(m.status[0], health.OK)
    m.check_stale(1800, lambda a, b: a - b)
    eq(m.status[0], health.STALE)


def test_viper_kernel_equals_plain_reference():
    adc = SimADC([Clamp(30.0, SMPS), Clamp(2.0, EV, drift_per_s=0.02), Clamp(0.0)], RATE)
    m = ct.Meter(adc, [0.01] * 3)
    adc.read_into(m.buf, m.frames)
    bias = array("i", [2000, 2100, 2048])
    # one cycle (the health pass), a window's cycles, odd spans whose half
    # cycles differ by a frame, half cycles shorter than a chunk and longer
    for start, end, ncyc in ((17, m.frames - 5, 1), (86, 966, 11), (5, 900, 7), (0, m.frames, 244),
                             (3, 20, 4), (0, m.frames, 2)):
        a = array("i", bytes(4 * ct.NSTATS * 3))
        b = array("i", bytes(4 * ct.NSTATS * 3))
        ya = array("i", bytes(4 * 3 * (ncyc + 1)))
        yb = array("i", bytes(4 * 3 * (ncyc + 1)))
        ct.accumulate(m.buf, 3, start, end, ncyc, 4, bias, a, ya)
        ct.accumulate_py(m.buf, 3, start, end, ncyc, 4, bias, b, yb)
        eq(list(a), list(b), "sums %r" % ((start, end, ncyc),))
        eq(list(ya), list(yb), "per-cycle sums %r" % ((start, end, ncyc),))
        # the cut into cycles changes none of the sums over the span
        ct.accumulate(m.buf, 3, start, end, 1, 4, bias, b, yb)
        eq(list(a), list(b))


def _kernels_locked(m, make_garbage):
    # direct calls: a call with *args would itself allocate
    micropython.heap_lock()
    try:
        ct.accumulate(m.buf, 2, 0, m.frames, 1, 4, m.bias, m.whole, m.cyc)
        ct.accumulate(m.buf, 2, 0, m.frames, 10, 4, m.bias, m.span, m.cyc)
        ct.crossings(m.buf, 2, 0, m.frames, 1900, 2200, 4, m.xing)
        if make_garbage:
            return [m.frames]
    finally:
        micropython.heap_unlock()


def test_kernels_allocate_nothing():
    adc = SimADC([Clamp(90.0, EV), Clamp(3.0)], RATE)
    m = ct.Meter(adc, [0.01] * 2)
    adc.read_into(m.buf, m.frames)
    _kernels_locked(m, False)
    ok(m.xing[0] >= 10, "crossings found under the lock")
    ok(m.whole[ct.S2HI] > 0 and m.whole[ct.MAX] > m.whole[ct.MIN], "sums made under the lock")
    eq(list(m.span), list(m.whole), "cut into cycles under the lock")
    # the same function with one allocation added does fail: the lock is real
    raises(MemoryError, _kernels_locked, m, True)


def test_accumulators_fit_32_bits_over_longest_window():
    # The largest square of a 12-bit deviation, summed over one chunk, must fit
    # a signed 32-bit word; the split sums over the longest burst a 30-bit
    # small int (so reading them back allocates nothing on a board either).
    sq_max = 4095 * 4095
    acc_max = ct.CHUNK * sq_max
    ok(acc_max <= 2 ** 31 - 1, "chunk sum %d fits int32" % acc_max)
    chunks = (ct.MAX_FRAMES + ct.CHUNK - 1) // ct.CHUNK  # chunks run on across half cycles
    bound = 2 ** 30 - 1
    ok(65535 * chunks <= bound, "lo bound")
    ok((acc_max >> 16) * chunks <= bound, "hi bound")
    ok(4095 * ct.MAX_FRAMES <= bound, "s1 bound (and every part-span sum, D too)")
    # the cut: half cycle h ends at start + (h * m + ncyc) // (2 * ncyc), the
    # kernel reaching h = 2 * ncyc + 1 (one past the last), ncyc <= m // 4,
    # m <= MAX_FRAMES
    most = ct.MAX_FRAMES // 4
    ok((2 * most + 1) * ct.MAX_FRAMES + most <= bound, "cut bound")
    # Run the kernel on the longest burst cut into the most cycles (4 frames
    # each) of full-scale samples: deviations of 4095 (the worst) and 4032,
    # and a channel whose half cycles alternate 0 and 4095 (the largest D),
    # and check every word exactly.
    n = ct.MAX_FRAMES
    pattern = (65535, 0, 0, 65535, 1008, 0, 65535, 0, 65535, 65535, 1008, 65535)  # 4 frames, 3 channels
    buf = array("H", pattern * (n // 4))
    bias = array("i", [0, 4095, 0])
    out = array("i", bytes(4 * ct.NSTATS * 3))
    cyc = array("i", bytes(4 * 3 * (most + 1)))
    ct.accumulate(buf, 3, 0, n, most, 4, bias, out, cyc)
    eq(out[ct.S1], 4095 * n)
    eq(out[ct.S2HI] * 65536 + out[ct.S2LO], 4095 * 4095 * n)
    k = ct.NSTATS
    eq(out[k + ct.S1], -(n // 2) * (4095 + 4032))
    eq(out[k + ct.S2HI] * 65536 + out[k + ct.S2LO], (n // 2) * (4095 * 4095 + (63 - 4095) ** 2))
    eq(out[2 * k + ct.S1], 4095 * n // 2)
    eq(list(cyc[0:3]), [4 * 4095, -2 * (4095 + 4032), 2 * 4095])
    eq(list(cyc[3 * (most - 1):3 * most]), [4 * 4095, -2 * (4095 + 4032), 2 * 4095])
    eq(list(cyc[3 * most:]), [0, 0, most * 2 * 4095])  # D: second halves minus first
    for v in list(out) + list(cyc):
        ok(-bound <= v <= bound, "slot %d fits" % v)
    # and the plain reference gives the very same words
    ref = array("i", bytes(4 * ct.NSTATS * 3))
    ref_cyc = array("i", bytes(4 * 3 * (most + 1)))
    ct.accumulate_py(buf, 3, 0, n, most, 4, bias, ref, ref_cyc)
    eq(list(out), list(ref))
    eq(list(cyc), list(ref_cyc))
    # one cycle (the health pass) gives the same span sums
    ct.accumulate(buf, 3, 0, n, 1, 4, bias, ref, ref_cyc)
    eq(list(out), list(ref))


def test_meter_refuses_a_burst_beyond_the_bound():
    raises(ValueError, ct.Meter, SimADC([Clamp()], rate_hz=80000), [0.01], cycles=10)
    raises(ValueError, ct.Meter, SimADC([Clamp()], RATE), [0.01], shift=0)
    raises(ValueError, ct.Meter, SimADC([Clamp()], RATE), [0.01, 0.01])
    raises(ValueError, ct.Meter, SimADC([Clamp()], RATE), [0.01], mains_hz=55)


def test_put_root_is_the_root_to_15_bits():
    # the float written as its bits equals sqrt(v / MS_ONE) * cal to 1 part
    # in 8192 (15-bit root and calibration), over the whole range of v
    got = array("f", [0.0])
    seed = 7
    vs = [1, 2, 3, 63, 64, 65, 1000, 2 ** 28 - 1, 2 ** 28, 2 ** 30 - 1, 4095 * 4095 * ct.MS_ONE]
    for _ in range(300):
        seed = (seed * 1103515245 + 12345) & 0x3FFFFFFF
        vs.append(seed >> (seed & 31))
    for cal in (0.16, 0.0013, 1.0, 7.77, 0.5 ** 20, 3000.0):
        cm, ce = ct.cal_fixed(cal)
        ok(16384 <= cm < 32768, "15-bit mantissa %d" % cm)
        for v in vs:
            ct.put_root(got, 0, v, cm, ce)
            want = (v / ct.MS_ONE) ** 0.5 * cal
            near(got[0], want, want / 8192, "v %d, cal %r" % (v, cal))
    for v in (0, -5):
        ct.put_root(got, 0, v, cm, ce)
        eq(got[0], 0.0)
    eq(ct.cal_fixed(0.0), (0, 0))


@micropython.viper
def _copy16(dst, src, n: int):
    d = ptr16(dst)  # noqa: F821 (viper builtins)
    s = ptr16(src)  # noqa: F821
    i = 0
    while i < n:
        d[i] = s[i]
        i += 1


class Recorded:
    """Bursts taken from a SimADC beforehand, served again without allocating."""

    def __init__(self, adc, frames, bursts):
        self.channels, self.rate_hz = adc.channels, adc.rate_hz
        self.bursts = []
        for _ in range(bursts):
            b = array("H", bytes(2 * frames * adc.channels))
            adc.read_into(b, frames)
            self.bursts.append(b)
        self.k = 0

    def read_into(self, buf, frames):
        _copy16(buf, self.bursts[self.k], frames * self.channels)
        self.k += 1
        if self.k == len(self.bursts):
            self.k = 0
        return frames


def _measure_locked(m, times, check):
    micropython.heap_lock()
    try:
        for t in times:
            m.measure(t)
            m.check_stale(t, check)
    finally:
        micropython.heap_unlock()


def _diff(a, b):
    return a - b


def test_measure_allocates_nothing():
    # A whole measurement (health pass, crossings, the per-cycle RMS, the
    # root, bias tracking) with the heap locked: every float the boards would
    # box is gone. Currents from nothing to 60 A (a switch-mode load's, crest factor ~3), 50 and 60 Hz
    # and off nominal, a bias far from where the Meter starts (the first
    # bursts see cycle means of ~100 LSB), a sagging supply, an open clamp.
    for mains_hz, hz in ((50, 50.0), (60, 60.0), (50, 47.5), (0, 62.0)):
        clamps = [Clamp(32.0, EV, hz), Clamp(0.0, SINE, hz), Clamp(60.0, SMPS, hz, drift_per_s=0.03),
                  Clamp(2.0, SINE, hz, bias=0.45), Clamp(16.0, EV, hz, fault="open")]
        sim = SimADC(clamps, RATE, seed=int(hz))
        m = ct.Meter(sim, [0.01] * 5, mains_hz=mains_hz)
        m.adc = Recorded(sim, m.frames, 6)
        times = array("i", [250 * w for w in range(6)])
        _measure_locked(m, times, _diff)
        for c, want in ((0, 32.0), (1, 0.0), (2, 60.0), (3, 2.0)):
            eq(health.NAMES[m.status[c]], "ok", "%r Hz, channel %d" % (hz, c))
            # nothing flowing reads its noise (0.8 LSB: 0.13 A), as in test_zero_current...
            near(m.irms_a[c], want, tolerance(want) if want else 0.2, "%r Hz, channel %d" % (hz, c))
        eq(health.NAMES[m.status[4]], "open")
        near(m.hz, hz, 0.2)
    # the lock is real: the same run with one float made fails
    raises(MemoryError, _measure_locked, m, times, lambda a, b: a / 2)
