"""`make bench`: speed figures, printed (targets are stated, never asserted).

    python3 tools/bench.py [--quick]

Sections: the RMS kernel as viper / plain MicroPython / C (gcc -O2) on the
same burst; one whole Meter.measure(); the control step for 30 chargers and
the simulator's speed. MicroPython figures are from the unix port on this
machine (64-bit x86): a board is ~50-100x slower, the ratios carry over.
"""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpenv  # noqa: E402

HERE = os.path.join(mpenv.ROOT, "tools", "bench")
QUICK = "--quick" in sys.argv


def mp(*args):
    r = mpenv.run(["-X", "heapsize=4M", os.path.join(HERE, "bench_mp.py")] + list(args)
                  + (["--quick"] if QUICK else []), capture_output=True, text=True, timeout=600)
    if r.returncode:
        sys.exit("bench: MicroPython failed:\n" + r.stdout + r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def rms():
    with tempfile.TemporaryDirectory() as tmp:
        burst = os.path.join(tmp, "burst.u16")
        res = mp("rms", burst)
        exe = os.path.join(tmp, "rms_ref")
        subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(HERE, "rms_ref.c")], check=True)
        out = subprocess.run([exe, burst, "3", "4"] + [str(b) for b in res["bias"]],
                             capture_output=True, text=True, check=True).stdout.split("\n")
    c_stats = [int(v) for v in out[0].split()[1:]]
    c_rate = float(out[1].split()[1])
    same = c_stats == res["stats"] and res["same"]
    print("RMS kernel (ct.accumulate: offset tracking, chunked split sums, min/max; 3 channels x %d frames)"
          % res["frames"])
    print("  viper        %8.1f Msamples/s" % (res["viper"] / 1e6))
    print("  plain        %8.1f Msamples/s" % (res["plain"] / 1e6))
    print("  C gcc -O2    %8.1f Msamples/s" % (c_rate / 1e6))
    print("  viper/plain  %8.1fx   (target >= 10x)" % (res["viper"] / res["plain"]))
    print("  viper/C      %8.2fx   (target >= 0.2x)" % (res["viper"] / c_rate))
    print("  same sums in viper, plain and C: %s" % ("yes" if same else "NO"))
    if not same:
        sys.exit("bench: the C reference and the kernel disagree")


def measure():
    res = mp("measure")
    print("Meter.measure() of one burst (3 x %d frames, both passes + crossings + amps)" % res["frames"])
    print("  %8.3f ms per burst = %.2f %% of a 1 s control period" % (res["measure_us"] / 1e3,
                                                                     res["measure_us"] / 1e4))


def control():
    res = mp("control")
    print("Control loop, %d chargers on 3 phases (simulated site, %d periods)" % (res["chargers"], res["periods"]))
    print("  control step  mean %.2f ms, worst %.2f ms" % (res["control_mean_us"] / 1e3,
                                                           res["control_worst_us"] / 1e3))
    print("  simulator     %.0f simulated s per wall s (hub incl. measurement)" % res["sim_s_per_wall_s"])


SECTIONS = [rms, measure, control]

if __name__ == "__main__":
    for section in SECTIONS:
        section()
        print()
