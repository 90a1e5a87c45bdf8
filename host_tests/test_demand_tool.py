"""tools/demand.py: a simulated 30-day log through the firmware's demand code, and a board's log as CSV."""

import csv
import json
import os
import subprocess
import sys

from conftest import ROOT, run_micropython

TOOL = os.path.join(ROOT, "tools", "demand.py")


def tool(*args):
    return subprocess.run([sys.executable, TOOL] + [str(a) for a in args], capture_output=True, text=True, timeout=300)


def test_simulated_month_and_a_boards_log(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"site": {"phases": ["L1", "L2"], "voltage": 120, "limit": 200,
                                        "design_load": [60, 40]}, "chargers": []}))
    out = tmp_path / "demand.csv"
    r = tool(cfg, "--simulate-days", 30, "--out", out)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 30 * 96 and rows[0]["end"] == "900" and rows[-1]["end"] == str(30 * 86400)
    for ph, design in (("L1", 60), ("L2", 40)):
        means = [float(r[ph + "_mean"]) for r in rows]
        peaks = [float(r[ph + "_max"]) for r in rows]
        assert 0.8 * design <= max(means) <= design and max(peaks) <= design * 1.2
        assert all(m <= p + 0.05 for m, p in zip(means, peaks))
        assert min(means) < 0.4 * design           # nights are lighter than evenings
    # a log as the board writes it: the same CSV
    log = tmp_path / "demand.log"
    code = ("import demand\nlog = demand.Log(%r, 2)\nlog.append(900, [10.04, None], [12.5, None])\n"
            "log.append(1800, [11, 3], [20, 4])\n" % str(log))
    assert run_micropython(["-c", code]).returncode == 0
    r = tool(cfg, "--log", log)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["end,L1_mean,L1_max,L2_mean,L2_max", "900,10.0,12.5,,", "1800,11.0,20.0,3.0,4.0"]


def test_bad_input_gets_one_line(tmp_path):
    garbage = tmp_path / "g.log"
    garbage.write_bytes(b"\x00\xff" * 500)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"site": {"phases": ["L1"], "limit": 40}}))
    for args, why in (((tmp_path / "none.json", "--simulate-days", 3), "none.json"),
                      ((cfg, "--log", tmp_path / "missing.log"), "no such file"),
                      ((cfg, "--log", garbage), "no intervals"),
                      ((cfg, "--simulate-days", 90), "1 to 40")):
        r = tool(*args)
        assert r.returncode == 2 and why in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
