"""make bench runs and prints its figures (speed targets are printed, never asserted)."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM = r"\d+(\.\d+)?"


def test_bench_quick_prints_every_figure():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench.py"), "--quick"],
                       capture_output=True, text=True, timeout=480, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    for pattern in (r"viper\s+%s Msamples/s" % NUM, r"plain\s+%s Msamples/s" % NUM,
                    r"C gcc -O2\s+%s Msamples/s" % NUM, r"viper/plain\s+%sx" % NUM,
                    r"viper/C\s+%sx" % NUM, r"measure\s+%s ms per burst = %s %%" % (NUM, NUM),
                    r"control step\s+mean %s ms, worst %s ms" % (NUM, NUM),
                    r"simulator\s+%s simulated s" % NUM,
                    r"worst overload outside the excuses\s+%s A\*s" % NUM,
                    r"no read-back +2.0 A from 1000 s +%s %%" % NUM,
                    r"no read-back +%s %% +%s %% +%s +\d+ +\d+" % (NUM, NUM, NUM),
                    r"smallest heap\s+\d+ KiB", r"largest free block %s KiB" % NUM,
                    r"allocated per period\s+median (~\d+|> 2048) B, max \d+ B",
                    r"worst: energy %s %% \(target 1 %%" % NUM,
                    r"the cars' line currents %s of one ideal allocator's" % NUM,
                    r"broker down, each hub alone at its third: %s" % NUM,
                    r"offered after %s s, its part \(\d+ A\) after %s s" % (NUM, NUM),
                    r"\d+ broke the invariant; worst overload outside the excuses %s A\*s" % NUM):
        assert re.search(pattern, r.stdout), (pattern, r.stdout)
    # the C references computed the very same sums as the firmware's kernels (RMS, power)
    assert r.stdout.count("same sums in viper, plain and C: yes") == 2, r.stdout
    assert "Real-power kernel" in r.stdout
    # the measure figure is of the whole path, crossings included (not a STALE shortcut)
    assert "path taken: status ok ok ok" in r.stdout
