"""Board sampler code that can run here: RP2040 register values and viper code
over a bytearray standing in for the ADC's registers; the ESP32 pacing loop."""
from array import array

import hw_esp32
import hw_rp2
from mpunit import eq, near, ok, raises


def word(regs, off):
    return regs[off] | regs[off + 1] << 8 | regs[off + 2] << 16 | regs[off + 3] << 24


def test_rp2_register_values():
    cs, fcs, div = hw_rp2.registers([0, 1, 2], 4000)
    eq(cs & 1, 1)                       # EN
    eq((cs >> 12) & 7, 0)               # AINSEL: the first input
    eq((cs >> 16) & 0x1F, 0b00111)      # RROBIN: inputs 0, 1, 2
    eq(fcs & 0b1001, 0b1001)            # FIFO on, DREQ on
    eq(fcs & 2, 0)                      # no SHIFT: 12-bit results
    eq(fcs & 4, 4)                      # ERR: a failed conversion sets bit 15 of its result
    near(hw_rp2.actual_rate(div, 3), 4000, 0.01)
    eq(div >> 8, 3999)                  # 48 MHz / 12 kS/s = 4000 clocks: DIV.INT 3999
    cs1, _, _ = hw_rp2.registers([2], 8000)
    eq((cs1 >> 16) & 0x1F, 0)           # one input: no round robin
    eq((cs1 >> 12) & 7, 2)
    raises(ValueError, hw_rp2.registers, [0, 2], 4000)    # not consecutive
    raises(ValueError, hw_rp2.registers, [0, 1, 2], 200000)  # beyond 500 kS/s
    eq([hw_rp2.gpio_to_ain(p) for p in (26, 27, 28)], [0, 1, 2])
    raises(ValueError, hw_rp2.gpio_to_ain, 25)


def test_rp2_widen_matches_read_u16():
    buf = array("H", list(range(0, 4096, 7)))
    n = len(buf)
    eq(hw_rp2.widen(buf, n), 0, "no error bits")
    eq(list(buf), [(x << 4) | (x >> 8) for x in range(0, 4096, 7)])


def test_rp2_widen_counts_error_bits():
    raw = [100, 0x8000 | 200, 4095, 0x8000 | 0, 0x8FFF]
    buf = array("H", raw)
    eq(hw_rp2.widen(buf, 5), 3)
    eq(list(buf), [(x << 4) | (x >> 8) for x in (100, 200, 4095, 0, 4095)], "values still widened")
    buf = array("H", raw)
    eq(hw_rp2.widen(buf, 1), 0, "only the first n are looked at")


def put_word(regs, off, v):
    for i in range(4):
        regs[off + i] = (v >> (8 * i)) & 0xFF


def burst(nch, frames, flag_at=None):
    buf = array("H", [(17 * i) & 0xFFF for i in range(nch * frames)])
    if flag_at is not None:
        buf[flag_at] |= 0x8000
    return buf


def test_rp2_burst_rejected_on_fifo_overflow_underflow_or_error():
    cs, fcs, div = hw_rp2.registers([0, 1, 2], 4000)
    # a clean burst: every frame, widened
    regs = bytearray(0x20)
    hw_rp2.configure(regs, cs, fcs, div)
    hw_rp2.start(regs, cs)
    buf = burst(3, 10)
    eq(hw_rp2.finish(regs, cs, buf, 30, 3), 10)
    eq(word(regs, 0x00) & 0x8, 0, "the ADC stopped")
    eq(buf[1], ((17 << 4) | (17 >> 8)))
    # OVER (0x800): a result was dropped with the FIFO full, the rest sit one slot off
    # UNDER (0x400): the FIFO was read empty
    for flag in (0x800, 0x400, 0xC00):
        regs = bytearray(0x20)
        hw_rp2.configure(regs, cs, fcs, div)
        put_word(regs, 0x08, fcs | flag)
        eq(hw_rp2.lost(regs), flag)
        eq(hw_rp2.finish(regs, cs, burst(3, 10), 30, 3), 0, "flag 0x%x rejects the burst" % flag)
    # one conversion error (bit 15) anywhere rejects it too
    for at in (0, 13, 29):
        regs = bytearray(0x20)
        hw_rp2.configure(regs, cs, fcs, div)
        eq(hw_rp2.finish(regs, cs, burst(3, 10, at), 30, 3), 0, "error bit at %d" % at)
    # drain() clears the flags before the next burst (write 1 to clear on the
    # chip; a bytearray keeps them, so only the write is checked)
    regs = bytearray(0x20)
    hw_rp2.drain(regs)
    eq(word(regs, 0x08) & 0xC00, 0xC00)


