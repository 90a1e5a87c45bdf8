"""Site configuration: checked whole before anything uses it.

    cfg = config.validate(json.load(f))   # raises ConfigError("chargers[2].max: ...")

Pure logic. A configuration names the site (phases, limit at the point of
common coupling, margin, fallback budget, nested circuits) and its chargers.
Every error names the key it is about; nothing is half-applied: the caller
keeps the old configuration (or the safe state) when validate raises.
"""

SITE_KEYS = ("phases", "voltage", "limit", "margin", "fallback", "circuits", "design_load", "demand_cap_a",
             "pv", "hubs", "shares", "id")
MAX_HUBS = 16       # hubs on one connection (30 chargers each)
GRID_KEYS = ("topic", "failsafe_a", "failsafe_s", "contact_limit_a", "schedule")
SCHEDULE_KEYS = ("utc_offset_min", "dst", "hourly", "windows")
WINDOW_KEYS = ("days", "from", "to", "ev_max_a")
CIRCUIT_KEYS = ("id", "limit", "parent", "hub")
CHARGER_KEYS = ("id", "phases", "circuit", "min", "max", "priority", "floor", "ventilation", "surplus")
MQTT_KEYS = ("host", "port", "user", "password", "hub_id", "keepalive", "telemetry_ms", "ping_ms", "tls",
             "ca", "server_name")
CONTROL_KEYS = ("period_ms", "response_ms", "raise_interval_ms", "ramp_a", "slot_ms",
                "min_pause_ms", "holdoff_ms")
# What the hardware and the standard allow each control value (issue 22): the
# board's own check (hub.py) adds the period against its watchdog and burst.
CONTROL_BOUNDS = {
    "period_ms": (100, 2000, "a period is fed to the watchdog (5 s on every board) and must hold a burst"),
    "response_ms": (5000, 60000, "IEC 61851-1 gives an EV 5 s to follow a new offer"),
    "raise_interval_ms": (5000, 600000, "IEC 61851-1: duty changes at least 5 s apart"),
    "ramp_a": (1, 80, "whole amps, at most the pilot's 80 A"),
    "slot_ms": (60000, 86400000, "rotation slots are minutes long: no stop/start chatter"),
    "min_pause_ms": (5000, 3600000, "a paused car is left paused at least one duty-change interval"),
    "holdoff_ms": (0, 3600000, "up to an hour of healthy readings before leaving fallback"),
}
# EVSE allowed on one breaker when load management shares it, by breaker rating
# (A -> chargers); the design notes' seed table from the code.
EVSE_PER_BREAKER = ((20, 1), (30, 2), (40, 4), (50, 5), (60, 6), (70, 7), (80, 8), (90, 10),
                    (100, 11), (125, 14), (150, 17))
PILOT_MIN_A = 6     # J1772: no valid offer below 6 A
PILOT_MAX_A = 80    # nor above 80 A


class ConfigError(ValueError):
    pass


