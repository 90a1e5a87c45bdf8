"""Run the hub's own control loop against a simulated site, on the unix port.

    python3 tools/simulate.py SCENARIO.json              # JSON lines, fast as it goes
    python3 tools/simulate.py SCENARIO.json --view 20    # a live view at 20x real time

stdout: one JSON object per control period (see README, "Simulator"). A bad
scenario exits with status 2 and a one-line error. The simulation itself is
firmware/simsite.py running in MicroPython: this program starts it and, with
--view, draws its records.
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpenv  # noqa: E402

HEAPSIZE = "2M"


def start(path):
    code = "import simsite\nsimsite.main(%r)\n" % os.path.abspath(path)
    return mpenv.popen(["-X", "heapsize=" + HEAPSIZE, "-c", code],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def bar(value, limit, width=30):
    n = 0 if limit <= 0 else max(0, min(width, int(round(width * value / limit))))
    return "#" * n + "." * (width - n)


def render(rec, events):
    lines = ["almhub simulator   t = %7.1f s   mode: %s" % (rec["t"], rec["mode"].upper()), ""]
    lines.append("phase   actual  measured  limit")
    for name, ph in sorted(rec["phases"].items()):
        over = "  OVER" if ph["actual"] > ph["limit"] else ""
        lines.append("%-5s %7.1f A %7.1f A %5s A  [%s]%s" % (
            name, ph["actual"], ph["measured"], ph["limit"], bar(ph["actual"], ph["limit"]), over))
    lines += ["", "charger  state  offered   duty    draw"]
    for cid, ch in sorted(rec["chargers"].items()):
        lines.append("%-8s   %s    %3d A  %5.1f %%  %5.1f A" % (
            cid, ch["state"], ch["offered"], ch["duty"], ch["draw"]))
    lines += ["", "events"] + ["  %7.1f s  %s" % e for e in events[-6:]]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario")
    ap.add_argument("--view", type=float, metavar="SPEED", default=0,
                    help="draw a live view at SPEED x real time")
    args = ap.parse_args(argv)
    proc = start(args.scenario)
    last_t = None
    events = []
    wall0 = time.monotonic()
    for line in proc.stdout:
        if not args.view:
            sys.stdout.write(line)
            continue
        rec = json.loads(line)
        events += [(e[0], e[1]) for e in rec.get("events", ())]
        due = wall0 + rec["t"] / args.view
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sys.stdout.write("\x1b[H\x1b[J" + render(rec, events) + "\n")
        sys.stdout.flush()
        last_t = rec["t"]
    err = proc.stderr.read()
    code = proc.wait()
    if code:
        msg = err.strip().splitlines()
        print(msg[-1] if msg else "simulate: the firmware stopped with status %d" % code, file=sys.stderr)
        return 2 if msg and msg[-1].startswith("simulate:") else 1
    if args.view and last_t is not None:
        print("\nsimulated %.0f s" % last_t)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
