"""Permit and commissioning report of a site: the figures an inspector asks for, with evidence.

    python3 tools/report.py CONFIG.json --out DIR [--demand demand.csv]
                            [--window SECONDS] [--evse-table tools/codes/evse_per_breaker.json]

Writes DIR/report.html with its plots beside it (DIR/current.png, and
DIR/demand.png with a demand log) and the simulated scenario
(DIR/scenario.json: `python3 tools/simulate.py DIR/scenario.json` reruns it).
Prints exactly one JSON line on stdout, the figures the page shows:

    {"setpoint_a": {"L1": 58, ...}, "nonev_a": {"L1": 47.5, ...} or null, "spaces": 5,
     "per_space_kw": 3.68 or null, "meets_3_3kw": true|false|null,
     "circuits": [{"id": "row_a", "limit": 40, "evse": 3, "table_max": 4, "ok": true}],
     "fallback_a": {"L1": 24, ...}, "worst_overload_as": 0.0}

- setpoint_a: site.limit - site.margin per phase, what the hub keeps the point
  of common coupling under: the ALMS setpoint, the service load by NEC 625.42.
- nonev_a: the non-EV load. With a demand log (the firmware's 15-minute log:
  `end,L1_mean,L1_max,...`), NEC 220.87: 125 % of the highest 15-minute mean
  per phase over the log; else site.design_load; else null (unknown).
- per_space_kw: the power every EV space gets with all of them charging at
  once, by the firmware's own allocator (control.Controller's alloc.Site, its
  floors and first rotation order, `fill` with every charger wanting its max
  and avail = setpoint - non-EV per phase), on the unix port: the lowest over
  the spaces of share x connection volts (config.charger_volts); a paused
  space (0 A) is 0 kW. meets_3_3kw: per_space_kw >= 3.3 (a code's floor).
- circuits: EVSE fed directly by each circuit against a code's per-breaker
  table (--evse-table, data in tools/codes/). table_max null (and ok null):
  the table has no row for that rating. A site the table rejects still gets
  its report; the page flags it (design rule 7).
- fallback_a: control.Controller.fallback_a(), what the chargers may use per
  phase while a CT is lost.
- worst_overload_as: from tools/simulate.py (simulation/simsite.py, the hub's
  own code with measurement) on a worst case: every space occupied by a car
  that wants the charger's max and far more energy than the window, cars
  that take the standard's longest 5 s to follow a cut, the non-EV load
  following the log's mean daily profile (or flat at the design load, or 0
  when unknown), a load step, and one CT clamp lost (`open`) then restored.
  The largest over phases of the integral of (actual - limit) where actual >
  limit, in A*s, on the simulator's truth (what perfect clamps would read).

A whole day at the 500 ms period is too slow on the unix port (measured on
this 2-core x86-64: 178 s for 30 chargers with room to spare, ~10 s per
simulated hour for 30 chargers short of room), so by default the 2 hours of
the log's daily profile that leave the chargers the least room on the most
loaded phase are simulated: ~30 s for 30 chargers, ~10 s for the 5 of
tools/site/config.example.json. --window sets the span (86400: the whole
day); the page says exactly what span was simulated.

Bad input (a config that cannot be read, is not JSON or that the firmware's
config.validate refuses; a demand CSV that is malformed or whose columns are
not the site's phases; a bad code table) exits with status 2 and one line on
stderr, writing nothing. The firmware runs in MicroPython (tools/mpenv.py);
this program only reads files, builds the scenario, integrates and draws.
"""

import argparse
import csv
import datetime
import html
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpenv  # noqa: E402

ROOT = mpenv.ROOT
SIMULATE = os.path.join(ROOT, "tools", "simulate.py")
EVSE_TABLE = os.path.join(ROOT, "tools", "codes", "evse_per_breaker.json")
INTERVAL_S = 900             # one demand interval: 15 minutes
DAY_S = 86400
SLOTS = DAY_S // INTERVAL_S  # intervals in a day
NEC_220_87_FACTOR = 1.25
NEC_220_87_DAYS = 30
PER_SPACE_KW = 3.3           # one building code's floor per EV space with an ALMS
DEFAULT_WINDOW_S = 7200      # see the docstring: a whole day is too slow on the unix port
EV_KWH = 1000                # every car wants far more than the window can give
EV_DELAY_S = 5               # the longest an EV may take to follow (IEC 61851-1)
STEP_FRACTION = 0.25         # the load step: a quarter of the phase's limit...
STEP_S = 120                 # ...for 2 minutes
FAULT_S = 60                 # a CT clamp lost for 1 minute


class InputError(Exception):
    """Bad input: exit status 2, this one line."""


# --- inputs ------------------------------------------------------------------------

def _no_nan(name):
    raise ValueError("%s is not a number JSON allows" % name)


def load_json(path, what):
    try:
        with open(path) as f:
            return json.load(f, parse_constant=_no_nan)
    except OSError as e:
        raise InputError("%s: cannot read %s (%s)" % (path, what, e.strerror))
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError("%s: not JSON (%s)" % (path, e))


