"""MQTT for the hub, with umqtt.simple, that never holds up the control loop.

    link = Link({"host": "192.168.1.5"}, "hub1", on_cmd, time)
    link.service(now_ms)       # once a period, after the control step

umqtt.simple blocks: connect() and every read and write wait as long as the
socket lets them, and wait_msg() switches the socket back to blocking mode
(forever, on a half-open connection). So the socket handed to it is a
wrapper whose "blocking" always means a timeout of timeout_ms, the broker's
address is resolved once, telemetry is QoS 0, and any error drops the
connection; reconnects are spaced by backoff.delay_ms(). The longest any
call can wait is one timeout, which fits the control period's slack and the
watchdog. A dead broker that keeps the TCP connection open (paused, or a lost
Wi-Fi link) is found by pings: no byte from it in 2.5 ping intervals and the
connection is dropped.
"""

import gc
import json
import socket

import backoff
import telemetry

try:
    from umqtt.simple import MQTTClient, MQTTException
    import umqtt.simple as _umqtt
except ImportError:  # the hub controls without MQTT too
    MQTTClient = MQTTException = _umqtt = None


# The outbox's room: what Services keeps while the broker is away (16), a
# period's events (32) and a few replies. A period with more (every car
# leaving at once) still works: the list grows, once, and is moved.
OUTBOX_ROOM = 56


class _Sock:
    """A socket for umqtt.simple whose blocking mode is a timeout, TLS if asked.

    With TLS the reads and writes go through the TLS stream, and the timeout
    stays on the TCP socket under it (an SSLSocket has no settimeout), so the
    handshake and every TLS read are bounded the same way.
    """

    def __init__(self, timeout_s, clock, tls=None):
        self.raw = self.s = socket.socket()
        self.t = timeout_s
        self.clock = clock
        self.tls = tls            # (server name, ssl.SSLContext) or None
        self.last_rx = clock.ticks_ms()
        self.raw.settimeout(timeout_s)

    def connect(self, addr):
        self.raw.connect(addr)
        if self.tls is not None:
            self.s = self.tls[1].wrap_socket(self.raw, server_hostname=self.tls[0])

    def setblocking(self, flag):
        if flag:
            self.raw.settimeout(self.t)
        else:
            self.raw.setblocking(False)

    def read(self, n):
        data = self.s.read(n)
        if data:
            self.last_rx = self.clock.ticks_ms()
        return data

    def write(self, buf, n=None):
        return self.s.write(buf if n is None else memoryview(buf)[:n])

    def close(self):
        self.s.close()


class _SocketModule:
    """What umqtt.simple sees as `socket`: timeout sockets, a resolved address."""

    def __init__(self, link):
        self.link = link

    def socket(self):
        s = _Sock(self.link.timeout_ms / 1000, self.link.clock, self.link.tls)
        self.link.sock = s
        return s

    def getaddrinfo(self, host, port):
        return self.link.addr


