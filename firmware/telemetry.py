"""MQTT payloads: telemetry, status, Home Assistant discovery. Pure logic.

    topic, payload = telemetry.state(hub_id, hub, energy, uptime_s)
    for topic, payload in telemetry.discovery(hub_id, hub): ...

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

PREFIX = "almhub/"
HA_PREFIX = "homeassistant/"


def topic(hub_id, leaf):
    return PREFIX + hub_id + "/" + leaf


def state(hub_id, hub, energy, uptime_s, heap=None):
    """(topic, JSON) of one telemetry message. heap: (free, largest block) at boot."""
    m, ctl = hub.meter, hub.ctl
    phases = {}
    for p, name in enumerate(ctl.phase_names):
        c = hub.phase_ch[p]
        phases[name] = {"a": round(m.irms_a[c], 2), "limit": ctl.limit_a[p],
                        "avail": round(ctl.avail[p], 1), "sensor": hub.sensor(p)}
    chargers = {}
    states = hub.states or ()
    for i, cid in enumerate(hub.ids):
        chargers[cid] = {"a": ctl.offer[i], "duty": hub.duty[i] / 10,
                         "state": states[i] if i < len(states) and states[i] else "?",
                         "on": ctl.enabled[i], "kwh": round(energy.wh[cid] / 1000, 3) if energy else 0}
    doc = {"t": uptime_s, "mode": ctl.mode, "margin": ctl.margin_a, "phases": phases, "chargers": chargers}
    if heap is not None:
        import gc
        doc["heap"] = {"free": gc.mem_free(), "boot_free": heap[0], "boot_largest": heap[1]}
    return topic(hub_id, "telemetry"), json.dumps(doc)


def _device(hub_id):
    return {"identifiers": ["almhub_" + hub_id], "name": "almhub " + hub_id,
            "manufacturer": "almhub", "model": "CT load manager"}


def _entity(hub_id, component, obj, name, template, unit=None, device_class=None):
    cfg = {"name": name, "unique_id": "almhub_%s_%s" % (hub_id, obj),
           "object_id": "almhub_%s_%s" % (hub_id, obj),
           "state_topic": topic(hub_id, "telemetry"), "value_template": template,
           "availability_topic": topic(hub_id, "status"),
           "payload_available": "online", "payload_not_available": "offline",
           "device": _device(hub_id)}
    if unit:
        cfg["unit_of_measurement"] = unit
    if device_class:
        cfg["device_class"] = device_class
        if device_class == "energy":
            cfg["state_class"] = "total_increasing"
        elif device_class == "current":
            cfg["state_class"] = "measurement"
    return "%s%s/almhub_%s/%s/config" % (HA_PREFIX, component, hub_id, obj), json.dumps(cfg)


def discovery(hub_id, hub):
    """(topic, JSON) for Home Assistant, one at a time: mode, each phase, each
    charger (a generator: 30 chargers' payloads at once would take ~50 KB)."""
    yield _entity(hub_id, "sensor", "mode", "Mode", "{{ value_json.mode }}")
    for name in hub.ctl.phase_names:
        yield _entity(hub_id, "sensor", "phase_%s" % name, "Phase %s current" % name,
                      "{{ value_json.phases.%s.a }}" % name, "A", "current")
        yield _entity(hub_id, "sensor", "sensor_%s" % name, "Phase %s sensor" % name,
                      "{{ value_json.phases.%s.sensor }}" % name)
    for cid in hub.ids:
        yield _entity(hub_id, "sensor", "offer_%s" % cid, "%s offered" % cid,
                      "{{ value_json.chargers['%s'].a }}" % cid, "A", "current")
        yield _entity(hub_id, "sensor", "energy_%s" % cid, "%s energy" % cid,
                      "{{ value_json.chargers['%s'].kwh }}" % cid, "kWh", "energy")
        yield _entity(hub_id, "sensor", "state_%s" % cid, "%s pilot state" % cid,
                      "{{ value_json.chargers['%s'].state }}" % cid)
