"""ESP32 sampler: ADC1 inputs read in a paced native loop, then linearised.

    adc = hw_esp32.make_sampler(board)    # hal.make_sampler picks this for "esp32"
    adc.read_into(buf, frames)

MicroPython on the ESP32 has no DMA path to the ADC (the IDF's continuous
mode is not exposed), so a burst is a @native loop that, for every frame,
waits for its deadline on ticks_us and reads each channel with read_u16:
frames are evenly spaced to the microsecond's jitter of the busy-wait, the
channels of one frame a read apart. Only ADC1 (GPIO 32-39) is used: ADC2
cannot be read while Wi-Fi runs. If one read_u16 takes ~20 us (our estimate,
not measured: tools/hil/adc_rate.py measures it on a board), N channels reach
about 1 / (N * 20 us) frames a second; the boards use 4 kHz a channel, and a late
frame (an interrupt) is reported by `late` so a burst that lost its pacing
can be seen. Deadlines advance with ticks_add: ticks_us wraps at 2**30 on the
boards, and a deadline kept by `+=` would grow past it into a big int, which
ticks_diff reads as garbage (a burst that waits up to the 18 minutes of the
wrap: a hang). A burst with more than frames // 64 late frames is reported
short (read_into returns frames - late), so the Meter flags it `missing`
rather than computing an RMS over unevenly spaced samples.

The ADC's curve bends near the rails: the front end keeps the signal within
~0.15-2.45 V at 11 dB, and each channel's gain is trimmed at start from the
chip's eFuse calibration (read_uv against read_u16 at the bias point), which
is what the RMS needs (the offset is removed anyway).
"""

import micropython
from micropython import const

LATE_DIVISOR = const(64)   # a burst may have up to frames // 64 late frames (~1.6 %)


@micropython.native
def paced_burst(reads, nch, buf, frames, period_us, ticks_us, ticks_diff, ticks_add):
    """Fill buf with `frames` frames, each started period_us after the last.

    reads: one read_u16 callable per channel. Returns frames that started
    later than half a period (0 on a clean burst). The deadline moves with
    ticks_add, so it stays a valid ticks value across the wrap.
    """
    late = 0
    t = ticks_us()
    k = 0
    for f in range(frames):
        while ticks_diff(ticks_us(), t) < 0:
            pass
        if ticks_diff(ticks_us(), t) > period_us // 2:
            late += 1
        for c in range(nch):
            buf[k] = reads[c]()
            k += 1
        t = ticks_add(t, period_us)
    return late


def frames_kept(frames, late):
    """Frames a burst may report: all of them, or frames - late when more than
    frames // 64 started late (the pacing was lost: the Meter flags `missing`)."""
    if late > frames // LATE_DIVISOR:
        return frames - late
    return frames


def gain_trim(adc, vref_v):
    """Calibrated volts per raw read_u16 count at the bias point, against nominal."""
    raw = adc.read_u16()
    uv = adc.read_uv()
    if raw <= 0 or uv <= 0:
        return 1.0
    return (uv / 1e6 / raw) / (vref_v / 65536)


class ESP32Sampler:
    """The sampler interface of hal.py. `machine` and `clock` (the time module)
    are handed in: the real ones on the board, fakes on the unix port."""

    def __init__(self, pins, rate_hz, vref_v, machine, clock):
        self.time = clock
        for p in pins:
            if not 32 <= p <= 39:
                raise ValueError("GPIO %d is not on ADC1 (32-39)" % p)
        self.adcs = [machine.ADC(machine.Pin(p), atten=machine.ADC.ATTN_11DB) for p in pins]
        self.reads = [a.read_u16 for a in self.adcs]
        self.channels = len(pins)
        self.period_us = 1000000 // rate_hz
        # a whole number: the Meter sizes its burst buffer from it (a float rate
        # made bytes(float) raise there); rounding moves 50 Hz by < 0.02 %
        self.rate_hz = round(1000000 / self.period_us)
        self.trim = [gain_trim(a, vref_v) for a in self.adcs]
        self.late = 0

    def read_into(self, buf, frames):
        t = self.time
        self.late = paced_burst(self.reads, self.channels, buf, frames, self.period_us,
                                t.ticks_us, t.ticks_diff, t.ticks_add)
        return frames_kept(frames, self.late)


def make_sampler(board):
    import hal
    import machine
    import time
    return ESP32Sampler([ch["pin"] for ch in hal.inputs(board)], board["adc"]["rate_hz"],
                        board["adc"]["vref_v"], machine, time)
