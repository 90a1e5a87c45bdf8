"""End to end: the simulated hub on the unix port against a real mosquitto on loopback."""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt

from conftest import ROOT, run_micropython

SIMULATE = os.path.join(ROOT, "tools", "simulate.py")
PERIOD_S = 0.5


def scenario(tmp_path, duration, chargers=3, events=(), extra=None):
    sc = {"duration": duration, "mains_hz": 50, "voltage": 230,
          "site": {"phases": ["L1", "L2", "L3"], "limit": 40, "margin": 2, "fallback": 18},
          "chargers": [{"id": "bay%d" % i, "phases": ["L1"], "min": 6, "max": 32} for i in range(1, chargers + 1)],
          "control": {"holdoff_ms": 2000},
          "events": [{"t": 0, "load": {"L1": 5, "L2": 3, "L3": 4}}] +
                    [{"t": 1, "plug": "bay%d" % i, "ev_max": 32, "kwh": 100} for i in range(1, chargers + 1)]
                    + list(events)}
    sc.update(extra or {})
    p = tmp_path / "live.json"
    p.write_text(json.dumps(sc))
    return p


class LiveHub:
    """tools/simulate.py --live 1 --mqtt: the hub in real time, records collected."""

    def __init__(self, tmp_path, broker, duration, hub_id="t1", speed=1, events=(), extra=None):
        self.state = tmp_path / "state"
        self.state.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, SIMULATE, str(scenario(tmp_path, duration, events=events, extra=extra)),
             "--live", str(speed),
             "--mqtt", "127.0.0.1:%d" % broker.port, "--hub-id", hub_id, "--state-dir", str(self.state)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.records = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.records.append(json.loads(line))

    def wait(self, timeout):
        self.proc.wait(timeout)
        self.reader.join(5)
        return self.proc.returncode

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def last(self):
        return self.records[-1] if self.records else None

    def after(self, sim_s, timeout=60):
        """The first record sim_s simulated seconds after the last one now: the
        hub's own clock, so a check means the same at any speed or load."""
        end = time.monotonic() + timeout
        while not self.records and time.monotonic() < end:
            time.sleep(0.02)
        t = self.records[-1]["t"] + sim_s
        while time.monotonic() < end:
            for r in reversed(self.records):
                if r["t"] < t:
                    break
                if r["t"] - t < 1e-9 + PERIOD_S:
                    return r
            time.sleep(0.02)
        raise AssertionError("the hub did not reach t + %s s within %s s" % (sim_s, timeout))


