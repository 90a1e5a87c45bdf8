"""Type-check firmware/ and boards/ against each board's MicroPython stubs, and lint them.

Run by `make check` (offline: everything comes from `make setup`):

    python3 tools/check.py                    # every board, then the lint pass
    python3 tools/check.py --board rp2        # one board (repeatable)
    python3 tools/check.py --root DIR         # check DIR/firmware and DIR/boards instead
    python3 tools/check.py firmware/measure/ct.py     # only these files (or folders) of the root
    python3 tools/check.py -v                 # also list the known findings

- pyright runs once per board with that board's stubs (typings/<board>,
  installed by tools/setup_deps.py) as its typeshed and stub path. The settings
  are tools/pyright/<board>.json (extending common.json); this script copies
  them into a temporary config whose firmware/ and boards/ are those of --root.
- ruff (pyflakes' checks, tools/pyright/ruff.toml) is the lint pass.
- tools/pyright/known.txt lists findings looked at and accepted (stub gaps,
  patterns pyright cannot follow), without line numbers. Anything else, error
  or warning, fails the check; a known line nothing matches any more is named
  so it can be deleted.

Output: one `path:line:col: message [rule]` line per new finding, then a
summary line per pass (`pyright rp2: 0 errors`); exit status 1 on any new finding.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(ROOT, "tools", "pyright")
KNOWN = os.path.join(CONF, "known.txt")
BOARDS = ("rp2", "esp32")
CHECKED = ("firmware", "simulation", "boards")     # the folders taken from --root
PATH_KEYS = ("include", "exclude", "extraPaths", "typeshedPath", "stubPath")


def ensure_venv():
    """Re-run with the venv's Python when started by another one (pyright lives there)."""
    try:
        import pyright.cli  # noqa: F401  (pyright.cli: tools/pyright/ is a folder, not it)
    except ImportError:
        venv = os.path.join(ROOT, ".venv")
        venv_py = os.path.join(venv, "bin", "python")
        if os.path.exists(venv_py) and os.path.realpath(sys.prefix) != os.path.realpath(venv):
            os.execv(venv_py, [venv_py] + sys.argv)
        sys.exit("check: pyright is not installed: run `make setup`")


# --- pyright config: tools/pyright/<board>.json, paths moved to --root ------------

def load_config(path):
    """A pyright config (JSON with whole-line // comments), its `extends` merged,
    every path made absolute."""
    with open(path) as f:
        cfg = json.loads("".join(ln for ln in f if not ln.lstrip().startswith("//")))
    here = os.path.dirname(os.path.abspath(path))
    for key in PATH_KEYS:
        if isinstance(cfg.get(key), list):
            cfg[key] = [os.path.normpath(os.path.join(here, p)) for p in cfg[key]]
        elif key in cfg:
            cfg[key] = os.path.normpath(os.path.join(here, cfg[key]))
    base = cfg.pop("extends", None)
    if base:
        cfg = dict(load_config(os.path.join(here, base)), **cfg)
    return cfg


def board_config(board, root, tmpdir, paths=None):
    """Path of a config for `board` checking root's firmware/ and boards/ (or `paths`)."""
    cfg = load_config(os.path.join(CONF, board + ".json"))
    if paths:
        cfg["include"] = [os.path.join(ROOT, os.path.relpath(p, root)) for p in paths]

    def move(p):
        rel = os.path.relpath(p, ROOT)
        if rel.split(os.sep)[0] in CHECKED:
            p = os.path.join(root, rel)
        return os.path.relpath(p, tmpdir)   # pyright ignores an absolute "include"

    for key in PATH_KEYS:
        if isinstance(cfg.get(key), list):
            cfg[key] = [move(p) for p in cfg[key]]
        elif key in cfg:
            cfg[key] = move(cfg[key])
    stubs = os.path.join(tmpdir, cfg["typeshedPath"])
    if not os.path.isdir(os.path.join(stubs, "stdlib")):
        sys.exit("check: no stubs in %s: run `make setup`" % os.path.normpath(stubs))
    path = os.path.join(tmpdir, "pyright-%s.json" % board)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    return path


# --- findings ---------------------------------------------------------------------

class Finding:
    def __init__(self, tool, path, line, col, rule, message, severity="error"):
        self.tool, self.path, self.line, self.col = tool, path, line, col
        self.rule, self.severity = rule or "-", severity
        self.message = message.splitlines()[0].strip() if message else ""

    def __str__(self):
        return "%s:%d:%d: %s: %s [%s]" % (self.path, self.line, self.col, self.severity,
                                          self.message, self.rule)


def rel(path, root):
    return os.path.relpath(path, root).replace(os.sep, "/")


def _run_json(name, cmd, tmpdir, env=None):
    """(CompletedProcess, its JSON output); exits when the tool itself failed."""
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmpdir, env=env)
    try:
        out = json.loads(r.stdout) if r.stdout.strip() else []
    except ValueError:
        out = None
    if r.returncode not in (0, 1) or out is None:
        sys.stdout.write(r.stdout + r.stderr)
        if "No module named" in r.stderr:
            sys.exit("check: %s is not installed (requirements-dev.txt): run `make setup`" % name)
        sys.exit("check: %s failed to run (exit %d)" % (name, r.returncode))
    return r, out


