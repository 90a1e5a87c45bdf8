"""Espressif ESP32-DevKitC (ESP32-WROOM-32).

    import hal; board = hal.load_board("esp32_devkitc")   # deployed as board.py

CT inputs on ADC1 only (GPIO 32-39): ADC2 cannot be read while Wi-Fi runs.
GPIO 36, 39 and 34 are input-only pins with no pull-ups, which suits analogue
inputs. 11 dB attenuation gives ~0-3.1 V; the chip's curve is corrected by
the driver's calibration (board-support issue), so vref_v is the span after it.
A 9.1 ohm burden keeps a 300 A peak (100 A at crest factor 3) inside that span.
"""

BOARD = {
    "name": "esp32_devkitc",
    "arch": "xtensawin",
    "mains_hz": 50,
    "adc": {"backend": "esp32", "rate_hz": 4000, "bits": 12, "vref_v": 3.1},
    "ct": [
        {"name": "L1", "pin": 36, "ratio": 2000, "burden_ohm": 9.1, "rating_a": 100},
        {"name": "L2", "pin": 39, "ratio": 2000, "burden_ohm": 9.1, "rating_a": 100},
        {"name": "L3", "pin": 34, "ratio": 2000, "burden_ohm": 9.1, "rating_a": 100},
    ],
    # 30 pilots: 8 LEDC outputs on pins free of boot straps and flash, then
    # two PCA9685s on I2C0 (GPIO 21/22), both clocked by one 24.576 MHz
    # oscillator on their EXTCLK (exactly 1 kHz). Their /OE pins tied together
    # to GPIO 25 (no strap; an input while the ESP32 is in reset), with a
    # 4.7 k pull-up to 3V3: outputs off (-12 V) until the firmware drives it.
    "pilots": {"native": [4, 13, 14, 16, 17, 18, 19, 23],
               "i2c": {"id": 0, "sda": 21, "scl": 22, "freq": 400000},
               "oe": 25,
               "pca9685": [{"addr": 0x40, "channels": 16, "extclk_hz": 24576000},
                           {"addr": 0x41, "channels": 6, "extclk_hz": 24576000}],
               "invert": False},
    # Pilot read-back: ADC1's spare inputs are too few for 30, so four
    # ADS7828s on the same I2C0 (charger i on input i: 0x48 inputs 0-7, ...),
    # each pilot through the divider, a buffer and a peak detector
    # (docs/boards-and-wiring.md, "Pilot read-back"). REFin on the 3V3 rail.
    # diode_mv: a BAT54 at the detector's few-uA currents (calibrated at boot).
    "readback": {"ads7828": [0x48, 0x49, 0x4A, 0x4B], "vref_v": 3.3, "pullup_v": 3.3,
                 "divider": [100000, 22000, 33000], "diode_mv": 200},
    "watchdog_ms": 5000,
    # TLS (mbedtls) allocates from the IDF's heap (~40 KB kept beside Wi-Fi), not
    # MicroPython's: the boot heap check (firmware/board/heap.py) does not count it
    "tls_heap": "idf",
    # a utility's demand-response relay (dry contact) between this pin and GND,
    # pulled up: grid.contact_limit_a applies while it is closed (GPIO 27: no strap, not an ADC1 input)
    "inputs": {"dr": {"pin": 27}},
}
