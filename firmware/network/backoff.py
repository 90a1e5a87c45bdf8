"""Reconnect spacing: exponential, capped, with jitter. Pure logic.

    wait_ms = backoff.delay_ms(attempt, now_ms)   # 1 s, 2 s, 4 s ... 30 s, +-20 %

Never an endless tight retry (umqtt.robust's way): a broker that is down
costs one short attempt every 30 s at most, and hubs that lost the same
broker do not all come back in the same instant.
"""

from micropython import const

_BASE_MS = const(1000)
_MAX_MS = const(30000)


def delay_ms(attempt, now_ms):
    d = _BASE_MS << min(attempt, 5)
    if d > _MAX_MS:
        d = _MAX_MS
    # +-20 % jitter from the clock's low bits: no random module needed, and
    # small ints only (on a 32-bit board a product past 2**30 is a heap object,
    # and this runs when a MemoryError has just taken the link down)
    j = (now_ms % 10007) * 7919 % 10007 % 401 - 200   # -200..200 permille; < 2**27 all along
    return d + d * j // 1000