class Listener:
    """A CPython client (paho-mqtt) that records everything under a topic filter."""

    def __init__(self, broker, *filters, qos=0):
        self.msgs = []
        self.qos = {}          # topic -> the QoS of its last message as delivered
        self.lock = threading.Lock()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.c.on_message = self._on
        self.c.on_connect = lambda c, u, f, rc, p: [c.subscribe(t, qos=qos) for t in filters]
        self.c.reconnect_delay_set(0.2, 1)
        self.c.connect("127.0.0.1", broker.port)
        self.c.loop_start()

    def _on(self, c, u, m):
        with self.lock:
            self.msgs.append((time.monotonic(), m.topic, m.payload, m.retain))
            self.qos[m.topic] = m.qos

    def of(self, topic):
        with self.lock:
            return [(t, p, r) for t, tp, p, r in self.msgs if tp == topic]

    def wait_for(self, topic, pred=lambda p: True, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for t, p, r in self.of(topic):
                if pred(p):
                    return p
            time.sleep(0.05)
        raise AssertionError("no %s within %s s" % (topic, timeout))

    def wait_for_msg(self, topic, timeout=20):
        """(payload, retained) of the first message on topic."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.of(topic)
            if got:
                return got[0][1], got[0][2]
            time.sleep(0.05)
        raise AssertionError("no %s within %s s" % (topic, timeout))

    def send(self, topic, payload):
        self.c.publish(topic, payload)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def test_telemetry_status_will_and_discovery(tmp_path, broker):
    hub = LiveHub(tmp_path, broker, duration=60)
    try:
        lis = Listener(broker, "almhub/t1/#", "homeassistant/#")
        lis.wait_for("almhub/t1/status", lambda p: p == b"online")
        tel = json.loads(lis.wait_for("almhub/t1/telemetry", timeout=15))
        assert set(tel["phases"]) == {"L1", "L2", "L3"} and set(tel["chargers"]) == {"bay1", "bay2", "bay3"}
        for ph in tel["phases"].values():
            assert set(ph) >= {"a", "limit", "sensor"}
        for ch in tel["chargers"].values():
            assert set(ch) >= {"a", "duty", "state", "kwh"}
        # telemetry every few seconds
        time.sleep(11)
        times = [t for t, p, r in lis.of("almhub/t1/telemetry")]
        assert len(times) >= 3 and all(3.5 <= b - a <= 6.5 for a, b in zip(times, times[1:])), times
        # a late subscriber gets the retained status and discovery
        late = Listener(broker, "almhub/t1/status", "homeassistant/#")
        assert late.wait_for("almhub/t1/status") == b"online"
        time.sleep(1)
        disc = [m for m in late.msgs if m[1].startswith("homeassistant/")]
        assert len(disc) == 1 + 2 * 3 + 3 * 3 and all(m[3] for m in disc)
        for _, topic, payload, _ in disc:
            cfg = json.loads(payload)
            assert {"name", "unique_id", "state_topic", "device"} <= set(cfg), topic
        late.close()
        # the hub dies without a word: the broker publishes its last will
        hub.kill()
        lis.wait_for("almhub/t1/status", lambda p: p == b"offline", timeout=10)
        again = Listener(broker, "almhub/t1/status")
        assert again.wait_for("almhub/t1/status") == b"offline"   # retained
        again.close()
        lis.close()
    finally:
        if hub.proc.poll() is None:
            hub.kill()


def offers(rec):
    return {c: ch["offered"] for c, ch in rec["chargers"].items()}


def test_each_command_over_mqtt(tmp_path, broker):
    hub = LiveHub(tmp_path, broker, duration=90, speed=4)   # the hub's clock 4x: checks on it (hub.after)
    lis = Listener(broker, "almhub/t1/cmd/result", "almhub/t1/status")
    try:
        lis.wait_for("almhub/t1/status", lambda p: p == b"online")
        assert sum(offers(hub.after(16)).values()) >= 30     # hold-off, then the ramp up

        def cmd(payload, want_ok=True):
            rid = random.randrange(1 << 30)
            payload = dict(payload, id=rid)
            lis.send("almhub/t1/cmd", json.dumps(payload))
            reply = json.loads(lis.wait_for("almhub/t1/cmd/result", lambda p: json.loads(p).get("id") == rid))
            assert reply["ok"] is want_ok, reply
            return reply

        cmd({"cmd": "set_limit", "limit": 60}, want_ok=False)       # above the hard limit
        assert "configured limit" in cmd({"cmd": "set_limit", "limit": 41}, want_ok=False)["error"]
        cmd({"cmd": "set_limit", "limit": 25})
        assert sum(offers(hub.after(2 * PERIOD_S)).values()) <= 25 - 2 - 5      # cut at once
        cmd({"cmd": "pause", "charger": "bay1"})
        rec = hub.after(2 * PERIOD_S)
        assert rec["chargers"]["bay1"]["offered"] == 0 and rec["chargers"]["bay1"]["duty"] == 100.0  # +12 V first
        rec = hub.after(6)
        assert rec["chargers"]["bay1"]["offered"] == 0 and rec["chargers"]["bay1"]["duty"] == 0.0  # then state F
        cmd({"cmd": "resume", "charger": "bay1"})
        cmd({"cmd": "set_max", "charger": "bay2", "max": 8})
        cmd({"cmd": "set_max", "charger": "bay2", "max": 40}, want_ok=False)
        cmd({"cmd": "priority", "charger": "bay3", "priority": 2})
        cmd({"cmd": "set_margin", "margin": 3})
        assert hub.after(8)["chargers"]["bay2"]["offered"] <= 8
        status = cmd({"cmd": "status"})
        assert status["status"]["chargers"]["bay2"]["a"] <= 8 and status["status"]["margin"] == 3
        cap = cmd({"cmd": "capture"})
        hub.after(3 * PERIOD_S)
        assert os.path.exists(cap["file"])
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "replay.py"), cap["file"], "--rate", "4000",
                            "--amps-per-count", "0.01107"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        w = json.loads(r.stdout.splitlines()[0])
        assert abs(w["channels"]["L1"]["irms"] - hub.last()["phases"]["L1"]["actual"]) < 2
        # what commands set survives a restart of the hub
        saved = json.load(open(hub.state / "state.json"))
        assert saved["limit"] == [25, 25, 25] and saved["max"] == {"bay2": 8} and saved["margin"] == 3
    finally:
        lis.close()
        hub.kill()


def hostile_payloads(n, rng):
    fixed = [b"", b"{", b"null", b"[]", b"\x00" * 100, b"\xff" * 300, b"{" * 400, b"[" * 511,
             b'{"cmd": "set_limit", "limit": 1e308}', b'{"cmd": "set_limit", "limit": -1e308}',
             b'{"cmd": "set_limit", "limit": NaN}', b'{"cmd": "set_limit", "limit": Infinity}',
             b'{"cmd": "set_max", "charger": "bay1", "max": 99999999999999999999999}',
             b'{"cmd": "pause", "charger": "' + "\u00e9\u4e2d".encode() * 50 + b'"}',
             b'{"cmd": "status", "id": "' + b"x" * 600 + b'"}', b'{"cmd": {"cmd": "status"}}',
             b'{"cmd": "set_limit", "limit": [1, 2, 3, 4, 5, 6, 7, 8]}']
    names = ["set_limit", "set_margin", "set_max", "pause", "resume", "priority", "status", "nope", None, 3]
    values = [0, -1, 6, 16, 40, 41, 1e9, 2.5, "16", None, True, [], {}, [16, 16, 16], "bay1", "bay9"]
    for i in range(n):
        k = rng.random()
        if k < 0.1:
            yield fixed[i % len(fixed)]
        elif k < 0.3:
            yield bytes(rng.randrange(256) for _ in range(rng.randrange(1, 700)))
        else:
            d = {"cmd": rng.choice(names)}
            for key in rng.sample(["limit", "margin", "charger", "max", "priority", "id", "x"], rng.randrange(4)):
                d[key] = rng.choice(values)
            yield json.dumps(d).encode()


def test_fuzz_thousands_of_hostile_commands(tmp_path, broker):
    hub = LiveHub(tmp_path, broker, duration=120)
    lis = Listener(broker, "almhub/t1/cmd/result", "almhub/t1/status", "almhub/t1/telemetry")
    try:
        lis.wait_for("almhub/t1/status", lambda p: p == b"online")
        # a client that matches replies by id: every refusal carries it
        for i, body in enumerate(('"cmd": "fly"', '"limit": 30', '"cmd": "pause"',
                                  '"cmd": "pause", "charger": "bay1", "x": 1', '"cmd": "set_limit", "limit": 99')):
            lis.send("almhub/t1/cmd", '{%s, "id": "h%d"}' % (body, i))
            r = json.loads(lis.wait_for("almhub/t1/cmd/result", lambda p: b'"h%d"' % i in p))
            assert r["id"] == "h%d" % i and r["ok"] is False and r["error"], r
        # bytes after the JSON (MicroPython's parser stops at a NUL): refused, nothing changes
        for i, tail in enumerate((b"\x00", b"\x00garbage", b'\x00{"cmd": "status"}', b' {"cmd": "status"}')):
            lis.send("almhub/t1/cmd", b'{"cmd": "set_limit", "limit": 12}' + tail)
            lis.send("almhub/t1/cmd", '{"cmd": "status", "id": "n%d"}' % i)
            lis.wait_for("almhub/t1/cmd/result", lambda p: b'"n%d"' % i in p)
        results = [json.loads(p) for t, p, r in lis.of("almhub/t1/cmd/result")]
        assert [r["error"] for r in results if r.get("error") == "not JSON"] == ["not JSON"] * 4, results
        t0 = time.monotonic()
        while lis.of("almhub/t1/telemetry")[-1][0] <= t0 and time.monotonic() < t0 + 15:
            time.sleep(0.1)
        tel = json.loads(lis.of("almhub/t1/telemetry")[-1][1])
        assert all(ph["limit"] == 40 for ph in tel["phases"].values()), tel["phases"]
        rng = random.Random(1234)
        sent = 0
        for payload in hostile_payloads(2500, rng):
            lis.send("almhub/t1/cmd", payload)
            sent += 1
            if sent % 50 == 0:
                time.sleep(0.5)     # the hub takes up to 32 commands a period
        deadline = time.monotonic() + 30
        while len(lis.of("almhub/t1/cmd/result")) < sent and time.monotonic() < deadline:
            time.sleep(0.2)
        replies = [json.loads(p) for t, p, r in lis.of("almhub/t1/cmd/result")]
        assert len(replies) >= 0.98 * sent, (len(replies), sent)
        errors = [r for r in replies if not r["ok"]]
        assert len(errors) > 0.8 * len(replies) and all(r.get("error") for r in errors)
        assert hub.proc.poll() is None, "the hub died"
        n = len(hub.records)
        time.sleep(2)
        assert len(hub.records) >= n + 3, "control goes on"
        for rec in hub.records:
            for ph in rec["phases"].values():
                assert ph["actual"] <= 40 + 0.01, rec["t"]
            for c, o in offers(rec).items():
                assert o == 0 or 6 <= o <= 32
    finally:
        lis.close()
        hub.kill()


def test_broker_down_slow_and_paused_control_keeps_time(tmp_path, broker):
    # 40 s down takes the reconnect spacing to its 30 s cap (1+2+4+8+16 s);
    # 12 s half-open is several keepalive-less reads timing out. Real time:
    # this is the transport and the one jitter check (issue 23 cut it from
    # 185 s; the meaning of commands and limits is checked on scaled clocks)
    outage_s, pause_s = 40, 12
    hub = LiveHub(tmp_path, broker, duration=10 + outage_s + 10 + pause_s + 25)
    lis = Listener(broker, "almhub/t1/telemetry", "almhub/t1/status")
    try:
        lis.wait_for("almhub/t1/telemetry")
        time.sleep(8)
        broker.stop()                      # the broker is gone for minutes
        time.sleep(outage_s)
        broker.start()                     # same port: the hub must find it again
        t_back = time.monotonic()
        while not [t for t, p, r in lis.of("almhub/t1/telemetry") if t > t_back] and time.monotonic() < t_back + 60:
            time.sleep(0.2)
        got = [t for t, p, r in lis.of("almhub/t1/telemetry") if t > t_back]
        # reconnects are spaced at most 30 s (+20 %) apart: it is back within that
        assert got and got[0] - t_back < 40, "telemetry resumed by itself"
        time.sleep(8)
        broker.pause()                     # half-open: TCP up, nobody answers
        time.sleep(pause_s)
        broker.resume()
        t_cont = time.monotonic()
        deadline = time.monotonic() + 60
        while not [t for t, p, r in lis.of("almhub/t1/telemetry") if t > t_cont + 1] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [t for t, p, r in lis.of("almhub/t1/telemetry") if t > t_cont + 1], "resumed after the pause"
        assert hub.wait(120) == 0
        walls = [r["wall_ms"] for r in hub.records]
        periods = [b - a for a, b in zip(walls, walls[1:])]
        worst = max(abs(p - PERIOD_S * 1000) for p in periods)
        mean = sum(periods) / len(periods)
        print("control periods: %d, mean %.1f ms, worst deviation %d ms (%.1f %%)"
              % (len(periods), mean, worst, 100 * worst / (PERIOD_S * 1000)))
        # the loop keeps its time: no drift, and no period held by the link. A
        # call that waited on the broker would hold a period for its socket
        # timeouts (150 ms each, several a reconnect) or for ever; a loaded
        # 2-core machine's scheduling stays well under 200 ms
        assert abs(mean - PERIOD_S * 1000) < 0.02 * PERIOD_S * 1000, mean
        assert worst < 200, worst
        ups = [r["mqtt"]["up"] for r in hub.records]
        assert False in ups and ups[-1], "the link went down and came back"
        assert hub.records[-1]["mqtt"]["connects"] >= 3
    finally:
        lis.close()
        if hub.proc.poll() is None:
            hub.kill()


def test_monitor_shows_hubs_and_sends_commands(tmp_path, broker):
    hub = LiveHub(tmp_path, broker, duration=40, hub_id="m1")
    mon = os.path.join(ROOT, "tools", "monitor.py")
    try:
        r = subprocess.run([sys.executable, mon, "--port", str(broker.port), "--once", "--wait", "7"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert "hub m1  ONLINE" in r.stdout and "bay1" in r.stdout and "L1" in r.stdout, r.stdout
        r = subprocess.run([sys.executable, mon, "--port", str(broker.port), "--hub", "m1",
                            "--cmd", '{"cmd": "pause", "charger": "bay2"}'], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True, r.stdout + r.stderr
        r = subprocess.run([sys.executable, mon, "--port", str(broker.port), "--hub", "m1",
                            "--cmd", '{"cmd": "set_limit", "limit": 99}'], capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "configured limit" in r.stdout
        r = subprocess.run([sys.executable, mon, "--port", str(broker.port), "--hub", "m1", "--cmd", "{oops"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "not JSON" in r.stderr
    finally:
        hub.kill()


def boot_on_unix(cfg, mq, periods, after, heapsize="1M"):
    """firmware/app/main.py's Boot on the unix port (fake `machine`), run for some periods."""
    from conftest import run_micropython
    code = ("import fake_machine as machine, hal, main, pilot\n"
            "machine.fresh()\n"
            "b = main.Boot(hal.load_board('sim'), machine, %r, %r)\n"
            "b.period_ms = 200\n"
            "b.run(%d)\n%s\n" % (str(cfg), str(mq), periods, after))
    r = run_micropython(["-c", code], heapsize=heapsize, timeout=60)
    assert r.returncode == 0, r.stdout
    return r.stdout


def test_bad_config_keeps_safe_state_and_says_why_over_mqtt(tmp_path, broker):
    cfg = tmp_path / "config.json"
    cfg.write_text('{"site": {"phases": ["L1", "L2", "L3"], "limit": "a lot"}}')
    mq = tmp_path / "mqtt.json"
    mq.write_text(json.dumps({"host": "127.0.0.1", "port": broker.port, "hub_id": "bad1"}))
    lis = Listener(broker, "almhub/bad1/#")
    out = boot_on_unix(cfg, mq, 4, "print('SAFE', all(p.permille == pilot.PAUSED_PERMILLE for p in b.pilots))")
    assert "almhub: safe state, no charging:" in out and "site.limit" in out
    assert "SAFE True" in out
    err = json.loads(lis.wait_for("almhub/bad1/error"))
    assert err["mode"] == "safe" and "site.limit" in err["reason"]
    late = Listener(broker, "almhub/bad1/error")
    assert "site.limit" in json.loads(late.wait_for("almhub/bad1/error"))["reason"]  # retained
    late.close()
    lis.close()


def test_tls_broker_with_a_checked_certificate(tmp_path):
    """TLS where the board has it: the hub verifies the broker against its CA,
    with one context made at boot and used again after a drop; a CA file that
    holds no certificate leaves the hub without MQTT, still controlling."""
    import shutil
    from conftest import Broker

    def ssl_(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=tmp_path)
    ssl_("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
         "-days", "2", "-subj", "/CN=almhub test CA")
    ssl_("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=localhost")
    (tmp_path / "ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ssl_("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "srv.pem", "-days", "2", "-extfile", "ext")
    ssl_("x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der")
    ssl_("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other.pem",
         "-days", "2", "-subj", "/CN=someone else")
    ssl_("x509", "-in", "other.pem", "-outform", "DER", "-out", "other.der")
    (tmp_path / "garbage.der").write_bytes(b"not a certificate")
    os.chmod(tmp_path / "srv.key", 0o644)
    b = Broker()
    port = b.port
    with open(b.conf, "w") as f:   # a TLS listener only, and a plain one for the test's own client
        # as root, mosquitto would become user "mosquitto", who cannot read pytest's tmp dir
        f.write("user root\nper_listener_settings false\nallow_anonymous true\npersistence false\n"
                "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
                "listener %d 127.0.0.1\n" % (port, tmp_path / "ca.pem", tmp_path / "srv.pem",
                                             tmp_path / "srv.key", port + 1))
    b.port = port + 1          # the listener the helpers' plain clients use
    b.start()
    try:
        lis = Listener(b, "almhub/+/status")
        for ca, hub_id, want in (("ca.der", "tls1", b"online"), ("other.der", "tls2", None),
                                 ("garbage.der", "tls3", None)):
            mq = tmp_path / ("mqtt-%s.json" % hub_id)
            mq.write_text(json.dumps({"host": "127.0.0.1", "port": port, "hub_id": hub_id, "tls": True,
                                      "ca": str(tmp_path / ca), "server_name": "localhost"}))
            cfg = tmp_path / "config.json"
            cfg.write_text(json.dumps({"site": {"phases": ["L1", "L2", "L3"], "limit": 40},
                                       "chargers": [{"id": "c1"}]}))
            out = boot_on_unix(cfg, mq, 15, "l = b.services.link\n"
                               "print('HUB', b.hub is not None, l and l.up, l and l.connects)\n"
                               "if l and l.up:\n"
                               "    l.sock.close()\n"      # a drop: the next period finds it closed
                               "    b.run(20)\n"           # a reconnect within the backoff's first 2 s
                               "    print('AGAIN', l.up, l.connects)\n"
                               "print('OFFERED', b.hub.ctl.offer[0])", heapsize="2M")
            assert int(out.split("OFFERED ")[1].split()[0]) >= 6, out    # control goes on whatever TLS does
            if want:
                assert "HUB True True 1" in out, out
                assert "AGAIN True 2" in out, out
                assert lis.wait_for("almhub/tls1/status") == b"online"
            elif hub_id == "tls2":   # a broker it cannot verify: no connection
                assert "HUB True False 0" in out, out
                assert not lis.of("almhub/tls2/status")
            else:    # no certificate in the file: no MQTT at all, said on the console
                assert "HUB True None None" in out, out
                assert "almhub: mqtt: invalid cert (no MQTT)" in out, out
        lis.close()
    finally:
        b.stop()
        shutil.rmtree(b.dir, ignore_errors=True)


def test_demand_intervals_published_and_kept_across_a_restart(tmp_path, broker):
    # 60x real time: a 15-minute interval every 15 s
    lis = Listener(broker, "almhub/t1/demand")
    hub = LiveHub(tmp_path, broker, duration=1000, speed=60)
    try:
        assert hub.wait(120) == 0
        first = json.loads(lis.wait_for("almhub/t1/demand"))
        assert first["seq"] == 1 and first["end"] == 900, first
        # the trace's view of the same interval: what the CT measured, L1 with 3 EVs charging
        assert set(first["phases"]) == {"L1", "L2", "L3"}
        assert 5 <= first["phases"]["L1"]["mean"] <= 40 + 0.5 and first["phases"]["L1"]["max"] <= 40.5
        assert abs(first["phases"]["L2"]["mean"] - 3) <= 0.3, first
        # the hub restarts on the same flash: its log goes on after the last interval
        hub = LiveHub(tmp_path, broker, duration=1000, speed=60)
        assert hub.wait(120) == 0
        lis.wait_for("almhub/t1/demand", lambda p: json.loads(p)["seq"] == 2)
        second = [json.loads(p) for t, p, r in lis.of("almhub/t1/demand") if json.loads(p)["seq"] == 2][0]
        assert second["end"] == 1800, second
        # retained: a late subscriber gets the last interval
        late = Listener(broker, "almhub/t1/demand")
        p, retained = late.wait_for_msg("almhub/t1/demand")
        assert json.loads(p)["seq"] == 2 and retained
        late.close()
    finally:
        lis.close()
        if hub.proc.poll() is None:
            hub.kill()
    # the log on the flash has both, and reads back as the report's CSV
    code = ("import demand\nlog = demand.Log(%r, 3)\nfor line in demand.csv(log.records(), ['L1', 'L2', 'L3']): print(line)"
            % str(hub.state / "demand.log"))
    r = run_micropython(["-c", code])
    lines = r.stdout.splitlines()
    assert lines[0] == "end,L1_mean,L1_max,L2_mean,L2_max,L3_mean,L3_max" and len(lines) == 3, r.stdout + r.stderr
    assert [int(x.split(",")[0]) for x in lines[1:]] == [900, 1800]


def test_a_session_is_published_when_the_car_leaves_and_kept(tmp_path, broker):
    lis = Listener(broker, "almhub/t1/session", "almhub/t1/cmd/result", "almhub/t1/status", qos=1)
    # 10x real time: bay1's car leaves at 60 s, bay2's at 90 s
    hub = LiveHub(tmp_path, broker, duration=150, speed=10,
                  events=[{"t": 60, "unplug": "bay1"}, {"t": 90, "unplug": "bay2"}])
    try:
        lis.wait_for("almhub/t1/status", lambda p: p == b"online")
        first = json.loads(lis.wait_for("almhub/t1/session", timeout=30))
        assert first["bay"] == "bay1" and first["seq"] == 1 and 55 <= first["end"] - first["start"] <= 60, first
        assert 0 < first["kwh"] < 32 * 230 * 60 / 3.6e6 and 6 <= first["peak_a"] <= 32 and first["measured"] is False
        second = json.loads(lis.wait_for("almhub/t1/session", lambda p: b'"bay2"' in p, timeout=30))
        assert second["seq"] == 2
        assert lis.qos["almhub/t1/session"] == 1      # published at QoS 1 (a QoS 1 subscriber gets 1)
        # the log answers a client that asks for what it missed, and forgets when told
        lis.send("almhub/t1/cmd", '{"cmd": "sessions", "since": 1, "id": "s1"}')
        r = json.loads(lis.wait_for("almhub/t1/cmd/result", lambda p: b'"s1"' in p))
        assert r["ok"] and r["sessions"] == [second], r
        # the billing export pulls them the same way
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "sessions.py"), "--mqtt",
                            "127.0.0.1:%d" % broker.port, "--hub-id", "t1", "--out", str(tmp_path / "bill")],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "2 sessions" in r.stdout, r.stdout + r.stderr
        bill = (tmp_path / "bill" / "billing.csv").read_text().splitlines()
        assert bill[1].startswith("undated,bay1,1,") and bill[2].startswith("undated,bay2,1,"), bill
        lis.send("almhub/t1/cmd", '{"cmd": "forget_sessions", "id": "f1"}')
        lis.wait_for("almhub/t1/cmd/result", lambda p: b'"f1"' in p)
        lis.send("almhub/t1/cmd", '{"cmd": "sessions", "since": 0, "id": "s2"}')
        r = json.loads(lis.wait_for("almhub/t1/cmd/result", lambda p: b'"s2"' in p))
        assert r["sessions"] == [], r
    finally:
        lis.close()
        hub.kill()


