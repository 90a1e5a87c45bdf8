"""heap: the boot's free heap and largest block, and a config that would not fit refused at boot."""
import fake_machine as machine
import heap
import main
import pilot
from mpunit import eq, ok
from test_boot import CFG, GOOD, board, write

HEAPSIZE = "512K"


def test_measure_finds_a_block_that_can_be_had():
    free, largest = heap.measure()
    ok(0 < largest <= free, "%r %r" % (free, largest))
    b = bytearray(largest - 512)      # what it says can be had, can
    eq(len(b), largest - 512)


def test_need_and_check():
    cfg = {"site": {}, "chargers": [{"id": "c%d" % i} for i in range(30)]}
    eq(heap.need(cfg), (12 * 1024 + 30 * 400, 4096))
    cfg["mqtt"] = {"host": "h", "tls": True}
    total, block = heap.need(cfg)
    eq(block, 16 * 1024)
    eq(heap.check(cfg, total, block), None)
    why = heap.check(cfg, total - 1, block)
    ok(why.startswith("heap: ") and "30 chargers, MQTT over TLS" in why and "ROMFS" in why, why)
    why = heap.check(cfg, 10 * total, 12 * 1024)     # plenty free, no block for a TLS record
    ok(why and "largest block 12 KB" in why, why)
    eq(heap.check({"site": {}, "chargers": []}, 13 * 1024, 4096), None)   # monitor only
    # an ESP32's TLS comes from the IDF's heap, not MicroPython's
    eq(heap.need(cfg, tls_in_heap=False), (12 * 1024 + 30 * 400 + 8 * 1024, 4096))


def test_boot_prints_the_heap_and_refuses_what_does_not_fit():
    printed = []
    main.print = lambda *a: printed.append(" ".join(str(x) for x in a))
    real = heap.measure
    try:
        machine.fresh()
        write(GOOD)
        b = main.Boot(board(), machine, CFG)
        ok(b.hub is not None, "boots: %r" % b.reason)
        ok([p for p in printed if p.startswith("almhub: heap ") and "KB free, largest block" in p], printed)
        ok(b.services.heap is not None and b.services.heap[1] > 0, "telemetry has it")
        # the same config where boot left little: refused with the figures, pilots safe
        heap.measure = lambda: (9 * 1024, 8 * 1024)
        machine.fresh()
        b = main.Boot(board(), machine, CFG)
        ok(b.hub is None and "heap: 9 KB free" in b.reason and "30 chargers" in b.reason, b.reason)
        b.period(0)
        for p in b.pilots[:14]:
            eq(p.pwm.duty, pilot.duty_to_u16(pilot.PAUSED_PERMILLE))
    finally:
        heap.measure = real
        del main.print


def test_boot_collects_often_while_it_builds_and_as_before_after():
    # construction garbage freed as it is made (heap.building): the hub and
    # the services built under a threshold, the one before restored after,
    # on a refusal too
    import gc
    seen = []
    real = heap.building

    def spy(on):
        real(on)
        seen.append((on, gc.threshold()))
    heap.building = spy
    gc.threshold(-1)
    try:
        machine.fresh()
        write(GOOD)
        b = main.Boot(board(), machine, CFG)
        ok(b.hub is not None, b.reason)
        eq(seen, [(True, heap.BUILD_GC), (False, -1)])
        del seen[:]
        write({"site": "not a site"})
        machine.fresh()
        b = main.Boot(board(), machine, CFG)
        ok(b.hub is None, "refused")
        eq(gc.threshold(), -1)
    finally:
        heap.building = real


def test_outbox_and_event_log_keep_their_room():
    # Lists that live for the hub's life are given their room at boot and never
    # moved: an append past it, or a pop() that shrinks it, would allocate in a
    # later period (a reconnect's) and could split the heap's free end.
    import micropython
    import hal
    import hub
    import mqttlink
    import simadc
    import config

    class Clock:
        def ticks_ms(self):
            return 0

    link = mqttlink.Link({"host": "127.0.0.1"}, "h1", lambda p: {}, Clock())
    b = hal.load_board("sim")
    cfg = config.validate({"site": {"phases": ["L1"], "limit": 32}, "chargers": [{"id": "c0"}]})
    h = hub.Hub(b, cfg, hal.make_sampler(b), [simadc.SimPilot()], lambda a, b: a - b)
    item = ("t", "p", False)
    micropython.heap_lock()
    try:
        for n in range(mqttlink.OUTBOX_ROOM):
            link.outbox.append(item)
    finally:
        micropython.heap_unlock()
    del link.outbox[:mqttlink.OUTBOX_ROOM - 1]     # sent, as service() removes them
    micropython.heap_lock()
    try:
        for n in range(mqttlink.OUTBOX_ROOM - 1):
            link.outbox.append(item)
        for n in range(1000):                       # the log full, for ever
            h.log.append(item)
            if len(h.log) > 32:
                h.log.pop(0)
    finally:
        micropython.heap_unlock()
    eq(link.outbox, [item] * mqttlink.OUTBOX_ROOM)
    eq(len(h.log), 32)
    h.event(5, "x")        # the hub's own way in: still within the room
    eq(h.log[-1], (5, "x"))
    eq(h.logged, 1)
