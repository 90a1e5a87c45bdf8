"""tools/replay.py: captures from anywhere, measured by the firmware on the unix port."""

import json
import math
import os
import random
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPLAY = os.path.join(ROOT, "tools", "replay.py")
APC = 0.01  # amps per count used to make the captures


def replay(*args):
    return subprocess.run([sys.executable, REPLAY] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=120)


def counts(amps, hz, t, harmonics=((1, 1.0),), bias=32768, rng=None):
    norm = math.sqrt(sum(a * a for _, a in harmonics) / 2)
    i = sum(a * math.sin(2 * math.pi * h * hz * t) for h, a in harmonics) / norm * amps
    v12 = int(round((bias + i / APC) / 16 + (rng.gauss(0, 0.8) if rng else 0)))
    v12 = min(4095, max(0, v12))
    return (v12 << 4) | (v12 >> 8)


def write(tmp_path, name, rows, header="L1,L2,L3"):
    p = tmp_path / name
    p.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return p


def test_replays_a_three_phase_capture(tmp_path):
    rng = random.Random(7)
    rate, hz = 4000, 50.0
    ev = ((1, 1.0), (3, 0.12), (5, 0.07))
    rows = [(counts(16.0, hz, n / rate, rng=rng), counts(5.0, hz, n / rate, ev, rng=rng), 0)
            for n in range(rate * 2)]
    r = replay(write(tmp_path, "cap.csv", rows), "--rate", rate, "--amps-per-count", APC)
    assert r.returncode == 0, r.stderr
    windows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(windows) >= 7
    ts = [w["t"] for w in windows]
    assert ts == sorted(ts) and ts[0] > 0
    for w in windows:
        ch = w["channels"]
        assert ch["L1"]["status"] == "ok" and abs(ch["L1"]["irms"] - 16.0) <= 0.08
        assert ch["L2"]["status"] == "ok" and abs(ch["L2"]["irms"] - 5.0) <= 0.05
        assert ch["L3"]["status"] == "open"  # a channel that reads 0 V is an unplugged clamp
    assert "trailing samples" in r.stderr


def test_sixty_hertz_detected_and_windows_timed(tmp_path):
    rate = 8000
    rows = [(counts(30.0, 60.0, n / rate),) for n in range(rate)]
    r = replay(write(tmp_path, "c60.csv", rows, header="mains"), "--rate", rate, "--mains", 60)
    assert r.returncode == 0, r.stderr
    windows = [json.loads(line) for line in r.stdout.splitlines()]
    burst = windows[0]["t"]
    assert [round(w["t"] / burst) for w in windows] == list(range(1, len(windows) + 1))
    for w in windows:
        # the default calibration (0.01 A per count) is the one the capture was made with
        assert abs(w["channels"]["mains"]["irms"] - 30.0) <= 0.15


