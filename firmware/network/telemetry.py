"""MQTT payloads: telemetry, status, Home Assistant discovery. Pure logic.

    topic, payload = telemetry.state(hub_id, hub, energy, uptime_s)
    w = telemetry.Writer(hub_id, hub)
    for topic, payload in telemetry.discovery(w, hub): ...    # payload: valid until the next

Topics live under almhub/<hub id>/:
    telemetry     compact JSON every few seconds (QoS 0, not retained)
    status        "online" / "offline" (retained; "offline" is the last will)
    cmd           commands in (JSON, see commands.py)
    cmd/result    one reply per command
    event         the hub's event log lines as they happen
Home Assistant discovery goes to homeassistant/<component>/almhub_<id>/<object>/config
(retained), with the status topic as availability.
"""

import json

import health

PREFIX = "almhub/"
HA_PREFIX = "homeassistant/"


def topic(hub_id, leaf):
    return PREFIX + hub_id + "/" + leaf


def _hubs(ctl, now):
    pe = ctl.claims.peers
    heard = len(pe.heard_ids(now)) if pe is not None else 0
    return {"share": round(ctl.claims.share, 3), "heard": heard,
            "mode": "shared" if pe is not None and pe.all_fresh(now) else "alone"}


def state(hub_id, hub, energy, uptime_s, heap=None, clock=None):
    """(topic, JSON) of one telemetry message. heap: (free, largest block) at
    boot; clock: where the wall clock comes from ("ntp", "rtc", "unset")."""
    m, ctl = hub.meter, hub.ctl
    phases = {}
    for p, name in enumerate(ctl.phase_names):
        c = hub.phase_ch[p]
        phases[name] = {"a": round(m.irms_a[c], 2), "limit": ctl.eff_a[p],
                        "avail": round(ctl.avail[p], 1), "sensor": hub.sensor(p)}
        if ctl.claims.ev_cap(p) is not None:      # a time-of-use window: what the EVs may use together
            phases[name]["ev_cap"] = ctl.claims.ev_cap(p)
        if ctl.claims.imp(p) is not None:         # the demand cap: what the site may import
            phases[name]["import_cap"] = ctl.claims.imp(p)
        k = hub.pw_phase[p]
        if k is not None:   # a voltage reference: real power, signed (import > 0), and energy
            w = hub.power.w[k]
            phases[name].update(w=None if w is None else round(w, 1),
                                pf=None if w is None else round(hub.power.pf[k], 3),
                                import_kwh=_kwh(energy.wh["import_" + name]) if energy else 0,
                                export_kwh=_kwh(energy.wh["export_" + name]) if energy else 0)
    chargers = {}
    states = hub.states or ()
    for i, cid in enumerate(hub.ids):
        chargers[cid] = {"a": ctl.offer[i], "duty": hub.duty[i] / 10,
                         "state": states[i] if i < len(states) and states[i] else "?",
                         "on": ctl.claims.enabled[i], "kwh": _kwh(energy.wh[cid]) if energy else 0,
                         "energy": _energy_kind(hub, i)}
        sp = hub.surplus_state(i)
        if sp is not None:     # solar surplus mode: charging, starting, pausing or waiting
            chargers[cid]["surplus"] = sp
    doc = {"t": uptime_s, "mode": ctl.mode, "margin": ctl.claims.margin_a}
    if ctl.claims.share < 1:       # one of several hubs: its share, and whether it hears the others
        doc["hubs"] = _hubs(ctl, hub.now)
    g = hub.grid
    doc["limit_source"] = ctl.claims.source()
    left = g.left_s(hub.now)
    if left is not None:
        doc["limit_left_s"] = left
    if g.scheduled:
        doc["schedule"] = "on" if g.schedule_on else "no clock"
    doc["phases"] = phases
    doc["chargers"] = chargers
    if hub.vt_ch:
        doc["v"] = dict((name, round(m.irms_a[c], 1) if m.status[c] == health.OK else None)
                        for name, c in zip(hub.vt_names, hub.vt_ch))
        doc["hz"] = round(m.hz, 2)
    if heap is not None:
        import gc
        doc["heap"] = {"free": gc.mem_free(), "boot_free": heap[0], "boot_largest": heap[1]}
    if clock is not None:
        doc["clock"] = clock
    return topic(hub_id, "telemetry"), json.dumps(doc)


def _kwh(wh):
    return int(wh) / 1000     # whole Wh, as Writer.kwh writes them


_SCALE = (1, 10, 100, 1000)