def test_metered_site_power_voltage_and_measured_energy(tmp_path, broker):
    # voltage references and a CT on every charger's feed: real power per
    # phase, Vrms and frequency in telemetry; Home Assistant gets power,
    # voltage, frequency and import/export energy, and each charger's energy
    # as a meter (device_class energy: its energy dashboard); a session
    # closed by a departure says measured
    lis = Listener(broker, "almhub/t1/#", "homeassistant/#", qos=1)
    hub = LiveHub(tmp_path, broker, duration=120, speed=10, events=[{"t": 70, "unplug": "bay1"}],
                  extra={"vt": True, "charger_cts": True})
    try:
        lis.wait_for("almhub/t1/status", lambda p: p == b"online")
        ha = "homeassistant/sensor/almhub_t1/"
        for obj, cls, unit in (("power_L1", "power", "W"), ("voltage_VL2", "voltage", "V"),
                               ("frequency", "frequency", "Hz"), ("import_L3", "energy", "kWh"),
                               ("export_L1", "energy", "kWh"), ("energy_bay1", "energy", "kWh")):
            cfg = json.loads(lis.wait_for(ha + obj + "/config"))
            assert (cfg.get("device_class"), cfg.get("unit_of_measurement")) == (cls, unit), (obj, cfg)
            if cls == "energy":
                assert cfg["state_class"] == "total_increasing", cfg
        late = Listener(broker, ha + "energy_bay1/config")      # a subscriber that comes later
        try:
            late.wait_for(ha + "energy_bay1/config")
            assert late.of(ha + "energy_bay1/config")[0][2] is True     # retained
        finally:
            late.close()

        def charging(p):
            d = json.loads(p)
            return d["phases"]["L1"]["a"] > 30
        doc = json.loads(lis.wait_for("almhub/t1/telemetry", charging, timeout=40))
        ph = doc["phases"]["L1"]
        # EV-shaped currents: the fundamental is 99 % of the RMS, at PF 1
        assert abs(ph["w"] - ph["a"] * 230 * 0.99) < 0.02 * ph["a"] * 230, doc
        assert 0.97 < ph["pf"] <= 1.0 and ph["export_kwh"] == 0.0, doc
        assert all(abs(v - 230) < 2 for v in doc["v"].values()) and abs(doc["hz"] - 50) < 0.2, doc
        assert doc["chargers"]["bay1"]["energy"] == "measured", doc
        rec = json.loads(lis.wait_for("almhub/t1/session", timeout=60))
        assert rec["bay"] == "bay1" and rec["measured"] is True and rec["kwh"] > 0, rec
        last = json.loads(lis.of("almhub/t1/telemetry")[-1][1])
        assert last["phases"]["L1"]["import_kwh"] > 0, last
    finally:
        lis.close()
        hub.kill()


