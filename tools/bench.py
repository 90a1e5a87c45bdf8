"""`make bench`: speed figures, printed (targets are stated, never asserted).

    python3 tools/bench.py [--quick] [SECTION ...]     # e.g. `fuzz` alone

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


def _runs_in(heap_kb, path, port, seconds, state_dir):
    env = dict(mpenv.env(), MICROPYPATH=path)
    r = subprocess.run([mpenv.micropython(), "-X", "heapsize=%dK" % heap_kb, os.path.join(HERE, "mem_mp.py"),
                        str(port), str(seconds), state_dir], capture_output=True, text=True, env=env,
                       cwd=mpenv.ROOT, timeout=900)
    last = (r.stdout.strip().splitlines() or [""])[-1]
    if r.returncode != 0 or not last.startswith("{"):
        return None
    res = json.loads(last)
    # with a broker it only counts if MQTT really ran (the link swallows a MemoryError):
    # at least half the telemetry of the run (every 5 s) must have gone out
    return res if not port or res["telemetry"] >= seconds // 10 else None


def _smallest_heap(path, port, seconds, state_dir):
    """Bisect the heap (KiB) the 30-charger hub with MQTT runs in for `seconds`."""
    lo, hi = 16, 512
    if not _runs_in(hi, path, port, seconds, state_dir):
        return None, None
    best = None
    while hi - lo > 4:
        mid = (lo + hi) // 2
        res = _runs_in(mid, path, port, seconds, state_dir)
        if res:
            hi, best = mid, res
        else:
            lo = mid
    return hi, best or _runs_in(hi, path, port, seconds, state_dir)


def memory():
    import shutil
    import socket
    import tempfile
    seconds = 300 if QUICK else 3600
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker = None
    tmp = tempfile.mkdtemp(prefix="almhub-mem-")
    if os.path.exists(exe):
        conf = os.path.join(tmp, "m.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % port)
        broker = subprocess.Popen([exe, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import time
        time.sleep(0.5)
    else:
        port = 0
    try:
        print("Memory: 30 chargers, 3 phases, %s, %d simulated s, gc each period (-X heapsize bisected)"
              % ("MQTT to mosquitto" if port else "no broker found: without MQTT", seconds))
        src = mpenv.path()
        kb, res = _smallest_heap(src, port, seconds, tmp + "/")
        print("  from .py source   smallest heap %s KiB%s" % (kb, "  (telemetry sent %d, MQTT up %s)"
              % (res["telemetry"], res["mqtt_up"]) if res else ""))
        build = os.path.join(mpenv.ROOT, "build", "sim")
        if os.path.exists(os.path.join(mpenv.ROOT, "tools", "build.py")):
            r = subprocess.run([sys.executable, os.path.join(mpenv.ROOT, "tools", "build.py"), "sim"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                path = ":".join([".frozen", build, os.path.join(build, "lib"), os.path.join(mpenv.ROOT, "boards")])
                kb2, res2 = _smallest_heap(path, port, seconds, tmp + "/")
                print("  from .mpy build   smallest heap %s KiB" % kb2)
            else:
                print("  .mpy build failed: %s" % (r.stdout + r.stderr).strip()[-200:])
        print("  (an RP2040 has ~190 KiB of heap under MicroPython, an ESP32 without PSRAM ~110 KiB)")
    finally:
        if broker:
            broker.terminate()
            broker.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def accuracy():
    r = mpenv.run(["-X", "heapsize=4M", os.path.join(HERE, "accuracy_mp.py")], capture_output=True,
                  text=True, timeout=600)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    print("Accuracy: 0.5-100 A, sine / EV / SMPS, 47-63 Hz, drifting bias, noise (%d channel-windows)"
          % res["windows"])
    print("  worst error >= 10 A   %.3f %%   (target 0.5 %%)" % res["worst_rel_pct"])
    print("  worst error <  10 A   %.4f A  (target 0.05 A)" % res["worst_abs_a"])
    print("  windows reported unhealthy: %d" % res["unhealthy"])


def fuzz():
    """The long scenario-fuzzing run: cases, problems, worst overload found."""
    import random
    import time
    import fuzzlib
    from hypothesis import HealthCheck, Phase, given, seed, settings
    n = 6 if QUICK else int(os.environ.get("ALMHUB_FUZZ_CASES", "400"))
    rnd = int(os.environ.get("ALMHUB_FUZZ_SEED", random.randrange(1 << 30)))
    cases = []

    @seed(rnd)
    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(fuzzlib.scenarios())
    def collect(sc):
        cases.append(sc)
    collect()
    t0 = time.time()
    worst, worst_excused, bad = 0.0, 0.0, []
    for k in range(0, len(cases), 40):
        batch = cases[k:k + 40]
        for sc, res in zip(batch, fuzzlib.run(batch)):
            problems, w, total = fuzzlib.judge(sc, res)
            worst = max(worst, w)
            worst_excused = max(worst_excused, total)
            if problems:
                bad.append(problems[0])
    print("Scenario fuzzing (seed %d: ALMHUB_FUZZ_SEED=%d repeats it), %d cases of 240 s, %.0f s"
          % (rnd, rnd, len(cases), time.time() - t0))
    print("  cases breaking the invariant, a hard limit or a duty: %d" % len(bad))
    print("  worst overload outside the excuses  %.1f A*s   (target 0)" % worst)
    print("  worst overload within them          %.1f A*s   (arrivals, load steps, faults, commands)"
          % worst_excused)
    for p in bad[:5]:
        print("    " + p[:300])


SECTIONS = [accuracy, rms, measure, control, memory, fuzz]

if __name__ == "__main__":
    if QUICK:
        print("(--quick: short timings, rough figures)\n")
    names = [a for a in sys.argv[1:] if not a.startswith("-")]
    for section in SECTIONS:
        if names and section.__name__ not in names:
            continue
        section()
        print()
