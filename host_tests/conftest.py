"""pytest harness: firmware code runs inside the MicroPython unix port, not CPython.

Two kinds of tests live here:
- host_tests/test_*.py: CPython tests of host tools (they start `micropython` too).
- host_tests/mp/test_*.py: MicroPython test modules. Each `def test_*` becomes a
  pytest item; a module's functions run one after another in one `micropython`
  process with the firmware on its path and a device-like heap (a module that
  says `ISOLATE = True` gets a process per function). A failure shows
  MicroPython's own traceback. No `-O` run: the firmware has no `assert`
  (test_layers checks), so `-O` would run the same code again.

Tiers: `make test` runs everything not marked `slow` (unit and simulator
tiers); `make test-all` adds the `slow` tier (the broker end-to-end tests,
deploy, the report in Chromium, `make check`, the bench). A module is put in
a tier by SLOW_MODULES below.
"""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# ALMHUB_MICROPYTHON runs the suite on another build (e.g. a 32-bit unix port).
MICROPYTHON = os.environ.get("ALMHUB_MICROPYTHON") or os.path.join(os.path.dirname(sys.executable), "micropython")
# .frozen first: MICROPYPATH replaces every entry after it, asyncio lives there.
sys.path.insert(0, os.path.join(ROOT, "tools"))
import mpenv  # noqa: E402  (tools/mpenv.py: the firmware's folders)

MICROPYPATH = ":".join([".frozen"] + mpenv.firmware_dirs() + [os.path.join(ROOT, p) for p in (
    "simulation", "boards", "host_tests/mp", "host_tests/fakes", ".deps/lib")])
HEAPSIZE = "256K"  # an RP2040 has 264 KiB of RAM, so no test may need more by default


def mp_env():
    return dict(os.environ, MICROPYPATH=MICROPYPATH)


def run_micropython(args, heapsize=HEAPSIZE, opt=False, timeout=600, **kw):
    """Run the unix port with the firmware on its path; returns CompletedProcess."""
    cmd = [MICROPYTHON, "-X", "heapsize=" + heapsize] + (["-O"] if opt else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=mp_env(), cwd=ROOT, **kw)


class MPFailure(Exception):
    pass


# The slow tier (`make test-all`): a real broker and wall-clock timing, the
# report in Chromium, pyright and ruff, the bench, deploy to a virtual board.
SLOW_MODULES = ("test_mqtt_e2e.py", "test_report.py", "test_check.py", "test_bench.py", "test_deploy.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


_MARK = re.compile(r"^@@(PASS|FAIL) (test_\w+)$", re.M)


class MPFile(pytest.File):
    def collect(self):
        src = self.path.read_text()
        m = re.search(r'^HEAPSIZE\s*=\s*"(\w+)"', src, re.M)
        self.heapsize = m.group(1) if m else HEAPSIZE
        self.isolate = re.search(r"^ISOLATE\s*=\s*True", src, re.M) is not None
        self.names = re.findall(r"^def (test_\w+)\(\):", src, re.M)
        self.results = None
        for name in self.names:
            yield MPItem.from_parent(self, name=name, func=name)

    def result(self, func):
        """(passed, output) of func: the module's functions run once, in one
        process, the first time any of them is asked for."""
        mprun = os.path.join(ROOT, "host_tests/mp/mprun.py")
        if self.isolate:
            r = run_micropython([mprun, self.path.stem, func], heapsize=self.heapsize)
            return r.returncode == 0 and r.stdout.rstrip().endswith("@@PASS " + func), r.stdout + r.stderr
        if self.results is None:
            r = run_micropython([mprun, self.path.stem] + self.names, heapsize=self.heapsize)
            out = r.stdout
            self.results = {}
            start = 0
            for m in _MARK.finditer(out):
                self.results[m.group(2)] = (m.group(1) == "PASS", out[start:m.end()])
                start = m.end() + 1
            self.rest = out[start:] + r.stderr     # where the process died, what it said
        if func not in self.results:
            return False, "the module's process ended before %s ran:\n%s" % (func, self.rest)
        return self.results[func]


class MPItem(pytest.Item):
    def __init__(self, *, func, **kw):
        super().__init__(**kw)
        self.func = func

    def runtest(self):
        passed, out = self.parent.result(self.func)
        if not passed:
            raise MPFailure(out)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MPFailure):
            return "MicroPython said:\n%s" % excinfo.value
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, "mp: %s" % self.name


def pytest_pycollect_makemodule(module_path, parent):
    if module_path.parent.name == "mp" and module_path.name.startswith("test_"):
        return MPFile.from_parent(parent, path=module_path)
    return None


# --- a real MQTT broker on a loopback port, for end-to-end tests -------------

from broker import Broker, free_port  # noqa: E402,F401  (tools/broker.py)


@pytest.fixture
def broker():
    b = Broker()
    b.start()
    yield b
    b.remove()