def run_pyright(board, root, tmpdir, paths=None):
    cfg = board_config(board, root, tmpdir, paths)
    # PYRIGHT_PYTHON_IGNORE_WARNINGS: no look-up of the newest release on PyPI;
    # the wheel bundles pyright itself, so nothing else is fetched either.
    env = dict(os.environ, PYRIGHT_PYTHON_IGNORE_WARNINGS="1")
    _, out = _run_json("pyright " + board, [sys.executable, "-m", "pyright", "--outputjson", "-p", cfg],
                       tmpdir, env)
    if not isinstance(out, dict):
        sys.exit("check: pyright %s gave no report" % board)
    found = []
    for d in out.get("generalDiagnostics", []):
        if d.get("severity") not in ("error", "warning"):
            continue
        start = d.get("range", {}).get("start", {})
        found.append(Finding("pyright:" + board, rel(d["file"], root), start.get("line", 0) + 1,
                             start.get("character", 0) + 1, d.get("rule"), d.get("message", ""),
                             d["severity"]))
    if out.get("summary", {}).get("filesAnalyzed", 0) == 0:
        sys.exit("check: pyright %s found no files under %s" % (board, root))
    return found


def run_ruff(root, tmpdir, paths=None):
    dirs = paths or [os.path.join(root, d) for d in CHECKED if os.path.isdir(os.path.join(root, d))]
    r, out = _run_json("ruff", [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format",
                                "json", "--config", os.path.join(CONF, "ruff.toml")] + dirs, tmpdir)
    sys.stdout.write(r.stderr.replace(root + os.sep, ""))   # its warnings, e.g. a malformed noqa comment
    return [Finding("ruff", rel(d["filename"], root), d["location"]["row"],
                    d["location"]["column"], d.get("code"), d.get("message", ""))
            for d in out]


# --- known findings -------------------------------------------------------------

def load_known():
    """[(tool, path, rule, message)] from known.txt: `tool path rule message`,
    tool is ruff, pyright (every board) or pyright:BOARD."""
    known = []
    if not os.path.exists(KNOWN):
        return known
    with open(KNOWN) as f:
        for n, ln in enumerate(f, 1):
            ln = ln.strip()
            if not ln or ln.startswith("#"):
                continue
            parts = ln.split(None, 3)
            if len(parts) != 4:
                sys.exit("check: %s:%d: expected `tool path rule message`" % (KNOWN, n))
            known.append(tuple(parts))
    return known


def matches(entry, f):
    tool, path, rule, message = entry
    return (tool == f.tool or (tool == "pyright" and f.tool.startswith("pyright:"))) and \
        path == f.path and rule == f.rule and " ".join(message.split()) == " ".join(f.message.split())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=ROOT, help="folder whose firmware/ and boards/ are checked")
    ap.add_argument("--board", action="append", choices=BOARDS,
                    help="check only this board's stubs (repeatable; default: all)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list the known findings too")
    ap.add_argument("paths", nargs="*", help="files or folders under firmware/ or boards/ "
                    "(relative to the root); default: both folders")
    args = ap.parse_args(argv)
    root = os.path.abspath(args.root)
    if not os.path.isdir(os.path.join(root, "firmware")):
        sys.exit("check: no firmware/ in %s" % root)
    paths = [os.path.normpath(os.path.join(root, p)) for p in args.paths]
    for p in paths:
        if not os.path.exists(p) or os.path.relpath(p, root).split(os.sep)[0] not in CHECKED:
            sys.exit("check: %s: not a file or folder under %s/firmware or boards" % (p, root))
    ensure_venv()
    known = load_known()
    used = set()
    passes = [("pyright " + b, "pyright:" + b) for b in (args.board or BOARDS)] + [("ruff", "ruff")]
    failed = False
    with tempfile.TemporaryDirectory(prefix="almhub-check-") as tmpdir:
        for label, tool in passes:
            if tool == "ruff":
                found = run_ruff(root, tmpdir, paths)
            else:
                found = run_pyright(tool.split(":")[1], root, tmpdir, paths)
            new, old = [], []
            for f in found:
                hits = [i for i, e in enumerate(known) if matches(e, f)]
                used.update(hits)
                (old if hits else new).append(f)
            for f in sorted(new, key=lambda f: (f.path, f.line, f.col)):
                print(f)
            if args.verbose:
                for f in old:
                    print("known: %s" % f)
            print("%s: %d error%s%s" % (label, len(new), "" if len(new) == 1 else "s",
                                        " (%d known, tools/pyright/known.txt)" % len(old) if old else ""))
            failed = failed or bool(new)
    ran = set() if paths else {t for _, t in passes}   # a part of the tree: no verdict on the rest
    for i, (tool, path, rule, message) in enumerate(known):
        scope = {t for t in ran if t == tool or (tool == "pyright" and t.startswith("pyright:"))}
        if scope and i not in used:
            print("check: no longer found, delete from tools/pyright/known.txt: %s %s %s %s"
                  % (tool, path, rule, message))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
