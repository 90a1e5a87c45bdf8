"""The layering the design asks for, checked on the source."""

import ast
import os

from conftest import ROOT, run_micropython

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
