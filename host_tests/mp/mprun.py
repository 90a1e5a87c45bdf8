"""Runs test functions of a MicroPython test module (on the unix port), in order.

    micropython host_tests/mp/mprun.py test_rms test_sine_50hz test_offset

Prints `@@PASS name` after each that passes, its traceback then `@@FAIL name`
after each that fails; the heap is collected between them. The pytest side
(conftest.py) reads the marks; a process that dies leaves the rest unmarked.
"""
import gc
import sys

mod = __import__(sys.argv[1])
failed = 0
for name in sys.argv[2:]:
    gc.collect()
    try:
        getattr(mod, name)()
        print("@@PASS " + name)
    except Exception as e:       # a test's failure, not the harness's: go on to the next
        sys.print_exception(e, sys.stdout)
        print("@@FAIL " + name)
        failed += 1
sys.exit(1 if failed else 0)
