"""Commands from the network: checked whole, applied only within the hard limits.

    res = commands.handle(payload_bytes, hub.ctl, hard, overrides)  # -> dict reply

Pure logic. A command is a JSON object {"cmd": NAME, "id": optional echo, ...}:

    {"cmd": "set_limit", "limit": 32}           site limit, A (or one per phase)
    {"cmd": "set_margin", "margin": 4}          A kept free below the limit
    {"cmd": "set_max", "charger": "bay1", "max": 16}
    {"cmd": "pause", "charger": "bay1"}  /  {"cmd": "resume", "charger": "bay1"}
    {"cmd": "priority", "charger": "bay1", "priority": 2}
    {"cmd": "surplus", "charger": "bay1", "on": false}   solar surplus only, or as any charger
                                                (one set up for it in config.json)
    {"cmd": "status"}                           the reply carries a status dump
    {"cmd": "capture"}                          record the next burst for replay
    {"cmd": "sessions", "since": 0}             the charging sessions after that number (20 at most)
    {"cmd": "forget_sessions"}                  erase the session log
    {"cmd": "grid_limit", "limit": 40, "for_s": 900}   a lower site limit (A, or one per
                                                phase) for that long (firmware/control/grid.py)
    {"cmd": "profile", "date": "2026-06-02", "hourly": [24 x A or null]}
                                                a day-ahead limit profile for that local date

Safety rule 3: nothing from the network raises a limit above the device's own
configuration file (the breaker ratings), which only physical access changes:
a limit or a charger's max can go down and back up to the configured value,
never above; the margin can grow but not shrink below the configured one.
Anything malformed, oversized, unknown or out of range is refused with an
error and changes nothing. `overrides` (a dict) records what commands set, so
it can be saved and survive a reboot.
"""

import json

MAX_BYTES = 1024
NAMES = ("set_limit", "set_margin", "set_max", "pause", "resume", "priority", "status", "capture",
         "sessions", "forget_sessions", "grid_limit", "profile", "surplus")
_KEYS = {
    "set_limit": ("limit",), "set_margin": ("margin",), "set_max": ("charger", "max"),
    "pause": ("charger",), "resume": ("charger",), "priority": ("charger", "priority"),
    "status": (), "capture": (), "sessions": ("since",), "forget_sessions": (),
    "grid_limit": ("limit", "for_s"), "profile": ("date", "hourly"), "surplus": ("charger", "on"),
}


class Refused(Exception):
    pass


class Hard:
    """The hard limits: what the configuration file says."""

    def __init__(self, cfg):
        site = cfg["site"]
        n = len(site["phases"])
        lim = site["limit"]
        self.limit = list(lim) if isinstance(lim, list) else [lim] * n
        self.margin = site.get("margin", 0)
        self.max = dict((c["id"], c.get("max", 32)) for c in cfg.get("chargers", []))
        self.min = dict((c["id"], c.get("min", 6)) for c in cfg.get("chargers", []))
        # set up for solar surplus (config.json: and a voltage reference on its lines)
        self.surplus = [c["id"] for c in cfg.get("chargers", []) if c.get("surplus")]


def number(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
        raise Refused("%s: expected a number" % name)
    return v


def _int(v, name):
    if isinstance(v, bool) or not isinstance(v, int):
        raise Refused("%s: expected a whole number" % name)
    return v


def _strict(payload):
    """Refused unless the payload can be exactly one JSON text. MicroPython's
    json.loads stops at a NUL (b'{..}\\x00garbage' parses) and takes raw control
    bytes; JSON allows none of them but tab, LF and CR, inside or outside strings."""
    if isinstance(payload, str):
        payload = payload.encode()
    for b in payload:
        if b < 32 and b != 9 and b != 10 and b != 13:
            raise Refused("not JSON")


def _id(cmd):
    """The command's id if it is one a reply can carry, else None."""
    rid = cmd.get("id")
    if isinstance(rid, bool) or not isinstance(rid, (int, str)) or len(str(rid)) > 32:
        return None
    return rid


def _object(payload):
    """The JSON object of a payload, or Refused."""
    if not isinstance(payload, (bytes, bytearray, str)) or len(payload) > MAX_BYTES:
        raise Refused("payload over %d bytes" % MAX_BYTES)
    _strict(payload)
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeError):
        raise Refused("not JSON")
    if not isinstance(obj, dict):
        raise Refused("expected a JSON object")
    return obj