class Link:
    def __init__(self, cfg, hub_id, on_cmd, clock, timeout_ms=150, on_grid=None, on_peer=None):
        self.host = cfg.get("host", "127.0.0.1")
        self.port = cfg.get("port", 8883 if cfg.get("tls") else 1883)
        self.user = cfg.get("user")
        self.password = cfg.get("password")
        self.keepalive_s = cfg.get("keepalive", 30)
        self.ping_ms = cfg.get("ping_ms", 5000)
        self.telemetry_ms = cfg.get("telemetry_ms", 5000)
        self.tls = None
        if cfg.get("tls"):
            # One context for the hub's life, made at boot: its ~1.7 KB lie in
            # a clean heap, and a reconnect needs no contiguous block for it
            # (on 32 bits the connection failed for want of one in a heap with
            # 12 KB free). The certificate is parsed once; its bytes are dropped.
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.verify_mode = ssl.CERT_REQUIRED      # the broker must prove who it is
            with open(cfg["ca"], "rb") as f:        # a DER certificate
                ctx.load_verify_locations(cadata=f.read())
            self.tls = (cfg.get("server_name") or self.host, ctx)
        self.hub_id = hub_id
        self.on_cmd = on_cmd
        self.clock = clock
        self.timeout_ms = timeout_ms
        self.client = None
        self.sock = None  # type: _Sock | None
        self.addr = None
        self.up = False
        self.attempt = 0
        self.retry_at = None
        self.pinged = None
        self.sent_at = None
        # (topic, payload, retain[, qos]): replies and events. Its room is
        # made here, in the boot's clean heap, and kept: a list that grows
        # later (append) or shrinks (pop) is moved, and a list moved in a
        # reconnect's period lands past its garbage and splits the free end
        self.outbox = [None] * OUTBOX_ROOM  # type: list
        del self.outbox[:]      # a slice deletion keeps the room
        self.topics = {}    # kind -> almhub/<id>/<kind>
        self.connects = 0
        self.drops = 0
        self.published = 0
        self.received = 0
        self.status_topic = telemetry.topic(hub_id, "status")
        self.cmd_topic = telemetry.topic(hub_id, "cmd")
        # an aggregator's limit, retained on its own topic (no reply: it is not a command)
        self.on_grid = on_grid
        self.grid_topic = telemetry.topic(hub_id, "grid_limit").encode() if on_grid else None
        # the other hubs' claims (several hubs on one connection; control/peers.py)
        self.on_peer = on_peer

    # -- connection ---------------------------------------------------------
    def _resolve(self):
        if self.addr is None:
            self.addr = socket.getaddrinfo(self.host, self.port)  # once: it blocks
        return self.addr

    def _connect(self, now, discovery):
        # a collection first, so that the TLS context and the socket (kept for
        # the connection's life) take the lowest gaps of a clean heap, not the
        # free end past this period's garbage: 11 to 18 KiB largest free block
        # (ESP32, 32 bits, `make bench`). An attempt is rare (backoff).
        gc.collect()
        self._resolve()
        c = MQTTClient(self.hub_id, self.host, self.port, self.user, self.password,
                       keepalive=self.keepalive_s)
        c.set_last_will(self.status_topic, b"offline", retain=True)
        c.set_callback(self._msg)
        _umqtt.socket = _SocketModule(self)
        self.client = c
        c.connect()
        c.subscribe(self.cmd_topic)
        if self.grid_topic:
            c.subscribe(self.grid_topic)
        if self.on_peer is not None:
            c.subscribe(telemetry.topic("+", "claim"))
        c.publish(self.status_topic, b"online", retain=True)
        for t, p in discovery():
            c.publish(t, p, retain=True)
        self.up = True
        self.attempt = 0
        self.connects += 1
        self.pinged = now
        self.sent_at = None

    def _down(self, now):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = self.client = None
        if self.up:
            self.drops += 1
        self.up = False
        self.retry_at = self.clock.ticks_add(now, backoff.delay_ms(self.attempt, now))
        self.attempt += 1

    def post(self, kind, payload, retain=False, qos=0):
        """Queue payload on almhub/<id>/<kind>: sent by the next service()
        the broker is up for (kept within `keep`'s bound while it is away)."""
        t = self.topics.get(kind)
        if t is None:       # each kind's topic made once (a claim is posted every period)
            t = self.topics[kind] = telemetry.topic(self.hub_id, kind)
        self.outbox.append((t, payload, retain, qos))

    def keep(self, n):
        """Only the latest n queued messages are kept (the broker is away)."""
        del self.outbox[:-n]     # a slice deletion keeps the room

    def _msg(self, topic, msg):
        self.received += 1
        if self.grid_topic is not None and topic == self.grid_topic:
            self.on_grid(msg)
            return
        if self.on_peer is not None and topic.endswith(b"/claim"):
            self.on_peer(msg)
            return
        self.post("cmd/result", json.dumps(self.on_cmd(msg)))

    # -- each period --------------------------------------------------------
    def service(self, now, telemetry_fn, discovery_fn):
        """Receive commands, send what is due. Returns quickly, whatever the broker does."""
        td = self.clock.ticks_diff
        if MQTTClient is None:
            return
        if not self.up:
            if self.retry_at is None or td(now, self.retry_at) >= 0:
                try:
                    self._connect(now, discovery_fn)
                except Exception:  # whatever the network does, control goes on
                    self._down(now)
            return
        try:
            t0 = self.clock.ticks_ms()
            for _ in range(32):           # commands: a bounded number and time a period
                n = self.received
                # check_msg() returns None after a message too: count the callbacks
                if (self.client.check_msg() is None and self.received == n) or \
                        td(self.clock.ticks_ms(), t0) > self.timeout_ms:
                    break
            self.sock.setblocking(True)   # wait_msg leaves it blocking; make that a timeout
            sent = 0
            try:
                while sent < len(self.outbox):
                    item = self.outbox[sent]   # (topic, payload, retain, qos): post()
                    sent += 1                  # one that fails is not sent again
                    self.client.publish(item[0], item[1], item[2], item[3])
            finally:
                if sent:
                    del self.outbox[:sent]     # a slice deletion keeps the room; pop(0) gives it back
            if self.sent_at is None or td(now, self.sent_at) >= self.telemetry_ms:
                t, p = telemetry_fn()
                self.client.publish(t, p)
                self.published += 1
                self.sent_at = now
            if td(now, self.pinged) >= self.ping_ms:
                self.client.ping()
                self.pinged = now
            if td(now, self.sock.last_rx) > self.ping_ms * 5 // 2:
                raise OSError(110)        # ETIMEDOUT: the broker stopped answering
        except Exception:  # whatever the network does, control goes on
            self._down(now)
