"""Real power from a CT and a voltage reference on the same burst, in viper.

    power.products(buf, nch, start, end, shift, bias, pairs, skew, out, delay)
    w = power.watts(out, k, end - start, amps_per_lsb, volts_per_lsb)

The Meter's burst (array 'H', frames interleaved, read_u16 scale) and its
window of whole cycles [start, end) and tracked bias are used as they are.
Each pair k is a current channel pairs[2k] and a voltage channel
pairs[2k+1]; P = mean over the window of i * v, signed (import positive
when the CT and the reference face the same way). Apparent power and power
factor come from the Meter's RMS of both channels (`pf`).

Skew: a round-robin ADC takes the channels of a frame one after another, so
a voltage sampled (cv - ci) / nch of a frame after its current, and a CT's
own phase lead, shift the product by an angle: at 4 kHz and 50 Hz a third of
a frame is 1.5 degrees, 4.5 % of P at a power factor of 0.5. skew[k] (units
of 1/32 frame) moves the voltage back in time by that much: each voltage
sample is interpolated linearly toward the previous frame's (skew > 0) or
the next frame's (skew < 0). `skew_q5(...)` computes it.

Offsets: the sums of i and of the interpolated v over the window are kept
too, and i_sum * v_sum / m taken off: a constant error in either bias adds
nothing (over whole cycles the AC sums vanish).

32-bit safety (viper ints are 32-bit words on the boards)
---------------------------------------------------------
Deviations from the bias are 12-bit: |di|, |dv| <= 4095. The interpolated
voltage is kept in 1/32 units: |v'| <= 32 * 4095 + 32 * 8190 = 393_120 (the
difference of two deviations is at most 8190 and the fraction at most 32/32).
A product |di * v'| <= 4095 * 393_120 = 1_609_826_400 < 2**31 - 1. Each
product is split at once: its low 16 bits into `lo` (<= 65535 a frame), its
high bits (arithmetic shift) into `hi` (|.| <= 24_564 a frame). With at most
MAX_FRAMES = 16384 frames:
    lo <= 65535 * 16384 = 1_073_725_440 < 2**30
    |hi| <= 24_564 * 16384 = 402_456_576
    |i_sum| <= 4095 * 16384 = 67_092_480
    |v_sum| <= 12_285 * 16384 = 201_277_440   (v' >> 5: whole units; in 1/32
                                               units it would not fit)
Every word fits a 30-bit small int: reading the results back allocates
nothing. The kernel writes into a preallocated array('i') and
returns None.
"""

import micropython
from micropython import const

import health

MAX_FRAMES = const(16384)
NOUT = const(4)             # per pair in `out`:
PLO = const(0)              #   sum of the low 16 bits of i * v' (v' in 1/32 units)
PHI = const(1)              #   sum of the high bits (units of 65536)
SI = const(2)               #   sum of current deviations
SV = const(3)               #   sum of voltage deviations, whole units


