"""Accuracy figures: the Meter over simulated clamps, every shape, 47-63 Hz, drifting bias.

    micropython accuracy_mp.py   # one JSON line: windows, unhealthy, worst errors
"""
import ct, health
from simadc import SINE, EV, SMPS, Clamp, SimADC
AMPS = (0.5, 1.0, 2.0, 5.0, 10.0, 16.0, 32.0, 63.0, 100.0)
worst_rel = 0; worst_abs_small = 0; n = 0; bad = 0
for shape, sname in ((SINE, "sine"), (EV, "ev"), (SMPS, "smps")):
    for hz in (47.0, 50.0, 55.0, 60.0, 63.0):
        clamps = [Clamp(a, shape, hz, bias=0.5 + 0.004 * (i - 4), drift_per_s=0.01) for i, a in enumerate(AMPS)]
        m = ct.Meter(SimADC(clamps, 4000, seed=int(hz)), [0.01] * 9, mains_hz=0)
        for w in range(4):
            m.measure(w * 250)
            for c, a in enumerate(AMPS):
                n += 1
                if m.status[c] != health.OK: bad += 1
                err = abs(m.irms_a[c] - a)
                if a >= 10: worst_rel = max(worst_rel, err / a)
                else: worst_abs_small = max(worst_abs_small, err)
import json
print(json.dumps({"windows": n, "unhealthy": bad, "worst_rel_pct": 100 * worst_rel, "worst_abs_a": worst_abs_small}))
