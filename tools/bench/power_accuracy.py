"""Real-power accuracy through the replay contract (CPython; the firmware on the unix port).

    python3 tools/bench/power_accuracy.py [--quick]     # prints one JSON line

Captures are synthesised as a round-robin ADC would take them (channel c of
a frame 1/nch of a frame after channel c - 1), with 12-bit quantisation and
~0.8 LSB of triangular noise, then replayed with `tools/replay.py CAPTURE
--rate 4000 --voltage V --volts-per-count KV` (the Meter, the power kernel,
the skew correction: the firmware's own code). One capture per mains
frequency and CT load: five current channels at power factors 0.5 lagging
to 0.8 leading, the same five reversed (export), and the voltage with a 3 %
third harmonic. The currents are harmonic-rich (an EV charger's third,
fifth and seventh). Energy is the sum of the windows' P over the capture
(what the hub adds up), compared with the true energy.
"""

import json
import math
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
RATE = 4000
A_PER_COUNT = 3.3 / 65536 / 9.1 * 2000     # docs/boards-and-wiring.md's CT input: 100 A CT, 9.1 ohm
V_PER_COUNT = 3.3 / 65536 * 281            # an AC-AC adapter (230:9 V) and a 11:1 divider
RATING_A = 100.0
VOLTS = 230.0
ANGLES = (60.0, 30.0, 0.0, -25.0, -36.87)  # the current lags by this (negative: leads)
HARMONICS = ((1, 1.0, 0.0), (3, 0.25, 0.4), (5, 0.12, 1.1), (7, 0.05, 2.0))
V_HARMONICS = ((1, 1.0, 0.0), (3, 0.03, 0.2))


def _rms(shape):
    return math.sqrt(sum(a * a for _, a, _ in shape) / 2)


def capture(path, hz, amps, seconds, rng):
    """Write one capture; return (true W per current channel, true Vrms)."""
    norm_i = amps / _rms(HARMONICS)          # amplitude of the fundamental, amps
    norm_v = VOLTS / _rms(V_HARMONICS)
    chans = []
    for deg in ANGLES:
        phi = math.radians(deg)
        chans.append([(norm_i * a, h, ph - h * phi) for h, a, ph in HARMONICS])
    chans += [[(a, h, ph + math.pi) for a, h, ph in c] for c in chans]   # export
    volt = [(norm_v * a, h, ph) for h, a, ph in V_HARMONICS]
    truth = [sum(ai * av / 2 * math.cos(pi - pv) for ai, hi, pi in c for av, hv, pv in volt if hi == hv)
             for c in chans]
    allc = chans + [volt]
    scale = [1 / A_PER_COUNT] * len(chans) + [1 / V_PER_COUNT]
    nch = len(allc)
    names = ["I%d" % k for k in range(len(chans))] + ["V"]
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for n in range(int(seconds * RATE)):
            row = []
            for c in range(nch):
                t = (n + c / nch) / RATE
                x = 32768.0 + sum(a * math.sin(2 * math.pi * hz * h * t + ph) for a, h, ph in allc[c]) * scale[c]
                x += (rng.random() + rng.random() + rng.random() - 1.5) * 16 * 1.6   # ~0.8 LSB rms
                row.append(str(max(0, min(65535, int(x)))))
            f.write(",".join(row) + "\n")
    return truth, VOLTS


def main():
    quick = "--quick" in sys.argv
    rng = random.Random(1)
    tmp = tempfile.mkdtemp(prefix="almhub-pacc-")
    rows = []
    worst_e = worst_w = worst_v = 0.0
    for hz in (47, 50, 60, 63):
        for frac in (0.05, 0.3, 1.0):
            path = os.path.join(tmp, "c.csv")
            truth, vtrue = capture(path, hz, RATING_A * frac, 1.0 if quick else 3.0, rng)
            r = subprocess.run([sys.executable, os.path.join(HERE, "..", "replay.py"), path, "--rate", str(RATE),
                                "--amps-per-count", repr(A_PER_COUNT), "--voltage", "V",
                                "--volts-per-count", repr(V_PER_COUNT)], capture_output=True, text=True)
            if r.returncode:
                sys.exit("power_accuracy: replay failed: " + r.stderr)
            wins = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
            wins = [w for w in wins if "windows" not in w]
            e_err = w_err = v_err = 0.0
            for k, t in enumerate(truth):
                ps = [w["channels"]["I%d" % k]["p_w"] for w in wins]
                e_err = max(e_err, abs(sum(ps) / len(ps) - t) / abs(t))
                w_err = max(w_err, max(abs(p - t) / abs(t) for p in ps))
            for w in wins:
                v_err = max(v_err, abs(w["channels"]["V"]["vrms"] - vtrue) / vtrue)
            rows.append({"hz": hz, "load_pct": round(100 * frac), "windows": len(wins),
                         "energy_err_pct": round(100 * e_err, 3), "window_err_pct": round(100 * w_err, 3),
                         "vrms_err_pct": round(100 * v_err, 3)})
            worst_e, worst_w, worst_v = max(worst_e, e_err), max(worst_w, w_err), max(worst_v, v_err)
    os.remove(os.path.join(tmp, "c.csv"))
    os.rmdir(tmp)
    print(json.dumps({"rows": rows, "worst_energy_pct": round(100 * worst_e, 3),
                      "worst_window_pct": round(100 * worst_w, 3), "worst_vrms_pct": round(100 * worst_v, 3)}))


if __name__ == "__main__":
    main()
