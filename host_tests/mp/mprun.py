"""Runs one test function of a MicroPython test module (on the unix port).

    micropython host_tests/mp/mprun.py test_rms test_sine_50hz

Prints PASS on success; an uncaught exception gives MicroPython's traceback
and exit code 1, which the pytest side reports.
"""
import sys

mod = __import__(sys.argv[1])
getattr(mod, sys.argv[2])()
print("PASS")
