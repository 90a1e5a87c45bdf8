"""tools/sessions.py: a board's session log as billing CSV, with the subtractive view."""

import csv
import os
import subprocess
import sys

from conftest import ROOT, run_micropython

TOOL = os.path.join(ROOT, "tools", "sessions.py")


def tool(*args):
    return subprocess.run([sys.executable, TOOL] + [str(a) for a in args], capture_output=True, text=True, timeout=120)


def test_a_boards_log_to_billing(tmp_path):
    log = tmp_path / "sessions.log"
    # as the hub writes them: bay, start, end, wall clock (2026-10-31 and 2026-11-02 UTC, or none), Wh, peak
    code = ("import sessions\ns = sessions.Sessions([], [], %r)\n"
            "s.ring.append(10, 3610, 1793440800, 1793444400, 7360, 320, 0, b'bay1')\n"
            "s.ring.append(4000, 6000, 1793613600, 1793615600, 3070, 160, 0, b'bay2')\n"
            "s.ring.append(7000, 9000, 1793620800, 1793622800, 1000, 100, 0, b'bay1')\n"
            "s.ring.append(9500, 9600, 0, 0, 50, 60, 0, b'bay3')\n" % str(log))
    assert run_micropython(["-c", code]).returncode == 0
    out = tmp_path / "out"
    r = tool("--log", log, "--out", out, "--site-kwh", 100)
    assert r.returncode == 0, r.stderr
    assert "4 sessions, 11.480 kWh" in r.stdout
    rows = list(csv.reader(open(out / "sessions.csv")))
    assert rows[0] == ["seq", "bay", "start", "end", "start_wall", "end_wall", "kwh", "peak_a", "measured"]
    assert rows[1][:4] == ["1", "bay1", "10", "3610"] and rows[1][6] == "7.36" and rows[1][7] == "32.0"
    bill = list(csv.reader(open(out / "billing.csv")))
    assert bill[1:] == [["2026-10", "bay1", "1", "7.360", "estimated"],
                        ["2026-11", "bay1", "1", "1.000", "estimated"],
                        ["2026-11", "bay2", "1", "3.070", "estimated"],
                        ["undated", "bay3", "1", "0.050", "estimated"],
                        ["all", "EV total", "4", "11.480", ""],
                        ["all", "site import (utility meter)", "", "100.000", "given"],
                        ["all", "building's own = site import - EV", "", "88.520", ""]]


def test_bad_input_one_line(tmp_path):
    for args, why in ((("--log", tmp_path / "none.log", "--out", tmp_path / "o"), "no such file"),
                      (("--log", tmp_path / "none.log", "--out", tmp_path / "o", "--site-kwh", -1), "--site-kwh")):
        r = tool(*args)
        assert r.returncode == 2 and why in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
