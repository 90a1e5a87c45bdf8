"""tools/build.py and tools/deploy.py, against the unix port as a virtual board.

The virtual board is TOOLCHAIN.md's recipe: `micropython` behind a raw pty
made by socat, its working directory a temporary folder that is the board's
filesystem. `make deploy BOARD=sim PORT=<pty>` copies the x64 build onto it
with mpremote; the test then starts the deployed firmware on that board (the
.mpy modules, not firmware/), and main.py itself in a copy of the folder.
Every process started here (socat, micropython, mosquitto) is ended in a
finally and checked gone.
"""

import filecmp
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
MICROPYTHON = os.path.join(BIN, "micropython")
MPREMOTE = os.path.join(BIN, "mpremote")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import build  # noqa: E402
import deploy  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="socat missing (make setup)")

# mpy header: b"M", version 6, then sub-version in bits 0-1 and the native
# arch in bits 2-7 (py/persistentcode.h: MP_NATIVE_ARCH_X64 = 2, ARMV6M = 4,
# XTENSAWIN = 10); 0 = bytecode only, loadable by any board.
ARCH = {"x64": 2, "armv6m": 4, "xtensawin": 10}

SITE = {"site": {"phases": ["L1", "L2", "L3"], "limit": 40, "margin": 2},
        "chargers": [{"id": "bay1", "max": 32}, {"id": "bay2", "max": 16}]}


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:   # a zombie is gone for our purposes
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


class VirtualBoard:
    """socat PTY <-> `micropython` (unix port REPL) with cwd = the board's filesystem."""

    def __init__(self, tmp, program=None):
        self.fs = os.path.join(tmp, "board")
        os.makedirs(self.fs, exist_ok=True)
        self.port = os.path.join(tmp, "ttyMP")
        exe = "%s -X heapsize=2M%s" % (MICROPYTHON, " " + program if program else "")
        env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}  # only the board's files
        self.socat = subprocess.Popen(
            ["socat", "PTY,link=%s,raw,echo=0" % self.port,
             "EXEC:%s,pty,raw,echo=0,setsid,ctty" % exe],
            cwd=self.fs, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.pids = [self.socat.pid]
        for _ in range(100):
            kids = children(self.socat.pid)
            if os.path.exists(self.port) and kids:
                self.pids += kids   # micropython: its own session (setsid), not socat's group
                return
            if self.socat.poll() is not None:
                raise RuntimeError("socat: " + self.socat.stderr.read().decode())
            time.sleep(0.05)
        raise RuntimeError("no virtual board at " + self.port)

    def exec(self, code, timeout=30):
        r = subprocess.run([MPREMOTE, "connect", self.port, "resume", "exec", code],
                           capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    def close(self):
        # micropython first, so that socat (its parent) reaps it and then exits;
        # each of them leads its own process group (start_new_session, setsid)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.pids[1:] + self.pids[:1]:
                try:
                    os.killpg(pid, sig)
                except ProcessLookupError:
                    pass
                if pid != self.socat.pid:
                    try:
                        self.socat.wait(2)
                    except subprocess.TimeoutExpired:
                        pass
            try:
                self.socat.wait(3)
            except subprocess.TimeoutExpired:
                pass
            end = time.monotonic() + 3
            while any(alive(p) for p in self.pids) and time.monotonic() < end:
                time.sleep(0.05)
            if not any(alive(p) for p in self.pids):
                break
        self.socat.stderr.close()
        assert not any(alive(p) for p in self.pids), "left running: %r" % self.pids


@pytest.fixture
def vboard(tmp_path):
    b = VirtualBoard(str(tmp_path))
    try:
        yield b
    finally:
        b.close()


def make_deploy(port, site, mqtt, config=False):
    env = dict(os.environ, ALMHUB_SITE_CONFIG=site, ALMHUB_MQTT_CONFIG=mqtt)
    env.pop("MAKEFLAGS", None)
    cmd = ["make", "-s", "deploy", "BOARD=sim", "PORT=" + port] + (["CONFIG=1"] if config else [])
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f)
    return str(path)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def native_modules(names):
    """Modules with viper/native code: the only ones whose .mpy carries an arch."""
    out = set()
    for mod in names:
        fn = ("main" if mod == build.MAIN_MODULE else mod) + ".py"
        for src in [os.path.join(d, fn) for d in build.mpenv.firmware_dirs() + [build.SIM]]:
            if not os.path.exists(src):
                continue
            text = open(src).read()
            if "@micropython.viper" in text or "@micropython.native" in text:
                out.add(mod)
    return out


@pytest.mark.parametrize("board", ["pico", "esp32_devkitc"])
def test_build_board_cross_compiles_for_its_arch(tmp_path, board):
    out = str(tmp_path / board)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "build.py"), board, "--out", out],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr == "", r.stdout + r.stderr   # no mpy-cross warning
    arch = build.load_board(board)[1]["arch"]
    assert r.stdout.startswith("build: ") and r.stdout.count("\n") == 1, r.stdout
    assert arch in r.stdout
    files = set(os.listdir(out))
    assert {"main.py", "board.py", build.MAIN_MODULE + ".mpy", "ct.mpy", "lib"} <= files
    assert not files & {"main.mpy", "simadc.mpy", "simsite.mpy"}       # sim only
    own = {"pico": "hw_rp2", "esp32_devkitc": "hw_esp32"}[board]
    other = {"pico": "hw_esp32", "esp32_devkitc": "hw_rp2"}[board]
    assert own + ".mpy" in files and other + ".mpy" not in files
    assert os.listdir(os.path.join(out, "lib", "umqtt")) == ["simple.mpy"]
    assert read(os.path.join(out, "board.py")) == read(os.path.join(ROOT, "boards", board + ".py"))
    mods = sorted(f[:-4] for f in files if f.endswith(".mpy"))
    native = native_modules(mods)
    assert {"ct", own} <= native
    for mod in mods + ["lib/umqtt/simple"]:
        head = read(os.path.join(out, mod + ".mpy"))[:4]
        assert head[:2] == b"M\x06", (mod, head)
        want = ARCH[arch] if mod in native else 0
        assert head[2] >> 2 == want, (mod, head[2] >> 2, want)


