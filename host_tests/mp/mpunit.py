"""Checks for MicroPython test modules, which run on the unix port.

Not `assert`: the suite runs once under `micropython -O`, where asserts vanish.

    from mpunit import eq, near
    eq(duty(6), 100)
"""


class Failure(Exception):
    pass


def ok(cond, msg="condition is false"):
    if not cond:
        raise Failure(msg)


def eq(got, want, msg=""):
    if got != want:
        raise Failure("%r != %r %s" % (got, want, msg))


def near(got, want, tol, msg=""):
    if not abs(got - want) <= tol:
        raise Failure("%r not within %r of %r %s" % (got, tol, want, msg))


def raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise Failure("%s not raised by %r" % (exc.__name__, fn))