def test_rp2_rate_is_a_whole_number_the_meter_can_size_a_burst_from():
    import ct
    _, _, div = hw_rp2.registers([0, 1, 2], 4000)
    rate = hw_rp2.frame_rate(div, 3)
    eq(rate, 4000)
    ok(type(rate) is int)

    class Shape:
        channels = 3
        rate_hz = rate
    ok(ct.Meter(Shape(), [0.01] * 3).frames > 0)


def test_rp2_register_code_over_a_bytearray():
    regs = bytearray(0x20)
    cs, fcs, div = hw_rp2.registers([0, 1, 2], 4000)
    hw_rp2.configure(regs, cs, fcs, div)
    eq(word(regs, 0x00), cs)
    eq(word(regs, 0x08), fcs)
    eq(word(regs, 0x10), div)
    hw_rp2.start(regs, cs)
    eq(word(regs, 0x00) & 0x8, 0x8)     # START_MANY
    hw_rp2.stop(regs, cs)
    eq(word(regs, 0x00) & 0x8, 0)
    eq(hw_rp2.drain(regs), 0)           # FIFO level 0: nothing to drop
    ok(word(regs, 0x08) & 0xC00 == 0xC00, "OVER/UNDER written 1 to clear")


def test_esp32_paced_burst_spacing():
    now = [0]

    def ticks_us():
        now[0] += 3        # each call costs 3 us
        return now[0]
    taken = []

    def reader(c):
        return lambda: taken.append((c, now[0])) or 1000 + c
    reads = [reader(c) for c in range(3)]
    buf = array("H", bytes(2 * 3 * 50))
    late = hw_esp32.paced_burst(reads, 3, buf, 50, 250, ticks_us, lambda a, b: a - b,
                                lambda a, b: a + b)
    eq(late, 0)
    eq(list(buf[:6]), [1000, 1001, 1002, 1000, 1001, 1002])
    starts = [t for c, t in taken if c == 0]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    ok(all(247 <= g <= 253 for g in gaps), "frames 250 us apart: %r" % gaps[:10])


def test_esp32_late_frames_are_counted():
    now = [0]

    def ticks_us():
        now[0] += 200      # a slow clock read: every frame starts late
        return now[0]
    buf = array("H", bytes(2 * 10))
    late = hw_esp32.paced_burst([lambda: 5], 1, buf, 10, 100, ticks_us, lambda a, b: a - b,
                                lambda a, b: a + b)
    ok(late >= 9, "late %d" % late)


_TICKS_PERIOD = 1 << 30      # ticks_us wraps here on the 32-bit boards (small ints)
_TICKS_MAX = _TICKS_PERIOD - 1