class JsonBuf:
    """JSON written into one buffer of `size` bytes, made once and reused for
    every message: no dicts, no joined strings, no big string a message (the
    heap stays in one piece; an ESP32 has ~110 KB)."""

    def __init__(self, size):
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.pos = 0
        self.enc = {}         # the few names that occur (sensor status, pilot state), as bytes

    def put(self, b):
        e = self.pos + len(b)
        if e > len(self.buf):       # cannot be, by the sizes above; state() is the way out
            raise ValueError("telemetry buffer")
        self.mv[self.pos:e] = b
        self.pos = e

    def name(self, s):
        b = self.enc.get(s)
        if b is None:
            b = self.enc[s] = s.encode()
        self.put(b)

    def int_(self, v):
        if v < 0:
            self.put(b"-")
            v = -v
        n = 1
        t = v
        while t >= 10:
            t //= 10
            n += 1
        e = self.pos + n
        buf = self.buf
        for k in range(e - 1, self.pos - 1, -1):
            buf[k] = 48 + v % 10
            v //= 10
        self.pos = e

    def fixed(self, x, places):
        """x with `places` decimals (rounded half away from zero); one float made."""
        scale = _SCALE[places]
        v = int(x * (2 * scale))        # truncated toward 0, in half units
        v = (v + 1) // 2 if v >= 0 else -((1 - v) // 2)
        if v < 0:
            self.put(b"-")
            v = -v
        self.int_(v // scale)
        if places:
            self.put(b".")
            f = v % scale
            buf = self.buf
            e = self.pos + places
            for k in range(e - 1, self.pos - 1, -1):
                buf[k] = 48 + f % 10
                f //= 10
            self.pos = e

    def nums(self, vals, places):
        """A JSON list of numbers, `places` decimals each (0: ints)."""
        self.put(b"[")
        for i in range(len(vals)):
            if i:
                self.put(b", ")
            if places:
                self.fixed(vals[i], places)
            else:
                self.int_(vals[i])
        self.put(b"]")


class ClaimWriter(JsonBuf):
    """A hub's claim (control/peers.py: the same JSON as Watch.mine) written
    into a buffer of its own each period; write() returns a memoryview,
    valid until the next (a claim still in the outbox then goes out newer)."""

    _KEYS = (b', "held": ', b', "lo": ', b', "cars": ', b', "want": ', b', "pri": ')
    _PLACES = (1, 1, 0, 1, 0)

    def __init__(self, watch):
        head = ('{"hub": %s, "boot": %d, "site_id": %s, "site": %d, "seq": ' % (
            json.dumps(watch.me), watch.boot, json.dumps(watch.site_id), watch.site_sum)).encode()
        JsonBuf.__init__(self, len(head) + 144 + 5 * 12 * watch.nph)
        del self.enc        # (no names written)
        self.put(head)      # written once: the buffer's first bytes are the same in every claim
        self.head = self.pos

    def write(self, watch, wall_s, co):
        """co: (held, lo, cars, want, pri) per phase (shared.claim)."""
        watch.seq += 1
        self.pos = self.head
        self.int_(watch.seq)
        self.put(b', "ts": ')
        self.int_(wall_s)
        for k in range(len(co)):
            self.put(self._KEYS[k])
            self.nums(co[k], self._PLACES[k])
        self.put(b', "n": ')
        self.int_(watch.turns)
        self.put(b"}")
        return self.mv[:self.pos]


class Writer(JsonBuf):
    """Telemetry written into one buffer (JsonBuf). The same JSON as state();
    numbers with a fixed number of decimals. `payload(...)` returns (topic,
    memoryview): valid until the next."""

    def __init__(self, hub_id, hub):
        ctl = hub.ctl
        self.hub_id = hub_id
        self.topic = topic(hub_id, "telemetry")
        self.k_ph = [(json.dumps(name) + ': {"a": ').encode() for name in ctl.phase_names]
        self.k_ch = [(json.dumps(cid) + ': {"a": ').encode() for cid in hub.ids]
        self.k_v = [(json.dumps(name) + ": ").encode() for name in hub.vt_names]
        # a discovery entry (entity()) names the hub 6 times, its charger or phase 4
        longest = max([len(k) for k in self.k_ch + self.k_ph] + [0])
        JsonBuf.__init__(self, max(256 + (64 if hub.ctl.claims.share < 1 else 0) + 224 * len(self.k_ph) + sum((152 if hub.surplus else 128) + len(k) for k in self.k_ch) +
                                   sum(16 + len(k) for k in self.k_v), 640 + 6 * (len(hub_id) + longest)))

    def num(self, x):
        if isinstance(x, int):
            self.int_(x)
        else:
            self.fixed(x, 3)

    def kwh(self, wh):
        """Wh as kWh with 3 decimals, in ints (whole Wh)."""
        wh = int(wh)
        self.int_(wh // 1000)
        self.put(b".")
        self.int_(wh % 1000 // 100)
        self.int_(wh % 100 // 10)
        self.int_(wh % 10)

    def str_(self, s):
        self.put(json.dumps(s).encode())

    def entity(self, component, obj, name, template, unit=None, device_class=None):
        """One Home Assistant discovery entry, written into the buffer as
        payload() is: no dict and no ~500-byte JSON string for each of a
        connection's ~60 (on 32 bits, with 9 KB free in pieces, a connection
        failed for want of one such block). (topic, memoryview): valid until the next."""
        hub_id = self.hub_id
        uid = "almhub_%s_%s" % (hub_id, obj)
        self.pos = 0
        self.put(b'{"name": ')
        self.str_(name)
        self.put(b', "unique_id": ')
        self.str_(uid)
        self.put(b', "object_id": ')
        self.str_(uid)
        self.put(b', "state_topic": ')
        self.str_(self.topic)
        self.put(b', "value_template": ')
        self.str_(template)
        self.put(b', "availability_topic": ')
        self.str_(topic(hub_id, "status"))
        self.put(b', "payload_available": "online", "payload_not_available": "offline", '
                 b'"device": {"identifiers": ["almhub_')
        self.name(hub_id)                   # letters, digits, _ and - (config.py)
        self.put(b'"], "name": "almhub ')
        self.name(hub_id)
        self.put(b'", "manufacturer": "almhub", "model": "CT load manager"}')
        if unit:
            self.put(b', "unit_of_measurement": ')
            self.str_(unit)
        if device_class:
            self.put(b', "device_class": ')
            self.str_(device_class)
        # a kWh counter only grows, measured or estimated: without a state_class
        # Home Assistant keeps no long-term statistics of it
        if unit == "kWh":
            self.put(b', "state_class": "total_increasing"')
        elif device_class:
            self.put(b', "state_class": "measurement"')
        self.put(b"}")
        return "%s%s/almhub_%s/%s/config" % (HA_PREFIX, component, hub_id, obj), self.mv[:self.pos]

    def payload(self, hub, energy, uptime_s, heap=None, clock=None):
        m, ctl = hub.meter, hub.ctl
        self.pos = 0
        self.put(b'{"t": ')
        self.int_(uptime_s)
        self.put(b', "mode": "normal"' if ctl.mode == "normal" else b', "mode": "fallback"')
        self.put(b', "margin": ')
        self.num(ctl.claims.margin_a)
        if ctl.claims.share < 1:
            h = _hubs(ctl, hub.now)     # a small dict, only on a site of several hubs
            self.put(b', "hubs": {"share": ')
            self.fixed(h["share"], 3)
            self.put(b', "heard": ')
            self.int_(h["heard"])
            self.put(b', "mode": "shared"}' if h["mode"] == "shared" else b', "mode": "alone"}')
        g = hub.grid
        self.put(b', "limit_source": "')
        self.name(ctl.claims.source())
        left = g.left_s(hub.now)
        if left is not None:
            self.put(b'", "limit_left_s": ')
            self.int_(left)
        else:
            self.put(b'"')
        if g.scheduled:
            self.put(b', "schedule": "on"' if g.schedule_on else b', "schedule": "no clock"')
        self.put(b', "phases": {')
        for p in range(len(self.k_ph)):
            if p:
                self.put(b", ")
            self.put(self.k_ph[p])
            self.fixed(m.irms_a[hub.phase_ch[p]], 2)
            self.put(b', "limit": ')
            self.num(ctl.eff_a[p])
            self.put(b', "avail": ')
            self.fixed(ctl.avail[p], 1)
            if ctl.claims.ev_cap(p) is not None:
                self.put(b', "ev_cap": ')
                self.num(ctl.claims.ev_cap(p))
            if ctl.claims.imp(p) is not None:
                self.put(b', "import_cap": ')
                self.num(ctl.claims.imp(p))
            self.put(b', "sensor": "')
            self.name(hub.sensor(p))
            self.put(b'"')
            k = hub.pw_phase[p]
            if k is not None:
                w = hub.power.w[k]
                if w is None:
                    self.put(b', "w": null, "pf": null')
                else:
                    self.put(b', "w": ')
                    self.fixed(w, 1)
                    self.put(b', "pf": ')
                    self.fixed(hub.power.pf[k], 3)
                name = ctl.phase_names[p]
                self.put(b', "import_kwh": ')
                self.kwh(energy.wh["import_" + name] if energy else 0)
                self.put(b', "export_kwh": ')
                self.kwh(energy.wh["export_" + name] if energy else 0)
            self.put(b"}")
        self.put(b'}, "chargers": {')
        states = hub.states
        for i in range(len(self.k_ch)):
            if i:
                self.put(b", ")
            self.put(self.k_ch[i])
            self.int_(ctl.offer[i])
            self.put(b', "duty": ')
            d = hub.duty[i]            # permille: percent with one decimal, in ints
            self.int_(d // 10)
            self.put(b".")
            self.int_(d % 10)
            self.put(b', "state": "')
            self.name(states[i] if states is not None and states[i] else "?")
            self.put(b'", "on": true' if ctl.claims.enabled[i] else b'", "on": false')
            self.put(b', "kwh": ')
            self.kwh(energy.wh[hub.ids[i]] if energy else 0)
            self.put(b', "energy": "')
            self.name(_energy_kind(hub, i))
            sp = hub.surplus_state(i)
            if sp is not None:
                self.put(b'", "surplus": "')
                self.name(sp)
            self.put(b'"}')
        self.put(b"}")
        if self.k_v:
            self.put(b', "v": {')
            for j in range(len(self.k_v)):
                if j:
                    self.put(b", ")
                self.put(self.k_v[j])
                c = hub.vt_ch[j]
                if m.status[c] == health.OK:
                    self.fixed(m.irms_a[c], 1)
                else:
                    self.put(b"null")
            self.put(b'}, "hz": ')
            self.fixed(m.hz, 2)
        if heap is not None:
            import gc
            self.put(b', "heap": {"free": ')
            self.int_(gc.mem_free())
            self.put(b', "boot_free": ')
            self.int_(heap[0])
            self.put(b', "boot_largest": ')
            self.int_(heap[1])
            self.put(b"}")
        if clock is not None:
            self.put(b', "clock": "')
            self.name(clock)
            self.put(b'"')
        self.put(b"}")
        return self.topic, self.mv[:self.pos]


def _energy_kind(hub, i):
    """How a charger's kwh is known: "measured" (its own CT and a voltage
    reference: real power), "estimated" (its own CT or its pilot's read-back,
    at the nominal voltage), or "none" (neither: not counted)."""
    by = hub.energy_by[i]
    return "none" if by == "none" else "measured" if by == "meter" else "estimated"


def discovery(w, hub):
    """(topic, JSON) for Home Assistant, one at a time: mode, each phase, each
    charger (a generator: 30 chargers' payloads at once would take ~50 KB).
    Each payload is written into the Writer w's buffer: valid until the next."""
    _entity = w.entity
    yield _entity("sensor", "mode", "Mode", "{{ value_json.mode }}")
    for name in hub.ctl.phase_names:
        yield _entity("sensor", "phase_%s" % name, "Phase %s current" % name,
                      "{{ value_json.phases.%s.a }}" % name, "A", "current")
        yield _entity("sensor", "sensor_%s" % name, "Phase %s sensor" % name,
                      "{{ value_json.phases.%s.sensor }}" % name)
        if hub.pw_phase[hub.ctl.phase_names.index(name)] is not None:
            yield _entity("sensor", "power_%s" % name, "Phase %s power" % name,
                          "{{ value_json.phases.%s.w }}" % name, "W", "power")
            yield _entity("sensor", "pf_%s" % name, "Phase %s power factor" % name,
                          "{{ value_json.phases.%s.pf }}" % name, None, "power_factor")
            for way in ("import", "export"):
                yield _entity("sensor", "%s_%s" % (way, name), "Phase %s %s" % (name, way),
                              "{{ value_json.phases.%s.%s_kwh }}" % (name, way), "kWh", "energy")
    for name in hub.vt_names:
        yield _entity("sensor", "voltage_%s" % name, "Voltage %s" % name,
                      "{{ value_json.v.%s }}" % name, "V", "voltage")
    if hub.vt_names:
        yield _entity("sensor", "frequency", "Mains frequency", "{{ value_json.hz }}", "Hz", "frequency")
    for i, cid in enumerate(hub.ids):
        yield _entity("sensor", "offer_%s" % cid, "%s offered" % cid,
                      "{{ value_json.chargers['%s'].a }}" % cid, "A", "current")
        # an estimate (offer x nominal volts, or a CT's amps x nominal volts) is not a
        # meter: no device_class energy, so Home Assistant does not offer it to its
        # energy dashboard (it is still a kWh counter: total_increasing, with statistics);
        # a charger whose energy is not known has none
        kind = _energy_kind(hub, i)
        if kind == "measured":   # a meter: offered to the energy dashboard
            yield _entity("sensor", "energy_%s" % cid, "%s energy" % cid,
                          "{{ value_json.chargers['%s'].kwh }}" % cid, "kWh", "energy")
        elif kind != "none":
            yield _entity("sensor", "energy_%s" % cid, "%s energy (estimated)" % cid,
                          "{{ value_json.chargers['%s'].kwh }}" % cid, "kWh")
        yield _entity("sensor", "state_%s" % cid, "%s pilot state" % cid,
                      "{{ value_json.chargers['%s'].state }}" % cid)
