"""Install what the venv cannot: Debian packages, micropython-lib's umqtt.simple, board stubs.

Run by `make setup` (idempotent, quick when everything is there):

    python3 tools/setup_deps.py

- Debian packages (mosquitto for the MQTT tests, socat for the virtual board,
  chromium to render the permit report in its tests) are installed with
  apt-get only when their command is missing.
- umqtt.simple comes from its PyPI sdist (pip cannot install it: the sdist has
  no setup.py). The index URL is pip's own, the file is checked against a
  pinned sha256, and only `umqtt/simple.py` is kept, in .deps/lib/.
- The MicroPython stubs of each board `make check` type-checks against, from
  PyPI (pinned, with their stdlib stubs), each into its own typings/<board>/
  (they overwrite each other's files): `pip install --target`. A folder whose
  pins changed is installed anew.
"""

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, ".deps", "lib")

APT = {"mosquitto": "mosquitto", "mosquitto_pub": "mosquitto-clients", "socat": "socat",
       "openssl": "openssl",   # openssl: certificates for the TLS test
       "chromium": "chromium"}  # headless, renders tools/report.py's page (host_tests/test_report.py)

UMQTT_SDIST = "micropython-umqtt.simple-1.3.4.tar.gz"
UMQTT_SHA256 = "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f"

TYPINGS = os.path.join(ROOT, "typings")
STDLIB_STUBS = "micropython-stdlib-stubs==1.29.0.post2"
STUBS = {  # typings/<board>: pyright's typeshed and stub path for that board (tools/pyright/)
    "rp2": ["micropython-rp2-rpi-pico-w-stubs==1.29.0.post1", STDLIB_STUBS],  # plain pico: no socket
    "esp32": ["micropython-esp32-stubs==1.29.0.post1", STDLIB_STUBS],
}


def apt_install():
    missing = sorted({pkg for cmd, pkg in APT.items()
                      if shutil.which(cmd) is None and not os.path.exists("/usr/sbin/" + cmd)})
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing,
                   check=True, env=env)


def index_url():
    """The simple index pip is configured with (never a host written here)."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                         capture_output=True, text=True)
    url = out.stdout.strip()
    if out.returncode == 0 and url:
        return url
    from pip._internal.models.index import PyPI
    return PyPI.simple_url


def fetch_umqtt():
    dest = os.path.join(LIB, "umqtt", "simple.py")
    if os.path.exists(dest):
        return
    req = urllib.request.Request(index_url().rstrip("/") + "/micropython-umqtt-simple/",
                                 headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        files = json.load(r)["files"]
    entry = next(f for f in files if f["filename"] == UMQTT_SDIST)
    with urllib.request.urlopen(entry["url"], timeout=60) as r:
        data = r.read()
    if hashlib.sha256(data).hexdigest() != UMQTT_SHA256:
        sys.exit("setup_deps: %s does not match its pinned sha256" % UMQTT_SDIST)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/umqtt/simple.py"))
        src = tar.extractfile(member).read()
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(os.path.join(LIB, "umqtt", "__init__.py"), "w"):
        pass
    with open(dest, "wb") as f:
        f.write(src)


def install_stubs():
    for board, pins in sorted(STUBS.items()):
        dest = os.path.join(TYPINGS, board)
        stamp = os.path.join(dest, ".pins")
        want = "\n".join(pins) + "\n"
        if os.path.exists(stamp):
            with open(stamp) as f:
                if f.read() == want:
                    continue
        shutil.rmtree(dest, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--disable-pip-version-check", "--target", dest] + pins, check=True)
        with open(stamp, "w") as f:
            f.write(want)


if __name__ == "__main__":
    apt_install()
    fetch_umqtt()
    install_stubs()
    print("setup_deps: Debian packages, umqtt.simple and the board stubs are in place")
