"""Where the MicroPython unix port is, and how host tools start it with the firmware.

    import mpenv
    r = mpenv.run(["-c", "import ct"], capture_output=True, text=True)

Host tools never re-implement firmware logic: they start `micropython` with
firmware/, boards/ and the micropython-lib packages (.deps/lib) on its path.
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


def path():
    # .frozen first: MICROPYPATH replaces every entry after it (asyncio lives there)
    return ":".join([".frozen"] + [os.path.join(ROOT, p) for p in ("firmware", "simulation", "boards", ".deps/lib")])


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
