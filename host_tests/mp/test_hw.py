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
    hw_rp2.widen(buf, n)
    eq(list(buf), [(x << 4) | (x >> 8) for x in range(0, 4096, 7)])


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
    late = hw_esp32.paced_burst(reads, 3, buf, 50, 250, ticks_us, lambda a, b: a - b)
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
    late = hw_esp32.paced_burst([lambda: 5], 1, buf, 10, 100, ticks_us, lambda a, b: a - b)
    ok(late >= 9, "late %d" % late)


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
