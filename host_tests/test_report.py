"""tools/report.py: the permit report's figures from configs and demand logs of known
peaks, worked out here by hand, and its page as headless Chromium renders it.

Chromium is Debian's /usr/bin/chromium (`make setup` installs it). Without it
the rendering tests fail, unless ALMHUB_SKIP_CHROMIUM=1 says to skip them.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORT = os.path.join(ROOT, "tools", "report.py")
TABLE = os.path.join(ROOT, "tools", "codes", "evse_per_breaker.json")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import report  # noqa: E402
import mpenv  # noqa: E402

SHORT = "120"   # simulated seconds where the simulation is not what a test is about
T0 = 1767225600  # 2026-01-01 00:00 UTC: the log has wall-clock time


# --- inputs --------------------------------------------------------------------------

def three_phase(chargers=None, circuits=None, **site):
    s = {"phases": ["L1", "L2", "L3"], "limit": 80, "margin": 5,
         "circuits": circuits if circuits is not None else [
             {"id": "carpark", "limit": 100}, {"id": "row_a", "limit": 40, "parent": "carpark"},
             {"id": "row_b", "limit": 32, "parent": "carpark"}]}
    s.update(site)
    if chargers is None:
        chargers = [{"id": "a%d" % i, "phases": ["L%d" % (i % 3 + 1)], "circuit": "row_a", "max": 32}
                    for i in range(4)]
        chargers += [{"id": "b%d" % i, "phases": ["L1", "L2", "L3"], "circuit": "row_b", "max": 16}
                     for i in range(2)]
        chargers += [{"id": "door", "phases": ["L2"], "max": 16}]
    return {"site": s, "chargers": chargers, "control": {"holdoff_ms": 20000}}


def demand_csv(path, phases, peaks, days=30, t0=T0, gaps=()):
    """A log of `days` days: a daily profile below every peak, and each phase's
    peak (its highest 15-minute mean) once, on a different day. In the intervals
    `gaps` the last phase had no healthy reading (empty cells, as the firmware writes)."""
    lines = ["end," + ",".join("%s_mean,%s_max" % (p, p) for p in phases)]
    n = days * report.SLOTS
    at = {p: (7 + 5 * p) * report.SLOTS + 70 + 3 * p for p in range(len(phases))}   # where each peak is
    for k in range(n):
        h = (k % report.SLOTS) / 4
        cells = []
        for p in range(len(phases)):
            mean = round(min(peaks[p] - 1.0, 4 + 3 * p + 10 * math.exp(-((h - 8 - 5 * p) / 2.5) ** 2)), 1)
            if k == at[p] % n:
                mean = peaks[p]
            cells.append("," if k in gaps and p == len(phases) - 1 else "%.1f,%.1f" % (mean, mean + 4.5))
        lines.append("%d,%s" % (t0 + (k + 1) * 900, ",".join(cells)))
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def run(tmp_path, cfg, demand=None, window=SHORT, name="out", extra=()):
    """(completed process, the JSON line or None, the output folder)."""
    cpath = tmp_path / (name + ".json")
    cpath.write_text(json.dumps(cfg) if not isinstance(cfg, str) else cfg)
    out = tmp_path / name
    args = [sys.executable, REPORT, str(cpath), "--out", str(out)]
    if demand:
        args += ["--demand", demand]
    if window:
        args += ["--window", window]
    r = subprocess.run(args + list(extra), capture_output=True, text=True, timeout=300)
    res = None
    if r.returncode == 0:
        lines = r.stdout.splitlines()
        assert len(lines) == 1, r.stdout
        res = json.loads(lines[0])
    return r, res, out


def ok(tmp_path, cfg, **kw):
    r, res, out = run(tmp_path, cfg, **kw)
    assert r.returncode == 0 and res is not None, r.stderr
    return res, out


# --- the page, as Chromium renders it ------------------------------------------------

PROBE = """<script>
addEventListener("load", () => {
  const out = document.createElement("div");
  out.id = "probe";
  out.dataset.imgs = JSON.stringify([...document.images].map(
    i => [i.getAttribute("src"), i.complete, i.naturalWidth, i.naturalHeight]));
  out.dataset.flags = JSON.stringify([...document.querySelectorAll(".flag")].map(e => [
    e.dataset.flag || e.dataset.circuit || "", e.textContent,
    e.offsetHeight > 0 && getComputedStyle(e).visibility === "visible", getComputedStyle(e).backgroundColor]));
  document.body.appendChild(out);
});
</script>"""


def chromium():
    exe = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if exe is None:
        if os.environ.get("ALMHUB_SKIP_CHROMIUM"):
            pytest.skip("chromium is absent and ALMHUB_SKIP_CHROMIUM is set")
        pytest.fail("chromium is absent: `make setup` installs it (or set ALMHUB_SKIP_CHROMIUM=1 to skip)")
    return exe


class Dom(HTMLParser):
    """The rendered DOM's figures (data-json -> texts) and the probe's attributes."""

    def __init__(self):
        super().__init__()
        self.figs = {}
        self.probe = None
        self._key = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-json" in a:
            self._key = a["data-json"]
            self.figs.setdefault(self._key, []).append("")
        if a.get("id") == "probe":
            self.probe = a

    def handle_endtag(self, tag):
        if tag == "span":
            self._key = None

    def handle_data(self, data):
        if self._key is not None:
            self.figs[self._key][-1] += data


def render(out):
    """Chromium loads report.html (with a probe script added) and dumps the DOM after load."""
    exe = chromium()
    page = (out / "report.html").read_text()
    assert "<script" not in page      # the report itself needs no JavaScript
    probe = out / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"))
    profile = tempfile.mkdtemp(prefix="almhub-chromium-")
    try:
        r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            "--user-data-dir=" + profile, "--dump-dom", probe.as_uri()],
                           capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
        probe.unlink()
    assert r.returncode == 0, r.stderr[-2000:]
    dom = Dom()
    dom.feed(r.stdout)
    assert dom.probe is not None, "the page did not finish loading: " + r.stdout[-1000:]
    return dom


def leaves(v, key=""):
    if isinstance(v, dict):
        for k, x in v.items():
            yield from leaves(x, key + "." + k if key else k)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from leaves(x, "%s.%d" % (key, i))
    else:
        yield key, v


def read_back(text):
    """A figure as the page shows it, back to its JSON value."""
    text = text.strip()
    if text in ("unknown", "yes", "no"):
        return {"unknown": None, "yes": True, "no": False}[text]
    try:
        return float(text)
    except ValueError:
        return text


def check_page(out, res):
    """The rendered page shows every figure of the JSON line, the same, and its plots."""
    dom = render(out)
    want = dict(leaves(res))
    assert set(dom.figs) == set(want), (set(dom.figs) ^ set(want))
    for key, texts in dom.figs.items():
        for t in texts:
            got = read_back(t)
            if isinstance(want[key], bool) or want[key] is None or isinstance(want[key], str):
                assert got == want[key], (key, t, want[key])
            else:
                assert got == pytest.approx(want[key], abs=1e-9), (key, t, want[key])
    assert dom.probe is not None
    imgs = json.loads(dom.probe["data-imgs"] or "")
    assert imgs, "no plots on the page"
    for src, complete, width, height in imgs:
        assert complete and width > 0 and height > 0, (src, complete, width)
    return dom, imgs


def flags(dom):
    assert dom.probe is not None
    return {f[0]: f for f in json.loads(dom.probe["data-flags"] or "")}


# --- tests ---------------------------------------------------------------------------

def test_a_30_day_log_gives_nec_220_87_and_the_page_shows_the_figures(tmp_path):
    peaks = [30.2, 25.0, 12.4]
    demand = demand_csv(tmp_path / "demand.csv", ["L1", "L2", "L3"], peaks)
    cfg = three_phase(fallback=20)
    res, out = ok(tmp_path, cfg, demand=demand, window=None)      # the default: the profile's worst 2 h
    assert res["setpoint_a"] == {"L1": 75, "L2": 75, "L3": 75}
    assert res["nonev_a"] == pytest.approx({"L1": 1.25 * 30.2, "L2": 1.25 * 25.0, "L3": 1.25 * 12.4})
    assert res["spaces"] == 7
    assert res["circuits"] == [
        {"id": "carpark", "limit": 100, "evse": 0, "table_max": 11, "ok": True},
        {"id": "row_a", "limit": 40, "evse": 4, "table_max": 4, "ok": True},
        {"id": "row_b", "limit": 32, "evse": 2, "table_max": 2, "ok": True}]
    assert res["fallback_a"] == {"L1": 20, "L2": 20, "L3": 20}
    # avail 37.25, 43.75, 59.5 A: b0, b1 (three-phase, row_b 32 A) and the L1 chargers a0, a3
    # share L1's 37 A: 9 A each (the odd amp to the first); 9 A x 230 V = 2.07 kW on a0 and a3
    assert res["per_space_kw"] == pytest.approx(2.07)
    assert res["meets_3_3kw"] is False
    assert res["worst_overload_as"] >= 0
    assert sorted(os.listdir(out)) == ["current.png", "demand.png", "report.html", "scenario.json"]
    html = (out / "report.html").read_text()
    assert "30.0 days" in html.replace("<b>", "").replace("</b>", "") and "NEC 220.87" in html
    assert "(2 h)" in html           # the span simulated is said
    sc = json.loads((out / "scenario.json").read_text())
    assert sc["duration"] == 7200 and sum(1 for e in sc["events"] if "plug" in e) == 7
    assert [e["fault"] for e in sc["events"] if "sensor" in e] == ["open", None]
    dom, imgs = check_page(out, res)
    assert sorted(i[0] for i in imgs) == ["current.png", "demand.png"]
    assert "days" not in flags(dom)  # 30 days: no warning


def test_a_config_the_table_rejects_gets_a_report_that_flags_it(tmp_path):
    chargers = [{"id": "a%d" % i, "phases": ["L%d" % (i % 3 + 1)], "circuit": "row_a", "max": 16}
                for i in range(5)]
    res, out = ok(tmp_path, three_phase(chargers=chargers, design_load=10))
    assert res["circuits"][1] == {"id": "row_a", "limit": 40, "evse": 5, "table_max": 4, "ok": False}
    assert res["circuits"][0]["ok"] is True
    dom, _ = check_page(out, res)
    f = flags(dom)
    for key in ("circuit:row_a", "row_a"):          # the finding and the table's row
        _, text, visible, background = f[key]
        assert visible and background not in ("rgba(0, 0, 0, 0)", "transparent"), f[key]
        assert "row_a" in text
    assert "Table 427.3" in f["circuit:row_a"][1]
    assert "carpark" not in f


def test_design_load_without_a_log_and_fallback_per_phase(tmp_path):
    cfg = three_phase(limit=[63, 50, 40], margin=4, design_load=[20, 10, 5])
    res, out = ok(tmp_path, cfg, name="perphase")
    assert res["setpoint_a"] == {"L1": 59, "L2": 46, "L3": 36}
    assert res["nonev_a"] == {"L1": 20, "L2": 10, "L3": 5}
    assert res["fallback_a"] == {"L1": 29, "L2": 23, "L3": 18}     # (limit - margin) // 2
    assert res["per_space_kw"] is not None
    assert "site.design_load" in (out / "report.html").read_text()
    assert not (out / "demand.png").exists()
    res, _ = ok(tmp_path, three_phase(design_load=12.5, fallback=30), name="flat")
    assert res["nonev_a"] == {"L1": 12.5, "L2": 12.5, "L3": 12.5}
    assert res["fallback_a"] == {"L1": 30, "L2": 30, "L3": 30}


def test_unknown_non_ev_load_is_said_not_guessed(tmp_path):
    cfg = three_phase(circuits=[{"id": "feeder", "limit": 200}, {"id": "row_a", "limit": 40, "parent": "feeder"},
                                {"id": "row_b", "limit": 32, "parent": "feeder"}])
    res, out = ok(tmp_path, cfg)
    assert res["nonev_a"] is None and res["per_space_kw"] is None and res["meets_3_3kw"] is None
    # a 200 A breaker is beyond the table: no rule, said so
    assert res["circuits"][0] == {"id": "feeder", "limit": 200, "evse": 0, "table_max": None, "ok": None}
    dom, _ = check_page(out, res)
    f = flags(dom)
    assert f["nonev"][2] and f["circuit:feeder"][2]
    assert dom.figs["nonev_a"] == ["unknown"] and dom.figs["per_space_kw"] == ["unknown"]


def test_a_short_log_is_warned_of_and_intervals_without_readings_are_skipped(tmp_path):
    demand = demand_csv(tmp_path / "week.csv", ["L1", "L2", "L3"], [20.0, 15.5, 9.9], days=7, gaps=range(5, 9))
    res, out = ok(tmp_path, three_phase(), demand=demand)
    assert res["nonev_a"] == pytest.approx({"L1": 25.0, "L2": 19.375, "L3": 12.375})
    html = (out / "report.html").read_text()
    assert 'data-flag="days"' in html and "covers only 7.0 days" in html
    assert "Intervals without a healthy reading (not counted): L1 0, L2 0, L3 4." in html


def test_the_firmware_demand_log_reads(tmp_path):
    """tools/demand.py's CSV (the firmware's own demand code): NEC 220.87 from it."""
    cfg = three_phase(design_load=[30, 20, 10])
    (tmp_path / "site.json").write_text(json.dumps(cfg))
    csv = tmp_path / "demand.csv"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "demand.py"), str(tmp_path / "site.json"),
                        "--simulate-days", "30", "--out", str(csv)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = [line.split(",") for line in csv.read_text().splitlines()[1:]]
    assert len(rows) == 30 * 96
    highest = [max(float(row[1 + 2 * p]) for row in rows if row[1 + 2 * p]) for p in range(3)]
    res, out = ok(tmp_path, cfg, demand=str(csv))
    assert res["nonev_a"] == pytest.approx(dict(zip(["L1", "L2", "L3"], [1.25 * h for h in highest])))
    assert "30.0 days" in (out / "report.html").read_text().replace("<b>", "").replace("</b>", "")


def test_per_space_power_single_phase_230v(tmp_path):
    def site(n):
        return {"site": {"phases": ["L1"], "limit": 40, "margin": 0, "design_load": 10},
                "chargers": [{"id": "c%d" % i, "max": 32} for i in range(n)]}
    # 30 A for the chargers: 2 x 15 A, 5 x 6 A, 6 x 5 A (under the 6 A minimum: one paused)
    for n, kw, meets in ((2, 15 * 230 / 1000, True), (5, 6 * 230 / 1000, False), (6, 0.0, False)):
        res, _ = ok(tmp_path, site(n), name="n%d" % n)
        assert (res["spaces"], res["per_space_kw"], res["meets_3_3kw"]) == (n, pytest.approx(kw), meets)
        assert res["setpoint_a"] == {"L1": 40} and res["fallback_a"] == {"L1": 20}


def test_per_space_power_us_split_phase(tmp_path):
    # 120/240 V: three 240 V chargers across both legs, one 120 V charger on L1; 80 A left per leg.
    # Equal shares: 16 A each (the 120 V one is full), then L1's last 16 A: 5 A more each for the
    # 240 V ones and the odd amp to the first: 22, 21, 21 A at 240 V, 16 A at 120 V = 1.92 kW.
    cfg = {"site": {"phases": ["L1", "L2"], "limit": 100, "margin": 0, "design_load": 20},
           "chargers": [{"id": "d%d" % i, "phases": ["L1", "L2"], "max": 32} for i in range(3)]
           + [{"id": "s0", "phases": ["L1"], "max": 16}]}
    res, out = ok(tmp_path, cfg)
    assert res["per_space_kw"] == pytest.approx(16 * 120 / 1000) and res["meets_3_3kw"] is False
    html = (out / "report.html").read_text()
    assert "L1-L2, 240 V" in html and "L1-N, 120 V" in html
    # the same site with only 240 V chargers: 80 A / 4 = 20 A at 240 V
    cfg["chargers"] = [{"id": "d%d" % i, "phases": ["L1", "L2"], "max": 32} for i in range(4)]
    res, _ = ok(tmp_path, cfg, name="only240")
    assert res["per_space_kw"] == pytest.approx(20 * 240 / 1000) and res["meets_3_3kw"] is True


def test_per_space_power_208v_line_to_line(tmp_path):
    # 120/208 V wye, three chargers in delta: each line carries sqrt(I_ab^2 + I_ca^2 + I_ab I_ca)
    # = sqrt(3) I. 52 A per line: I = 30 A (51.96 A; 31 A on one would take a line to 52.8 A)
    cfg = {"site": {"phases": ["L1", "L2", "L3"], "voltage": 120, "limit": 60, "margin": 0, "design_load": 8},
           "chargers": [{"id": "ab", "phases": ["L1", "L2"], "max": 32},
                        {"id": "bc", "phases": ["L2", "L3"], "max": 32},
                        {"id": "ca", "phases": ["L3", "L1"], "max": 32}]}
    res, out = ok(tmp_path, cfg)
    assert res["per_space_kw"] == pytest.approx(round(30 * math.sqrt(3) * 120 / 1000, 2))
    assert res["meets_3_3kw"] is True
    assert "L1-L2, 207.8 V" in (out / "report.html").read_text()


def test_the_evse_table_is_the_firmware_table(tmp_path):
    t = report.load_table(TABLE)
    assert "Table 427.3" in t["name"] + t["source"] and "one building code" in t["source"]
    ratings = [x / 2 for x in range(2, 401)]     # 1-200 A by 0.5 A
    code = ("import json, config\nprint(json.dumps([config.EVSE_PER_BREAKER, [config.max_evse(r) for r in %r]]))"
            % ratings)
    r = mpenv.run(["-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    fw_rows, fw_max = json.loads(r.stdout)
    assert [[row["breaker_a"], row["max_evse"]] for row in t["rows"]] == fw_rows
    assert [report.table_max(t, x) for x in ratings] == fw_max


GOOD_HEADER = "end,L1_mean,L1_max,L2_mean,L2_max,L3_mean,L3_max\n"
MISSING = object()


@pytest.mark.parametrize("what, cfg, csv, message", [
    ("missing config", None, None, "cannot read the configuration"),
    ("not JSON", "{site:", None, "not JSON"),
    ("refused by config.validate", {"site": {"phases": ["L1"], "limit": "a lot"}}, None,
     "site.limit: expected a number, got 'a lot'"),
    ("unknown key", {"site": {"phases": ["L1"], "limit": 40, "colour": 1}}, None, "unknown key 'colour'"),
    ("missing log", "good", MISSING, "cannot read the demand log"),
    ("a word", "good", GOOD_HEADER + "900,21.4,38.0,19.2,30.1,8.0,12.5\n1800,abc,1,1,1,1,1\n",
     "line 3, column 2: 'abc' is not a number"),
    ("other phases", "good", "end,A_mean,A_max\n900,1,2\n", "line 1: expected the header"),
    ("cells", "good", GOOD_HEADER + "900,1,2,3\n", "line 2: 4 cells"),
    ("time back", "good", GOOD_HEADER + "1800,1,2,1,2,1,2\n900,1,2,1,2,1,2\n", "line 3: end 900 is not after"),
    ("negative", "good", GOOD_HEADER + "900,-1,2,1,2,1,2\n", "'-1' is not a number >= 0"),
    ("mean over max", "good", GOOD_HEADER + "900,5,2,1,2,1,2\n", "L1_mean 5 is above L1_max 2"),
    ("header only", "good", GOOD_HEADER, "no intervals"),
    ("binary", "good", b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "not a CSV text file"),
])
def test_bad_input_exits_2_with_one_line_writing_nothing(tmp_path, what, cfg, csv, message):
    good = three_phase(design_load=10)
    cpath = tmp_path / "cfg.json"
    if cfg == "good":
        cpath.write_text(json.dumps(good))
    elif isinstance(cfg, str):
        cpath.write_text(cfg)
    elif cfg is not None:
        cpath.write_text(json.dumps(cfg))
    args = [sys.executable, REPORT, str(cpath), "--out", str(tmp_path / "out")]
    if csv is not None:
        p = tmp_path / "demand.csv"
        if isinstance(csv, bytes):
            p.write_bytes(csv)
        elif isinstance(csv, str):
            p.write_text(csv)
        args += ["--demand", str(p)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, (what, r.returncode, r.stderr)
    assert r.stdout == ""
    err = r.stderr.splitlines()
    assert len(err) == 1 and err[0].startswith("report: ") and message in err[0], (what, r.stderr)
    assert not (tmp_path / "out").exists()
