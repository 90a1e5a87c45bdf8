"""CT clamp measurement: RMS current over whole mains cycles, bias tracked, in viper.

    m = Meter(adc, cal_a=(0.01, 0.01, 0.01), mains_hz=50)
    m.measure(now_ms); print(m.irms_a[0], health.NAMES[m.status[0]])

`adc` is any sampler backend (see hal.py): `channels`, `rate_hz` and
`read_into(buf, frames) -> frames captured`, frames interleaved ch0..chN-1,
in `read_u16` scale (0..65535).

One measurement is one burst: it holds `cycles` whole cycles at the lowest
mains frequency we accept (47 Hz) plus 1.5 cycles of slack. A first pass over
the whole burst gives every channel's min, max and a rough
mean (sensor health). On the channel with the largest swing, rising crossings
(with hysteresis) mark whole cycles; the RMS pass then runs over exactly those
cycles, so 47-63 Hz and harmonic-rich currents read right. With no usable
signal anywhere (all currents tiny) the nominal window is used: its error is
then far below the 0.05 A floor.

A bias that ramps within the burst
----------------------------------
A sagging supply moves the bias while the burst is taken: 20 mV over 3 s is
1.7 LSB over a 10-cycle window, which alone would read 0.08 A if one mean were
removed over the window. So the RMS pass (`cycle_mean_square`) cuts the window
into its cycles (found by the crossings, or the nominal ones) and removes each
cycle's own mean: a CT passes no DC and nothing below the mains frequency, so
a whole cycle's mean is bias, never current. What a ramp of g LSB a cycle
leaves within a cycle is a sawtooth: g**2/12 of mean square, and a cross term
with the current that is first order in g (~0.036 A per LSB a cycle, at any
current). Both are removed too: g is fitted to the cycle means, and the cross
term is measured with the kernel's half-cycle sums (see cycle_mean_square).
A linear ramp is then removed exactly (for the fundamental and odd harmonics),
and a curved drift down to its change of slope within one cycle.

32-bit safety (ESP32, RP2040: viper ints are 32-bit machine words)
------------------------------------------------------------------
Samples are taken down to 12 bits (`>> shift`, shift >= 4), so a deviation
from the bias is |d| <= 4095 and d*d <= 16_769_025 < 2**24. Squares are summed
in chunks of CHUNK = 127 samples into one word, which therefore stays
<= 127 * 16_769_025 = 2_129_666_175 < 2**31 - 1. Each chunk's sum is then
split into two words: `lo` gathers its low 16 bits (<= 65535 a chunk), `hi`
its high bits (<= 32496 a chunk). The chunks run on across the half-cycle
boundaries, so with at most MAX_FRAMES = 16384 frames, i.e. 130 chunks:
    lo <= 65535 * 130 =  8_519_550
    hi <= 32496 * 130 =  4_224_480
    |s1| <= 4095 * 16384 = 67_092_480
and every sum of deviations over a part of the span (a half cycle, a cycle,
the second halves minus the first halves) is bounded like s1. A half cycle's
end frame is start + (h * m + ncyc) // (2 * ncyc), h <= 2 * ncyc + 1 (one
past the last), with ncyc <= m // 4 and m <= 16384:
    h * m + ncyc <= m * m / 2 + m + m / 4 = 134_238_208
So no word can wrap, and every result also fits a 30-bit small int, so reading it back
allocates nothing either. The kernel writes its results into preallocated
array('i')s and returns None.
"""

import micropython
from array import array
from micropython import const

import health

MAX_FRAMES = const(16384)   # the 32-bit bound above; Meter refuses more
MIN_HZ = const(47)
MAX_HZ = const(63)
CHUNK = const(127)          # squares summed in one word before it is split
NSTATS = const(5)           # slots per channel in a stats array:
S1 = const(0)               #   sum of deviations from the tracked bias
S2LO = const(1)             #   sum of the low 16 bits of the squares
S2HI = const(2)             #   sum of the high bits of the squares (units of 65536)
MIN = const(3)              #   smallest sample (12-bit)
MAX = const(4)              #   largest sample
_REF_MIN_PP = const(32)     # 12-bit LSB of swing a channel needs to mark cycles
MS_ONE = const(64)          # mean squares are in 1/64 of a 12-bit LSB squared
_MS_MAX = const(1073217600)  # 4095**2 * MS_ONE: no 12-bit signal squares to more


