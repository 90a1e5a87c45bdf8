"""ntp: the wall clock from one UDP exchange, never waiting; stray and forged replies refused."""
import socket
import struct

import config
import ntp
import mpunit
from mpunit import eq, ok, raises

HEAPSIZE = "2M"   # the simulated site of the last test

NTP_UNIX = 2208988800
NOW = 1780000000            # 2026-05-28: what the server says


class Clock(mpunit.Clock):
    now = 5000


def reply(req, unix, frac=0, li=0, mode=4, stratum=2, origin=None):
    """A server's answer to req: origin = req's transmit timestamp."""
    head = bytes([(li << 6) | (4 << 3) | mode, stratum, 6, 0xEC]) + bytes(20)
    return head + (origin if origin is not None else req[40:48]) + bytes(8) + struct.pack(">II", unix + NTP_UNIX, frac)


def serve(srv):
    """The request the client sent, and where from (None if none yet)."""
    try:
        return srv.recvfrom(64)
    except OSError:
        return None, None


def make(port):
    clock = Clock()
    return ntp.Ntp("127.0.0.1", clock, port=port, every_ms=3600000, retry_ms=60000, timeout_ms=3000), clock


def bound_server():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for port in range(47123, 47200):
        try:
            s.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
            s.setblocking(False)
            return s, port
        except OSError:
            continue
    raise OSError("no free port")


def test_one_exchange_sets_the_clock_without_waiting():
    srv, port = bound_server()
    n, clock = make(port)
    eq((n.synced, n.unix_s(clock.now)), (False, 0))
    n.service(clock.now)                     # sends, returns at once
    req, addr = serve(srv)
    ok(req is not None and len(req) == 48 and req[0] == 0x23, "a version 4 client request")
    clock.now += 500
    n.service(clock.now)                     # nothing yet: returns at once
    eq(n.synced, False)
    srv.sendto(reply(req, NOW, frac=1 << 31), addr)   # NOW + 0.5 s, sent back at once
    clock.now += 500
    n.service(clock.now)
    eq(n.synced, True)
    # at the reply the server read NOW + 0.5 s; it left half the 1 s round trip ago
    eq(n.unix_s(clock.now), NOW + 1)
    clock.now += 10000
    eq(n.unix_s(clock.now), NOW + 11)
    # asked again after every_ms, not before
    clock.now += 3600000 - 10000 - 1
    n.service(clock.now)
    eq(serve(srv)[0], None)
    clock.now += 1
    n.service(clock.now)
    ok(serve(srv)[0] is not None, "asked again after an hour")
    srv.close()


def test_stray_forged_and_unsynchronised_replies_are_refused():
    srv, port = bound_server()
    n, clock = make(port)
    n.service(clock.now)
    req, addr = serve(srv)
    for bad in (reply(req, NOW, origin=b"12345678"),          # not an answer to our request
                reply(req, NOW, stratum=0),                    # kiss-o'-death / unsynchronised
                reply(req, NOW, li=3),                         # the server's clock is not set
                reply(req, NOW, mode=3),                       # another client's request
                reply(req, 946684800),                         # 2000: an RTC nothing set
                reply(req, NOW)[:47]):                         # short
        srv.sendto(bad, addr)
        clock.now += 100
        n.service(clock.now)
        eq(n.synced, False)
    eq(n.refused, 6)
    # no good answer within the timeout: dropped, retried after retry_ms
    clock.now += 3000
    n.service(clock.now)
    eq(n.sock, None)
    clock.now += 59999
    n.service(clock.now)
    eq(serve(srv)[0], None)
    clock.now += 1
    n.service(clock.now)
    req, addr = serve(srv)
    srv.sendto(reply(req, NOW), addr)
    clock.now += 100
    n.service(clock.now)
    eq(n.synced, True)
    srv.close()


def test_config_takes_an_address_only():
    config.validate_ntp("192.168.1.1")
    for bad in ("pool.ntp.org", "192.168.1", "300.1.1.1", 5, "", "1.2.3.4.5"):
        raises(config.ConfigError, config.validate_ntp, bad)


def test_sessions_and_telemetry_take_the_wall_clock_once_ntp_answers():
    import json
    import services
    import simsite
    sc = {"duration": 300, "site": {"phases": ["L1"], "limit": 40}, "chargers": [{"id": "bay1"}],
          "control": {"holdoff_ms": 0},
          "events": [{"t": 0, "plug": "bay1", "ev_max": 16}, {"t": 100, "unplug": "bay1"}]}
    sim = simsite.Sim(sc)
    cfg = dict(sim.cfg, ntp="127.0.0.1")
    config.validate(cfg)
    clock = Clock()
    d = "/tmp/almhub_test_ntp_"
    try:
        import os
        os.remove(d + "sessions.log")
    except OSError:
        pass
    sv = services.Services(sim.hub, cfg, clock, d + "state.json", d + "energy.json", capture_dir=d)
    srv, port = bound_server()
    sv.clock_of.ntp, _ = make(port)    # the wall clock's NTP, on the test's server
    sv.clock_of.ntp.clock = clock
    eq(json.loads(bytes(sv.telemetry()[1]))["clock"], "unset")
    closed = []
    for now in range(0, 120000, 500):
        clock.now = now
        sim.step(now)
        sv.period(now)
        req, addr = serve(srv)
        if req is not None:
            srv.sendto(reply(req, NOW), addr)     # the answer arrives by the next period
        if sv.sessions.ring.seq > 1 and not closed:
            closed = sv.sessions.records(0)
    eq(json.loads(bytes(sv.telemetry()[1]))["clock"], "ntp")
    eq(len(closed), 1)
    r = closed[0]
    # the car came at ~2 s (NTP answered at 0.5 s) and left at 100 s
    ok(NOW <= r["start_wall"] <= NOW + 5 and 95 <= r["end_wall"] - r["start_wall"] <= 100, r)
    srv.close()