def test_any_mpy_cross_output_fails_the_build_and_keeps_the_old_one(tmp_path):
    fake = tmp_path / "mpy-cross"
    fake.write_text("#!/bin/sh\n"   # writes its output file, and says something
                    "while [ $# -gt 0 ]; do [ \"$1\" = -o ] && touch \"$2\"; shift; done\n"
                    "echo 'warning: something odd' >&2\n")
    fake.chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.mpy").write_bytes(b"M")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "build.py"), "pico", "--out", str(out)],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, ALMHUB_MPY_CROSS=str(fake)))
    assert r.returncode == 1
    assert "warning: something odd" in r.stderr
    assert os.listdir(out) == ["old.mpy"]                 # the previous build, untouched
    assert [p for p in os.listdir(tmp_path) if ".tmp" in p] == []


BOOT = """
import sys, json, machine
sys.path.append("lib")          # as main.py does on the unix port
import board, almhub_main, ct, mqttlink, umqtt.simple
b = almhub_main.Boot(board.BOARD, machine)
b.run(4)
print("RESULT" + json.dumps({"reason": b.reason, "pilots": len(b.pilots), "hub": b.hub is not None,
    "mqtt": mqttlink.MQTTClient is not None, "link": b.services.link is not None,
    "files": [almhub_main.__file__, ct.__file__, umqtt.simple.__file__]}))
"""


def result(out):
    for line in out.splitlines():
        if line.startswith("RESULT"):
            return json.loads(line[6:])
    raise AssertionError(out)


def run_main_py(tmp_path, fs, name, config=None, hold=False, seconds=2.0):
    """main.py in a copy of the board's folder: (still running after `seconds`, output)."""
    d = tmp_path / name
    shutil.copytree(fs, d)
    if config is not None:
        (d / "config.json").write_text(config)
    if hold:
        (d / build.HOLD_FILE).write_text("")
    env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}
    p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=2M", "main.py"], cwd=d, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=seconds)
        return False, out.decode()
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        return True, out.decode()