def parse_object(payload, allowed, required):
    """A JSON object with only the allowed keys and every required one (a
    message on a topic other than cmd), or Refused."""
    obj = _object(payload)
    for k in obj:
        if k not in allowed:
            raise Refused("unknown key %s" % _short(k))
    for k in required:
        if k not in obj:
            raise Refused("%s missing" % k)
    return obj


def parse(payload):
    """The command dict of a payload, or Refused(why, id) saying why: the id is
    the command's own when the payload is an object that has a usable one."""
    cmd = _object(payload)
    rid = _id(cmd)
    if "id" in cmd and rid is None:
        raise Refused("id: a number or a string of up to 32 characters")
    name = cmd.get("cmd")
    if name not in NAMES:
        raise Refused("unknown cmd %s" % _short(name) if isinstance(name, str) else "cmd missing", rid)
    for k in cmd:
        if k not in ("cmd", "id") and k not in _KEYS[name]:
            raise Refused("%s: unknown key %s" % (name, _short(k)), rid)
    for k in _KEYS[name]:
        if k not in cmd:
            raise Refused("%s: %s missing" % (name, k), rid)
    return cmd


def _charger(ctl, cmd):
    cid = cmd["charger"]
    for i, ch in enumerate(ctl.site.chargers):
        if ch.id == cid:
            return i, ch
    raise Refused("no charger %s" % _short(cid))


def _short(v):
    """A value for an error message, cut short: errors echo what the network sent."""
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


def _per_phase(v, nph):
    """A command's limit: one number for every phase, or one per phase."""
    vals = v if isinstance(v, list) else [v] * nph
    if len(vals) != nph:
        raise Refused("limit: one number per phase (%d)" % nph)
    for x in vals:
        number(x, "limit")
    return list(vals)


def _amps(v, nph):
    """A limit from outside, checked: 0..10000 A, one for every phase or one per phase."""
    vals = _per_phase(v, nph)
    for x in vals:
        if not 0 <= x <= 10000:
            raise Refused("limit: %r A is outside 0..10000 A" % (x,))
    return vals


def hourly(v, nph):
    """A profile's day: 24 limits, one an hour from local midnight (null: none).
    Here rather than config.py's validate_hourly, which boot unloads."""
    if not isinstance(v, list) or len(v) != 24:
        raise Refused("hourly: 24 limits, one an hour (null: none)")
    for h in v:
        if h is not None:
            _amps(h, nph)


def grid_limit(cmd, nph):
    """The checked limits of a grid_limit (per phase) and its for_s."""
    import grid
    vals = _amps(cmd["limit"], nph)
    s = number(cmd["for_s"], "for_s")
    if not 1 <= s <= grid.MAX_FOR_S:
        raise Refused("for_s: %r is outside 1..%d s" % (s, grid.MAX_FOR_S))
    return vals, s


def grid_message(payload, nph):
    """(limits per phase, for_s, ts or None) of a message on the aggregator's
    grid_limit topic: {"limit", "for_s", "ts" (optional, growing)}, or Refused."""
    obj = parse_object(payload, ("limit", "for_s", "ts"), ("limit", "for_s"))
    ts = obj.get("ts")
    if ts is not None and not 0 <= number(ts, "ts") <= 1e12:
        raise Refused("ts: 0..1e12")
    vals, for_s = grid_limit(obj, nph)
    return vals, for_s, ts


