# ruff: noqa: F821 (module, include, require: given by tools/build.py)
# The simulated board (boards/sim.py: the unix port): the hub, its simulated
# clamps, pilots and read-back ADCs, and the simulated site (tools/simulate.py).
include("firmware.py")
module("simadc.py", base_path="$(SIM)")
module("simsite.py", base_path="$(SIM)")