def _num(v, where, lo=None, hi=None, integer=False):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
        raise ConfigError("%s: expected %s, got %r" % (where, "an integer" if integer else "a number", v))
    if v != v or (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError("%s: %r is outside %s..%s" % (where, v, lo, hi))
    return v


def _keys(d, allowed, where):
    if not isinstance(d, dict):
        raise ConfigError("%s: expected an object" % where)
    for k in d:
        if k not in allowed:
            raise ConfigError("%s: unknown key %r" % (where, k))


def _name(v, where):
    if not isinstance(v, str) or not v or len(v) > 32:
        raise ConfigError("%s: expected a name of 1-32 characters" % where)
    return v


def _entry(d, allowed, where, seen, what):
    """Keys of one list entry checked; its "id", which must be new, returned."""
    _keys(d, allowed, where)
    eid = _name(d.get("id"), where + ".id")
    if eid in seen:
        raise ConfigError("%s.id: %r is %s twice" % (where, eid, what))
    return eid


def _per_phase(v, n, where, lo, hi):
    if isinstance(v, list):
        if len(v) != n:
            raise ConfigError("%s: one number per phase (%d)" % (where, n))
        return [_num(x, "%s[%d]" % (where, i), lo, hi) for i, x in enumerate(v)]
    return [_num(v, where, lo, hi)] * n


def validate_site(site):
    _keys(site, SITE_KEYS, "site")
    phases = site.get("phases")
    if not isinstance(phases, list) or len(phases) not in (1, 2, 3):
        raise ConfigError("site.phases: expected a list of 1, 2 (split-phase legs) or 3 phase names")
    for i, p in enumerate(phases):
        _name(p, "site.phases[%d]" % i)
    if len(set(phases)) != len(phases):
        raise ConfigError("site.phases: a phase is named twice")
    _num(voltage(site), "site.voltage", 50, 400)
    if "design_load" in site:
        _per_phase(site["design_load"], len(phases), "site.design_load", 0, 10000)
    if "limit" not in site:
        raise ConfigError("site.limit: missing")
    limit = _per_phase(site["limit"], len(phases), "site.limit", 1, 10000)
    margin = _num(site.get("margin", 0), "site.margin", 0, min(limit))
    if "demand_cap_a" in site:
        _per_phase(site["demand_cap_a"], len(phases), "site.demand_cap_a", 1, 10000)
    if not isinstance(site.get("pv", False), bool):
        raise ConfigError("site.pv: true or false (is there generation behind the mains CTs?)")
    if "fallback" in site:
        fb = _per_phase(site["fallback"], len(phases), "site.fallback", 0, 10000)
        for i, (f, l) in enumerate(zip(fb, limit)):
            if f > l - margin:
                raise ConfigError("site.fallback: %r A on %s exceeds limit - margin" % (f, phases[i]))
    _hubs(site)
    circuits = site.get("circuits", [])
    if not isinstance(circuits, list):
        raise ConfigError("site.circuits: expected a list")
    ids = {}
    for i, c in enumerate(circuits):
        w = "site.circuits[%d]" % i
        cid = _entry(c, CIRCUIT_KEYS, w, ids, "defined")
        _num(c.get("limit"), w + ".limit", 1, 10000)
        parent = c.get("parent")
        if parent is not None and parent != "":
            _name(parent, w + ".parent")
        if "hub" in c and c["hub"] not in site.get("hubs", ()):
            raise ConfigError("%s.hub: %r is not in site.hubs (the hub all of its chargers are on)" % (w, c["hub"]))
        ids[cid] = c
    for i, c in enumerate(circuits):  # every parent exists, and no loops
        seen, p = {c["id"]}, c.get("parent")
        while p:
            if p not in ids:
                raise ConfigError("site.circuits[%d].parent: circuit %r is not defined" % (i, p))
            if p in seen:
                raise ConfigError("site.circuits[%d].parent: circuits form a loop" % i)
            seen.add(p)
            p = ids[p].get("parent")
    return ids


def voltage(site):
    """Line to neutral volts: site.voltage, else 120 on a split-phase (2-leg) site, 230 elsewhere."""
    return site.get("voltage", 120 if len(site["phases"]) == 2 else 230)


def charger_volts(site, nphases):
    """Volts times amps (of one line) gives a charger's power: line to neutral V;
    across two legs of a split-phase service 2V (240 V); line to line on a
    three-phase site sqrt(3)V (208 V at 120 V); three-phase 3V (three lines)."""
    v = voltage(site)
    if nphases == 1:
        return v
    if nphases == 2:
        return 2 * v if len(site["phases"]) == 2 else 1.7320508 * v
    return 3 * v


def circuits_in_order(circuits):
    """Circuits sorted so that every parent comes before its children."""
    done, out, pending = set(), [], list(circuits)
    while pending:
        for c in pending:
            if not c.get("parent") or c["parent"] in done:
                out.append(c)
                done.add(c["id"])
                pending.remove(c)
                break
    return out


def validate_chargers(chargers, site, ids):
    if not isinstance(chargers, list):
        raise ConfigError("chargers: expected a list")
    seen = set()
    for i, ch in enumerate(chargers):
        w = "chargers[%d]" % i
        seen.add(_entry(ch, CHARGER_KEYS, w, seen, "used"))
        phases = ch.get("phases", site["phases"][:1])
        if not isinstance(phases, list) or not 1 <= len(phases) <= len(site["phases"]) \
                or len(set(phases)) != len(phases):
            raise ConfigError("%s.phases: expected 1 to %d different phases of the site" % (w, len(site["phases"])))
        for p in phases:
            if p not in site["phases"]:
                raise ConfigError("%s.phases: %r is not a phase of the site" % (w, p))
        circuit = ch.get("circuit")
        if circuit and circuit not in ids:
            raise ConfigError("%s.circuit: %r is not defined" % (w, circuit))
        mn = _num(ch.get("min", PILOT_MIN_A), w + ".min", PILOT_MIN_A, PILOT_MAX_A, True)
        mx = _num(ch.get("max", 32), w + ".max", mn, PILOT_MAX_A, True)
        if circuit and mx > ids[circuit]["limit"]:
            raise ConfigError("%s.max: %d A is above its circuit %r (%r A)" % (w, mx, circuit, ids[circuit]["limit"]))
        _num(ch.get("priority", 0), w + ".priority", -100, 100, True)
        floor = _num(ch.get("floor", 0), w + ".floor", 0, mx, True)
        if floor and floor < mn:
            raise ConfigError("%s.floor: %d A is below its min %d A" % (w, floor, mn))
        if not isinstance(ch.get("ventilation", False), bool):
            raise ConfigError("%s.ventilation: true or false (may state D be supplied?)" % w)
        if not isinstance(ch.get("surplus", False), bool):
            raise ConfigError("%s.surplus: true or false (charge only from solar surplus?)" % w)


def code_warnings(cfg):
    """Jurisdiction rules the site does not meet: evidence for the permit report,
    never a reason to refuse a physically valid site (design rule 7)."""
    out = []
    chargers = cfg.get("chargers", [])
    for c in cfg["site"].get("circuits", []):
        n = sum(1 for ch in chargers if ch.get("circuit") == c["id"])
        allowed = max_evse(c["limit"])
        if allowed is not None and n > allowed:
            out.append("circuit %r (%r A) carries %d chargers; one code's table allows %d"
                       % (c["id"], c["limit"], n, allowed))
    return out


def max_evse(breaker_a):
    """Chargers one breaker of this rating may feed under load management (None: no rule)."""
    if breaker_a > EVSE_PER_BREAKER[-1][0]:
        return None
    allowed = 1
    for rating, n in EVSE_PER_BREAKER:
        if breaker_a >= rating:
            allowed = n
    return allowed


def _hubs(site):
    """site.hubs: the ids of every hub on this connection (each hub's mqtt.hub_id);
    site.shares: each one's safe share of the room, a fraction (default equal),
    together at most 1, so that every hub at its share keeps the limit."""
    if "hubs" not in site:
        if "shares" in site:
            raise ConfigError("site.shares: needs site.hubs (the hubs they belong to)")
        return
    hubs = site["hubs"]
    if not isinstance(hubs, list) or not 1 <= len(hubs) <= MAX_HUBS:
        raise ConfigError("site.hubs: expected a list of 1 to %d hub ids" % MAX_HUBS)
    _name(site.get("id"), "site.id (the site's name, the same on each of its hubs)")
    for i, h in enumerate(hubs):
        _name(h, "site.hubs[%d]" % i)
        if h in hubs[:i]:
            raise ConfigError("site.hubs: hub %r is listed twice" % h)
    shares = site.get("shares")
    if shares is None:
        return
    if not isinstance(shares, dict) or sorted(shares) != sorted(hubs):
        raise ConfigError("site.shares: one fraction for each hub of site.hubs")
    total = 0
    for h in hubs:
        total += _num(shares[h], "site.shares.%s" % h, 0.01, 1)
    if total > 1.0001:
        raise ConfigError("site.shares: together %.3f; at most 1 (every hub at its share at once keeps the limit)"
                          % total)


def circuit_share(site, cid, hub_id):
    """The part of circuit cid's limit hub hub_id may use: all of it on a
    site of one hub or where the circuit is its own (site.circuits[].hub);
    else its safe share, so that every hub at its share keeps the circuit
    (the hubs do not share a circuit's room by claims)."""
    for c in site.get("circuits", ()):
        if c["id"] == cid and c.get("hub") == hub_id:
            return 1.0
    return share_of(site, hub_id)


def _own_circuits(cfg):
    """Several hubs: no charger of this hub on a circuit that is another's."""
    site = cfg["site"]
    if "hubs" not in site:
        return
    me = (cfg.get("mqtt") or {}).get("hub_id", "hub")
    parent = {}
    for c in site.get("circuits", ()):
        parent[c["id"]] = c
    for i, ch in enumerate(cfg.get("chargers", [])):
        cid = ch.get("circuit")
        while cid:
            c = parent[cid]
            if c.get("hub", me) != me:
                raise ConfigError("chargers[%d].circuit: %r is on circuit %r, which is hub %r's "
                                  "(site.circuits[].hub); this hub is %r" % (i, ch["id"], cid, c["hub"], me))
            cid = c.get("parent")


def share_of(site, hub_id):
    """The safe share of hub hub_id on a validated site: 1.0 for a site of one
    hub (no site.hubs), 0.0 for a hub that is not listed (its cars wait)."""
    hubs = site.get("hubs")
    if hubs is None:
        return 1.0
    if hub_id not in hubs:
        return 0.0
    shares = site.get("shares")
    return float(shares[hub_id]) if shares else 1.0 / len(hubs)


def validate(cfg):
    """Check a whole configuration dict; returns it, or raises ConfigError."""
    _keys(cfg, ("site", "chargers", "control", "mqtt", "ntp", "grid"), "config")
    if "site" not in cfg:
        raise ConfigError("site: missing")
    ids = validate_site(cfg["site"])
    validate_chargers(cfg.get("chargers", []), cfg["site"], ids)
    control = cfg.get("control", {})
    _keys(control, CONTROL_KEYS, "control")
    for k, v in control.items():
        lo, hi, why = CONTROL_BOUNDS[k]
        _num(v, "control." + k, None, None, True)
        if not lo <= v <= hi:
            raise ConfigError("control.%s: %r is outside %d..%d (%s)" % (k, v, lo, hi, why))
    if "mqtt" in cfg:
        validate_mqtt(cfg["mqtt"])
    _own_circuits(cfg)
    if "ntp" in cfg:
        validate_ntp(cfg["ntp"])
    if "grid" in cfg:
        validate_grid(cfg["grid"], len(cfg["site"]["phases"]))
    return cfg


def _limits(v, n, where, none_ok=False):
    """A limit in A (0 allowed: pause every EV), or one per phase; None where allowed."""
    if v is None and none_ok:
        return None
    return _per_phase(v, n, where, 0, 10000)


def validate_grid(g, nph):
    """The limits from outside (firmware/control/grid.py): all lower the site limit."""
    import grid
    _keys(g, GRID_KEYS, "grid")
    if not isinstance(g.get("topic", False), bool):
        raise ConfigError("grid.topic: true or false")
    if g.get("topic") and ("failsafe_a" not in g or "failsafe_s" not in g):
        raise ConfigError("grid: a watched topic needs failsafe_a and failsafe_s (what holds when its sender goes silent)")
    if "failsafe_a" in g:
        _limits(g["failsafe_a"], nph, "grid.failsafe_a")
    _num(g.get("failsafe_s", 0), "grid.failsafe_s", 0, grid.MAX_FOR_S)
    if "contact_limit_a" in g:
        _limits(g["contact_limit_a"], nph, "grid.contact_limit_a")
    sc = g.get("schedule", {})
    _keys(sc, SCHEDULE_KEYS, "grid.schedule")
    _num(sc.get("utc_offset_min", 0), "grid.schedule.utc_offset_min", -720, 840, True)
    if sc.get("dst", "none") not in ("none", "us", "eu"):
        raise ConfigError("grid.schedule.dst: \"none\", \"us\" or \"eu\"")
    if "hourly" in sc:
        validate_hourly(sc["hourly"], nph, "grid.schedule.hourly")
    windows = sc.get("windows", [])
    if not isinstance(windows, list):
        raise ConfigError("grid.schedule.windows: expected a list")
    for i, w in enumerate(windows):
        where = "grid.schedule.windows[%d]" % i
        _keys(w, WINDOW_KEYS, where)
        for k in WINDOW_KEYS:
            if k not in w:
                raise ConfigError("%s.%s: missing" % (where, k))
        try:
            grid.parse_days(w["days"])
            for k in ("from", "to"):
                grid.parse_hhmm(w[k])
        except ValueError as e:
            raise ConfigError("%s: %s" % (where, e))
        _limits(w["ev_max_a"], nph, where + ".ev_max_a")


def validate_hourly(hourly, nph, where):
    """24 limits, one an hour from local midnight: A, one per phase, or null (none)."""
    if not isinstance(hourly, list) or len(hourly) != 24:
        raise ConfigError("%s: 24 limits, one an hour (null: none)" % where)
    for h, v in enumerate(hourly):
        _limits(v, nph, "%s[%d]" % (where, h), True)


def validate_ntp(host):
    """An IPv4 address: no name is looked up (a lookup blocks, and at boot a
    slow DNS would hold the hub past its watchdog)."""
    parts = host.split(".") if isinstance(host, str) else ()
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
        raise ConfigError("ntp: an IPv4 address such as \"192.168.1.1\" (no name lookup), got %r" % (host,))


def validate_mqtt(mq):
    _keys(mq, MQTT_KEYS, "mqtt")
    _name(mq.get("host"), "mqtt.host")
    _num(mq.get("port", 1883), "mqtt.port", 1, 65535, True)
    hub_id = mq.get("hub_id", "hub")
    _name(hub_id, "mqtt.hub_id")
    for c in hub_id:
        if not (c.isalpha() or c.isdigit() or c in "_-"):
            raise ConfigError("mqtt.hub_id: letters, digits, _ and - only (it is part of topics)")
    if ("user" in mq) != ("password" in mq):
        raise ConfigError("mqtt: user and password go together")
    for k in ("user", "password"):
        if k in mq and (not isinstance(mq[k], str) or len(mq[k]) > 64):
            raise ConfigError("mqtt.%s: a string of up to 64 characters" % k)
    _num(mq.get("keepalive", 30), "mqtt.keepalive", 5, 600, True)
    _num(mq.get("telemetry_ms", 5000), "mqtt.telemetry_ms", 1000, 600000, True)
    _num(mq.get("ping_ms", 5000), "mqtt.ping_ms", 1000, 60000, True)
    if not isinstance(mq.get("tls", False), bool):
        raise ConfigError("mqtt.tls: true or false")
    if mq.get("tls"):
        ca = mq.get("ca")   # the broker's CA certificate (DER), a file on the board
        if not isinstance(ca, str) or not 0 < len(ca) <= 128:
            raise ConfigError("mqtt.ca: with tls, the path of the broker's CA certificate (DER)")
        if "server_name" in mq:
            _name(mq["server_name"], "mqtt.server_name")