# Runs in MicroPython: the firmware's own validation, controller and allocator.
FACTS = r"""
import json
import config
import control

def facts(path):
    with open(path) as f:
        a = json.load(f)
    cfg = a["config"]
    try:
        config.validate(cfg)
        site = cfg["site"]
        ctl = control.Controller(site, cfg.get("chargers", []), cfg.get("control", {}))
    except (ValueError, TypeError, KeyError) as e:   # ConfigError is a ValueError
        return {"error": str(e)}
    except Exception as e:
        return {"error": "%s: %s" % (type(e).__name__, e)}
    nph = len(site["phases"])
    chs = ctl.site.chargers
    setpoint = [ctl.claims.site_a[p] - ctl.claims.margin_a for p in range(nph)]
    out = {"limit": ctl.claims.site_a, "margin": ctl.claims.margin_a, "setpoint": setpoint,
           "fallback": ctl.fallback_a(), "voltage": config.voltage(site),
           "volts": [config.charger_volts(site, len(ch.phases)) for ch in chs],
           "floors": ctl.floors, "period_ms": ctl.cfg["period_ms"], "holdoff_ms": ctl.cfg["holdoff_ms"],
           "response_ms": ctl.cfg["response_ms"]}
    if a["nonev"] is not None:
        # the controller's first rotation order (nobody has charged yet)
        order = list(range(len(chs)))
        order.sort(key=lambda i: (-chs[i].priority, i))
        avail = [setpoint[p] - a["nonev"][p] for p in range(nph)]
        out["avail"] = avail
        out["shares"] = ctl.site.fill(avail, [ch.max_a for ch in chs], order, ctl.floors)
    return out

print(json.dumps(facts(PATH)))
"""


def firmware_facts(cfg, nonev):
    """The firmware's figures for cfg (validated by config.validate); nonev: per
    phase amps or None. InputError when the firmware refuses the config."""
    fd, path = tempfile.mkstemp(suffix=".json", prefix="almhub-report-")
    with os.fdopen(fd, "w") as f:
        json.dump({"config": cfg, "nonev": nonev}, f)
    try:
        r = mpenv.run(["-c", FACTS.replace("PATH", repr(path))], capture_output=True, text=True, timeout=120)
    finally:
        os.unlink(path)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or len(lines) != 1:
        raise RuntimeError("the firmware failed (%d): %s" % (r.returncode, (r.stdout + r.stderr)[-2000:]))
    out = json.loads(lines[0])
    if "error" in out:
        raise InputError(out["error"])
    return out


def read_demand(path, phases):
    """The firmware's demand log (firmware/records/demand.py csv, tools/demand.py):
    [(end, [mean per phase], [max per phase])]; None (an empty cell) where the
    interval had no healthy reading of that phase."""
    want = ["end"] + [p + s for p in phases for s in ("_mean", "_max")]
    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise InputError("%s: cannot read the demand log (%s)" % (path, e.strerror))
    with f:
        try:
            rows = list(csv.reader(f))
        except (UnicodeDecodeError, csv.Error) as e:
            raise InputError("%s: not a CSV text file (%s)" % (path, e))
    if not rows or [c.strip() for c in rows[0]] != want:
        raise InputError("%s: line 1: expected the header %s (the site's phases)" % (path, ",".join(want)))
    out, last = [], None
    for n, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(want):
            raise InputError("%s: line %d: %d cells, the header has %d" % (path, n, len(row), len(want)))
        vals = []
        for col, cell in enumerate(row, 1):
            if col > 1 and not cell.strip():
                vals.append(None)      # no healthy reading in the interval
                continue
            try:
                v = float(cell)
            except ValueError:
                raise InputError("%s: line %d, column %d: %r is not a number" % (path, n, col, cell.strip()))
            if not math.isfinite(v) or v < 0:
                raise InputError("%s: line %d, column %d: %r is not a number >= 0" % (path, n, col, cell.strip()))
            vals.append(v)
        if last is not None and vals[0] <= last:
            raise InputError("%s: line %d: end %g is not after the previous interval's %g" % (path, n, vals[0], last))
        last = vals[0]
        means, maxes = vals[1::2], vals[2::2]
        for p, name in enumerate(phases):   # (both are rounded to 0.1 A)
            if means[p] is not None and maxes[p] is not None and means[p] > maxes[p] + 0.1 + 1e-9:
                raise InputError("%s: line %d: %s_mean %g is above %s_max %g" % (path, n, name, means[p],
                                                                                  name, maxes[p]))
        out.append((vals[0], means, maxes))
    if not out:
        raise InputError("%s: no intervals after the header" % path)
    for p, name in enumerate(phases):
        if all(row[1][p] is None for row in out):
            raise InputError("%s: no interval has a mean for %s" % (path, name))
    return out


def load_table(path):
    """A code table of kind evse_per_breaker (tools/codes/README.md)."""
    t = load_json(path, "the code table")
    try:
        ok = (t["kind"] == "evse_per_breaker" and isinstance(t["name"], str) and isinstance(t["source"], str)
              and t["rows"]
              and all(isinstance(r["breaker_a"], (int, float)) and isinstance(r["max_evse"], int)
                      for r in t["rows"])
              and [r["breaker_a"] for r in t["rows"]] == sorted(r["breaker_a"] for r in t["rows"])
              and isinstance(t["below_first_row"], int))
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise InputError("%s: not an evse_per_breaker table (kind, name, source, below_first_row, "
                         "rows of breaker_a, max_evse ascending)" % path)
    return t


def table_max(table, breaker_a):
    """EVSE one breaker of this rating may feed; None: the table has no rule for it."""
    rows = table["rows"]
    if breaker_a > rows[-1]["breaker_a"]:
        return None
    allowed = table["below_first_row"]
    for r in rows:
        if breaker_a >= r["breaker_a"]:
            allowed = r["max_evse"]
    return allowed


# --- the figures -------------------------------------------------------------------

def per_phase(v, phases):
    return list(v) if isinstance(v, list) else [v] * len(phases)


def wall_clock(demand):
    """Is the log's `end` Unix time (the hub had wall-clock time) at its end?"""
    return demand[-1][0] >= 1e9


def when(end):
    """An interval's start and end, as the page shows them."""
    if end >= 1e9:
        t0 = datetime.datetime.fromtimestamp(end - INTERVAL_S, datetime.timezone.utc)
        return "%s-%s UTC" % (t0.strftime("%Y-%m-%d %H:%M"), (t0 + datetime.timedelta(seconds=INTERVAL_S))
                              .strftime("%H:%M"))
    s = end - INTERVAL_S
    return "day %d, %s-%s after the log began" % (s // DAY_S + 1, _clock(s % DAY_S / 3600),
                                                  _clock(end % DAY_S / 3600))