def _stretches(records):
    """[(source, first t, last t, L1 limit at its start)] of the trace's limit_source."""
    out = []
    for r in records:
        if not out or out[-1][0] != r["limit_source"]:
            out.append([r["limit_source"], r["t"], r["t"], r["limit"]["L1"]])
        out[-1][2] = r["t"]
    return out


def test_grid_limit_on_its_retained_topic_and_by_command_with_the_sender_going_silent(tmp_path, broker):
    topic = "almhub/g1/grid_limit"
    lis = Listener(broker, "almhub/g1/event", "almhub/g1/cmd/result", "almhub/g1/telemetry", "almhub/g1/status")
    pub = Listener(broker, "almhub/g1/none")
    # 2x real time; the aggregator's limit lasts 8 s, its failsafe (10 A) 20 s
    hub = LiveHub(tmp_path, broker, duration=90, speed=2, hub_id="g1",
                  extra={"grid": {"topic": True, "failsafe_a": 10, "failsafe_s": 20}})
    try:
        lis.wait_for("almhub/g1/status", lambda p: p == b"online")
        # booted watching the topic, nothing heard: the failsafe, in telemetry too
        tel = json.loads(lis.wait_for("almhub/g1/telemetry"))
        assert tel["limit_source"] == "failsafe" and tel["phases"]["L1"]["limit"] == 10, tel
        pub.send(topic, b'{"limit": 30, "for_s": oops}')          # refused, said, nothing changes
        assert b"grid_limit refused" in lis.wait_for("almhub/g1/event", lambda p: b"grid_limit" in p)
        for k in range(8):       # refreshed every real second (2 s of the hub's), each a new value
            pub.c.publish(topic, json.dumps({"limit": 30 + k, "for_s": 8, "ts": k + 1}), retain=True)
            time.sleep(1)
        # silent now; later a command: a limit of its own for 10 s
        time.sleep(15)
        pub.send("almhub/g1/cmd", json.dumps({"cmd": "grid_limit", "limit": 25, "for_s": 10, "id": 7}))
        reply = json.loads(lis.wait_for("almhub/g1/cmd/result", lambda p: json.loads(p).get("id") == 7))
        assert reply["ok"], reply
        assert hub.wait(120) == 0
    finally:
        pub.c.publish(topic, b"", retain=True)       # clear the retained limit
        lis.close()
        pub.close()
        if hub.proc.poll() is None:
            hub.kill()
    st = _stretches(hub.records)
    names = [s[0] for s in st]
    assert names[:5] == ["failsafe", "grid", "failsafe", "site", "command"], st
    grid, fail, cmd = st[1], st[2], st[4]
    last = max(r["t"] for r in hub.records if r["limit"]["L1"] == 37)   # the last refresh in force
    first37 = min(r["t"] for r in hub.records if r["limit"]["L1"] == 37)
    assert last == grid[2] and abs(fail[1] - (first37 + 8)) <= PERIOD_S + 1e-9, (st, first37)
    assert abs(fail[2] - fail[1] - 20) <= PERIOD_S + 1e-9 and fail[3] == 10, st
    # a command starts when it arrives, between two periods: its rows span 10 s less up to two periods
    assert cmd[3] == 25 and 10 - 2 * PERIOD_S - 1e-9 <= cmd[2] - cmd[1] <= 10 + 1e-9, st
    # the site kept each limit once the cars had their 5 s to follow
    for src, t0, t1, lim in st:
        for r in hub.records:
            if t0 + 6 <= r["t"] <= t1:
                assert r["phases"]["L1"]["actual"] <= r["limit"]["L1"] + 0.5 + 0.02 * r["limit"]["L1"], (src, r["t"])


