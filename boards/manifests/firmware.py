# ruff: noqa: F821 (module, include, require: given by tools/build.py)
# What every board runs: the hub's modules, and the libraries they need.
# tools/build.py (make build, make deploy) reads this, in micropython-lib's
# manifest.py style: module(file, base_path), include(manifest), require(package).
# A board's manifest includes this one and adds its sampler. Nothing of simulation/
# (the simulated site, its hardware, capture playback) is named here: a test
# (host_tests/test_deploy.py) proves no simulation class reaches a board image.
# The source sits in firmware/ by role (tools/mpenv.py LAYERS, docs/layout.md);
# on the board every module is flat at the top, under its own name.
for folder, names in (
        ("measure", ("ct", "power", "health", "capture")),
        ("control", ("alloc", "claims", "config", "control", "draws", "grid", "peers", "shared", "surplus")),
        ("outputs", ("pilot", "readback", "outputs", "pca9685", "ads7828")),
        ("records", ("ring", "store", "sessions", "demand")),
        ("network", ("mqttlink", "telemetry", "commands", "ntp", "wallclock", "backoff")),
        ("board", ("hal", "heap")),
        ("app", ("hub", "plan", "services", "metering", "main"))):
    for name in names:
        module(name + ".py", base_path="$(FIRMWARE)/" + folder)
require("umqtt.simple")     # micropython-lib, from its PyPI sdist (.deps/lib, make setup)
