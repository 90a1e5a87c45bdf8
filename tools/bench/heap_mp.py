"""Heap bench, MicroPython side: the firmware alone, as on an ESP32-DevKitC.

    micropython -X heapsize=96K heap_mp.py PORT SECONDS STATE_DIR [TLS_CA]
    ALMHUB_COUNT=1 micropython -X heapsize=1M heap_mp.py ...   # bytes allocated per period

The hub of a 30-charger board (esp32_devkitc: 3 CTs at 4 kHz, 30 pilots with
read-back) and its services (MQTT to a broker on 127.0.0.1:PORT, with TLS
when TLS_CA is given, discovery, commands, energy, the demand log) run for
SECONDS of simulated time, with gc at one point of each period as on the board.

The site around it is kept out of the firmware's heap as far as it can be:
the sampler synthesises each burst into the Meter's own buffer from one
cycle's table (viper, no allocation), the EVs are a few preallocated arrays,
and the world's per-period arithmetic is integers only. What the world keeps
on the heap is printed (`world_bytes`) and is inside the heapsize measured.

Prints one JSON line at the end: min free, the peak of gc.mem_alloc(), the
largest free block after the run, and what MQTT did (the connection is
dropped three times a run, at each quarter, and set up again: TLS and all); with ALMHUB_COUNT=1,
the bytes each period allocates (the hub's step and the services, with gc
off around them: so in a heap large enough to hold a period's garbage). A
MemoryError ends it with a traceback instead.

With ALMHUB_HUBS=1 the hub is one of two on its connection (site.hubs,
docs/multi-hub.md): it posts its claim each period and hears its peer's,
handed to its Services as the link hands a message (a claim of ~250 B,
made each period as receiving it makes one), so control/peers.py and
control/shared.py are loaded and every period shares as hubs that hear
each other do.

With ALMHUB_ROMFS=IMAGE (`mpremote romfs build` of the .mpy build) the code
runs from a ROMFS mounted at /rom (vfs.VfsRom), as on a board whose firmware
has the partition: bytecode and constant data are used in place. The unix
port has no flash, so the image is read into the heap first, in one block
before anything else, and reported (`rom_bytes`): the board needs that much
less.
"""
import array
import gc
import json
import micropython
import os
import sys
from micropython import const

_rom = 0
if os.getenv("ALMHUB_ROMFS"):
    _rom = os.stat(os.getenv("ALMHUB_ROMFS"))[6]
    if "/rom" not in sys.path:       # run as a script, not imported from the image
        import vfs
        with open(os.getenv("ALMHUB_ROMFS"), "rb") as _f:
            _img = _f.read()
        vfs.mount(vfs.VfsRom(_img), "/rom")
        sys.path.insert(0, "/rom/lib")
        sys.path.insert(0, "/rom")
gc.collect()
_base = gc.mem_alloc()

import hal  # noqa: E402
import hub  # noqa: E402
import simadc  # noqa: E402
import services  # noqa: E402

N = 30
_TABLE = const(80)  # one 50 Hz cycle at 4 kHz


@micropython.viper
def _fill(buf, n: int, nch: int, table, amp, start: int, seed: int) -> int:  # noqa: F821
    """One burst: channel c is amp[c]/1024 of the table's sine, around mid-scale,
    with a little noise; read_u16 counts as the boards' samplers give."""
    b = ptr16(buf)
    t = ptr16(table)
    a = ptr32(amp)
    s = seed
    i = start
    for f in range(n):
        for c in range(nch):
            s = (s * 1664525 + 1013904223) & 0x3FFFFFFF   # constants that are small ints on 32 bits
            v = 32768 + ((int(t[i]) - 32768) * a[c] >> 10) + ((s >> 16) & 63) - 32
            if v < 0:
                v = 0
            if v > 65535:
                v = 65535
            b[f * nch + c] = v
        i += 1
        if i >= _TABLE:
            i = 0
    return s


class Sampler:
    """The ADC, synthesised: amplitude per channel set by the world each period."""

    def __init__(self, nch, rate_hz, a_per_count):
        self.channels = nch
        self.rate_hz = rate_hz
        import math
        self.table = array.array("H", [int(32768 + 30000 * math.sin(2 * math.pi * k / _TABLE))
                                       for k in range(_TABLE)])
        self.amp = array.array("i", [0] * nch)
        self.full_a = 30000 * a_per_count / 1.41421356   # the RMS amps of amp = 1024
        self.start = 0
        self.seed = 1

    def set_amps(self, c, amps10):
        self.amp[c] = int(amps10 * 102.4 / self.full_a)

    def read_into(self, buf, frames):
        self.seed = _fill(buf, frames, self.channels, self.table, self.amp, self.start, self.seed)
        self.start = (self.start + 37) % _TABLE
        return frames


class Readback:
    """Pilot states as the board's read-back would give them."""

    def __init__(self, n):
        self.st = ["A"] * n

    def states(self, now):
        return self.st


class Clock:
    now = 0

    def ticks_ms(self):
        return self.now

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, b):
        return a + b


