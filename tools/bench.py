"""`make bench`: speed figures, printed (targets are stated, never asserted).

    python3 tools/bench.py [--quick]

Sections: the RMS kernel as viper / plain MicroPython / C (gcc -O2) on the
same burst; one whole Meter.measure(); the control step for 30 chargers and
the simulator's speed. MicroPython figures are from the unix port on this
machine (64-bit x86): a board is ~50-100x slower, the ratios carry over.
--quick times each variant for 0.5 s instead of 1.5 s (rougher figures).
To add a section: a function printing its lines, appended to SECTIONS; the
MicroPython side of it goes into tools/bench/bench_mp.py.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpenv  # noqa: E402

HERE = os.path.join(mpenv.ROOT, "tools", "bench")
QUICK = "--quick" in sys.argv


def mp(*args):
    """Run one section of bench_mp.py on the unix port; its last line is JSON."""
    r = mpenv.run(["-X", "heapsize=4M", os.path.join(HERE, "bench_mp.py")] + list(args)
                  + (["--quick"] if QUICK else []), capture_output=True, text=True, timeout=600)
    if r.returncode:
        sys.exit("bench: MicroPython failed:\n" + r.stdout + r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def c_reference(burst, res):
    """Build rms_ref.c with gcc -O2 and run it on the burst: (stats, samples/s)."""
    gcc = shutil.which("gcc")
    if not gcc:
        sys.exit("bench: gcc not found (the C reference is compiled at bench time)")
    exe = os.path.join(os.path.dirname(burst), "rms_ref")
    subprocess.run([gcc, "-O2", "-o", exe, os.path.join(HERE, "rms_ref.c")], check=True)
    out = subprocess.run([exe, burst, str(res["channels"]), str(res["shift"])]
                         + [str(b) for b in res["bias"]],
                         capture_output=True, text=True, check=True).stdout
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    return [int(v) for v in lines["stats"].split()], float(lines["rate"])


def rms():
    with tempfile.TemporaryDirectory() as tmp:
        burst = os.path.join(tmp, "burst.u16")
        res = mp("rms", burst)
        c_stats, c_rate = c_reference(burst, res)
    same = c_stats == res["stats"] and res["same"]
    print("RMS kernel (ct.accumulate: offset tracking, chunked split sums, min/max; %d channels x %d frames)"
          % (res["channels"], res["frames"]))
    print("  viper        %8.1f Msamples/s" % (res["viper"] / 1e6))
    print("  plain        %8.1f Msamples/s" % (res["plain"] / 1e6))
    print("  C gcc -O2    %8.1f Msamples/s" % (c_rate / 1e6))
    print("  viper/plain  %8.1fx   (target >= 10x)" % (res["viper"] / res["plain"]))
    print("  viper/C      %8.2fx   (target >= 0.2x)" % (res["viper"] / c_rate))
    print("  same sums in viper, plain and C: %s" % ("yes" if same else "NO"))
    if not same:
        sys.exit("bench: the kernels disagree\n  viper %s\n  C     %s" % (res["stats"], c_stats))


def measure():
    res = mp("measure")
    print("Meter.measure() of one burst (%d x %d frames, both passes + crossings + amps; no ADC)"
          % (res["channels"], res["frames"]))
    print("  measure      %8.3f ms per burst = %.3f %% of a 500 ms control period"
          % (res["measure_us"] / 1e3, res["measure_us"] / 5e3))
    print("  path taken: status %s, %.1f Hz found, RMS over %d frames"
          % (" ".join(res["status"]), res["hz"], res["span_frames"]))
    if set(res["status"]) != {"ok"} or not res["hz"]:
        sys.exit("bench: Meter.measure() did not take the full path (crossings skipped)")


def control():
    res = mp("control")
    print("Control loop, %d chargers on 3 phases (simulated site, %d periods)" % (res["chargers"], res["periods"]))
    print("  control step  mean %.2f ms, worst %.2f ms" % (res["control_mean_us"] / 1e3,
                                                           res["control_worst_us"] / 1e3))
    print("  simulator     %.0f simulated s per wall s (hub incl. measurement)" % res["sim_s_per_wall_s"])


SECTIONS = [rms, measure, control]

if __name__ == "__main__":
    if QUICK:
        print("(--quick: short timings, rough figures)\n")
    for section in SECTIONS:
        section()
        print()
