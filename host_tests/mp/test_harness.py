"""The harness itself: these run inside MicroPython, viper included."""
import sys
import micropython
from mpunit import eq, ok, raises, Failure


def test_runs_on_micropython():
    eq(sys.implementation.name, "micropython")


@micropython.viper
def _vsum(buf, n: int) -> int:
    p = ptr16(buf)
    s = 0
    for i in range(n):
        s += p[i]
    return s


def test_viper_is_compiled():
    from array import array
    eq(_vsum(array("H", [1, 2, 65535]), 3), 65538)


def test_checks_fail_even_under_O():
    raises(Failure, eq, 1, 2)
    raises(Failure, ok, False)