def test_deploy_to_virtual_board_then_keep_or_replace_config(tmp_path, vboard, broker):
    fs = vboard.fs
    site = write_json(tmp_path / "site.json", SITE)
    mqtt = write_json(tmp_path / "mqtt.json", {"host": "127.0.0.1", "port": broker.port,
                                                "hub_id": "deploytest"})
    open(os.path.join(fs, "ct.py"), "w").close()        # an old source copy would shadow ct.mpy

    # ROMFS=yes on a board whose firmware has no ROMFS partition (the unix port's
    # has no vfs.rom_ioctl): refused, and the board boots as before (no hold left)
    env = dict(os.environ, ALMHUB_SITE_CONFIG=site, ALMHUB_MQTT_CONFIG=mqtt)
    env.pop("MAKEFLAGS", None)
    r = subprocess.run(["make", "-s", "deploy", "BOARD=sim", "PORT=" + vboard.port, "ROMFS=yes"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "no ROMFS partition" in r.stderr, r.stdout + r.stderr
    assert build.HOLD_FILE not in os.listdir(fs) and "ct.mpy" not in os.listdir(fs)

    out = make_deploy(vboard.port, site, mqtt)
    assert "config.json: installed" in out and "mqtt.json: installed" in out, out
    assert "removed ct.py" in out, out
    assert "no ROMFS partition: code copied to the filesystem" in out, out
    built = os.path.join(ROOT, "build", "sim")
    for f in os.listdir(built):
        if f != "lib":
            assert filecmp.cmp(os.path.join(built, f), os.path.join(fs, f), shallow=False), f
    names = set(os.listdir(fs))
    assert {"main.py", "board.py", "almhub_main.mpy", "ct.mpy", "simadc.mpy", "hub.mpy",
            "config.json", "mqtt.json"} <= names
    assert not names & {"ct.py", build.HOLD_FILE, "main.mpy"}
    assert os.listdir(os.path.join(fs, "lib", "umqtt")) == ["simple.mpy"]
    assert read(os.path.join(fs, "board.py")) == read(os.path.join(ROOT, "boards", "sim.py"))
    assert json.loads(read(os.path.join(fs, "config.json"))) == SITE

    # the deployed firmware runs on that board, from its .mpy files, MQTT included
    r = result(vboard.exec(BOOT))
    assert r["reason"] is None and r["hub"] and r["pilots"] == 30, r
    assert r["mqtt"] and r["link"], r
    assert r["files"] == ["almhub_main.mpy", "ct.mpy", "lib/umqtt/simple.mpy"], r
    status = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port),
                             "-t", "almhub/deploytest/status", "-C", "1", "-W", "5"],
                            capture_output=True, text=True, timeout=10)
    assert status.stdout.strip() == "online", status

    # main.py itself: runs the control loop; a bad config.json -> safe state, said why;
    # almhub.hold -> pilots safe and back to the REPL at once
    running, text = run_main_py(tmp_path, fs, "good")
    assert running and "Traceback" not in text, text
    running, text = run_main_py(tmp_path, fs, "bad", config='{"site": {"limit": "a lot"}}')
    assert running and "almhub: safe state, no charging: config.json" in text, text
    running, text = run_main_py(tmp_path, fs, "hold", hold=True)
    assert not running and "hub not started" in text and "Traceback" not in text, text

    # the user changes the site's config on the board; the hub wrote its own files
    mine = dict(SITE, site=dict(SITE["site"], limit=32))
    write_json(os.path.join(fs, "config.json"), mine)
    write_json(os.path.join(fs, "state.json"), {"margin": 4})
    write_json(os.path.join(fs, "energy.json"), {"bay1": 1234})
    out = make_deploy(vboard.port, site, mqtt)
    assert "config.json: kept the board's" in out, out
    assert json.loads(read(os.path.join(fs, "config.json"))) == mine
    assert json.loads(read(os.path.join(fs, "state.json"))) == {"margin": 4}
    assert json.loads(read(os.path.join(fs, "energy.json"))) == {"bay1": 1234}

    # CONFIG=1 (--config) replaces it; the runtime files stay
    out = make_deploy(vboard.port, site, mqtt, config=True)
    assert "config.json: replaced" in out, out
    assert json.loads(read(os.path.join(fs, "config.json"))) == SITE
    assert json.loads(read(os.path.join(fs, "energy.json"))) == {"bay1": 1234}
    assert build.HOLD_FILE not in os.listdir(fs)

    # a config the hub would refuse is not deployed, and the board is not touched
    bad = write_json(tmp_path / "bad.json", dict(SITE, site=dict(SITE["site"], phases=["L1", "L2", "L9"])))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "deploy.py"), "sim",
                        "--port", vboard.port, "--config", "--site-config", bad,
                        "--mqtt-config", mqtt], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "'L9' is no CT of board sim" in r.stderr, r.stderr
    assert json.loads(read(os.path.join(fs, "config.json"))) == SITE
    assert build.HOLD_FILE not in os.listdir(fs)


