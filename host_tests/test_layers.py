"""The layering the design asks for, checked on the source."""

import ast
import os
import subprocess
import sys

from conftest import MICROPYTHON, ROOT, mp_env, run_micropython

# Pure logic: runs unchanged on the unix port, the time comes in as an argument.
LOGIC = ("ct", "health", "alloc", "control", "draws", "config", "pilot", "capture", "readback", "power", "demand",
         "sessions", "ring", "heap", "grid", "surplus", "commands", "telemetry")
HARDWARE = {"machine", "network", "socket", "time", "utime", "rp2", "esp32", "esp", "select", "ssl"}


def imports(path):
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module.split(".")[0]


def test_logic_modules_import_no_hardware():
    for mod in LOGIC:
        path = os.path.join(ROOT, "firmware", mod + ".py")
        if not os.path.exists(path):
            continue
        bad = HARDWARE.intersection(imports(path))
        assert not bad, "%s imports %s" % (mod, sorted(bad))


def test_no_assert_in_firmware():
    # asserts vanish under -O and in frozen code: safety checks are if/raise
    for name in os.listdir(os.path.join(ROOT, "firmware")):
        if name.endswith(".py"):
            tree = ast.parse(open(os.path.join(ROOT, "firmware", name)).read())
            assert not any(isinstance(n, ast.Assert) for n in ast.walk(tree)), name


def test_harness_reports_micropython_failures():
    r = run_micropython(["-c", "import sys\nprint(sys.implementation.name)\nraise ValueError('boom')"])
    assert r.returncode == 1
    assert r.stdout.startswith("micropython") and "ValueError: boom" in r.stdout


def test_a_modules_functions_run_in_one_process_each_reported(tmp_path):
    # the harness (conftest.MPFile): one process per module; a failure is that
    # function's alone, the next still runs, and each says which it is
    (tmp_path / "mod_t.py").write_text(
        "from mpunit import ok\nseen = []\n"
        "def test_a():\n    seen.append('a')\n"
        "def test_b():\n    ok(False, 'b fails')\n"
        "def test_c():\n    ok(seen == ['a'], 'c runs after a, in the same process: %r' % seen)\n")
    env = mp_env()
    env["MICROPYPATH"] = str(tmp_path) + ":" + env["MICROPYPATH"]
    r = subprocess.run([MICROPYTHON, os.path.join(ROOT, "host_tests", "mp", "mprun.py"),
                        "mod_t", "test_a", "test_b", "test_c"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1
    marks = [line for line in r.stdout.splitlines() if line.startswith("@@")]
    assert marks == ["@@PASS test_a", "@@FAIL test_b", "@@PASS test_c"], r.stdout + r.stderr
    assert "b fails" in r.stdout


def _build():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import build
    return build


def test_what_ships_is_the_manifests_and_no_simulation_reaches_a_board():
    # issue 23: simulation and host-only code lives in simulation/, and a board's
    # image is its manifest (boards/manifests/BOARD.py), stated once
    build = _build()
    sim_modules = {f[:-3] for f in os.listdir(os.path.join(ROOT, "simulation")) if f.endswith(".py")}
    named = set()
    for board in ("pico", "esp32_devkitc"):
        srcs = build.sources(build.load_board(board)[1])
        for src, mod, _, source_name in srcs:
            named.add(os.path.basename(src)[:-3])
            assert not src.startswith(os.path.join(ROOT, "simulation")), (board, src)
            if not src.startswith(os.path.join(ROOT, "firmware")):
                assert source_name == "umqtt/simple.py", (board, src)
                continue
            tree = ast.parse(open(src).read(), src)
            for node in ast.walk(tree):
                assert not (isinstance(node, ast.ClassDef) and node.name.startswith("Sim")), (board, src, node.name)
            # a module-level import of the simulation would fail on the board
            for node in tree.body:
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    got = {a.name.split(".")[0] for a in node.names} if isinstance(node, ast.Import) \
                        else {(node.module or "").split(".")[0]}
                    assert not got & sim_modules, (board, src, got)
    # every module of firmware/ ships somewhere (a new one is named in a manifest)
    for fn in os.listdir(os.path.join(ROOT, "firmware")):
        if fn.endswith(".py"):
            assert fn[:-3] in named, "firmware/%s is in no board's manifest" % fn
    sim = {os.path.basename(s)[:-3] for s, _, _, _ in build.sources(build.load_board("sim")[1])}
    assert {"simadc", "simsite"} <= sim
