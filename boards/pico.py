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
    # 30 pilots: 14 of the RP2040's own PWM outputs (7 slices, all at 1 kHz),
    # then the 16 channels of a PCA9685 on I2C0. No pilot read-back: the three
    # ADC inputs all measure CTs, so every enabled charger counts as a load.
    "pilots": {"native": [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
               "i2c": {"id": 0, "sda": 0, "scl": 1, "freq": 400000},
               "pca9685": [{"addr": 0x40, "channels": 16}],
               "invert": False},
    "watchdog_ms": 5000,  # the RP2040 allows at most 8388 ms
}
