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
    # then the 16 channels of a PCA9685 on I2C0, clocked by a 24.576 MHz
    # oscillator on its EXTCLK (exactly 1 kHz). Its /OE on GPIO 16, with a
    # 4.7 k pull-up to 3V3: high (outputs off, -12 V) while the RP2040 is in
    # reset, when its pins are inputs with ~50 k pull-downs.
    "pilots": {"native": [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
               "i2c": {"id": 0, "sda": 0, "scl": 1, "freq": 400000},
               "oe": 16,
               "pca9685": [{"addr": 0x40, "channels": 16, "extclk_hz": 24576000}],
               "invert": False},
    # Pilot read-back: the three ADC inputs all measure CTs, so four ADS7828s
    # on the same I2C0 read the 30 pilots (charger i on input i: 0x48 inputs
    # 0-7, 0x49 8-15, ...), each pilot through the divider, a buffer and a
    # peak detector (docs/boards-and-wiring.md, "Pilot read-back"). REFin on the 3V3 rail.
    # diode_mv: a BAT54 at the detector's few-uA currents (calibrated at boot).
    "readback": {"ads7828": [0x48, 0x49, 0x4A, 0x4B], "vref_v": 3.3, "pullup_v": 3.3,
                 "divider": [100000, 22000, 33000], "diode_mv": 200},
    "watchdog_ms": 5000,  # the RP2040 allows at most 8388 ms
    # a utility's demand-response relay (dry contact) between this pin and GND,
    # pulled up: grid.contact_limit_a applies while it is closed (GPIO 22: free beside the pilots, I2C and CTs)
    "inputs": {"dr": {"pin": 22}},
}
