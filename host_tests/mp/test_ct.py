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
    m = sweep(EV, 50.0, 50, bias=0.42, drift=0.03, windows=5)
    # channel 4 sits at the base bias; the simulated bias moves burst by burst
    t_last = m.adc.t - m.frames / RATE
    near(m.bias[4] / 4095, 0.42 + 0.03 * t_last, 0.001)


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
    adc = SimADC([Clamp(30.0, SMPS), Clamp(2.0, EV), Clamp(0.0)], RATE)
    m = ct.Meter(adc, [0.01] * 3)
    adc.read_into(m.buf, m.frames)
    a = array("i", bytes(4 * ct.NSTATS * 3))
    b = array("i", bytes(4 * ct.NSTATS * 3))
    bias = array("i", [2000, 2100, 2048])
    ct.accumulate(m.buf, 3, 17, m.frames - 5, 4, bias, a)
    ct.accumulate_py(m.buf, 3, 17, m.frames - 5, 4, bias, b)
    eq(list(a), list(b))


def _kernels_locked(m, make_garbage):
    # direct calls: a call with *args would itself allocate
    micropython.heap_lock()
    try:
        ct.accumulate(m.buf, 2, 0, m.frames, 4, m.bias, m.whole)
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
    # the same function with one allocation added does fail: the lock is real
    raises(MemoryError, _kernels_locked, m, True)


def test_accumulators_fit_32_bits_over_longest_window():
    # The largest square of a 12-bit deviation, summed over one chunk, must fit
    # a signed 32-bit word; the split sums over the longest burst a 30-bit
    # small int (so reading them back allocates nothing on a board either).
    sq_max = 4095 * 4095
    acc_max = ct.CHUNK * sq_max
    ok(acc_max <= 2 ** 31 - 1, "chunk sum %d fits int32" % acc_max)
    chunks = (ct.MAX_FRAMES + ct.CHUNK - 1) // ct.CHUNK
    bound = 2 ** 30 - 1
    ok(65535 * chunks <= bound, "lo bound")
    ok((acc_max >> 16) * chunks <= bound, "hi bound")
    ok(4095 * ct.MAX_FRAMES <= bound, "s1 bound")
    # Run the kernel on the longest burst of full-scale samples, deviations
    # of 4095 (the worst) and 4032, and check the split sums exactly.
    n = ct.MAX_FRAMES
    buf = array("H", [65535, 0, 65535, 1008] * (n // 2))  # two channels
    out = array("i", bytes(4 * ct.NSTATS * 2))
    ct.accumulate(buf, 2, 0, n, 4, array("i", [0, 4095]), out)
    eq(out[ct.S1], 4095 * n)
    eq(out[ct.S2HI] * 65536 + out[ct.S2LO], 4095 * 4095 * n)
    k = ct.NSTATS
    want = (n // 2) * (4095 * 4095 + (63 - 4095) ** 2)
    eq(out[k + ct.S2HI] * 65536 + out[k + ct.S2LO], want)
    for v in out:
        ok(-bound <= v <= bound, "slot %d fits" % v)
    # and the plain reference gives the very same words
    ref = array("i", bytes(4 * ct.NSTATS * 2))
    ct.accumulate_py(buf, 2, 0, n, 4, array("i", [0, 4095]), ref)
    eq(list(out), list(ref))


def test_meter_refuses_a_burst_beyond_the_bound():
    raises(ValueError, ct.Meter, SimADC([Clamp()], rate_hz=80000), [0.01], cycles=10)
    raises(ValueError, ct.Meter, SimADC([Clamp()], RATE), [0.01], shift=0)
    raises(ValueError, ct.Meter, SimADC([Clamp()], RATE), [0.01, 0.01])
    raises(ValueError, ct.Meter, SimADC([Clamp()], RATE), [0.01], mains_hz=55)
