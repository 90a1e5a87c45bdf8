"""The layering the design asks for, checked on the source."""

import ast
import os
import subprocess
import sys

import json

from conftest import MICROPYTHON, ROOT, mp_env, mpenv, run_micropython

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


def firmware_modules():
    """{module name: (folder, path)} of every firmware module (firmware/<folder>/<name>.py)."""
    out = {}
    for folder, _ in mpenv.LAYERS:
        for fn in sorted(os.listdir(os.path.join(ROOT, "firmware", folder))):
            if fn.endswith(".py"):
                assert fn[:-3] not in out, "two modules named %s: flat on the board" % fn
                out[fn[:-3]] = (folder, os.path.join(ROOT, "firmware", folder, fn))
    return out


def test_every_module_is_in_a_folder_of_the_layers():
    # nothing at firmware/'s top, and no folder the layers do not name
    top = os.listdir(os.path.join(ROOT, "firmware"))
    assert not [f for f in top if f.endswith(".py")], top
    folders = {name for name, _ in mpenv.LAYERS}
    assert {d for d in top if os.path.isdir(os.path.join(ROOT, "firmware", d)) and d != "__pycache__"} == folders


def test_a_folder_imports_only_the_folders_below_it():
    # tools/mpenv.py LAYERS: measure, control, outputs and records import no
    # other folder; board imports outputs (the read-back ADC); network imports
    # measure and control (health, config, grid); app wires them all
    mods, allowed = firmware_modules(), dict(mpenv.LAYERS)
    seen = set()
    for mod, (folder, path) in mods.items():
        for dep in imports(path):   # lazy imports inside functions count too
            if dep in mods and mods[dep][0] != folder:
                assert mods[dep][0] in allowed[folder], \
                    "%s/%s imports %s/%s" % (folder, mod, mods[dep][0], dep)
                seen.add((folder, mods[dep][0]))
    # the rule is not vacuous: the app reaches every layer below it
    assert {f for a, f in seen if a == "app"} == set(allowed["app"]), seen


def test_the_layers_are_named_the_same_everywhere():
    # the type checker resolves `import ct` in each folder (tools/pyright/common.json)
    with open(os.path.join(ROOT, "tools", "pyright", "common.json")) as f:
        cfg = json.loads("".join(ln for ln in f if not ln.lstrip().startswith("//")))
    extra = {os.path.normpath(os.path.join(ROOT, "tools", "pyright", p)) for p in cfg["extraPaths"]}
    assert set(mpenv.firmware_dirs()) <= extra, sorted(set(mpenv.firmware_dirs()) - extra)


def test_logic_modules_import_no_hardware():
    mods = firmware_modules()
    for mod in LOGIC:
        bad = HARDWARE.intersection(imports(mods[mod][1]))
        assert not bad, "%s imports %s" % (mod, sorted(bad))


def test_no_assert_in_firmware():
    # asserts vanish under -O and in frozen code: safety checks are if/raise
    for mod, (_, path) in firmware_modules().items():
        tree = ast.parse(open(path).read())
        assert not any(isinstance(n, ast.Assert) for n in ast.walk(tree)), mod


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
    for mod, (folder, _) in firmware_modules().items():
        assert mod in named, "firmware/%s/%s.py is in no board's manifest" % (folder, mod)
    sim = {os.path.basename(s)[:-3] for s, _, _, _ in build.sources(build.load_board("sim")[1])}
    assert {"simadc", "simsite"} <= sim
