"""Copy the built firmware to a board with mpremote, or follow its console.

    python3 tools/deploy.py pico --port /dev/ttyACM0            # make deploy BOARD=pico PORT=...
    python3 tools/deploy.py pico --port /dev/ttyACM0 --config   # make deploy ... CONFIG=1
    python3 tools/deploy.py pico --port /dev/ttyACM0 --logs     # make logs ...

Deploy, in two mpremote sessions (each `connect PORT resume ...`: mpremote
interrupts whatever runs with Ctrl-C and, with `resume`, does not soft-reset;
on the unix port a soft reset would end the process, i.e. the virtual board):

1. prepare: write `almhub.hold` on the board, create lib/umqtt/, list what is
   there, then `reset`. A board that was running the hub has a started
   watchdog, which nothing can stop: interrupted, it would reset the board
   in the middle of the copy. With almhub.hold the generated main.py boots
   with every pilot safe (+12 V, no offer) but starts neither the watchdog
   nor the control loop. (The unix port has no machine.reset: nothing to do.)
2. copy, once a reset board answers again: build/BOARD/* to the board's root
   and lib/umqtt/ (mpremote skips a file whose sha256 is already the same);
   the site configuration only where the board has none yet, or with
   --config; then remove files that would shadow the new ones (a module's
   old .py beats its .mpy at import) and modules no longer in the build, and
   last almhub.hold.
   Then `reset`: the board boots main.py, i.e. the new hub.

ROMFS (--romfs auto, the default): where the board's firmware has a ROMFS
partition (vfs.rom_ioctl; MicroPython's rp2 and esp32 ports can have one)
large enough, the build but main.py goes there as one image (`mpremote romfs
deploy`): its .mpy run in place from flash, so bytecode and constant data
take no heap (bench: ~33 KB less on a 32-bit port). The filesystem then keeps
only main.py and the runtime files; copies of modules there, which would
shadow /rom, are removed. Without a partition the files are copied as
before, and the deploy says so. --romfs yes fails instead; no always copies.

config.json (--site-config, default $ALMHUB_SITE_CONFIG or ./config.json) and
mqtt.json (--mqtt-config, default $ALMHUB_MQTT_CONFIG or ./mqtt.json) go to
the board only when it has no such file, or with --config: a later deploy
keeps what is on the board, and never touches the hub's runtime files
(state.json, energy.json, capture-N.csv). Before the board is touched, each
configuration file that may be copied is checked with the firmware's own
config.validate on the unix port (and site.phases against the board's CTs).
If a step fails the board keeps almhub.hold, so it boots safe without the
hub until a deploy succeeds (or `mpremote connect PORT fs rm :almhub.hold`).

--logs only reads: it opens PORT (pyserial, so also socket:// and rfc2217://)
and copies what the board prints to stdout until Ctrl-C, reopening the port
when the board disappears (the RP2040's USB serial does at each reset). It
sends nothing, so unlike `make repl` it cannot stop the hub with a stray key.
It holds the port exclusively, as mpremote does: stop it before a deploy.

Exit status: 0 done, 1 a board or mpremote step failed, 2 bad usage or input.
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build  # noqa: E402  (tools/build.py)
import mpenv  # noqa: E402  (tools/mpenv.py: the firmware's folders)

ROOT = build.ROOT
HOLD = build.HOLD_FILE
RUNTIME = ("config.json", "mqtt.json", "state.json", "energy.json")  # never removed
MARK = "almhub-deploy:"
MPREMOTE_TIMEOUT = 120      # one mpremote session, s (a full copy over a slow UART)
READY_TIMEOUT = 20          # a board to come back after a reset, s


class DeployError(Exception):
    def __init__(self, msg, status=1):
        super().__init__(msg)
        self.status = status


def mpremote_cmd():
    found = build.mpenv.venv_tool("mpremote", "ALMHUB_MPREMOTE")
    if found is None:
        raise DeployError("no mpremote found: run `make setup`", 2)
    return found


def mpremote(port, args, cwd=None, timeout=MPREMOTE_TIMEOUT):
    """Run `mpremote connect PORT resume ARGS...`; returns its output, raises on failure."""
    cmd = [mpremote_cmd(), "connect", port, "resume"] + list(args)
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DeployError("mpremote gave no answer within %d s on %s" % (timeout, port))
    out = r.stdout + r.stderr
    if r.returncode != 0:
        raise DeployError("mpremote failed on %s (exit %d):\n%s" % (port, r.returncode, out.rstrip()))
    return out


def marked(out):
    """The JSON a board script printed after MARK."""
    for line in out.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise DeployError("no answer from the board's script:\n" + out.rstrip())


# Run on the board: hold file, folders, what is there. Plain MicroPython, no firmware.
PREPARE = """\
import os, sys, json, machine
open(%r, "w").close()
for d in ("lib", "lib/umqtt"):
    try:
        os.mkdir(d)
    except OSError:
        pass