class Ticks30:
    """The time module of a 32-bit board: ticks_us wraps at 2**30.

    ticks_diff/ticks_add as MicroPython's extmod/modtime.c computes them. An
    argument outside 0..2**30-1 is no ticks value: on the board it is a big
    int, whose object pointer ticks_diff reads as a number (garbage: a
    deadline up to 18 minutes away, the hang). Here it raises instead.
    Every ticks_us() call costs `step` us; `now` is the unwrapped time.
    """

    def __init__(self, start, step):
        self.now = start
        self.step = step

    def ticks_us(self):
        self.now += self.step
        return self.now & _TICKS_MAX

    def _valid(self, t):
        if not 0 <= t <= _TICKS_MAX:
            raise ValueError("%r is not a 30-bit ticks value (a big int on the board)" % (t,))

    def ticks_diff(self, a, b):
        self._valid(a)
        self._valid(b)
        return ((a - b + _TICKS_PERIOD // 2) & _TICKS_MAX) - _TICKS_PERIOD // 2

    def ticks_add(self, t, delta):
        self._valid(t)
        return (t + delta) & _TICKS_MAX


class _ESP32ADC:
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.pin = pin

    def read_u16(self):
        return 32768

    def read_uv(self):
        return 1550000


class _ESP32Machine:
    ADC = _ESP32ADC

    class Pin:
        def __init__(self, n):
            self.n = n


def esp32_sampler(clock, nch=3):
    return hw_esp32.ESP32Sampler([36, 39, 34][:nch], 4000, 3.1, _ESP32Machine, clock)


def test_esp32_burst_crosses_the_ticks_wrap_evenly():
    clock = Ticks30(_TICKS_PERIOD - 20000, 3)   # 20 ms before the wrap: the burst takes 245 ms
    adc = esp32_sampler(clock)
    taken = []

    def reader(c):
        return lambda: taken.append(clock.now) or 1000 + c if c == 0 else 1000 + c
    adc.reads = [reader(c) for c in range(3)]
    frames = 979
    buf = array("H", bytes(2 * 3 * frames))
    t0 = clock.now
    got = adc.read_into(buf, frames)
    eq(got, frames, "the whole burst, across the wrap")
    eq(adc.late, 0)
    ok(t0 < _TICKS_PERIOD < clock.now, "the burst did cross the wrap")
    ok(clock.now - t0 < frames * 250 + 1000, "no wait beyond the burst: %d us" % (clock.now - t0))
    gaps = [b - a for a, b in zip(taken, taken[1:])]
    eq(len(gaps), frames - 1)
    ok(min(gaps) >= 247 and max(gaps) <= 253, "frames 250 us apart: %d..%d" % (min(gaps), max(gaps)))
    eq(list(buf[-3:]), [1000, 1001, 1002])


def test_esp32_burst_with_many_late_frames_is_short():
    frames = 128                                   # up to 128 // 64 = 2 late frames are kept
    for stall_us, kept in ((300, True), (5000, False)):
        clock = Ticks30(_TICKS_PERIOD - 5000, 3)
        adc = esp32_sampler(clock, 1)
        calls = [0]

        def read():
            calls[0] += 1
            if calls[0] == 40:
                clock.now += stall_us               # an interrupt in the middle of the burst
            return 2048
        adc.reads = [read]
        buf = array("H", bytes(2 * frames))
        got = adc.read_into(buf, frames)
        if kept:
            ok(adc.late <= frames // 64, "a short stall: %d late" % adc.late)
            eq(got, frames)
        else:
            ok(adc.late > frames // 64, "a long stall: %d late" % adc.late)
            eq(got, frames - adc.late, "reported short")
    eq(hw_esp32.frames_kept(979, 15), 979)
    eq(hw_esp32.frames_kept(979, 16), 963)
    eq(hw_esp32.frames_kept(979, 979), 0)


def test_esp32_late_burst_is_flagged_missing_by_the_meter():
    import ct
    import health
    clock = Ticks30(_TICKS_PERIOD - 1000, 3)
    adc = esp32_sampler(clock)
    calls = [0]

    def read():
        calls[0] += 1
        if calls[0] == 300:
            clock.now += 20000                      # 20 ms lost: 80 frames late
        return 2048
    adc.reads = [read, lambda: 2048, lambda: 2048]
    m = ct.Meter(adc, [0.01] * 3, mains_hz=50)
    m.measure(0)
    ok(adc.late > m.frames // 64, "late %d" % adc.late)
    eq(list(m.status), [health.MISSING] * 3)


class FakeADC:
    def __init__(self, raw, uv):
        self.raw, self.uv = raw, uv

    def read_u16(self):
        return self.raw

    def read_uv(self):
        return self.uv


def test_esp32_gain_trim():
    # nominal: 3.1 V over 65536 counts; the eFuse says 1.30 V where nominal is 1.55 V
    near(hw_esp32.gain_trim(FakeADC(32768, 1300000), 3.1), 1.30 / 1.55, 1e-6)
    eq(hw_esp32.gain_trim(FakeADC(0, 0), 3.1), 1.0)
