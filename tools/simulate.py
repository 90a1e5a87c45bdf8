"""Run the hub's own control loop against a simulated site, on the unix port.

    python3 tools/simulate.py SCENARIO.json              # JSON lines, fast as it goes
    python3 tools/simulate.py SCENARIO.json --view 20    # a live view at 20x real time
    python3 tools/simulate.py SCENARIO.json --view 1 --mqtt 127.0.0.1:1883 [--hub-id demo]

A scenario with "hubs" (tools/scenarios/hubs.json) is a site of several hubs,
each its own firmware on its own connection to a broker: --mqtt's, the
scenario's "mqtt", or else a mosquitto this program starts on a free port.

stdout: one JSON object per control period (see docs/simulator.md, "The trace"). A bad
scenario exits with status 2 and a one-line error. The simulation itself is
simulation/simsite.py (several hubs: simulation/multisite.py) running in
MicroPython: this program starts it and, with --view, draws its records.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpenv  # noqa: E402

HEAPSIZE = "2M"


def start(path, live, state_dir, hubs=False):
    if hubs:      # several hubs (simulation/multisite.py): simulated time, their own state
        code = "import multisite\nmultisite.main(%r)\n" % os.path.abspath(path)
    else:
        code = "import simsite\nsimsite.main(%r, %r, %r)\n" % (os.path.abspath(path), live, state_dir)
    return mpenv.popen(["-X", "heapsize=" + HEAPSIZE, "-c", code],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def bar(value, limit, width=30):
    n = 0 if limit <= 0 else max(0, min(width, int(round(width * value / limit))))
    return "#" * n + "." * (width - n)


def phase_lines(rec, second):
    """A row's phases: actual, `second` (measured, or the house), limit, a bar."""
    lines = ["phase   actual  %8s  limit" % second]
    for name, ph in sorted(rec["phases"].items()):
        over = "  OVER" if ph["actual"] > ph["limit"] else ""
        lines.append("%-5s %7.1f A %7.1f A %5s A  [%s]%s" % (
            name, ph["actual"], ph[second], ph["limit"], bar(ph["actual"], ph["limit"]), over))
    return lines


def render(rec, events):
    lines = ["almhub simulator   t = %7.1f s   mode: %s" % (rec["t"], rec["mode"].upper()), ""]
    lines += phase_lines(rec, "measured")
    lines += ["", "charger  state  offered   duty    draw"]
    for cid, ch in sorted(rec["chargers"].items()):
        lines.append("%-8s   %s    %3d A  %5.1f %%  %5.1f A" % (
            cid, ch["state"], ch["offered"], ch["duty"], ch["draw"]))
    lines += ["", "events"] + ["  %7.1f s  %s" % e for e in events[-6:]]
    return "\n".join(lines)


def render_hubs(rec, events):
    """A site of several hubs: its lines, then each hub, its link and its cars."""
    lines = ["almhub simulator   t = %7.1f s   %d hubs   broker %s" % (
        rec["t"], len(rec["hubs"]), rec["broker"].upper()), ""]
    lines += phase_lines(rec, "house")
    lines += ["", "hub   power mqtt  mode      sharing  cars: offered A (* drawing)"]
    for hid, h in sorted(rec["hubs"].items()):
        if not h["up"]:
            lines.append("%-5s OFF" % hid)
            continue
        cars = " ".join("%2d%s" % (c["offered"], "*" if c["draw"] else " ") for _, c in sorted(h["chargers"].items()))
        lines.append("%-5s on    %-5s %-9s %-8s %s" % (hid, "up" if h["mqtt"] else "DOWN", h["mode"],
                                                       "yes" if h["shared"] else "alone", cars))
    lines += ["", "events"] + ["  %7.1f s  %s  %s" % e for e in events[-8:]]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario")
    ap.add_argument("--view", type=float, metavar="SPEED", default=0,
                    help="draw a live view at SPEED x real time")
    ap.add_argument("--live", type=float, metavar="SPEED", default=0,
                    help="run the hub in SPEED x real time with its services (MQTT, commands)")
    ap.add_argument("--mqtt", metavar="HOST:PORT", help="broker for the simulated hub (implies --live)")
    ap.add_argument("--hub-id", default="sim", help="the hub's id in MQTT topics (default sim)")
    ap.add_argument("--state-dir", help="where the hub keeps state.json, energy.json and captures "
                    "(default: a temporary folder, removed at the end)")
    args = ap.parse_args(argv)
    import shutil
    tmp = tempfile.mkdtemp(prefix="almhub-sim-")   # the scenario with --mqtt, state without --state-dir
    try:
        return run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)     # nothing of a run is left in /tmp


