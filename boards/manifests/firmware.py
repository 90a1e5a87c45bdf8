# ruff: noqa: F821 (module, include, require: given by tools/build.py)
# What every board runs: the hub's modules, and the libraries they need.
# tools/build.py (make build, make deploy) reads this, in micropython-lib's
# manifest.py style: module(file, base_path), include(manifest), require(package).
# A board's manifest includes this one and adds its sampler. Nothing of simulation/
# (the simulated site, its hardware, capture playback) is named here: a test
# (host_tests/test_deploy.py) proves no simulation class reaches a board image.
for name in ("ads7828", "alloc", "backoff", "capture", "claims", "commands", "config", "control", "ct",
             "demand", "draws", "grid", "hal", "health", "heap", "hub", "main", "mqttlink", "ntp",
             "outputs", "pca9685", "pilot", "power", "readback", "ring", "services", "sessions",
             "store", "surplus", "telemetry"):
    module(name + ".py", base_path="$(FIRMWARE)")
require("umqtt.simple")     # micropython-lib, from its PyPI sdist (.deps/lib, make setup)
