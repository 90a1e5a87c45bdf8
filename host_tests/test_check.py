"""tools/check.py (`make check`): the tree passes; a planted type error fails it."""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECK = os.path.join(ROOT, "tools", "check.py")

PLANTED = '''"""Errors planted by host_tests/test_check.py."""
import machine
import gc

from pilot import amps_to_duty_permille


def broken():
    machine.Pin(2).value(1, 2, 3)
    return amps_to_duty_permille()
'''


def check(*args):
    return subprocess.run([sys.executable, CHECK] + list(args), capture_output=True, text=True,
                          timeout=300)


def line_of(text, src=PLANTED):
    return src.splitlines().index(next(ln for ln in src.splitlines() if text in ln)) + 1


def test_tree_passes():
    r = check()
    assert r.returncode == 0, r.stdout + r.stderr
    for label in ("pyright rp2: 0 errors", "pyright esp32: 0 errors", "ruff: 0 errors"):
        assert label in r.stdout, r.stdout


def test_planted_errors_fail(tmp_path):
    for d in ("firmware", "simulation", "boards"):
        shutil.copytree(os.path.join(ROOT, d), tmp_path / d,
                        ignore=shutil.ignore_patterns("__pycache__", "*.mpy"))
    (tmp_path / "firmware" / "outputs" / "planted.py").write_text(PLANTED)
    # the planted module only (its imports are still resolved in the copy): a whole
    # tree per board is what test_tree_passes does, this keeps the pair fast
    r = check("--root", str(tmp_path), "firmware/outputs/planted.py")
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    # pyright, on each board: too many arguments to a stub's method, a missing one
    # to the firmware's own function
    for board in ("rp2", "esp32"):
        assert "pyright %s: 2 errors\n" % board in out, out
    assert out.count("firmware/outputs/planted.py:%d:" % line_of(".value(1, 2, 3)")) == 2, out
    assert out.count("firmware/outputs/planted.py:%d:" % line_of("amps_to_duty_permille()")) == 2, out
    # lint: the unused import
    assert "firmware/outputs/planted.py:%d:" % line_of("import gc") in out, out
    assert "`gc` imported but unused [F401]" in out, out
    assert "ruff: 1 error\n" in out, out
    assert all(ln.startswith("firmware/outputs/planted.py:") for ln in out.splitlines() if ": error: " in ln), out