@pytest.mark.parametrize("change, said", [
    ({"site": dict(SITE["site"], phases=["L1", "L2", "L9"])}, "'L9' is no CT of board sim"),
    ({"chargers": [{"id": "b%d" % i} for i in range(31)]}, "31 chargers but 30 pilot outputs on board sim"),
    ({"chargers": [{"id": "sun", "surplus": True}]}, "surplus needs a voltage reference (board vt) on L1"),
])
def test_deploy_refuses_what_the_hubs_plan_refuses(tmp_path, change, said):
    # issue 23: deploy checked the phases alone; it runs the hub's own plan
    # (firmware/app/plan.py) now, so a config the board would refuse at boot
    # is refused before anything is copied
    good = write_json(tmp_path / "good.json", SITE)
    deploy.check_config("sim", str(good), "site")
    bad = write_json(tmp_path / "bad.json", dict(SITE, **change))
    with pytest.raises(deploy.DeployError) as e:
        deploy.check_config("sim", str(bad), "site")
    assert said in str(e.value), e.value


def test_logs_follow_the_console_without_writing(tmp_path):
    prog = tmp_path / "tick.py"
    prog.write_text("import time\nwhile 1:\n    print('tick')\n    time.sleep(0.1)\n")
    b = VirtualBoard(str(tmp_path), program=str(prog))
    try:
        p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "deploy.py"), "sim",
                              "--port", b.port, "--logs"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            line = p.stdout.readline()
            assert line.strip() == b"tick", line
            p.send_signal(signal.SIGINT)          # Ctrl-C ends it quietly
            assert p.wait(10) == 0
            assert b"Traceback" not in p.stderr.read()
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
    finally:
        b.close()


ROM_BOOT = """
import sys, json, vfs, machine
img = open(%r, "rb").read()
vfs.mount(vfs.VfsRom(img), "/rom")     # as a board's firmware mounts its ROMFS partition
sys.path[:0] = ["/rom", "/rom/lib"]
import board, almhub_main, ct, umqtt.simple
b = almhub_main.Boot(board.BOARD, machine)
b.run(2)
print("RESULT" + json.dumps({"reason": b.reason, "hub": b.hub is not None,
    "files": [board.__file__, almhub_main.__file__, ct.__file__, umqtt.simple.__file__]}))
"""


def test_the_romfs_image_holds_the_whole_hub(tmp_path):
    # what `make deploy` puts in a board's ROMFS partition: all of the build but main.py;
    # mounted (vfs.VfsRom, as the firmware does), the hub boots from it alone
    out = os.path.join(ROOT, "build", "sim")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "build.py"), "sim"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    img = str(tmp_path / "hub.romfs")
    size = deploy.romfs_image(out, img)
    assert 30000 < size == os.path.getsize(img)
    run = tmp_path / "board"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(SITE))
    env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=2M", "-c", ROM_BOOT % img], cwd=run, env=env,
                       capture_output=True, text=True, timeout=60)
    res = result(r.stdout + r.stderr)
    assert res["reason"] is None and res["hub"], res
    assert res["files"] == ["/rom/board.py", "/rom/almhub_main.mpy", "/rom/ct.mpy", "/rom/lib/umqtt/simple.mpy"], res