def test_hubs_of_one_site_hear_each_other_and_a_mismatch_takes_both_shares_to_0(tmp_path, broker):
    # issue 24 item 5: each hub publishes its claim (retained, almhub/<id>/claim)
    # and watches the others'; two hubs whose site sections differ cannot
    # trust their shares to add up: both give theirs up (cars wait), and say why
    site = {"id": "park", "phases": ["L1", "L2", "L3"], "limit": 40, "margin": 2, "fallback": 18,
            "hubs": ["h1", "h2"]}
    lis = Listener(broker, "almhub/+/event", "almhub/+/claim")
    hubs = []
    try:
        for hub_id, s in (("h1", site), ("h2", dict(site, limit=39))):
            d = tmp_path / hub_id
            d.mkdir()
            hubs.append(LiveHub(d, broker, 60, hub_id=hub_id, speed=4, extra={"site": s}))
        for hub_id, other in (("h1", "h2"), ("h2", "h1")):
            said = lis.wait_for("almhub/%s/event" % hub_id, lambda p: b"share 0" in p, timeout=30)
            assert said == b"share 0, its chargers wait: hub %s has another site section" % other.encode(), said
            claim, retained = lis.wait_for_msg("almhub/%s/claim" % hub_id)
            c = json.loads(claim)
            assert c["hub"] == hub_id and c["site_id"] == "park" and isinstance(c["boot"], int), c
        # the shares are 0: no car is offered anything while the conflict stands
        # (with the same site sections a car here is offered 8 A by then)
        rec = hubs[0].after(20)
        assert all(ch["offered"] == 0 for ch in rec["chargers"].values()), rec["chargers"]
        # the installer's view: neither shares (docs/multi-hub.md, "Setting up a site")
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "monitor.py"), "--port", str(broker.port),
                            "--once", "--wait", "7"], capture_output=True, text=True, timeout=30)
        assert "hub h1  ONLINE" in r.stdout and "ALONE at its safe share: share 0.0, hears 0 peer(s)" in r.stdout, r.stdout
    finally:
        lis.close()
        for h in hubs:
            h.kill()