def nec_220_87(demand, phases):
    """125 % of the highest 15-minute mean per phase, and how much log it rests on."""
    peaks = []
    for p in range(len(phases)):
        end, means, _ = max((row for row in demand if row[1][p] is not None), key=lambda row: row[1][p])
        peaks.append({"mean": means[p], "end": end, "when": when(end),
                      "nonev": round(NEC_220_87_FACTOR * means[p], 3),
                      "missing": sum(1 for row in demand if row[1][p] is None)})
    return {"peaks": peaks, "intervals": len(demand),
            "days": round(len(demand) * INTERVAL_S / DAY_S, 2),
            "span_days": round((demand[-1][0] - demand[0][0] + INTERVAL_S) / DAY_S, 2)}


def profile(demand, nph):
    """Mean load per phase by time of day (96 slots of 15 minutes); a slot the
    log has no mean for takes the one before it."""
    sums = [[0.0] * nph for _ in range(SLOTS)]
    counts = [[0] * nph for _ in range(SLOTS)]
    for end, means, _ in demand:
        s = int((end - INTERVAL_S) // INTERVAL_S) % SLOTS
        for p in range(nph):
            if means[p] is not None:
                sums[s][p] += means[p]
                counts[s][p] += 1
    prof: list = [[None] * nph for _ in range(SLOTS)]
    for p in range(nph):
        for s in range(SLOTS):
            if counts[s][p]:
                prof[s][p] = round(sums[s][p] / counts[s][p], 2)
        first = next(s for s in range(SLOTS) if counts[s][p])
        for k in range(1, SLOTS + 1):
            s = (first + k) % SLOTS
            if prof[s][p] is None:
                prof[s][p] = prof[s - 1][p]
    return prof


class Load:
    """The non-EV load of the simulation: per phase at scenario time t."""

    def __init__(self, prof, slot0, step, step_t, step_s):
        self.prof, self.slot0 = prof, slot0
        self.step, self.step_t, self.step_s = step, step_t, step_s

    def base(self, t):
        return self.prof[(self.slot0 + int(t // INTERVAL_S)) % len(self.prof)]

    def at(self, t):
        b = self.base(t)
        if self.step_t <= t < self.step_t + self.step_s:
            return [x + s for x, s in zip(b, self.step)]
        return list(b)


def peak_window(prof, setpoint, window):
    """The first slot of the `window` seconds of the day that leave the chargers
    the least room: the smallest sum over its slots of the room (setpoint - mean
    load) on the most loaded phase."""
    if len(prof) == 1 or window >= DAY_S:
        return 0
    k = math.ceil(window / INTERVAL_S)

    def room(s):
        return sum(min(sp - x for sp, x in zip(setpoint, prof[(s + j) % SLOTS])) for j in range(k))
    return min(range(SLOTS), key=lambda s: (room(s), s))


def worst_case(cfg, facts, prof, window):
    """(scenario, Load, description) of the worst case (see the docstring)."""
    site = cfg["site"]
    phases = site["phases"]
    nph = len(phases)
    limit, setpoint, fb = facts["limit"], facts["setpoint"], facts["fallback"]
    slot0 = peak_window(prof, setpoint, window)
    step_t, step_s = round(0.4 * window), min(STEP_S, round(0.1 * window))
    load = Load(prof, slot0, [0.0] * nph, step_t, step_s)
    # the step: a quarter of the limit, but never taking the house alone over the setpoint
    during = [load.base(t) for t in range(step_t, step_t + step_s)
              if t == step_t or t % INTERVAL_S == 0]
    load.step = [max(0.0, math.floor(10 * min(STEP_FRACTION * limit[p], setpoint[p] - max(b[p] for b in during)))
                     / 10) for p in range(nph)]
    fault_t, fault_s = round(0.7 * window), min(FAULT_S, round(0.1 * window))
    # the clamp lost: on the phase with the least room for the fallback budget above the house
    base_f = load.at(fault_t)
    fault_p = min(range(nph), key=lambda p: (limit[p] - base_f[p] - fb[p], p))
    times = sorted({j * INTERVAL_S for j in range(math.ceil(window / INTERVAL_S))} | {step_t, step_t + step_s})
    events = [{"t": t, "load": dict(zip(phases, load.at(t)))} for t in times if t < window]
    events += [{"t": 0, "plug": ch["id"], "ev_max": ch.get("max", 32), "kwh": EV_KWH, "delay": EV_DELAY_S}
               for ch in cfg.get("chargers", [])]
    events += [{"t": fault_t, "sensor": phases[fault_p], "fault": "open"},
               {"t": fault_t + fault_s, "sensor": phases[fault_p], "fault": None}]
    us = facts["voltage"] in (120, 277) or nph == 2
    scenario = {"duration": window, "mains_hz": 60 if us else 50, "site": site,
                "chargers": cfg.get("chargers", []), "control": cfg.get("control", {}),
                "events": sorted(events, key=lambda e: e["t"])}
    desc = {"slot0": slot0, "step_t": step_t, "step_s": step_s, "step": load.step,
            "fault_t": fault_t, "fault_s": fault_s, "fault_phase": phases[fault_p],
            "mains_hz": scenario["mains_hz"]}
    return scenario, load, desc


def simulate(scenario, tmpdir):
    """tools/simulate.py on the scenario: per period (t, actual per phase, limit per phase, mode)."""
    path = os.path.join(tmpdir, "scenario.json")
    with open(path, "w") as f:
        json.dump(scenario, f)
    phases = scenario["site"]["phases"]
    trace = []
    with open(os.path.join(tmpdir, "stderr"), "w+") as err:
        proc = subprocess.Popen([sys.executable, SIMULATE, path], stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            rec = json.loads(line)
            ph = rec["phases"]
            trace.append((rec["t"], [ph[p]["actual"] for p in phases], [ph[p]["limit"] for p in phases],
                          rec["mode"]))
        code = proc.wait()
        err.seek(0)
        msg = err.read().strip()
    if code or not trace:
        raise RuntimeError("the simulation failed (%d): %s" % (code, msg[-2000:]))
    return trace


def overloads(trace, nph):
    """Per phase: A*s over the limit (the integral of actual - limit where actual > limit),
    seconds over, the longest episode in seconds and the highest excess in A."""
    dt = trace[1][0] - trace[0][0] if len(trace) > 1 else 0.5
    out = []
    for p in range(nph):
        a_s = over_s = run = longest = peak = 0.0
        for _, actual, limit, _ in trace:
            x = actual[p] - limit[p]
            if x > 0:
                a_s += x * dt
                over_s += dt
                run += dt
                longest = max(longest, run)
                peak = max(peak, x)
            else:
                run = 0.0
        out.append({"as": round(a_s, 2), "s": round(over_s, 1), "longest_s": round(longest, 1),
                    "peak_a": round(peak, 2)})
    return out


# --- plots -------------------------------------------------------------------------

def _clock(h):
    m = int(round(h * 60)) % (24 * 60)
    return "%02d:%02d" % (m // 60, m % 60)


def plot_current(path, trace, phases, facts, load, desc, t0_h, clock):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter
    nph = len(phases)
    fig, axes = plt.subplots(nph, 1, figsize=(10, 2.4 * nph + 0.8), sharex=True, squeeze=False)
    hours = [t0_h + r[0] / 3600 for r in trace]
    fallback = [r[3] != "normal" for r in trace]
    for p, ax in enumerate(axes[:, 0]):
        actual = [r[1][p] for r in trace]
        limit = [r[2][p] for r in trace]
        ax.fill_between(hours, 0, 1, where=fallback, step="post", color="0.85", lw=0,
                        transform=ax.get_xaxis_transform(), label="hub in fallback")
        s0 = t0_h + desc["step_t"] / 3600
        ax.axvspan(s0, s0 + desc["step_s"] / 3600, color="#ffe08a", lw=0, alpha=0.8, label="load step")
        if phases[p] == desc["fault_phase"]:
            f0 = t0_h + desc["fault_t"] / 3600
            ax.axvspan(f0, f0 + desc["fault_s"] / 3600, color="#d7b5ff", lw=0, alpha=0.8, label="CT lost (open)")
        ax.plot(hours, [load.at(r[0])[p] for r in trace], color="0.45", lw=0.8, label="non-EV load")
        ax.plot(hours, actual, color="#1f5fbf", lw=0.9, label="line current (actual)")
        ax.plot(hours, limit, color="#c00000", lw=1.4, label="limit")
        ax.axhline(facts["setpoint"][p], color="#e08000", lw=1, ls="--", label="setpoint (limit - margin)")
        ax.fill_between(hours, limit, actual, where=[a > lim for a, lim in zip(actual, limit)],
                        color="#c00000", alpha=0.5, lw=0, label="over the limit")
        ax.set_ylabel("%s, A" % phases[p])
        ax.set_ylim(0, max(max(actual), max(limit)) * 1.12 + 1)
        ax.grid(alpha=0.3)
        if p == 0:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax = axes[-1, 0]
    ax.set_xlim(hours[0], hours[-1])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda h, _: _clock(h)))
    ax.set_xlabel(clock or "time from the start of the simulation (h:mm)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_demand(path, prof, demand, phases, nonev, window_h, clock):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    nph = len(phases)
    fig, ax = plt.subplots(figsize=(10, 3.6))
    x = [(s + 0.5) * INTERVAL_S / 3600 for s in range(SLOTS)]
    a, b = window_h
    if b - a < 24:
        for lo, hi in ((a, b), (a - 24, b - 24)):
            ax.axvspan(lo, hi, color="#ffe08a", alpha=0.6, lw=0, label="simulated" if lo == a else None)
    colors = ["#1f5fbf", "#2a9d3c", "#8a3ab9"]
    for p in range(nph):
        c = colors[p % len(colors)]
        ax.plot(x, [prof[s][p] for s in range(SLOTS)], color=c, lw=1.4, label="%s mean by time of day" % phases[p])
        ax.axhline(nonev[p], color=c, ls="--", lw=1, label="%s: 125 %% of the highest 15-min mean" % phases[p])
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 3))
    ax.set_xticklabels(["%02d:00" % h for h in range(0, 25, 3)])
    ax.set_xlabel(clock)
    ax.set_ylabel("non-EV load, A")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --- the page ----------------------------------------------------------------------

def shown(v):
    """A figure as the page shows it (tests read it back: unknown, yes, no, a number)."""
    if v is None:
        return "unknown"
    if v is True:
        return "yes"
    if v is False:
        return "no"
    if isinstance(v, str):
        return v
    return "%d" % v if isinstance(v, int) else repr(round(v, 3))


def fig(key, v, unit=""):
    """A figure of the JSON line, marked with its key for scripts and tests."""
    return '<span class="fig" data-json="%s">%s</span>%s' % (html.escape(key), html.escape(shown(v)), unit)


def esc(s):
    return html.escape(str(s))


CSS = """
body { font-family: sans-serif; max-width: 1100px; margin: 1.5em auto; padding: 0 1em; color: #111;
       line-height: 1.4 }
h1 { font-size: 1.5em } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #aaa }
table { border-collapse: collapse; margin: 0.6em 0 }
td, th { border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: right }
th { background: #eee } td.l, th.l { text-align: left }
.fig { font-weight: bold }
.flag { background: #ffd6d6; color: #900; font-weight: bold }
ul.findings li { padding: 0.3em 0.6em; margin: 0.3em 0; list-style: none }
ul.findings li.flag { border-left: 6px solid #c00 }
ul.findings li.ok { border-left: 6px solid #2a9d3c; background: #e6f6e8 }
pre { white-space: pre-wrap; word-break: break-all; background: #f3f3f3; padding: 0.5em }
.note { color: #444; font-size: 0.92em }
img { max-width: 100%; border: 1px solid #ddd }
code { background: #f3f3f3; padding: 0 0.2em }
"""


def conn_label(site, phases, ch_phases, volts):
    nph = len(ch_phases)
    if nph == 1:
        return "%s-N, %g V" % (ch_phases[0], round(volts, 1))
    if nph == 2:
        return "%s-%s, %g V" % (ch_phases[0], ch_phases[1], round(volts, 1))
    return "three-phase, 3 x %g V" % round(volts / 3, 1)


def page(ctx):
    r, facts, cfg = ctx["result"], ctx["facts"], ctx["cfg"]
    site = cfg["site"]
    phases = site["phases"]
    nph = len(phases)
    chs = cfg.get("chargers", [])
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>Load management report: %s</title>" % esc(ctx["name"]), "<style>%s</style></head><body>" % CSS]
    out.append("<h1>Automatic load management: permit and commissioning report</h1>")
    out.append('<p class="note">Site configuration <code>%s</code>%s. Generated %s by <code>tools/report.py</code> '
               "with the hub's firmware (%s) run in MicroPython.</p>"
               % (esc(ctx["config_path"]), ", demand log <code>%s</code>" % esc(ctx["demand_path"])
                  if ctx["demand_path"] else "", esc(ctx["generated"]), esc(ctx["revision"])))

    # findings first: what an inspector must look at
    out.append("<h2>Findings</h2><ul class=\"findings\">")
    for key, text, bad in ctx["findings"]:
        out.append('<li class="%s" data-flag="%s">%s</li>' % ("flag" if bad else "ok", esc(key), text))
    out.append("</ul>")

    # service and setpoint
    out.append("<h2>Service and ALMS setpoint (NEC 625.42)</h2>")
    kind = {1: "single-phase", 2: "split-phase (two legs 180 degrees apart)", 3: "three-phase"}[nph]
    v = facts["voltage"]
    vll = {1: "", 2: ", %g V leg to leg" % (2 * v), 3: ", %g V line to line" % round(math.sqrt(3) * v)}[nph]
    out.append("<p>%s service, %g V line to neutral%s, phases %s. Margin kept free below the limit: %s A.</p>"
               % (kind.capitalize(), v, vll, esc(", ".join(phases)), shown(facts["margin"])))
    out.append("<p>The hub keeps the current at the point of common coupling, non-EV load included, under the "
               "<b>setpoint = site.limit - site.margin</b> on every phase: it is the automatic load management "
               "system's setpoint, the maximum load it permits, which NEC 625.42 takes as the EV load on the "
               "service and feeder.</p>")
    out.append('<table><tr><th class="l">phase</th><th>limit, A</th><th>margin, A</th><th>ALMS setpoint, A</th>'
               "<th>fallback budget, A</th></tr>")
    for p, name in enumerate(phases):
        out.append('<tr><td class="l">%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>'
                   % (esc(name), shown(facts["limit"][p]), shown(facts["margin"]),
                      fig("setpoint_a." + name, r["setpoint_a"][name]),
                      fig("fallback_a." + name, r["fallback_a"][name])))
    out.append("</table>")

    # non-EV load
    out.append("<h2>Non-EV load</h2>")
    nec = ctx["nec"]
    if nec is not None:
        out.append("<p>From the hub's demand log by <b>NEC 220.87</b>: 125 %% of the highest 15-minute mean current "
                   "per phase over the log. The log covers <b>%s days</b> (%d intervals of 15 minutes%s).</p>"
                   % (shown(nec["days"]), nec["intervals"],
                      "" if abs(nec["span_days"] - nec["days"]) < 0.01
                      else ", over a span of %s days: intervals are missing" % shown(nec["span_days"])))
        out.append('<table><tr><th class="l">phase</th><th>highest 15-min mean, A</th><th class="l">interval</th>'
                   "<th>x 1.25 = non-EV load, A</th></tr>")
        for p, name in enumerate(phases):
            pk = nec["peaks"][p]
            out.append('<tr><td class="l">%s</td><td>%s</td><td class="l">%s</td><td>%s</td></tr>'
                       % (esc(name), shown(pk["mean"]), esc(pk["when"]), fig("nonev_a." + name, r["nonev_a"][name])))
        out.append("</table>")
        if any(pk["missing"] for pk in nec["peaks"]):
            out.append("<p>Intervals without a healthy reading (not counted): %s.</p>" % esc(", ".join(
                "%s %d" % (name, pk["missing"]) for name, pk in zip(phases, nec["peaks"]))))
        if "design_load" in site:
            out.append('<p class="note">The configuration also states a design load (site.design_load: %s A); '
                       "the measured figure is used.</p>" % esc(site["design_load"]))
        out.append('<p><img src="demand.png" alt="non-EV load by time of day" width="900"></p>')
    elif r["nonev_a"] is not None:
        out.append("<p>No demand log was given: the design load stated in the configuration "
                   "(<code>site.design_load</code>) is used, not a measurement.</p>")
        out.append('<table><tr><th class="l">phase</th><th>non-EV load, A</th></tr>')
        for name in phases:
            out.append('<tr><td class="l">%s</td><td>%s</td></tr>'
                       % (esc(name), fig("nonev_a." + name, r["nonev_a"][name])))
        out.append("</table>")
    else:
        out.append('<p class="flag">Non-EV load: %s. No demand log was given and the configuration states no '
                   "<code>site.design_load</code>, so the power per EV space cannot be stated.</p>"
                   % fig("nonev_a", None))

    # EV spaces
    out.append("<h2>Power per EV space, all charging at once</h2>")
    out.append("<p>%s EV spaces. Computed with the hub's own allocator (<code>alloc.Site.fill</code>, as the "
               "controller calls it: floors first, then max-min fair shares through every circuit and phase, a "
               "share under the charger's minimum paused) with every charger wanting its maximum and, per phase, "
               "setpoint - non-EV load left for them. A space's power is its share times its connection "
               "voltage (line to neutral V; 2V across split-phase legs; sqrt(3)V line to line on a three-phase "
               "site; 3V for a three-phase charger); a paused space counts as 0 kW.</p>" % fig("spaces", r["spaces"]))
    shares = facts.get("shares")
    if shares is not None:
        out.append("<p>Available to the chargers per phase: %s.</p>" % esc(", ".join(
            "%s %s A" % (n, shown(round(a, 3))) for n, a in zip(phases, facts["avail"]))))
    out.append('<table><tr><th class="l">space</th><th class="l">circuit</th><th class="l">connection</th>'
               "<th>min-max, A</th><th>floor, A</th><th>share, A</th><th>kW</th></tr>")
    for i, ch in enumerate(chs):
        chp = ch.get("phases", phases[:1])
        kw = "unknown" if shares is None else shown(round(shares[i] * facts["volts"][i] / 1000, 2))
        low = shares is not None and shares[i] * facts["volts"][i] / 1000 < PER_SPACE_KW
        out.append('<tr%s><td class="l">%s</td><td class="l">%s</td><td class="l">%s</td><td>%d-%d</td><td>%s</td>'
                   "<td>%s</td><td>%s</td></tr>"
                   % (' class="flag"' if low else "", esc(ch["id"]), esc(ch.get("circuit") or "(service)"),
                      esc(conn_label(site, phases, chp, facts["volts"][i])), ch.get("min", 6), ch.get("max", 32),
                      shown(facts["floors"][i]) if facts["floors"][i] else "-",
                      "unknown" if shares is None else ("0 (paused)" if not shares[i] else shown(shares[i])), kw))
    out.append("</table>")
    out.append("<p>Guaranteed to every space at once: %s (the lowest space). At least %g kW per space: %s.</p>"
               % (fig("per_space_kw", r["per_space_kw"], " kW"), PER_SPACE_KW,
                  fig("meets_3_3kw", r["meets_3_3kw"])))

    # circuits
    t = ctx["table"]
    out.append("<h2>EVSE per circuit breaker</h2>")
    out.append("<p>Each circuit's chargers (those fed directly by it) against %s: %s. %s</p>"
               % (esc(t["name"]), esc(t["source"]), esc(t["rule"] if "rule" in t else "")))
    out.append('<table><tr><th class="l">circuit</th><th>breaker, A</th><th>EVSE</th><th>table allows</th>'
               "<th>within the table</th></tr>")
    for k, c in enumerate(r["circuits"]):
        key = "circuits.%d." % k
        note = {False: " (EXCEEDS THE TABLE)", None: " (no row for this rating)"}.get(c["ok"], "")
        out.append('<tr%s data-circuit="%s"><td class="l">%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s%s</td></tr>'
                   % (' class="flag"' if c["ok"] is False else "", esc(c["id"]), fig(key + "id", c["id"]),
                      fig(key + "limit", c["limit"]), fig(key + "evse", c["evse"]),
                      fig(key + "table_max", c["table_max"]), fig(key + "ok", c["ok"]), note))
    out.append("</table>")
    if not r["circuits"]:
        out.append("<p>The configuration has no circuits below the service.</p>")
    out.append('<p class="note">Rows of the table: %s.</p>' % esc(", ".join(
        "%g A: %d" % (row["breaker_a"], row["max_evse"]) for row in t["rows"])))

    # fallback
    out.append("<h2>Fallback: a CT clamp lost</h2>")
    out.append("<p>When a phase's current sensor is lost (unplugged, shorted, stuck, out of range, or slipped off "
               "its cable), the chargers on that phase drop to their minimum within one control period, together "
               "no more than the phase's fallback budget (%s), and stay there until the sensor has read healthy for "
               "%g s. Budget per phase: %s A. The installer's statement of what is safe blind is "
               "fallback + the highest non-EV load <= limit:</p>"
               % ("site.fallback" if "fallback" in site else "by default half of limit - margin",
                  facts["holdoff_ms"] / 1000, esc(", ".join("%s %s" % (n, shown(facts["fallback"][p]))
                                                            for p, n in enumerate(phases)))))
    out.append('<table><tr><th class="l">phase</th><th>fallback, A</th><th>non-EV, A</th><th>sum, A</th>'
               "<th>limit, A</th></tr>")
    for p, name in enumerate(phases):
        ne = r["nonev_a"][name] if r["nonev_a"] else None
        total = None if ne is None else round(facts["fallback"][p] + ne, 3)
        bad = total is not None and total > facts["limit"][p]
        out.append('<tr%s><td class="l">%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>'
                   % (' class="flag"' if bad else "", esc(name), shown(facts["fallback"][p]), shown(ne),
                      shown(total), shown(facts["limit"][p])))
    out.append("</table>")

    # simulation
    sim, desc = ctx["sim"], ctx["desc"]
    out.append("<h2>Evidence: the worst case, simulated</h2>")
    out.append("<p>The hub's own firmware (measurement, health, controller, allocator, pilot duties) ran in "
               "MicroPython against a simulated site (<code>tools/simulate.py</code>; the scenario is "
               '<a href="scenario.json">scenario.json</a>). <b>Simulated: %s</b>, %d control periods of %d ms, '
               "%d Hz mains, a board with pilot read-back.</p>"
               % (esc(ctx["span"]), len(ctx["trace"]), facts["period_ms"], desc["mains_hz"]))
    out.append("<ul><li>Every one of the %d spaces occupied from the start, each car wanting the charger's maximum "
               "and %d kWh, and taking %d s (the most IEC 61851-1 allows) to follow every new offer.</li>"
               % (len(chs), EV_KWH, EV_DELAY_S))
    out.append("<li>Non-EV load: %s</li>" % ctx["load_desc"])
    out.append("<li>At %s s, a load step of %s A for %d s (a quarter of the limit, no more than takes the non-EV "
               "load alone to the setpoint).</li>"
               % (desc["step_t"], esc(", ".join("%s +%s" % (n, shown(s)) for n, s in zip(phases, desc["step"]))),
                  desc["step_s"]))
    out.append("<li>At %s s, the CT clamp of %s unplugged (<code>open</code>) for %d s, then back.</li></ul>"
               % (desc["fault_t"], esc(desc["fault_phase"]), desc["fault_s"]))
    out.append('<p><img src="current.png" alt="line current against the limit, per phase" width="900"></p>')
    out.append('<table><tr><th class="l">phase</th><th>over the limit, A*s</th><th>time over, s</th>'
               "<th>longest episode, s</th><th>highest excess, A</th></tr>")
    for p, name in enumerate(phases):
        o = sim[p]
        out.append('<tr%s><td class="l">%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>'
                   % (' class="flag"' if o["longest_s"] > ctx["bound_s"] else "", esc(name), shown(o["as"]),
                      shown(o["s"]), shown(o["longest_s"]), shown(o["peak_a"])))
    out.append("</table>")
    out.append("<p>Worst overload (the largest over phases of the integral of actual - limit where the line "
               "current is over the limit, on the simulator's truth): %s, over the limit for %s s in all on "
               "that phase. The hub's design bound: nothing it cannot see (here the load step, the lost clamp) "
               "keeps a phase over for longer than one control period plus the EV's response; with the "
               "measurement and the read-back's debounce, %s s per episode.</p>"
               % (fig("worst_overload_as", r["worst_overload_as"], " A*s"), shown(ctx["worst_s"]),
                  shown(ctx["bound_s"])))
    out.append('<h2>For scripts</h2><p class="note">The same figures as one JSON line (printed on stdout):</p>'
               '<pre id="json">%s</pre>' % esc(json.dumps(r)))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def revision():
    """The firmware's git revision, and whether firmware/ has local changes."""
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "firmware"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "revision unknown"
    if not rev:
        return "revision unknown"
    return "git %s%s" % (rev, ", with local changes in firmware/" if dirty else "")


# --- main --------------------------------------------------------------------------

def build(args):
    """Every input checked and everything computed, nothing written yet: (the JSON
    line's figures, a function that writes the page and its files into a folder)."""
    cfg = load_json(args.config, "the configuration")
    table = load_table(args.evse_table)
    try:
        facts = firmware_facts(cfg, None)    # config.validate, before anything else is read
    except InputError as e:
        raise InputError("%s: %s" % (args.config, e))
    site = cfg["site"]
    phases = site["phases"]
    nph = len(phases)
    demand = nec = None
    if args.demand:
        demand = read_demand(args.demand, phases)
        nec = nec_220_87(demand, phases)
        nonev = [pk["nonev"] for pk in nec["peaks"]]
    elif "design_load" in site:
        nonev = per_phase(site["design_load"], phases)
    else:
        nonev = None
    if nonev is not None:
        facts = firmware_facts(cfg, nonev)   # the same config, with the shares
    chs = cfg.get("chargers", [])

    # per space
    per_space = meets = None
    if nonev is not None and chs:
        kw = min(a * v for a, v in zip(facts["shares"], facts["volts"])) / 1000   # a paused space: 0 kW
        per_space, meets = round(kw, 2), kw >= PER_SPACE_KW
    circuits = []
    for c in site.get("circuits", []):
        n = sum(1 for ch in chs if ch.get("circuit") == c["id"])
        mx = table_max(table, c["limit"])
        circuits.append({"id": c["id"], "limit": c["limit"], "evse": n, "table_max": mx,
                         "ok": None if mx is None else n <= mx})

    # the worst case, simulated
    if demand is not None:
        prof = profile(demand, nph)
    else:
        prof = [list(nonev) if nonev is not None else [0.0] * nph]
    scenario, load, desc = worst_case(cfg, facts, prof, args.window)
    with tempfile.TemporaryDirectory(prefix="almhub-report-") as tmp:
        trace = simulate(scenario, tmp)
    sim = overloads(trace, nph)
    worst = max(range(nph), key=lambda p: (sim[p]["as"], -p))

    result = {"setpoint_a": dict(zip(phases, facts["setpoint"])),
              "nonev_a": None if nonev is None else dict(zip(phases, nonev)),
              "spaces": len(chs), "per_space_kw": per_space, "meets_3_3kw": meets, "circuits": circuits,
              "fallback_a": dict(zip(phases, facts["fallback"])), "worst_overload_as": sim[worst]["as"]}

    clock = None
    if demand is not None:
        clock = "time of day (UTC)" if wall_clock(demand) else "time of day, from the log's start"
    t0_h = desc["slot0"] * INTERVAL_S / 3600
    if demand is not None:
        tz = "UTC" if wall_clock(demand) else "of the log's own clock (it had no wall-clock time)"
        if args.window >= DAY_S:
            span = "the whole day of the profile, 00:00-24:00 %s (24 h)" % tz
        else:
            span = ("%s-%s %s (%s): the %s of the log's daily profile (mean by time of day) that leave the "
                    "chargers the least room on the most loaded phase"
                    % (_clock(t0_h), _clock(t0_h + args.window / 3600), tz, _duration(args.window),
                       _duration(args.window)))
        load_desc = ("the demand log's mean by time of day (%s days), per phase, changing every 15 minutes."
                     % shown(nec["days"]) if nec else "")
    else:
        span = "%s from the start (the non-EV load is flat: any time of day)" % _duration(args.window)
        load_desc = ("flat at the design load (site.design_load)." if nonev is not None else
                     "unknown, so none is simulated (0 A) apart from the load step.")

    findings = []
    for c in circuits:
        if c["ok"] is False:
            findings.append(("circuit:" + c["id"], "Circuit <b>%s</b> (%s A breaker) feeds %d EVSE; %s allows %d. "
                             "The hub keeps the breaker's limit whatever the count; this code's table rejects it."
                             % (esc(c["id"]), shown(c["limit"]), c["evse"], esc(table["name"]), c["table_max"]), True))
        elif c["ok"] is None:
            findings.append(("circuit:" + c["id"], "Circuit <b>%s</b> (%s A): %s has no row for this rating."
                             % (esc(c["id"]), shown(c["limit"]), esc(table["name"])), True))
    if circuits and all(c["ok"] for c in circuits):
        findings.append(("circuits", "Every circuit feeds no more EVSE than %s allows." % esc(table["name"]), False))
    if nonev is None:
        findings.append(("nonev", "The non-EV load is unknown (no demand log, no site.design_load): the power "
                         "per EV space cannot be stated.", True))
    elif nec is not None and nec["days"] < NEC_220_87_DAYS:
        findings.append(("days", "The demand log covers only %s days; NEC 220.87 asks for %d days of readings."
                         % (shown(nec["days"]), NEC_220_87_DAYS), True))
    elif nec is None:
        findings.append(("design_load", "The non-EV load is the configuration's design load, not a measurement.",
                         False))
    if meets is not None:
        findings.append(("per_space", "With every space charging at once, the lowest gets %s kW: %s the %g kW "
                         "per space some codes require." % (shown(per_space), "at least" if meets else "LESS THAN",
                                                            PER_SPACE_KW), not meets))
    for p, name in enumerate(phases):
        if nonev is not None and facts["fallback"][p] + nonev[p] > facts["limit"][p]:
            findings.append(("fallback:" + name, "On %s the fallback budget (%s A) plus the non-EV load (%s A) "
                             "exceeds the limit (%s A) while a CT is lost."
                             % (esc(name), shown(facts["fallback"][p]), shown(nonev[p]),
                                shown(facts["limit"][p])), True))
    # the fuzzer's window (tools/fuzzlib.py): the EV's response + 2 periods (measurement, debounce)
    bound_s = (facts["response_ms"] + 2 * facts["period_ms"]) / 1000
    longest = max(o["longest_s"] for o in sim)
    findings.append(("overload", "Worst overload in the simulated worst case: %s A*s on %s (%s s over the limit "
                     "in all); longest episode on any phase %s s, %s the design bound of %s s."
                     % (shown(sim[worst]["as"]), esc(phases[worst]), shown(sim[worst]["s"]), shown(longest),
                        "BEYOND" if longest > bound_s else "within", shown(bound_s)), longest > bound_s))

    ctx = {"result": result, "facts": facts, "cfg": cfg, "nec": nec, "table": table, "sim": sim, "desc": desc,
           "trace": trace, "span": span, "load_desc": load_desc, "findings": findings,
           "worst_s": sim[worst]["s"], "bound_s": bound_s, "name": os.path.basename(args.config),
           "config_path": args.config, "demand_path": args.demand, "revision": revision(),
           "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}

    def write(out):
        plot_current(os.path.join(out, "current.png"), trace, phases, facts, load, desc, t0_h, clock)
        if demand is not None:
            plot_demand(os.path.join(out, "demand.png"), prof, demand, phases, nonev,
                        (t0_h, t0_h + args.window / 3600), clock)
        with open(os.path.join(out, "scenario.json"), "w") as f:
            json.dump(scenario, f, indent=1)
        with open(os.path.join(out, "report.html"), "w") as f:
            f.write(page(ctx))
    return result, write


def _duration(s):
    if s % 3600 == 0:
        return "%d h" % (s // 3600)
    if s % 60 == 0:
        return "%d min" % (s // 60)
    return "%d s" % s


def main(argv=None):
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("config", help="the site's config.json")
    ap.add_argument("--out", required=True, help="folder for report.html and its plots")
    ap.add_argument("--demand", help="the hub's 15-minute demand log (CSV)")
    ap.add_argument("--window", type=int, default=DEFAULT_WINDOW_S,
                    help="seconds to simulate, 120-86400 (default %d: the profile's peak)" % DEFAULT_WINDOW_S)
    ap.add_argument("--evse-table", default=EVSE_TABLE, help="the EVSE-per-breaker code table (tools/codes/)")
    args = ap.parse_args(argv)
    try:
        if not 120 <= args.window <= DAY_S:
            raise InputError("--window: %d s is outside 120..86400" % args.window)
        if os.path.exists(args.out) and not os.path.isdir(args.out):
            raise InputError("%s: exists and is not a folder" % args.out)
        result, write = build(args)
    except InputError as e:
        print("report: %s" % e, file=sys.stderr)
        return 2
    made = not os.path.isdir(args.out)
    os.makedirs(args.out, exist_ok=True)
    try:
        write(args.out)
    except BaseException:
        if made:
            shutil.rmtree(args.out, ignore_errors=True)
        raise
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
