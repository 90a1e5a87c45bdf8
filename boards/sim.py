"""The simulated board: the unix port with simulated clamps (simadc).

    import hal; board = hal.load_board("sim")

Its front end is the reference design of docs/boards-and-wiring.md: 100 A:50 mA clamps
(ratio 2000) on a 9.1 ohm burden, biased to mid-rail, read by a 12-bit ADC.
"""

BOARD = {
    "name": "sim",
    "arch": "x64",
    "mains_hz": 50,
    "adc": {"backend": "sim", "rate_hz": 4000, "bits": 12, "vref_v": 3.3},
    # CT inputs, in sampler order
    "ct": [
        {"name": "L1", "ratio": 2000, "burden_ohm": 9.1, "rating_a": 100},
        {"name": "L2", "ratio": 2000, "burden_ohm": 9.1, "rating_a": 100},
        {"name": "L3", "ratio": 2000, "burden_ohm": 9.1, "rating_a": 100},
    ],
    "pilots": {"sim": 30},
    # No pilot read-back here (every enabled charger counts as a possible load).
    # A "readback" entry of {"sim": 30} gives a simulated one: a board's
    # readback.Readback on simadc.PilotADC chips (the reference boards' front
    # end), their pilot levels set by a test or a simulation.
    "watchdog_ms": 5000,
}
