"""The layering the design asks for, checked on the source."""

import ast
import os
import subprocess

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