def test_capture_recorded_on_the_unix_port_replays(tmp_path):
    """capture.write_csv (what the hub records) is exactly what replay reads."""
    p = tmp_path / "rec.csv"
    code = ("import ct, capture, simadc\n"
            "adc = simadc.SimADC([simadc.Clamp(12.0, simadc.EV), simadc.Clamp(40.0)], 4000)\n"
            "m = ct.Meter(adc, [0.01, 0.01])\n"
            "f = open(%r, 'w')\n"
            "adc.read_into(m.buf, m.frames)\n"
            "capture.write_csv(f, ['a', 'b'], m.buf, m.frames)\n"
            "f.close()\n" % str(p))
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import mpenv
    r = mpenv.run(["-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    assert p.read_text().startswith("# sampling: round-robin\na,b\n")   # the hub's ADC, said in the file
    r = replay(p, "--rate", 4000)
    assert r.returncode == 0, r.stderr
    (w,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert abs(w["channels"]["a"]["irms"] - 12.0) <= 0.06
    assert abs(w["channels"]["b"]["irms"] - 40.0) <= 0.2


@pytest.mark.parametrize("text, where", [
    ("", "line 1"),
    ("\n\n", "line 1"),
    ("1,2,3\n4,5,6\n", "line 1"),                    # numbers where names belong
    ("L1,,L3\n1,2,3\n", "line 1"),                   # empty name
    ("L1,L1\n1,2\n", "line 1"),                      # repeated name
    ("L1,L2\n100,200\n300,abc\n", "line 3, column 2"),
    ("L1,L2\n100,200\n300\n", "line 3"),             # ragged
    ("L1,L2\n100,200,5\n", "line 2"),
    ("L1,L2\n100,70000\n", "line 2, column 2"),
    ("L1,L2\n-1,7\n", "line 2, column 1"),
    ("L1,L2\n1.5,7\n", "line 2, column 1"),
    ("L1,L2\n", "no samples"),
    ("# sampling: sideways\nL1,L2\n1,2\n", "line 1: sampling 'sideways'"),
    ("# sampling: simultaneous\nL1,L1\n1,2\n", "line 2"),   # the header after the line
])
def test_malformed_captures_get_one_line_errors(tmp_path, text, where):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    r = replay(p, "--rate", 4000)
    assert r.returncode == 2
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert where in r.stderr


def test_binary_garbage_and_missing_file(tmp_path):
    p = tmp_path / "garbage.csv"
    p.write_bytes(bytes(range(256)) * 4)
    for path in (p, tmp_path / "nonexistent.csv"):
        r = replay(path, "--rate", 4000)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_too_short_for_one_window(tmp_path):
    r = replay(write(tmp_path, "short.csv", [(32768,)] * 100, header="L1"), "--rate", 4000)
    assert r.returncode == 2 and "one window needs" in r.stderr


def test_bad_arguments_are_refused(tmp_path):
    p = write(tmp_path, "ok.csv", [(32768,)] * 10, header="L1")
    for args in (["--rate", "0"], ["--rate", "99999999"], ["--rate", "4000", "--mains", "55"],
                 ["--rate", "4000", "--amps-per-count", "-1"], []):
        r = replay(p, *args)
        assert r.returncode == 2 and "Traceback" not in r.stderr


def test_voltage_reference_gives_real_power_and_vrms(tmp_path):
    # round-robin samples (channel c of frame n at (n + c/3) / rate) as the board takes
    # them: a 16 A current lagging by 60 degrees (PF 0.5) with harmonics, an 8 A export at
    # PF 0.9 leading, against 120 V; the firmware's Meter and power kernel measure them
    rng = random.Random(3)
    rate, hz, kv = 4000, 60.0, 0.01
    ev = ((1, 1.0), (3, 0.12), (5, 0.07))

    def sample(x, scale):
        v12 = min(4095, max(0, int(round((32768 + x / scale) / 16 + rng.gauss(0, 0.8)))))
        return (v12 << 4) | (v12 >> 8)

    rows = []
    for n in range(rate * 2):
        t = [(n + c / 3) / rate for c in range(3)]
        norm = math.sqrt(sum(a * a for _, a in ev) / 2)
        i1 = sum(a * math.sin(2 * math.pi * h * hz * t[0] - h * math.radians(60)) for h, a in ev) / norm * 16
        i2 = -math.sqrt(2) * 8 * math.sin(2 * math.pi * hz * t[1] + math.radians(25.84))
        v = math.sqrt(2) * 120 * math.sin(2 * math.pi * hz * t[2])
        rows.append((sample(i1, APC), sample(i2, APC), sample(v, kv)))
    cap = write(tmp_path, "pv.csv", rows, header="L1,PV,V1")
    r = replay(cap, "--rate", rate, "--amps-per-count", APC, "--voltage", "V1", "--volts-per-count", kv)
    assert r.returncode == 0, r.stderr
    windows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(windows) >= 5
    p1 = 16 / math.sqrt(sum(a * a for _, a in ev)) * 120 * 0.5     # only the fundamental carries power
    p2 = -8 * 120 * 0.9
    for w in windows:
        ch = w["channels"]
        assert set(ch["V1"]) == {"vrms", "status"} and abs(ch["V1"]["vrms"] - 120) <= 0.6, ch   # 0.5 %
        assert abs(ch["L1"]["p_w"] - p1) <= 0.01 * abs(p1), (ch["L1"], p1)                     # 1 %
        assert abs(ch["PV"]["p_w"] - p2) <= 0.01 * abs(p2), (ch["PV"], p2)                     # export < 0
        assert abs(ch["L1"]["pf"] - p1 / (16 * 120)) <= 0.01 and abs(ch["PV"]["pf"] + 0.9) <= 0.01, ch
    # bad use: one line, status 2
    for args, why in ((("--voltage", "V9", "--volts-per-count", kv), "no channel 'V9'"),
                      (("--voltage", "V1"), "go together")):
        r = replay(cap, "--rate", rate, *args)
        assert r.returncode == 2 and why in r.stderr, r.stderr


def test_simultaneous_capture_gets_no_skew_correction(tmp_path):
    # a scope's two probes at 12 kHz, both taken at each instant: 4 A lagging
    # 230 V, 50 Hz, by 60 degrees (PF 0.5): 460 W. Read as round-robin, the
    # voltage is moved back half a frame (0.75 degrees) that it never was: ~2 % high
    rng = random.Random(5)
    rate, hz, ka, kv = 12000, 50.0, 0.002, 0.02

    def sample(x, scale):
        v12 = min(4095, max(0, int(round((32768 + x / scale) / 16 + rng.gauss(0, 0.8)))))
        return (v12 << 4) | (v12 >> 8)

    w = 2 * math.pi * hz
    rows = [(sample(math.sqrt(2) * 4 * math.sin(w * n / rate - math.radians(60)), ka),
             sample(math.sqrt(2) * 230 * math.sin(w * n / rate), kv)) for n in range(rate)]
    cap = write(tmp_path, "scope.csv", rows, header="L1,V1")
    args = ("--rate", rate, "--amps-per-count", ka, "--voltage", "V1", "--volts-per-count", kv)

    def watts(path, *more):
        r = replay(path, *(args + more))
        assert r.returncode == 0, r.stderr
        windows = [json.loads(line)["channels"]["L1"] for line in r.stdout.splitlines()]
        assert len(windows) >= 3
        return [ch["p_w"] for ch in windows], [ch["pf"] for ch in windows]

    p, pf = watts(cap, "--sampling", "simultaneous")
    for x, f in zip(p, pf):
        assert abs(x - 460) <= 0.005 * 460 and abs(f - 0.5) <= 0.005, (x, f)
    rr = watts(cap)[0]          # no line in the file, no flag: round-robin, the hub's
    assert watts(cap, "--sampling", "round-robin")[0] == rr
    skewed = 460 * math.cos(math.radians(60 - 0.5 * 360 * hz / rate)) / 0.5     # 470.4 W
    for x in rr:
        assert abs(x - skewed) <= 0.005 * skewed and x > 1.015 * 460, x
    # the file can say it; a flag overrides the file
    said = tmp_path / "said.csv"
    said.write_text("# sampling: simultaneous\n" + cap.read_text())
    assert watts(said) == (p, pf)
    assert watts(said, "--sampling", "round-robin")[0] == rr


def test_bad_sampling_is_refused(tmp_path):
    p = write(tmp_path, "ok.csv", [(32768,)] * 10, header="L1")
    r = replay(p, "--rate", 4000, "--sampling", "interleaved")
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert "--sampling: invalid choice: 'interleaved'" in r.stderr, r.stderr
    assert "round-robin" in r.stderr and "simultaneous" in r.stderr, r.stderr