def apply(cmd, ctl, hard, overrides, grd=None, now=0):
    """Apply a parsed command to the controller (all checks first); grd: the
    hub's grid.Grid (grid_limit and profile), now: the ticks they start at."""
    name = cmd["cmd"]
    if name in ("grid_limit", "profile") and grd is None:
        raise Refused("%s: this hub takes no limits from outside" % name)
    if name == "grid_limit":
        vals, s = grid_limit(cmd, len(hard.limit))
        grd.signal(vals, s, now, False)
    elif name == "profile":
        import grid
        try:
            day = grid.parse_date(cmd["date"])
        except ValueError as e:
            raise Refused(str(e))
        hourly(cmd["hourly"], len(hard.limit))
        try:
            grd.profile(day, cmd["hourly"])
        except ValueError as e:
            raise Refused("profile: %s" % e)
        kept = overrides.setdefault("profiles", {})
        kept[cmd["date"]] = cmd["hourly"]
        for k in list(kept):        # what the Grid keeps is saved: no more, no less
            try:
                if grid.parse_date(k) not in grd.profiles:
                    del kept[k]
            except ValueError:
                del kept[k]
    elif name == "set_limit":
        vals = _per_phase(cmd["limit"], len(hard.limit))
        for i, x in enumerate(vals):
            if not 0 <= x <= hard.limit[i]:
                raise Refused("limit: %r A is outside 0..%r A (the configured limit)" % (x, hard.limit[i]))
            if x < ctl.claims.margin_a:
                raise Refused("limit: %r A is below the margin %r A" % (x, ctl.claims.margin_a))
        ctl.claims.site_a = vals
        overrides["limit"] = list(vals)
    elif name == "set_margin":
        x = number(cmd["margin"], "margin")
        if not hard.margin <= x <= min(ctl.claims.site_a):
            raise Refused("margin: %r A is outside %r..%r A" % (x, hard.margin, min(ctl.claims.site_a)))
        ctl.claims.margin_a = x
        overrides["margin"] = x
    elif name == "set_max":
        i, ch = _charger(ctl, cmd)
        x = _int(cmd["max"], "max")
        if not ch.min_a <= x <= hard.max[ch.id]:
            raise Refused("max: %r A is outside %d..%d A for %s" % (x, ch.min_a, hard.max[ch.id], ch.id))
        ctl.claims.user_max[i] = x
        overrides.setdefault("max", {})[ch.id] = x
    elif name in ("pause", "resume"):
        i, ch = _charger(ctl, cmd)
        ctl.claims.enabled[i] = name == "resume"
        overrides.setdefault("paused", {})[ch.id] = name == "pause"
    elif name == "sessions":
        x = _int(cmd["since"], "since")
        if x < 0:
            raise Refused("since: a session number, 0 or more")
    elif name == "priority":
        i, ch = _charger(ctl, cmd)
        x = _int(cmd["priority"], "priority")
        if not -100 <= x <= 100:
            raise Refused("priority: %r is outside -100..100" % x)
        ch.priority = x
        overrides.setdefault("priority", {})[ch.id] = x
    elif name == "surplus":
        i, ch = _charger(ctl, cmd)
        on = cmd["on"]
        if not isinstance(on, bool):
            raise Refused("on: true (solar surplus only) or false (as any charger)")
        if ch.id not in hard.surplus or ctl.surplus is None:
            raise Refused("surplus: %s is not set up for it (chargers[].surplus in config.json)" % ch.id)
        ctl.surplus.set_mode(i, on)
        overrides.setdefault("surplus", {})[ch.id] = on


def restore(overrides, ctl, hard, grd=None):
    """Re-apply saved overrides at boot; any that no longer fits is dropped."""
    kept = {}
    cmds = []
    if not isinstance(overrides, dict):
        return kept     # a state.json of another shape: nothing in it is trusted
    if "limit" in overrides:
        cmds.append({"cmd": "set_limit", "limit": overrides["limit"]})
    if "margin" in overrides:
        cmds.append({"cmd": "set_margin", "margin": overrides["margin"]})
    for key, cmd, arg in (("max", "set_max", "max"), ("priority", "priority", "priority"),
                          ("surplus", "surplus", "on")):
        section = overrides.get(key)
        if isinstance(section, dict):
            for cid, v in section.items():
                cmds.append({"cmd": cmd, "charger": cid, arg: v})
    section = overrides.get("paused")
    if isinstance(section, dict):
        for cid, paused in section.items():
            if isinstance(paused, bool):
                cmds.append({"cmd": "pause" if paused else "resume", "charger": cid})
    section = overrides.get("profiles")
    if isinstance(section, dict) and grd is not None:
        for date, hourly in section.items():
            cmds.append({"cmd": "profile", "date": date, "hourly": hourly})
    for cmd in cmds:
        try:
            apply(cmd, ctl, hard, kept, grd)
        except (Refused, KeyError, TypeError, AttributeError, ValueError):
            pass
    return kept


def handle(payload, ctl, hard, overrides, grd=None, now=0):
    """(reply dict, the applied command or None) for one command payload.
    Every reply carries the command's id when it had a usable one."""
    try:
        cmd = parse(payload)
    except Refused as e:
        reply = {"ok": False, "error": e.args[0]}
        if len(e.args) > 1 and e.args[1] is not None:
            reply["id"] = e.args[1]
        return reply, None
    reply = {"cmd": cmd["cmd"]}
    if "id" in cmd:
        reply["id"] = cmd["id"]
    try:
        apply(cmd, ctl, hard, overrides, grd, now)
    except Refused as e:
        reply["ok"] = False
        reply["error"] = e.args[0]
        return reply, None
    reply["ok"] = True
    return reply, cmd
