# ruff: noqa: F821 (module, include, require: given by tools/build.py)
# ESP32-DevKitC (boards/esp32_devkitc.py): the hub and the ESP32's ADC sampler.
include("firmware.py")
module("hw_esp32.py", base_path="$(FIRMWARE)/board")