def main():
    port, seconds, state_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    ca = sys.argv[4] if len(sys.argv) > 4 else None
    count = os.getenv("ALMHUB_COUNT") == "1"
    board = dict(hal.load_board("esp32_devkitc"))
    board["pilots"] = {"sim": N}
    cfg = {"site": {"phases": ["L1", "L2", "L3"], "limit": 100, "margin": 3},
           "chargers": [{"id": "bay%d" % i, "phases": [("L1", "L2", "L3")[i % 3]]} for i in range(N)],
           "control": {"holdoff_ms": 0}}
    if port:
        # pings a minute apart: this clock runs ~100 times faster than the
        # broker's, whose answer (held by Nagle and a delayed ACK, up to 40 ms)
        # can come 10 periods late; the default 5 s would drop a healthy
        # connection at random, and each drop changes the heap measured
        cfg["mqtt"] = {"host": "127.0.0.1", "port": port, "hub_id": "heap", "ping_ms": 60000}
        if ca:
            cfg["mqtt"].update(tls=True, ca=ca, server_name="localhost")
    hubs = os.getenv("ALMHUB_HUBS") == "1"
    if hubs:
        cfg["site"].update(id="heapsite", hubs=["heap", "peer"])
    cal = hal.calibration(board)
    gc.collect()
    w0 = gc.mem_alloc()
    adc = Sampler(3, board["adc"]["rate_hz"], cal[0])
    rb = Readback(N)
    draw = array.array("i", [0] * N)      # deciamps each EV draws
    house = array.array("i", [100, 50, 70])
    pilots = [simadc.SimPilot() for _ in range(N)]
    clock = Clock()
    gc.collect()
    world = gc.mem_alloc() - w0
    # boot as main.Boot._start does it: a collection before the hub, between
    # the hub and the services, and after them (its heap check measures)
    import heap
    heap.building(True)              # as main does: construction garbage freed as it is made
    h = hub.Hub(board, cfg, adc, pilots, clock.ticks_diff, readback=rb)
    heap.unload(heap.BOOT_ONLY)      # as main does (hal stays: this program holds it)
    sv = services.Services(h, cfg, clock, state_dir + "state.json", state_dir + "energy.json",
                           capture_dir=state_dir)
    heap.building(False)
    peer = None
    if hubs:
        import peers
        peer = ('{"hub": "peer", "boot": 5, "seq": %d, "site_id": "heapsite", "site": ' +
                str(peers.checksum(cfg["site"])) + ', "ts": 0, "held": [12.0, 6.0, 20.0], "lo": [12.0, 6.0, 20.0],'
                ' "cars": [2, 1, 3], "want": [64.0, 32.0, 96.0], "n": %d}')
    gc.collect()
    low = None
    peak = 0
    hist = array.array("i", [0] * 65)    # bytes allocated per period, in 32-byte buckets to 2 KiB
    most = 0
    t = 0
    period = h.period_ms
    drop_ms = seconds * 1000 // 4    # the connection lost 3 times a run (Wi-Fi drops): TLS set up again
    while t <= seconds * 1000:
        clock.now = t
        # the world: cars come and go (every 10 minutes a few), follow their offer
        k = t // 600000
        for i in range(N):
            plugged = (i + k) % 7 != 0
            o = h.ctl.offer[i]
            if not plugged:
                rb.st[i] = "A"
                draw[i] = 0
            else:
                rb.st[i] = "C" if o else "B"
                draw[i] = o * 10
        for p in range(3):
            s = house[p] + (t // 900000 % 4) * 40
            for i in range(p, N, 3):
                s += draw[i]
            adc.set_amps(p, s)
        if 0 < t < seconds * 1000 and t % drop_ms == 0 and sv.link and sv.link.sock:
            sv.link.sock.close()     # the next period finds it closed, as after a drop
        if count:
            gc.collect()
            gc.disable()
        a0 = gc.mem_alloc()
        if peer is not None:    # its claim, as the link hands it over (its turns: one in two)
            n = sv.watch.turns - (t // period) % 2
            sv.peer_message(peer % (t // period + 1, n if n > 0 else 0))
        h.step(t)
        sv.period(t)
        used = gc.mem_alloc()
        if count:
            gc.enable()
            b = (used - a0) >> 5
            hist[b if b < 64 else 64] += 1
            most = used - a0 if used - a0 > most else most
        peak = used if used > peak else peak
        gc.collect()
        free = gc.mem_free()
        low = free if low is None or free < low else low
        t += period
    biggest = heap.measure()[1]     # the firmware's own probe (the boot check uses it)
    half, median = (t // period) // 2, 0
    while count and half >= hist[median] and median < 64:
        half -= hist[median]
        median += 1
    print(json.dumps({"ok": True, "min_free": low, "peak_alloc": peak - _base, "world_bytes": world, "rom_bytes": _rom,
                      "largest_free": biggest, "periods": t // period,
                      "alloc_per_period": {"median": median * 32 + 16, "max": most},
                      "mqtt_up": bool(sv.link and sv.link.up), "telemetry": sv.link.published if sv.link else 0,
                      "connects": sv.link.connects if sv.link else 0,
                      "shared": bool(peer and sv.watch.all_fresh(t - period))}))


main()
