"""Checks for MicroPython test modules, which run on the unix port.

Not `assert`: the suite runs once under `micropython -O`, where asserts vanish.

    from mpunit import eq, near
    eq(duty(6), 100)
"""


class Failure(Exception):
    pass


class Clock:
    """A clock a test moves by hand (now, in ms): ticks for Services and the like."""
    now = 0

    def ticks_ms(self):
        return self.now

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, b):
        return a + b


def ok(cond, msg="condition is false"):
    if not cond:
        raise Failure(msg)


def eq(got, want, msg=""):
    if got != want:
        raise Failure("%r != %r %s" % (got, want, msg))


# Computed amps, volts and phasors are compared within REL of their size (at
# least 1): a board's single-precision float keeps 24 bits (6e-8), and REL
# leaves room for a few dozen operations in a row; far below an amp that matters.
REL = 1e-5


def close(got, want, msg=""):
    """got equals want as a board's single-precision arithmetic can tell."""
    if not abs(got - want) <= REL * max(1.0, abs(want)):
        raise Failure("%r is not %r (within %r) %s" % (got, want, REL, msg))


def near(got, want, tol, msg=""):
    if not abs(got - want) <= tol:
        raise Failure("%r not within %r of %r %s" % (got, tol, want, msg))


def raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise Failure("%s not raised by %r" % (exc.__name__, fn))
