"""make bench runs and prints its figures (speed targets are printed, never asserted)."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_quick_prints_every_figure():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench.py"), "--quick"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for label in ("viper", "plain", "C gcc -O2", "viper/plain", "viper/C", "control step", "simulator"):
        assert re.search(r"%s\s.*\d" % re.escape(label), r.stdout), label
    # the C reference computed the very same sums as the firmware's kernel
    assert "same sums in viper, plain and C: yes" in r.stdout
