"""The 15-minute demand log as CSV: read off a board, or simulated for a site.

    python3 tools/demand.py CONFIG.json --log demand.log [--out demand.csv]
    python3 tools/demand.py CONFIG.json --simulate-days 30 [--seed 1] [--out demand.csv]

--log reads `demand.log` copied off the board (`mpremote cp :demand.log .`).
--simulate-days makes a log for a site that has none yet: a non-EV load per
phase with a daily shape (night base, morning and evening peaks, weekends
lighter), noise and short appliance spikes, up to `site.design_load` (else
a third of the limit), fed period by period (10 s) through the firmware's own
demand.Demand and demand.Log on the unix port. The CSV (`end,L1_mean,L1_max,
...`) is what `tools/report.py --demand` reads. Errors: status 2, one line.
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpenv  # noqa: E402

_SIM = r"""
import demand, random
random.seed(%(seed)d)
peak = %(peak)r
nph = len(peak)
log = demand.Log(%(path)r, nph)
d = demand.Demand(nph)
step_ms = 10000
ok = [True] * nph
spike = [0] * nph
t = 0
end = %(days)d * 86400000
# the share of the peak by hour: a night base, a morning bump, the evening peak
shape = (0.30, 0.28, 0.27, 0.27, 0.28, 0.33, 0.50, 0.62, 0.55, 0.45, 0.42, 0.42,
         0.44, 0.42, 0.42, 0.46, 0.58, 0.80, 0.95, 1.00, 0.90, 0.72, 0.52, 0.38)
while t <= end:
    h = (t // 3600000) %% 24
    day = t // 86400000
    frac = (t %% 3600000) / 3600000
    s = shape[h] + (shape[(h + 1) %% 24] - shape[h]) * frac
    if day %% 7 in (5, 6):
        s = 0.35 + 0.6 * s                     # weekends: flatter
    amps = []
    for p in range(nph):
        if spike[p] > 0:
            spike[p] -= 1
        elif random.random() < 0.002:
            spike[p] = random.randint(3, 30)   # a kettle, a dryer: 30 s to 5 min
        a = peak[p] * s * (0.9 + 0.2 * random.random()) * 0.85
        if spike[p]:
            a += peak[p] * 0.15
        amps.append(a)
    d.add(t, amps, ok, lambda a, b: a - b)
    if d.count:
        log.append(*d.last)
        d.count = 0
    t += step_ms
"""

_CSV = r"""
import demand
log = demand.Log(%(path)r, %(nph)d)
for line in demand.csv(log.records(), %(phases)r):
    print(line)
"""


def fail(msg):
    print("demand: %s" % msg, file=sys.stderr)
    return 2


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--log", help="demand.log copied off the board")
    src.add_argument("--simulate-days", type=int, metavar="N", help="simulate N days of the site's non-EV load")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="the CSV file (default: stdout)")
    args = ap.parse_args(argv)
    try:
        with open(args.config) as f:
            site = json.load(f)["site"]
        phases = list(site["phases"])
        if not phases or not all(isinstance(p, str) for p in phases):
            raise ValueError("site.phases: expected phase names")
        limit = site["limit"]
        limits = limit if isinstance(limit, list) else [limit] * len(phases)
        design = site.get("design_load")
        peak = design if isinstance(design, list) else [design] * len(phases) if design is not None \
            else [lim / 3 for lim in limits]
        peak = [float(x) for x in peak]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return fail("%s: %s" % (args.config, e))
    tmp = None
    if args.simulate_days is not None:
        if not 1 <= args.simulate_days <= 40:
            return fail("--simulate-days: 1 to 40 (the log keeps 40 days)")
        fd, tmp = tempfile.mkstemp(prefix="almhub-demand-")
        os.close(fd)
        os.unlink(tmp)
        r = mpenv.run(["-c", _SIM % {"seed": args.seed, "peak": peak, "path": tmp, "days": args.simulate_days}],
                      capture_output=True, text=True, timeout=600)
        if r.returncode:
            return fail("simulation failed: %s" % (r.stderr.strip().splitlines() or ["?"])[-1])
        path = tmp
    else:
        path = args.log
        if not os.path.isfile(path):
            return fail("%s: no such file" % path)
    try:
        r = mpenv.run(["-c", _CSV % {"path": path, "nph": len(phases), "phases": phases}],
                      capture_output=True, text=True, timeout=120)
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    if r.returncode:
        return fail("reading %s failed: %s" % (path, (r.stderr.strip().splitlines() or ["?"])[-1]))
    lines = r.stdout.splitlines()
    if len(lines) < 2:
        return fail("%s: no intervals in the log (wrong phases for this config?)" % path)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    else:
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