@micropython.viper
def _accumulate(i: int, d: int, acc: int, buf, nch: int, start: int, end: int, ncyc: int,
                shift: int, bias, out, cyc):
    # i, d and acc come first because viper keeps a function's first three
    # locals in CPU registers (x64, Thumb): the hot loop runs ~1.8x faster so.
    p = ptr16(buf)
    b = ptr32(bias)
    o = ptr32(out)
    y = ptr32(cyc)
    stop = end * nch
    span = nch * CHUNK
    m = end - start
    halves = ncyc * 2
    c = 0
    while c < nch:
        bc = int(b[c])
        s1 = 0
        lo = 0
        hi = 0
        mn = 65535
        mx = -65535
        t = 0      # this half cycle's sum
        first = 0  # the cycle's first half's sum
        dd = 0     # second halves minus first halves
        h = 1      # the half cycle being summed, 1 .. halves
        edge = (start + (m + ncyc) // halves) * nch + c  # where it ends
        i = start * nch + c
        while i < stop:
            chunk = i + span
            if chunk > stop:
                chunk = stop
            acc = 0  # <= CHUNK squares: fits a signed 32-bit word
            while i < chunk:
                lim = chunk
                if edge < lim:
                    lim = edge
                while i < lim:
                    d = (int(p[i]) >> shift) - bc
                    t += d
                    acc += d * d
                    if d < mn:
                        mn = d
                    if d > mx:
                        mx = d
                    i += nch
                if i >= edge:  # half cycle h ends here
                    if h & 1:
                        first = t
                    else:
                        y[((h >> 1) - 1) * nch + c] = first + t
                        dd += t - first
                        s1 += first + t
                    t = 0
                    h += 1
                    edge = (start + (h * m + ncyc) // halves) * nch + c
            lo += acc & 0xFFFF
            hi += acc >> 16
        y[ncyc * nch + c] = dd
        k = c * NSTATS
        o[k] = s1
        o[k + 1] = lo
        o[k + 2] = hi
        o[k + 3] = mn + bc
        o[k + 4] = mx + bc
        c += 1


def accumulate(buf, nch, start, end, ncyc, shift, bias, out, cyc):
    """Per-channel sums over frames [start, end) of buf (array 'H'), in viper.

    bias: array('i'), per channel, 12-bit units; out: array('i'), NSTATS per
    channel (S1, S2LO, S2HI, MIN, MAX). The span is cut into ncyc equal cycles,
    each into two halves, where bound() says (the caller keeps to ncyc >= 1
    and to the module docstring's bound, ncyc <= (end - start) // 4, or to 1
    for 2-3 frames). cyc (array 'i', (ncyc + 1) * nch): cyc[i * nch + c] is
    cycle i's sum of deviations, cyc[ncyc * nch + c] the sum over the cycles
    of the second half's minus the first half's. The sums over the span do
    not depend on the cut. Allocates nothing.
    """
    _accumulate(0, 0, 0, buf, nch, start, end, ncyc, shift, bias, out, cyc)


def bound(start, end, ncyc, h):
    """Where half cycle h (0 .. 2 * ncyc) of the span starts: the kernel's cut."""
    return start + (h * (end - start) + ncyc) // (2 * ncyc)


def accumulate_py(buf, nch, start, end, ncyc, shift, bias, out, cyc):
    """The same sums in plain Python: the test oracle and the bench's baseline."""
    for c in range(nch):
        bc = bias[c]
        lo = hi = 0
        mn = 65535
        mx = 0
        half = [0] * (2 * ncyc)
        h = 0
        edge = bound(start, end, ncyc, 1) * nch + c  # half cycle h's end, as an index
        i, stop = start * nch + c, end * nch
        while i < stop:
            chunk = min(i + nch * CHUNK, stop)
            acc = 0
            while i < chunk:
                t = 0
                for j in range(i, min(chunk, edge), nch):
                    x = buf[j] >> shift
                    d = x - bc
                    t += d
                    acc += d * d
                    if x < mn:
                        mn = x
                    if x > mx:
                        mx = x
                half[h] += t
                i = max(i, min(chunk, edge))
                i += (c - i) % nch  # on to channel c's next sample
                if i >= edge and h + 1 < len(half):
                    h += 1
                    edge = bound(start, end, ncyc, h + 1) * nch + c
            lo += acc & 0xFFFF
            hi += acc >> 16
        k = c * NSTATS
        out[k] = sum(half)
        out[k + 1] = lo
        out[k + 2] = hi
        out[k + 3] = mn
        out[k + 4] = mx
        for q in range(ncyc):
            cyc[q * nch + c] = half[2 * q] + half[2 * q + 1]
        cyc[ncyc * nch + c] = sum(half[1::2]) - sum(half[0::2])


@micropython.viper
def crossings(buf, nch: int, ch: int, nframes: int, lo_thr: int, hi_thr: int, shift: int, out):
    """Rising crossings of channel ch: below lo_thr, then above hi_thr.

    out (array 'i'): [count, first frame, last frame]. Allocates nothing.
    """
    p = ptr16(buf)
    o = ptr32(out)
    count = 0
    first = -1
    last = -1
    armed = 0
    i = ch
    f = 0
    stop = nframes * nch
    while i < stop:
        x = int(p[i]) >> shift
        if x < lo_thr:
            armed = 1
        elif armed and x > hi_thr:
            armed = 0
            if count == 0:
                first = f
            last = f
            count += 1
        i += nch
        f += 1
    o[0] = count
    o[1] = first
    o[2] = last


def cycle_mean_square(buf, nch, start, end, ncyc, shift, bias, cyc, out, ms):
    """Per channel, the mean square of frames [start, end) cut into ncyc equal
    cycles, each cycle's own mean and a ramp of the bias removed.

    ms (array 'i', per channel): the mean squares in 1/64 of a 12-bit LSB
    squared (MS_ONE is one LSB squared), rounded down. out (array 'i', NSTATS
    per channel): the sums over the span, as accumulate() gives them. cyc
    (array 'i', (ncyc + 1) * nch at least) is scratch. The span must hold 2
    frames or more and at most MAX_FRAMES; ncyc is held to
    [1, (end - start) // 4] and to what cyc holds; returns the ncyc used. One
    kernel call (all the per-sample work), then integer sums a cycle.

    Removing cycle i's mean leaves of a bias ramp (g LSB a cycle of T frames)
    a sawtooth in each cycle: g**2 / 12 of mean square, and a cross term
    2 * (g / T) * W_i with the current x, W_i = sum((t - centre) * x). g is
    fitted to the cycle means (the current adds nothing to a whole cycle's
    mean). W_i is taken as T/4 * D_i, D_i the second half cycle's sum minus
    the first's, both about the cycle's mean (halves may differ by a frame):
    for the fundamental and every odd harmonic the two are equal (both
    -T**2 / (2 pi h) * amplitude * cos(phase)). Over the ramp itself D_i is
    g*T/4 too; so, per sample, what is subtracted is
    g/2 * sum(D) / m - g**2 / 24.

    Integers only, so nothing is allocated (a float is a heap object on the
    boards) while every value stays a small int (|x| < 2**30), and the result
    is exact to its last unit beyond that (Python ints do not wrap). Cycle i's
    sum t (|t| <= 4095 * n) is split as q * n + r (0 <= r < n): the sum of
    t**2 / n over the cycles is then sum(q*q*n) (q*q split at 16 bits, like
    the kernel's squares: <= 65535 * m < 2**30), sum(2*q*r) (< 2**13 * m) and
    sum(r*r) / n (< m); the whole (S2 minus all that) over m is divided in
    two 16-bit steps, each < 2**30. The ramp is kept in 1/4096 LSB a cycle:
    small ints while it is under 8 LSB a cycle (a sagging supply's is under
    0.2) and the cycle means and ncyc are modest (|sum(w*q)| < 2**17, w up
    to ncyc - 1); a bias that leaps further is a fault, and the figures are
    then still right, in a few long ints.
    """
    m = end - start
    if ncyc > m // 4:
        ncyc = m // 4   # two frames a half cycle at least: the kernel's bound
    if ncyc > len(cyc) // nch - 1:
        ncyc = len(cyc) // nch - 1
    if ncyc < 1:
        ncyc = 1
    accumulate(buf, nch, start, end, ncyc, shift, bias, out, cyc)
    halves = 2 * ncyc
    n0 = m // ncyc      # the cut gives cycles of n0 and n0 + 1 frames
    n1 = n0 + 1
    fit3 = ncyc * (ncyc * ncyc - 1)  # 3 * sum((2i - ncyc + 1)**2)
    for c in range(nch):
        ahi = alo = cr = 0   # sum(q*q*n) in two 16-bit parts; sum(2*q*r)
        r0 = r1 = 0          # sum(r*r), cycles of n0 frames, of n1
        lc = l0 = l1 = 0     # sum(w*q); sum(w*r) for n0, for n1 (w = 2i - ncyc + 1)
        e0 = e1 = 0          # sum(e*t), e the frames the second half has more than the first
        a = start
        k = c
        for i in range(ncyc):  # the cuts as bound() makes them
            h = start + ((2 * i + 1) * m + ncyc) // halves
            b = start + ((2 * i + 2) * m + ncyc) // halves
            t = cyc[k]
            n = b - a
            q = t // n
            r = t - q * n
            sq = q * q
            ahi += (sq >> 16) * n
            alo += (sq & 0xFFFF) * n
            cr += 2 * q * r
            w = 2 * i - ncyc + 1
            lc += w * q
            if n == n0:
                r0 += r * r
                l0 += w * r
                e0 += (b + a - 2 * h) * t
            else:
                r1 += r * r
                l1 += w * r
                e1 += (b + a - 2 * h) * t
            a = b
            k += nch
        j = c * NSTATS
        # X = S2 - sum(q*q*n) - sum(2*q*r) = sum of squares about the cycle
        # means + sum(r*r/n) >= 0: hi and lo (16 bits)
        xhi = out[j + S2HI] - ahi
        xlo = out[j + S2LO] - alo
        xhi += xlo >> 16
        xlo = (xlo & 0xFFFF) - cr
        xhi += xlo >> 16
        xlo &= 0xFFFF
        q1 = xhi // m                       # X / m = q1 * 65536 + q2 + r2 / m
        y = (xhi - q1 * m) * 65536 + xlo    # <= (m - 1) * 65536 + 65535 < 2**30
        q2 = y // m
        f = (r0 // n0 + r1 // n1) * MS_ONE + (r0 % n0) * MS_ONE // n0 + (r1 % n1) * MS_ONE // n1
        v = (q1 * 65536 + q2) * MS_ONE + ((y - q2 * m) * MS_ONE - f) // m
        if ncyc > 1:
            g = 6 * (lc * 4096 + l0 * 4096 // n0 + l1 * 4096 // n1) // fit3  # the ramp, 1/4096 LSB a cycle
            d = cyc[k] * 32 - e0 * 32 // n0 - e1 * 32 // n1                 # sum(D) about the means, 1/32 LSB
            v += g * g // (24 * (1 << 24) // MS_ONE) - _muldiv(g, d, m) // ((1 << 18) // MS_ONE)
        ms[c] = 0 if v < 0 else _MS_MAX if v > _MS_MAX else v
    return ncyc


def _muldiv(a, b, d):
    """a * b // d with small ints: |a| < 2**15, 0 < d <= 2**15, |a * b / d| < 2**30."""
    q = b // d
    return a * q + a * (b - q * d) // d


def cycle_mean_square_py(buf, nch, c, start, end, ncyc, shift):
    """cycle_mean_square of channel c in plain Python, the test oracle: each
    cycle's mean found first and the squares taken about it; the ramp fitted
    to the cycle means, the half cycles' sums taken sample by sample."""
    m = end - start
    h = [bound(start, end, ncyc, j) - start for j in range(2 * ncyc + 1)]
    x = [buf[f * nch + c] >> shift for f in range(start, end)]
    cycles = [(h[2 * i], h[2 * i + 1], h[2 * i + 2]) for i in range(ncyc)]
    means = [sum(x[a:b]) / (b - a) for a, _, b in cycles]
    total = sum(sum((v - means[i]) ** 2 for v in x[a:b]) for i, (a, _, b) in enumerate(cycles))
    if ncyc > 1:
        mid = (ncyc - 1) / 2
        g = sum((i - mid) * u for i, u in enumerate(means)) / sum((i - mid) ** 2 for i in range(ncyc))
        d = sum(sum(v - means[i] for v in x[h1:b]) - sum(v - means[i] for v in x[a:h1])
                for i, (a, h1, b) in enumerate(cycles))
        total += m * g * g / 24 - g / 2 * d
    return max(0.0, total / m)


@micropython.viper
def put_root(arr, i: int, v: int, cm: int, ce: int):
    """arr[i] = sqrt(v / MS_ONE) * cm * 2**ce, into an array('f'), allocating nothing.

    0 <= v < 2**30 (a mean square from cycle_mean_square), 0 <= cm < 2**15
    (cal_fixed: 2**14 <= cm for 15 bits). v is shifted up by 4s to at least
    2**28 and its integer root taken (15 bits, in [2**14, 2**15)); times cm
    that is < 2**30, and its IEEE 754 single bits are written as a word: a
    float in 15 significant bits (1 part in 16384) without a float object.
    """
    a = ptr32(arr)
    if v <= 0 or cm <= 0:
        a[i] = 0
        return
    s = 0
    while v < 0x10000000:
        v <<= 2
        s += 1
    r = 0
    bit = 0x10000000
    while bit:
        if v >= r + bit:
            v -= r + bit
            r = (r >> 1) + bit
        else:
            r >>= 1
        bit >>= 2
    p = r * cm                  # sqrt(v) * cm * 2**(s + 3)
    top = 0                     # p's highest bit
    x = p
    while x > 1:
        x >>= 1
        top += 1
    if top > 23:
        x = top - 23
        p = (p + (1 << (x - 1))) >> x   # 24 bits, rounded
        if p >> 24:
            p >>= 1
            top += 1
    else:
        p <<= 23 - top
    e = top + ce - s - 3 + 127  # the biased exponent
    if e <= 0:
        a[i] = 0                # below the smallest normal float: nothing
        return
    if e >= 255:                # beyond the largest: the largest (no constant
        e = 254                 # of 2**30 or more here: on a 32-bit port it
        p = 0x7FFFFF            # would be a long int object, not a word)
    a[i] = (e << 23) | (p & 0x7FFFFF)


def cal_fixed(x):
    """A calibration (amps per LSB) as (m, e), x ~ m * 2**e, 2**14 <= m < 2**15; (0, 0) for 0."""
    x = abs(float(x))
    if x == 0.0:
        return 0, 0
    e = 0
    while x >= 32768.0:
        x /= 2
        e += 1
    while x < 16384.0:
        x *= 2
        e -= 1
    m = int(x + 0.5)
    if m == 32768:
        m, e = 16384, e + 1
    return m, e


class Meter:
    """Captures a burst from `adc` and turns it into per-channel amps and status."""

    def __init__(self, adc, cal_a, mains_hz=50, cycles=10, shift=4, stale_ms=2000):
        nch = adc.channels
        if len(cal_a) != nch:
            raise ValueError("one calibration per channel")
        if mains_hz not in (0, 50, 60):
            raise ValueError("mains_hz must be 50, 60 or 0 (detect)")
        if shift < 4:
            raise ValueError("shift must be >= 4: the kernel works on 12-bit samples")
        rate = adc.rate_hz
        # cycles at the slowest mains we accept, plus 1.5 cycles to find crossings
        frames = (rate * (2 * cycles + 3) + 2 * MIN_HZ - 1) // (2 * MIN_HZ)
        if frames > MAX_FRAMES:
            raise ValueError("burst of %d frames exceeds MAX_FRAMES" % frames)
        self.adc = adc
        self.nch = nch
        self.rate = rate
        self.cal_a = [float(c) * (1 << shift) for c in cal_a]  # amps per 12-bit LSB
        fixed = [cal_fixed(c) for c in self.cal_a]           # the same, for put_root
        self.cal_m = array("i", [f[0] for f in fixed])
        self.cal_e = array("i", [f[1] for f in fixed])
        self.mains_hz = mains_hz
        self.cycles = cycles
        self.shift = shift
        self.stale_ms = stale_ms
        self.frames = frames
        self.buf = array("H", bytes(2 * frames * nch))
        self.whole = array("i", bytes(4 * NSTATS * nch))   # pass 1: whole burst
        self.span = array("i", bytes(4 * NSTATS * nch))    # pass 2: whole cycles
        # per-cycle sums: as many cycles as the fastest mains the window accepts
        most = max(cycles, frames * (MAX_HZ + 2) // rate + 1)
        self.cyc = array("i", bytes(4 * (most + 1) * nch))
        self.ms = array("i", bytes(4 * nch))               # pass 2: mean squares (1/MS_ONE LSB**2)
        self.prev = array("i", bytes(4 * NSTATS * nch))    # pass 1 of the last burst
        self.bias = array("i", [2048] * nch)
        self.xing = array("i", bytes(12))
        self.irms_a = array("f", bytes(4 * nch))
        self.status = bytearray([health.MISSING] * nch)
        self.hz256 = 0        # mains frequency seen in the last burst (1/256 Hz), 0 if none
        self.window = array("i", bytes(12))  # the RMS's frames [start, end) and its cycles
        self.span_frames = 0  # end - start
        self.t_ms = None      # when the last good burst was taken

    def _nominal_hz(self):
        if self.mains_hz:
            return self.mains_hz
        return 60 if self.hz256 > 55 * 256 else 50

    @property
    def hz(self):
        """The mains frequency seen in the last burst, 0.0 if none."""
        return self.hz256 / 256

    def _window(self, n):
        """Frames [start, end) holding whole cycles of the mains, and how many,
        into self.window. Integers only: nothing is allocated."""
        st, win = self.whole, self.window
        ref = -1
        best = _REF_MIN_PP
        for c in range(self.nch):
            k = c * NSTATS
            pp = st[k + MAX] - st[k + MIN]
            if self.status[c] == health.OK and pp >= best:
                ref, best = c, pp
        if ref >= 0:
            k = ref * NSTATS
            mid = self.bias[ref] + st[k + S1] // n
            q = best // 4
            crossings(self.buf, self.nch, ref, n, mid - q, mid + q, self.shift, self.xing)
            count, first, last = self.xing[0], self.xing[1], self.xing[2]
            if count >= 2:
                span, cyc = last - first, self.rate * (count - 1)   # cyc: cycles * rate (< 2**21)
                if (MIN_HZ - 2) * span <= cyc <= (MAX_HZ + 2) * span:
                    self.hz256 = (cyc * 256 + span // 2) // span
                    win[0], win[1], win[2] = first, last, count - 1
                    return
        nominal = self._nominal_hz()
        self.hz256 = 0
        win[0], win[1], win[2] = 0, (self.rate * self.cycles + nominal // 2) // nominal, self.cycles

    def measure(self, now_ms):
        """Take one burst and update irms_a, status, hz. Returns nothing."""
        nch, n = self.nch, self.adc.read_into(self.buf, self.frames)
        if n != self.frames:
            for c in range(nch):
                self.status[c] = health.MISSING
            return
        st, prev = self.whole, self.prev
        accumulate(self.buf, nch, 0, n, 1, self.shift, self.bias, st, self.cyc)
        repeat = st == prev  # the very same burst again: the sampler has stopped
        for c in range(nch):
            k = c * NSTATS
            self.status[c] = health.STALE if repeat else health.classify(
                self.bias[c] + st[k + S1] // n, st[k + MIN], st[k + MAX], n)
        for k in range(len(st)):  # (prev[:] = st would make a slice object)
            prev[k] = st[k]
        sp, ms, win = self.span, self.ms, self.window
        self._window(n)
        start, end = win[0], win[1]
        self.span_frames = m = end - start
        win[2] = cycle_mean_square(self.buf, nch, start, end, win[2], self.shift, self.bias,
                                   self.cyc, sp, ms)
        for c in range(nch):
            k = c * NSTATS
            put_root(self.irms_a, c, ms[c], self.cal_m[c], self.cal_e[c])
            # track the bias: the mean over whole cycles is the DC offset
            b = self.bias[c] + (sp[k + S1] + m // 2) // m
            self.bias[c] = 0 if b < 0 else health.FULL12 if b > health.FULL12 else b
        self.t_ms = now_ms

    def check_stale(self, now_ms, ticks_diff):
        """Mark every channel STALE when no good burst came within stale_ms."""
        if self.t_ms is None or ticks_diff(now_ms, self.t_ms) > self.stale_ms:
            for c in range(self.nch):
                self.status[c] = health.STALE