romfs = 0
try:
    import vfs
    if vfs.rom_ioctl(1) > 0:
        dev = vfs.rom_ioctl(2, 0)
        romfs = dev.ioctl(4, 0) * dev.ioctl(5, 0) if hasattr(dev, "ioctl") else len(dev)
except Exception:
    pass
print(%r + json.dumps({"platform": sys.platform, "resets": hasattr(machine, "reset"),
    "root": os.listdir("."), "umqtt": os.listdir("lib/umqtt"), "romfs": romfs}))
""" % (HOLD, MARK)


def romfs_image(out, img):
    """The build (all of it but main.py, the boot file the filesystem keeps) as a
    ROMFS image (mpremote romfs build, the .mpy as they are); returns its size."""
    import shutil
    import tempfile
    stage = tempfile.mkdtemp(prefix="almhub-romfs-")
    try:
        for f in os.listdir(out):
            src = os.path.join(out, f)
            if f == "main.py":
                continue
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(stage, f))
            else:
                shutil.copy(src, stage)
        r = subprocess.run([mpremote_cmd(), "romfs", "--no-mpy", "-o", img, "build", stage],
                           capture_output=True, text=True, timeout=120)
        if r.returncode:
            raise DeployError("romfs build: %s" % (r.stdout + r.stderr).strip()[-500:])
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return os.path.getsize(img)


def newest_input(board):
    paths = [os.path.join(d, f) for d in mpenv.firmware_dirs() for f in os.listdir(d)]
    paths += [os.path.join(build.BOARDS, board + ".py"), build.UMQTT, build.__file__]
    return max(os.path.getmtime(p) for p in paths if os.path.exists(p))


def ensure_build(board, out):
    """Build when out is missing or older than any firmware input (make deploy built it)."""
    stamp = os.path.join(out, "main.py")
    if os.path.exists(stamp) and os.path.getmtime(stamp) >= newest_input(board):
        return
    try:
        out, files, total, arch = build.build(board, out)
    except build.BuildError as e:
        raise DeployError("build: %s" % e, 2)
    print("build: %s: %d files, %d bytes (%s)" % (os.path.relpath(out), files, total, arch))


def check_config(board, path, kind):
    """Refuse a configuration the hub would refuse at boot: the firmware's own
    checks (config.validate, and app/plan.py's board against the config)."""
    if kind == "site":
        script = ("import json, config, hal, plan\n"
                  "cfg = config.validate(json.load(open(%r)))\n"
                  "board = hal.load_board(%r)\n"
                  "plan.Plan(board, cfg, hal.pilot_count(board))\n" % (path, board))
    else:
        script = "import json, config\nconfig.validate_mqtt(json.load(open(%r)))\n" % path
    r = mpenv.run(["-c", script], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        lines = (r.stdout + r.stderr).strip().splitlines()
        raise DeployError("%s: refused, the hub would stay in its safe state: %s"
                          % (path, lines[-1] if lines else "exit %d" % r.returncode), 2)


def wait_ready(port, timeout=READY_TIMEOUT):
    """After a hard reset: until the board answers again (USB serial comes back)."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        if not port.startswith("/dev/") or os.path.exists(port):
            try:
                mpremote(port, ["exec", "print(%r + '{}')" % MARK], timeout=10)
                return
            except DeployError as e:
                last = e
        time.sleep(0.5)
    raise DeployError("%s did not come back within %d s after the reset%s"
                      % (port, timeout, ": %s" % last if last else ""))


def check_inputs(args):
    """Before the board is touched: the configuration files that may be copied."""
    for name, path, explicit in (("config.json", args.site_config, args.site_config_given),
                                 ("mqtt.json", args.mqtt_config, args.mqtt_config_given)):
        if os.path.isfile(path):
            check_config(args.board, path, "site" if name == "config.json" else "mqtt")
        elif explicit or (args.config and name == "config.json"):
            raise DeployError("%s: no such file" % path, 2)


def plan_config(listing, args):
    """[(local path, board name)] of the configuration files to copy, and notes."""
    copies, notes = [], []
    for name, path in (("config.json", args.site_config), ("mqtt.json", args.mqtt_config)):
        on_board = name in listing
        if on_board and not args.config:
            notes.append("%s: kept the board's" % name)
        elif os.path.isfile(path):
            copies.append((path, name))
            notes.append("%s: %s from %s" % (name, "replaced" if on_board else "installed", path))
        elif name == "config.json":
            notes.append("config.json: the board has none and %s does not exist: "
                         "the hub will stay in its safe state" % path)
    return copies, notes


def deploy(args):
    out = os.path.abspath(args.build_dir or os.path.join(ROOT, "build", args.board))
    check_inputs(args)
    ensure_build(args.board, out)
    top = sorted(f for f in os.listdir(out) if os.path.isfile(os.path.join(out, f)))
    lib = sorted(os.listdir(os.path.join(out, "lib", "umqtt")))
    port = args.port

    # 1. prepare: hold, folders, listing; reset into the hold (a real board only)
    info = marked(mpremote(port, ["exec", PREPARE, "+", "reset"]))
    listing = set(info["root"])
    copies, notes = plan_config(listing, args)
    if info["resets"]:
        time.sleep(1.0)      # `reset` resets 100 ms after mpremote has left
        wait_ready(port)

    # ROMFS where the board's firmware has the partition (code run in place, out of RAM)
    img = out + ".romfs"
    rom = False
    if args.romfs != "no":
        size = romfs_image(out, img)
        if info.get("romfs", 0) >= size:
            rom = True
            notes.append("code in ROMFS: %d bytes in a %d-byte partition (run in place, not copied to RAM)"
                         % (size, info["romfs"]))
        elif args.romfs == "yes":
            mpremote(port, ["exec", "import os\nos.remove(%r)" % HOLD])   # nothing copied: boot as before
            raise DeployError("--romfs yes: %s" % ("the image (%d bytes) is larger than the board's ROMFS "
                                                   "partition (%d)" % (size, info["romfs"]) if info.get("romfs")
                                                   else "this board's firmware has no ROMFS partition"), 2)
        else:
            notes.append("no ROMFS partition%s: code copied to the filesystem (loaded into RAM)"
                         % (" large enough (%d bytes for %d)" % (info["romfs"], size) if info.get("romfs") else ""))

    # 2. copy; remove shadowing .py, modules gone from the build, and the hold
    new_mods = {f[:-4] for f in top if f.endswith(".mpy")}
    if rom:       # on the filesystem only main.py: any copy there would shadow /rom
        stale = [f for f in sorted(listing) if f not in RUNTIME and f != "main.py" and (
            f.endswith((".py", ".mpy")))]
        stale += ["lib/umqtt/" + f for f in info["umqtt"] if f.endswith((".py", ".mpy"))]
    else:
        stale = [f for f in sorted(listing) if f not in RUNTIME and f not in top and (
            (f.endswith(".py") and f[:-3] in new_mods) or f.endswith(".mpy"))]
        stale += ["lib/umqtt/" + f for f in info["umqtt"]
                  if f not in lib and f.endswith((".py", ".mpy"))]
    cleanup = ("import os\nfor f in %r:\n    os.remove(f)\nos.remove(%r)\nprint(%r + '{}')\n"
               % (stale, HOLD, MARK))
    if rom:
        top = ["main.py"]
        lib = []
        cmd = ["romfs", "-p", "0", "deploy", img, "+", "fs", "cp", "main.py", ":.", "+"]
    else:
        cmd = ["fs", "cp"] + top + [":.", "+",
               "fs", "cp"] + [os.path.join("lib", "umqtt", f) for f in lib] + [":lib/umqtt/", "+"]
    for local, name in copies:
        cmd += ["fs", "cp", os.path.abspath(local), ":" + name, "+"]
    cmd += ["exec", cleanup, "+", "reset"]
    log = mpremote(port, cmd, cwd=out)
    marked(log)
    same = sum(1 for line in log.splitlines() if line.startswith("Up to date:"))
    n = len(top) + len(lib)
    print("deploy: %s -> %s: %d files (%d changed, %d already up to date)"
          % (os.path.relpath(out), port, n, n - same, same))
    for note in notes:
        print("deploy: " + note)
    if stale:
        print("deploy: removed %s" % ", ".join(stale))
    if info["resets"]:
        print("deploy: %s reset: the hub is starting (`make logs` to watch)" % port)
    else:
        print("deploy: %s (%s) has no hard reset: start the hub with `import main` "
              "or run main.py" % (port, info["platform"]))
    return 0


def logs(port):
    """Copy the board's console output to stdout until Ctrl-C; never write to the board."""
    import serial
    out = sys.stdout.buffer
    waiting = False
    try:
        while True:
            try:
                # exclusive, as mpremote opens it: two readers would each get half the bytes
                ser = serial.serial_for_url(port, do_not_open=True, baudrate=115200, timeout=0.2,
                                            exclusive=True)
                # ESP32 dev boards wire DTR/RTS to EN/IO0: keep both released
                ser.dtr = False
                ser.rts = False
                ser.open()
            except (serial.SerialException, OSError, ValueError) as e:
                if not waiting:
                    print("logs: waiting for %s (%s)" % (port, e), file=sys.stderr)
                    waiting = True
                time.sleep(0.5)
                continue
            waiting = False
            try:
                while True:
                    data = ser.read(4096)
                    if data:
                        out.write(data)
                        out.flush()
            except (serial.SerialException, OSError) as e:
                print("\nlogs: %s went away (%s)" % (port, e), file=sys.stderr)
            finally:
                ser.close()
    except KeyboardInterrupt:
        return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="Deploy build/BOARD to a board, or follow its console.")
    ap.add_argument("board", help="a board of boards/ (pico, esp32_devkitc, sim)")
    ap.add_argument("--port", required=True,
                    help="serial device (/dev/ttyACM0), a pty, or socket://HOST:PORT")
    ap.add_argument("--config", action="store_true",
                    help="replace the board's config.json (and mqtt.json, if one is given)")
    ap.add_argument("--site-config", help="config.json to install "
                    "(default $ALMHUB_SITE_CONFIG or ./config.json)")
    ap.add_argument("--mqtt-config", help="mqtt.json to install "
                    "(default $ALMHUB_MQTT_CONFIG or ./mqtt.json, if it exists)")
    ap.add_argument("--build-dir", help="what to copy (default build/BOARD, built if missing or old)")
    ap.add_argument("--romfs", choices=("auto", "yes", "no"), default="auto",
                    help="the code in the board's ROMFS partition (run in place, out of RAM): auto (where "
                         "the firmware has one large enough, else copied), yes (or fail), no (copy)")
    ap.add_argument("--logs", action="store_true",
                    help="only follow the board's console output (read-only) until Ctrl-C")
    args = ap.parse_args(argv)
    if args.logs:
        return logs(args.port)
    args.site_config_given = bool(args.site_config or os.environ.get("ALMHUB_SITE_CONFIG"))
    args.mqtt_config_given = bool(args.mqtt_config or os.environ.get("ALMHUB_MQTT_CONFIG"))
    args.site_config = args.site_config or os.environ.get("ALMHUB_SITE_CONFIG") or "config.json"
    args.mqtt_config = args.mqtt_config or os.environ.get("ALMHUB_MQTT_CONFIG") or "mqtt.json"
    try:
        return deploy(args)
    except DeployError as e:
        print("deploy: %s" % e, file=sys.stderr)
        if e.status == 1:
            print("deploy: the board may keep %s: it then boots with every pilot safe and "
                  "the hub stopped, until a deploy succeeds" % HOLD, file=sys.stderr)
        return e.status


if __name__ == "__main__":
    sys.exit(main())
