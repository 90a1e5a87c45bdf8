"""Where the MicroPython unix port is, and how host tools start it with the firmware.

    import mpenv
    r = mpenv.run(["-c", "import ct"], capture_output=True, text=True)

Host tools never re-implement firmware logic: they start `micropython` with
firmware/'s folders, boards/ and the micropython-lib packages (.deps/lib) on its path.
ALMHUB_MICROPYTHON selects another build (e.g. a 32-bit unix port).
"""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAPSIZE = "1M"


def venv_tool(name, env_var):
    """A command: $env_var, the venv's (next to this Python, or .venv), or on PATH; None if none."""
    for cand in (os.environ.get(env_var),
                 os.path.join(os.path.dirname(sys.executable), name),
                 os.path.join(ROOT, ".venv", "bin", name),
                 shutil.which(name)):
        if cand and os.path.exists(cand):
            return cand
    return None


def micropython():
    """The unix port: $ALMHUB_MICROPYTHON, the venv's, or one on PATH."""
    return venv_tool("micropython", "ALMHUB_MICROPYTHON") or sys.exit(
        "no MicroPython unix port found: run `make setup`")


# firmware/ by role (docs/layout.md); a folder may import only from those it
# names (host_tests/test_layers.py checks). On the board every module sits flat
# at the top (boards/manifests/firmware.py), so the folders cost no RAM.
LAYERS = (
    ("measure", ()),                  # CT RMS, real power, sensor health, captures
    ("control", ()),                  # limits and claims, sharing, the controller
    ("outputs", ()),                  # pilot PWM, expanders, read-back
    ("records", ()),                  # flash: atomic files, rings, sessions, demand
    ("board", ("outputs",)),          # the hardware interface and its backends
    ("network", ("measure", "control")),   # MQTT, payloads, commands, NTP
    ("app", ("measure", "control", "outputs", "records", "board", "network")),  # boot, hub, services
)


def firmware_dirs():
    """The folders of firmware/, each on the unix port's path (modules import by plain name)."""
    return [os.path.join(ROOT, "firmware", name) for name, _ in LAYERS]


def path():
    # .frozen first: MICROPYPATH replaces every entry after it (asyncio lives there)
    return ":".join([".frozen"] + firmware_dirs() + [os.path.join(ROOT, p) for p in ("simulation", "boards", ".deps/lib")])


def env():
    return dict(os.environ, MICROPYPATH=path())


def _cmd(args):
    if not any(a.startswith("heapsize=") for a in args):
        args = ["-X", "heapsize=" + HEAPSIZE] + list(args)
    return [micropython()] + list(args)


def run(args, **kw):
    """subprocess.run of the unix port with the firmware on its path."""
    return subprocess.run(_cmd(args), env=env(), cwd=ROOT, **kw)


def popen(args, **kw):
    return subprocess.Popen(_cmd(args), env=env(), cwd=ROOT, **kw)