def run(args, tmp):
    path = args.scenario
    try:
        with open(path) as f:
            hubs = "hubs" in json.load(f)
    except (OSError, ValueError):
        hubs = False      # the firmware says what is wrong with it
    if hubs:
        return run_hubs(args, tmp)
    if args.mqtt:
        host, _, port = args.mqtt.rpartition(":")
        try:
            with open(path) as f:
                sc = json.load(f)
            sc["mqtt"] = {"host": host or "127.0.0.1", "port": int(port), "hub_id": args.hub_id}
        except (OSError, ValueError) as e:
            print("simulate: %s: %s" % (path, e), file=sys.stderr)
            return 2
        path = os.path.join(tmp, "scenario.json")
        with open(path, "w") as f:
            json.dump(sc, f)
        args.live = args.live or args.view or 1
    if args.live:
        args.view = args.view and 1e9   # the firmware keeps time itself
    if args.state_dir:
        state_dir = os.path.join(os.path.abspath(args.state_dir), "")
    else:
        state_dir = os.path.join(tmp, "state", "")
        os.mkdir(state_dir)
    proc = start(path, args.live, state_dir)
    return follow(proc, args, render, lambda rec: [(e[0], e[1]) for e in rec.get("events", ())])


def follow(proc, args, draw, new_events):
    """The firmware's records: passed on as they are, or drawn (--view)."""
    last_t = None
    events = []
    wall0 = time.monotonic()
    for line in proc.stdout:
        if not args.view:
            sys.stdout.write(line)
            continue
        rec = json.loads(line)
        events += new_events(rec)
        due = wall0 + rec["t"] / args.view
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        screen = draw(rec, events)
        if "mqtt" in rec:
            screen += "\n\nmqtt %s  (connects %d, telemetry sent %d)" % (
                "up" if rec["mqtt"]["up"] else "DOWN", rec["mqtt"]["connects"], rec["mqtt"]["sent"])
        sys.stdout.write("\x1b[H\x1b[J" + screen + "\n")
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


def run_hubs(args, tmp):
    """Several hubs: each on its own connection to the broker --mqtt names
    (or the scenario's "mqtt"); without either, a mosquitto of its own."""
    if args.live:
        print("simulate: a site of several hubs runs in simulated time (--view, not --live)", file=sys.stderr)
        return 2
    with open(args.scenario) as f:
        sc = json.load(f)
    broker = None
    if args.mqtt:
        host, _, port = args.mqtt.rpartition(":")
        sc["mqtt"] = {"host": host or "127.0.0.1", "port": int(port)}
    elif "mqtt" not in sc:
        from broker import Broker
        broker = Broker()
        broker.start()
        sc["mqtt"] = {"host": "127.0.0.1", "port": broker.port}
    path = os.path.join(tmp, "scenario.json")
    with open(path, "w") as f:
        json.dump(sc, f)
    try:
        proc = start(path, 0, None, hubs=True)
        return follow(proc, args, render_hubs, lambda rec: [
            (e[0], hid, e[1]) for hid, h in sorted(rec["hubs"].items()) for e in h.get("events", ())])
    finally:
        if broker is not None:
            broker.remove()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
