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
can be seen. The ADC's curve bends near the rails: the front end keeps the
signal within ~0.15-2.45 V at 11 dB, and each channel's gain is trimmed at
start from the chip's eFuse calibration (read_uv against read_u16 at the
bias point), which is what the RMS needs (the offset is removed anyway).
"""

import micropython


@micropython.native
def paced_burst(reads, nch, buf, frames, period_us, ticks_us, ticks_diff):
    """Fill buf with `frames` frames, each started period_us after the last.

    reads: one read_u16 callable per channel. Returns frames that started
    later than half a period (0 on a clean burst).
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
        t += period_us
    return late


def gain_trim(adc, vref_v):
    """Calibrated volts per raw read_u16 count at the bias point, against nominal."""
    raw = adc.read_u16()
    uv = adc.read_uv()
    if raw <= 0 or uv <= 0:
        return 1.0
    return (uv / 1e6 / raw) / (vref_v / 65536)


class ESP32Sampler:
    def __init__(self, pins, rate_hz, vref_v):
        import machine
        import time
        self.time = time
        for p in pins:
            if not 32 <= p <= 39:
                raise ValueError("GPIO %d is not on ADC1 (32-39)" % p)
        self.adcs = [machine.ADC(machine.Pin(p), atten=machine.ADC.ATTN_11DB) for p in pins]
        self.reads = [a.read_u16 for a in self.adcs]
        self.channels = len(pins)
        self.period_us = 1000000 // rate_hz
        self.rate_hz = 1000000 / self.period_us
        self.trim = [gain_trim(a, vref_v) for a in self.adcs]
        self.late = 0

    def read_into(self, buf, frames):
        t = self.time
        self.late = paced_burst(self.reads, self.channels, buf, frames, self.period_us,
                                t.ticks_us, t.ticks_diff)
        return frames


def make_sampler(board):
    return ESP32Sampler([ch["pin"] for ch in board["ct"]], board["adc"]["rate_hz"],
                        board["adc"]["vref_v"])