@micropython.viper
def _products(f: int, dv: int, lo: int, buf, nch: int, start: int, end: int, shift: int,
              bias, pairs, npairs: int, skew, delay, out):
    # f, dv and lo first: viper keeps a function's first three locals in
    # registers (see ct._accumulate). One voltage load a frame: the neighbour
    # it is interpolated toward is the one carried from the frame before
    # (skew > 0), or the one loaded for the frame after (skew < 0).
    p = ptr16(buf)
    b = ptr32(bias)
    pr = ptr32(pairs)
    sk = ptr8(skew)
    dl = ptr32(delay)
    o = ptr32(out)
    span = (end - start) * nch
    k = 0
    while k < npairs:
        ci = int(pr[2 * k])
        cv = int(pr[2 * k + 1])
        bi = int(b[ci])
        bv = int(b[cv])
        a = int(sk[k])
        if a > 127:          # array('b'): a ptr8 load is unsigned
            a = a - 256
        back = 1
        if a < 0:
            a = 0 - a
            back = 0
        lo = 0
        hi = 0
        si = 0
        sv = 0
        d = int(dl[k])           # whole frames the voltage is taken earlier (0 <= d < end - start)
        ii = start * nch + ci
        iv = start * nch + cv
        top = end * nch + cv     # one past the window's last voltage sample: wrap to its first
        if d:
            iv = iv + span - d * nch
        stop = end * nch + ci
        dv = (int(p[iv]) >> shift) - bv
        nb = dv                  # the neighbour: at the window's edges the sample itself
        if d:                    # ... or, delayed, the one before it round the window's cycles
            q = iv - nch
            if q < start * nch + cv:
                q = q + span
            nb = (int(p[q]) >> shift) - bv
        while ii < stop:
            if back:
                cur = (int(p[iv]) >> shift) - bv
                v = cur * 32 + a * (nb - cur)
                nb = cur
            else:
                cur = dv
                if iv + nch < stop - ci + cv:
                    dv = (int(p[iv + nch]) >> shift) - bv
                v = cur * 32 + a * (dv - cur)
            di = (int(p[ii]) >> shift) - bi
            prod = di * v
            lo += prod & 0xFFFF
            hi += prod >> 16
            si += di
            sv += v >> 5
            ii += nch
            iv += nch
            if iv >= top:
                iv = iv - span
        j = k * 4
        o[j] = lo
        o[j + 1] = hi
        o[j + 2] = si
        o[j + 3] = sv
        k += 1


