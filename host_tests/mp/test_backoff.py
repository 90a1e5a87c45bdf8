"""backoff.delay_ms: grows, caps, jitters within 20 %."""
import backoff
from mpunit import ok


def test_grows_and_caps():
    for now in range(0, 100000, 977):
        for attempt in range(12):
            d = backoff.delay_ms(attempt, now)
            base = min(1000 << min(attempt, 5), 30000)
            ok(0.8 * base <= d <= 1.2 * base, "attempt %d: %d ms" % (attempt, d))
    ok(len(set(backoff.delay_ms(3, t) for t in range(0, 5000, 7))) > 50, "jitter spreads retries")


def test_allocates_nothing():
    # it runs right after the link caught an exception, maybe a MemoryError
    import micropython
    backoff.delay_ms(3, 123456789)
    micropython.heap_lock()
    try:
        for now in (0, 999, 123456789, (1 << 30) - 1):
            backoff.delay_ms(4, now)
    finally:
        micropython.heap_unlock()
