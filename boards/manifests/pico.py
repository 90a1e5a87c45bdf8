# ruff: noqa: F821 (module, include, require: given by tools/build.py)
# Raspberry Pi Pico / Pico W (boards/pico.py): the hub and the RP2040's DMA sampler.
include("firmware.py")
module("hw_rp2.py", base_path="$(FIRMWARE)/board")
