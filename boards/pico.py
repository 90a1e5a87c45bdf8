"""Raspberry Pi Pico / Pico W (RP2040).

    import hal; board = hal.load_board("pico")   # deployed as board.py

ADC0-2 on GPIO 26-28 (GPIO 29 reads VSYS/3 on the Pico), sampled round-robin
by the ADC's own FIFO. 100 A:50 mA clamps on 9.1 ohm burdens, bias from a
divider decoupled to ADC_VREF (3.3 V).
"""

BOARD = {
    "name": "pico",
    "arch": "armv6m",
    "mains_hz": 50,
    "adc": {"backend": "rp2", "rate_hz": 4000, "bits": 12, "vref_v": 3.3},
    "ct": [
        {"name": "L1", "pin": 26, "ratio": 2000, "burden_ohm": 9.1, "rating_a": 100},
        {"name": "L2", "pin": 27, "ratio": 2000, "burden_ohm": 9.1, "rating_a": 100},
        {"name": "L3", "pin": 28, "ratio": 2000, "burden_ohm": 9.1, "rating_a": 100},
    ],
    "watchdog_ms": 5000,  # the RP2040 allows at most 8388 ms
}
