"""Hardware-in-the-loop: measure the sampler's real rate on a board.

    mpremote connect /dev/ttyACM0 run tools/hil/adc_rate.py     # with board.py deployed

Prints, for the board's CT inputs: the time one read_u16 takes, the fastest
even-spaced frame rate the board's sampler keeps without late frames, and
for the RP2040 the rate its clock divider gives (exact by construction).
"""
import time
from array import array

import board
import hal

B = board.BOARD
pins = [ch["pin"] for ch in B["ct"]]
if B["adc"]["backend"] == "esp32":
    import hw_esp32
    import machine
    adcs = [machine.ADC(machine.Pin(p), atten=machine.ADC.ATTN_11DB) for p in pins]
    t0 = time.ticks_us()
    for _ in range(1000):
        adcs[0].read_u16()
    per = time.ticks_diff(time.ticks_us(), t0) / 1000
    print("read_u16: %.1f us" % per)
    reads = [a.read_u16 for a in adcs]
    buf = array("H", bytes(2 * len(pins) * 1000))
    for rate in (2000, 4000, 8000, 12000, 16000, 20000, 25000):
        late = hw_esp32.paced_burst(reads, len(pins), buf, 1000, 1000000 // rate, time.ticks_us, time.ticks_diff)
        print("%6d frames/s x %d channels: %d late of 1000" % (rate, len(pins), late))
else:
    s = hal.make_sampler(B)
    buf = array("H", bytes(2 * s.channels * 2000))
    t0 = time.ticks_us()
    got = s.read_into(buf, 2000)
    dt = time.ticks_diff(time.ticks_us(), t0)
    print("%d frames in %d us: %.0f frames/s (configured %.1f)" % (got, dt, got * 1e6 / dt, s.rate_hz))
