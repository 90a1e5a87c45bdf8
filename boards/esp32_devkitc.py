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
    # two PCA9685s on I2C0 (GPIO 21/22). No pilot read-back on this board.
    "pilots": {"native": [4, 13, 14, 16, 17, 18, 19, 23],
               "i2c": {"id": 0, "sda": 21, "scl": 22, "freq": 400000},
               "pca9685": [{"addr": 0x40, "channels": 16}, {"addr": 0x41, "channels": 6}],
               "invert": False},
    "watchdog_ms": 5000,
}