def products(buf, nch, start, end, shift, bias, pairs, skew, out, delay):
    """Per pair, the sums of i * v over frames [start, end) (see the module doc).
    bias: array('i') per channel (12-bit); pairs: array('i') [ci, cv, ...];
    skew: array('b') per pair (1/32 frame, -32..32); delay: array('i') per
    pair, whole frames the voltage is taken earlier, round the window's
    whole cycles (0 <= delay < end - start; with a delay the skew is >= 0);
    out: array('i'), NOUT per pair. Allocates nothing."""
    _products(0, 0, 0, buf, nch, start, end, shift, bias, pairs, len(pairs) // 2, skew, delay, out)


def products_py(buf, nch, start, end, shift, bias, pairs, skew, out, delay):
    """products in plain Python: the test oracle (and the bench's `plain`)."""
    m = end - start
    for k in range(len(pairs) // 2):
        ci, cv = pairs[2 * k], pairs[2 * k + 1]
        a = skew[k]
        d = delay[k]
        step = -1 if a >= 0 else 1
        a = abs(a)
        lo = hi = si = sv = 0
        for f in range(start, end):
            di = (buf[f * nch + ci] >> shift) - bias[ci]
            h = f - d if f - d >= start else f - d + m      # the voltage, round the window
            dv = (buf[h * nch + cv] >> shift) - bias[cv]
            g = h + step
            if not start <= g < end:
                g = g + m if d and g < start else h
            dn = (buf[g * nch + cv] >> shift) - bias[cv]
            v = dv * 32 + a * (dn - dv)
            prod = di * v
            lo += prod & 0xFFFF
            hi += prod >> 16
            si += di
            sv += v >> 5
        out[4 * k], out[4 * k + 1], out[4 * k + 2], out[4 * k + 3] = lo, hi, si, sv


def watts(out, k, m, amps_per_lsb, volts_per_lsb):
    """Pair k's mean real power (W) over m frames, offsets taken off."""
    j = k * NOUT
    s = (out[j + PHI] * 65536.0 + out[j + PLO]) / 32 - out[j + SI] * out[j + SV] / m
    return s / m * amps_per_lsb * volts_per_lsb


def skew_q5(ci, cv, nch, lead_deg=0.0, hz=50.0, rate_hz=4000):
    """The skew (1/32 frame) that aligns voltage channel cv with current channel
    ci: the round-robin order ((cv - ci) / nch of a frame) and a CT's phase lead
    in degrees at the mains frequency (a lead is taken as the voltage moved later)."""
    frames = (cv - ci) / nch - lead_deg / 360.0 * rate_hz / hz
    q = int(round(frames * 32))
    if not -32 <= q <= 32:
        raise ValueError("skew of %.2f frames: the kernel moves a sample by one frame at most" % frames)
    return q


def pf(p_w, s_va):
    """Power factor, signed like P; 0 where there is nothing to divide."""
    return p_w / s_va if s_va > 1e-9 else 0.0


class Pairs:
    """Real power of CT/VT pairs on the Meter's last burst, every period.

        pw = Pairs(meter, [(ci, cv, scale, lead_deg, lag_deg), ...], mains_hz)
        meter.measure(now); pw.update()    # pw.w[k]: W, or None; pw.pf[k]

    Pair k's voltage is its VT's, times scale and lagging it by lag_deg:
    -1 (or lag 180) where the line is the VT's opposite (split-phase L2); 2
    for a 240 V charger across both legs of a split-phase VT read on L1;
    lag 120 or 240 for the other lines of a three-phase site with one VT,
    and sqrt(3) at a lag of 330 (a lead of 30) for a charger across L1-L2
    there. A lag is a delay of the voltage round the Meter's window of whole
    cycles (the frames per cycle as measured this burst), its fraction of a
    frame interpolated like the skew. lead_deg: the CT's phase lead over the
    VT's (both from the board). A pair whose CT or VT is not healthy, or
    whose VT reads under min_v (an unplugged adapter leaves its pin at the
    bias: 0 V, a healthy-looking signal), reads None: no power is guessed.
    """

    def __init__(self, meter, spec, mains_hz, min_v=40.0):
        from array import array
        self.meter = meter
        self.pairs = array("i", [x for s in spec for x in (s[0], s[1])])
        self.skew = array("b", [0 if s[4] else skew_q5(s[0], s[1], meter.nch, s[3], mains_hz or 50, meter.rate)
                                for s in spec])
        self.delay = array("i", bytes(4 * len(spec)))
        # for a pair with a lag: (round-robin frames, lead and lag in cycles), set per burst
        self.turn = [((s[1] - s[0]) / meter.nch, (s[4] - s[3]) / 360) if s[4] else None for s in spec]
        self.scale = [s[2] for s in spec]
        self.min_v = min_v
        self.out = array("i", bytes(4 * NOUT * len(spec)))
        self.w = [None] * len(spec)     # type: list
        self.pf = [0.0] * len(spec)

    def _turn(self, k, m, ncyc):
        rr, cycles = self.turn[k]
        frames = rr + cycles * m / ncyc        # > 0: the voltage taken this much earlier
        d = int(frames)
        a = int((frames - d) * 32 + 0.5)
        if a == 32:
            d, a = d + 1, 0
        self.delay[k] = d % m
        self.skew[k] = a

    def update(self):
        m = self.meter
        start, end = m.window[0], m.window[1]
        for k in range(len(self.turn)):
            if self.turn[k] is not None:
                self._turn(k, end - start, m.window[2])
        products(m.buf, m.nch, start, end, m.shift, m.bias, self.pairs, self.skew, self.out, self.delay)
        for k in range(len(self.w)):
            ci, cv = self.pairs[2 * k], self.pairs[2 * k + 1]
            if m.status[ci] != health.OK or m.status[cv] != health.OK or m.irms_a[cv] < self.min_v:
                self.w[k] = None
                self.pf[k] = 0.0
                continue
            s = self.scale[k]
            w = watts(self.out, k, end - start, m.cal_a[ci], m.cal_a[cv]) * s
            self.w[k] = w
            self.pf[k] = pf(w, m.irms_a[ci] * m.irms_a[cv] * (s if s > 0 else -s))
