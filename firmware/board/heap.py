"""The heap at boot: what is free, the largest block, and whether the site fits.

    free, largest = heap.measure()          # bytes, after a collection
    reason = heap.check(cfg, free, largest) # None, or why this config cannot run here
    heap.unload(heap.BOOT_ONLY)             # after boot: the modules only boot needs
    heap.building(True) ... heap.building(False)   # around building the hub and services

Pure logic apart from measure(). An ESP32 without PSRAM leaves ~110 KB of
heap once Wi-Fi is up; a config that needs more than is left after boot
would fail hours later (a MemoryError in a telemetry message or a TLS
reconnect), so it is refused at boot with the figures, and the pilots stay
safe. The need is the bench's (tools/bench.py heap, docs/memory.md, "The heap bench"): what a
control period, a telemetry message and an MQTT (re)connect with Home
Assistant discovery allocate before gc frees it, per charger and in all,
and for TLS the handshake's buffers with one contiguous block for its record.
"""

import gc
import sys

BASE = 12 * 1024          # a period, events, commands, the demand log
PER_CHARGER = 400         # its share of telemetry and discovery messages
MQTT = 8 * 1024           # the client, its socket and a connect
TLS = 32 * 1024           # a TLS handshake on top (mbedtls buffers)
TLS_BLOCK = 16 * 1024     # ... of which one block: a TLS record


# Needed only to boot: validating the config (config: 6.1 KiB of RAM on 32
# bits, its checks and tables), the board's wiring (hal, plan). The modules
# that use them import them inside the function that runs at boot, so once
# sys.modules lets go they are freed (tools/bench.py heap: the smallest heap
# with the code in ROMFS, 32 bits, fell by this much; docs/memory.md).
BOOT_ONLY = ("config", "hal", "plan")


# While the hub and the services are built, a collection every BUILD_GC
# bytes allocated: each object's construction garbage (a Charger's attribute
# table grown in three steps, the tuples of generator expressions, a list
# comprehension's temporaries) is freed before the next lasting object is
# placed, so it fills those holes rather than sitting above them. 14.8 KB
# was free after boot in 282 gaps, the largest 2.2 KB; the smallest heap of
# tools/bench.py heap (32 bits, ROMFS, TLS) fell 8 KiB for a hub alone.
BUILD_GC = 1024
_was = [-1]


def building(on):
    """Collect often while boot builds its lasting objects (on), or as before."""
    if on:
        _was[0] = gc.threshold()
        gc.threshold(BUILD_GC)
    else:
        gc.threshold(_was[0])


def unload(names):
    """Drop boot-only modules from sys.modules and collect: a module nothing
    else holds is freed (imported again, from flash, if anything asks)."""
    for name in names:
        if name in sys.modules:
            del sys.modules[name]
    gc.collect()


def measure():
    """(free bytes, largest free block) now, after a collection. The largest
    block is found by trying allocations (MicroPython has no call for it)."""
    gc.collect()
    free = gc.mem_free()
    lo, hi = 0, free
    while hi - lo > 256:
        mid = (lo + hi) // 2
        try:
            b = bytearray(mid)
            del b
            lo = mid
        except MemoryError:
            hi = mid
    gc.collect()
    return free, lo


def need(cfg, tls_in_heap=True):
    """(bytes free, bytes in one block) this config needs after boot. tls_in_heap:
    False where TLS allocates elsewhere (the ESP32: the IDF's heap)."""
    n = len(cfg.get("chargers", ()))
    total = BASE + PER_CHARGER * n
    block = 4 * 1024
    mq = cfg.get("mqtt")
    if mq:
        total += MQTT
        if mq.get("tls") and tls_in_heap:
            total += TLS
            block = TLS_BLOCK
    return total, block


def check(cfg, free, largest, tls_in_heap=True):
    """None if the config fits in what boot left, else the reason (for the console and MQTT)."""
    total, block = need(cfg, tls_in_heap)
    if free >= total and largest >= block:
        return None
    what = "%d chargers%s" % (len(cfg.get("chargers", ())), ", MQTT over TLS" if (cfg.get("mqtt") or {}).get("tls")
                                                           else ", MQTT" if cfg.get("mqtt") else "")
    return ("heap: %d KB free (largest block %d KB) after boot; %s need %d KB (a block of %d KB): "
            "fewer chargers, no TLS, or the code in ROMFS (make deploy)"
            % (free // 1024, largest // 1024, what, (total + 1023) // 1024, block // 1024))
