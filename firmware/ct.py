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

32-bit safety (ESP32, RP2040: viper ints are 32-bit machine words)
------------------------------------------------------------------
Samples are taken down to 12 bits (`>> shift`, shift >= 4), so a deviation
from the bias is |d| <= 4095 and d*d <= 16_769_025 < 2**24. Squares are summed
in chunks of CHUNK = 127 samples into one word, which therefore stays
<= 127 * 16_769_025 = 2_129_666_175 < 2**31 - 1. Each chunk's sum is then
split into two words: `lo` gathers its low 16 bits (<= 65535 a chunk), `hi`
its high bits (<= 32496 a chunk). With at most MAX_FRAMES = 16384 frames,
i.e. 130 chunks:
    lo <= 65535 * 130 =  8_519_550
    hi <= 32496 * 130 =  4_224_480
    |s1| <= 4095 * 16384 = 67_092_480
so no word can wrap, and every result also fits a 30-bit small int, so reading
it back allocates nothing either. The kernel writes its results into a
preallocated array('i') and returns None.
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


@micropython.viper
def _accumulate(i: int, d: int, acc: int, buf, nch: int, start: int, end: int, shift: int, bias, out):
    # i, d and acc come first because viper keeps a function's first three
    # locals in CPU registers (x64, Thumb): the hot loop runs ~1.8x faster so.
    p = ptr16(buf)
    b = ptr32(bias)
    o = ptr32(out)
    stop = end * nch
    span = nch * CHUNK
    c = 0
    while c < nch:
        bc = int(b[c])
        s1 = 0
        lo = 0
        hi = 0
        mn = 65535
        mx = -65535
        i = start * nch + c
        while i < stop:
            chunk = i + span
            if chunk > stop:
                chunk = stop
            acc = 0  # <= CHUNK squares: fits a signed 32-bit word
            while i < chunk:
                d = (int(p[i]) >> shift) - bc
                s1 += d
                acc += d * d
                if d < mn:
                    mn = d
                if d > mx:
                    mx = d
                i += nch
            lo += acc & 0xFFFF
            hi += acc >> 16
        k = c * NSTATS
        o[k] = s1
        o[k + 1] = lo
        o[k + 2] = hi
        o[k + 3] = mn + bc
        o[k + 4] = mx + bc
        c += 1


def accumulate(buf, nch, start, end, shift, bias, out):
    """Per-channel sums over frames [start, end) of buf (array 'H'), in viper.

    bias: array('i'), per channel, 12-bit units; out: array('i'), NSTATS per
    channel (S1, S2LO, S2HI, MIN, MAX). Allocates nothing.
    """
    _accumulate(0, 0, 0, buf, nch, start, end, shift, bias, out)


def accumulate_py(buf, nch, start, end, shift, bias, out):
    """The same sums in plain Python: the test oracle and the bench's baseline."""
    for c in range(nch):
        bc = bias[c]
        s1 = lo = hi = 0
        mn = 65535
        mx = 0
        i, stop = start * nch + c, end * nch
        while i < stop:
            acc = 0
            for j in range(i, min(i + nch * CHUNK, stop), nch):
                x = buf[j] >> shift
                d = x - bc
                s1 += d
                acc += d * d
                if x < mn:
                    mn = x
                if x > mx:
                    mx = x
            i += nch * CHUNK
            lo += acc & 0xFFFF
            hi += acc >> 16
        k = c * NSTATS
        out[k] = s1
        out[k + 1] = lo
        out[k + 2] = hi
        out[k + 3] = mn
        out[k + 4] = mx


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


def mean_square(stats, k, n):
    """Mean square deviation (12-bit units squared) of one channel's sums."""
    mean = stats[k + S1] / n
    return max(0.0, (stats[k + S2HI] * 65536.0 + stats[k + S2LO]) / n - mean * mean)


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
        self.mains_hz = mains_hz
        self.cycles = cycles
        self.shift = shift
        self.stale_ms = stale_ms
        self.frames = frames
        self.buf = array("H", bytes(2 * frames * nch))
        self.whole = array("i", bytes(4 * NSTATS * nch))   # pass 1: whole burst
        self.span = array("i", bytes(4 * NSTATS * nch))    # pass 2: whole cycles
        self.prev = array("i", bytes(4 * NSTATS * nch))    # pass 1 of the last burst
        self.bias = array("i", [2048] * nch)
        self.xing = array("i", bytes(12))
        self.irms_a = array("f", bytes(4 * nch))
        self.status = bytearray([health.MISSING] * nch)
        self.hz = 0.0         # mains frequency seen in the last burst, 0 if none
        self.span_frames = 0  # frames the RMS was taken over
        self.t_ms = None      # when the last good burst was taken

    def _nominal_hz(self):
        if self.mains_hz:
            return self.mains_hz
        return 60 if self.hz > 55 else 50

    def _window(self, n):
        """Frames [start, end) holding whole cycles of the mains."""
        st = self.whole
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
                hz = self.rate * (count - 1) / (last - first)
                if MIN_HZ - 2 <= hz <= MAX_HZ + 2:
                    self.hz = hz
                    return first, last
        self.hz = 0.0
        return 0, (self.rate * self.cycles + self._nominal_hz() // 2) // self._nominal_hz()

    def measure(self, now_ms):
        """Take one burst and update irms_a, status, hz. Returns nothing."""
        nch, n = self.nch, self.adc.read_into(self.buf, self.frames)
        if n != self.frames:
            for c in range(nch):
                self.status[c] = health.MISSING
            return
        st, prev = self.whole, self.prev
        accumulate(self.buf, nch, 0, n, self.shift, self.bias, st)
        repeat = st == prev  # the very same burst again: the sampler has stopped
        for c in range(nch):
            k = c * NSTATS
            self.status[c] = health.STALE if repeat else health.classify(
                self.bias[c] + st[k + S1] // n, st[k + MIN], st[k + MAX], n)
        prev[:] = st
        start, end = self._window(n)
        self.span_frames = m = end - start
        sp = self.span
        accumulate(self.buf, nch, start, end, self.shift, self.bias, sp)
        for c in range(nch):
            k = c * NSTATS
            self.irms_a[c] = mean_square(sp, k, m) ** 0.5 * self.cal_a[c]
            # track the bias: the mean over whole cycles is the DC offset
            b = self.bias[c] + (sp[k + S1] + m // 2) // m
            self.bias[c] = 0 if b < 0 else health.FULL12 if b > health.FULL12 else b
        self.t_ms = now_ms

    def check_stale(self, now_ms, ticks_diff):
        """Mark every channel STALE when no good burst came within stale_ms."""
        if self.t_ms is None or ticks_diff(now_ms, self.t_ms) > self.stale_ms:
            for c in range(self.nch):
                self.status[c] = health.STALE
