"""Telemetry and Home Assistant discovery payloads are valid JSON with HA's fields."""
import json

import simsite
import telemetry
from mpunit import eq, ok

HEAPSIZE = "1M"
SC = {"duration": 20, "site": {"phases": ["L1", "L2", "L3"], "limit": 40},
      "chargers": [{"id": "bay1"}, {"id": "bay2", "phases": ["L1", "L2", "L3"]}],
      "events": [{"t": 0, "plug": "bay1"}]}


def test_telemetry_payload():
    sim = simsite.Sim(SC)
    for t in range(0, 10000, 500):   # 5 s after boot (a reset's offers may stand), then charging
        sim.step(t)
    tp, payload = telemetry.state("hub1", sim.hub, None, 3)
    eq(tp, "almhub/hub1/telemetry")
    doc = json.loads(payload)
    eq(sorted(doc["phases"]), ["L1", "L2", "L3"])
    eq(sorted(doc["chargers"]), ["bay1", "bay2"])
    eq(doc["phases"]["L1"]["sensor"], "ok")
    eq(doc["chargers"]["bay1"]["state"], "C")
    ok(doc["mode"] in ("normal", "fallback"), doc["mode"])
    ok(len(payload) < 1024, "compact: %d bytes" % len(payload))


def test_discovery_has_what_home_assistant_requires():
    sim = simsite.Sim(SC)
    # each payload lies in the writer's buffer until the next: copied here
    entities = [(t, bytes(p)) for t, p in telemetry.discovery(telemetry.Writer("hub1", sim.hub), sim.hub)]
    ids = set()
    for tp, payload in entities:
        parts = tp.split("/")
        eq((parts[0], parts[1], parts[-1]), ("homeassistant", "sensor", "config"), tp)
        cfg = json.loads(payload)
        for k in ("name", "unique_id", "state_topic", "value_template", "availability_topic", "device"):
            ok(k in cfg, "%s lacks %s" % (tp, k))
        ok(cfg["unique_id"] not in ids, "unique ids")
        ids.add(cfg["unique_id"])
        eq(cfg["state_topic"], "almhub/hub1/telemetry")
        ok(cfg["device"]["identifiers"] == ["almhub_hub1"], "one device")
        if cfg.get("device_class") == "energy":
            eq((cfg["unit_of_measurement"], cfg["state_class"]), ("kWh", "total_increasing"))
    eq(len(entities), 1 + 2 * 3 + 3 * 2)


def test_an_estimated_energy_is_a_kwh_counter_with_statistics_not_a_meter():
    # read-back estimates: total_increasing (Home Assistant keeps long-term
    # statistics only with a state_class), no device_class energy (its energy dashboard)
    sim = simsite.Sim(SC)
    ents = [json.loads(bytes(p)) for t, p in telemetry.discovery(telemetry.Writer("hub1", sim.hub), sim.hub)
            if "/energy_" in t]
    eq(len(ents), 2)
    for e in ents:
        ok(e["name"].endswith("(estimated)"), e)
        eq((e["unit_of_measurement"], e.get("state_class"), e.get("device_class")),
           ("kWh", "total_increasing", None), e["name"])



def _expected(hub_id, t, name, template, unit=None, device_class=None):
    """An entry as Home Assistant reads it, built as a dict (as the firmware did before
    it wrote entries into its buffer)."""
    obj = t.split("/")[3]
    cfg = {"name": name, "unique_id": "almhub_%s_%s" % (hub_id, obj), "object_id": "almhub_%s_%s" % (hub_id, obj),
           "state_topic": "almhub/%s/telemetry" % hub_id, "value_template": template,
           "availability_topic": "almhub/%s/status" % hub_id,
           "payload_available": "online", "payload_not_available": "offline",
           "device": {"identifiers": ["almhub_" + hub_id], "name": "almhub " + hub_id,
                      "manufacturer": "almhub", "model": "CT load manager"}}
    if unit:
        cfg["unit_of_measurement"] = unit
    if device_class:
        cfg["device_class"] = device_class
    if unit == "kWh":
        cfg["state_class"] = "total_increasing"     # a counter, measured or estimated
    elif device_class:
        cfg["state_class"] = "measurement"
    return cfg


def test_discovery_written_in_the_buffer_is_the_same_json_for_any_names():
    # the longest hub id config.py lets through, and charger ids of 32 characters
    # that JSON must escape (quotes, backslashes, control characters, UTF-8)
    hub_id = "h" * 16 + "-_0123456789abcd"
    ids = ['q"uo\\te' + "x" * 24, "\x01\t\n" + "\u00e9" * 29, "plain"]
    sc = {"duration": 5, "site": {"phases": ["L1", "L2", "L3"], "limit": 40},
          "chargers": [{"id": c} for c in ids]}
    sim = simsite.Sim(sc)
    w = telemetry.Writer(hub_id, sim.hub)
    n = 0
    for t, p in telemetry.discovery(w, sim.hub):
        got = json.loads(bytes(p))
        want = _expected(hub_id, t, got["name"], got["value_template"], got.get("unit_of_measurement"),
                         got.get("device_class"))
        eq(got, want, t)
        n += 1
    eq(n, 1 + 2 * 3 + 3 * 3)      # mode, 2 a phase, 3 a charger (offer, energy estimate, state)
    names = [json.loads(bytes(p))["name"] for t, p in telemetry.discovery(w, sim.hub)]
    for c in ids:
        ok(c + " offered" in names, "%r in %r" % (c, names))


class Energy:
    def __init__(self, ids):
        self.wh = dict((c, 0.0) for c in ids)


def near_doc(a, b, where=""):
    """The same JSON document, numbers within the writer's decimals."""
    if isinstance(a, dict):
        eq(sorted(a), sorted(b), where)
        for k in a:
            near_doc(a[k], b[k], where + "." + k)
    elif isinstance(a, (int, float)) and not isinstance(a, bool):
        ok(isinstance(b, (int, float)) and abs(a - b) <= 0.0051, "%s: %r vs %r" % (where, a, b))
    else:
        eq(a, b, where)


def test_the_writer_gives_the_same_document_without_building_one():
    import gc
    import random
    random.seed(3)
    sc = dict(SC, chargers=[{"id": "bay%d" % i, "phases": [["L1"], ["L2"], ["L3"]][i % 3]} for i in range(30)]
              + [{"id": 'q"uote\\\\d', "phases": ["L1", "L2", "L3"]}],
              events=[{"t": 0, "plug": "bay%d" % i} for i in range(0, 30, 2)])
    sim, w, energy, payload = _same_doc(sc)
    ok(len(payload) > 2000, "30 chargers: %d bytes" % len(payload))
    # in surplus mode (a voltage reference, generation): each charger's surplus state
    sun = dict(sc, vt=True, site=dict(sc["site"], pv=True),
               chargers=[dict(c, surplus=True) if i % 3 == 0 else c for i, c in enumerate(sc["chargers"])],
               events=sc["events"] + [{"t": 0, "pv": {"L1": 30, "L2": 30, "L3": 30}}])
    doc = json.loads(bytes(_same_doc(sun)[3]))
    eq(doc["chargers"]["bay0"]["surplus"], "starting")
    ok("surplus" not in doc["chargers"]["bay1"], doc["chargers"]["bay1"])
    # one of several hubs (issue 24): its share, and whether it hears the others
    park = dict(sc, site=dict(sc["site"], id="park", hubs=["hub", "hub2", "hub3"]))   # (the simulator's hub is "hub")
    doc = json.loads(bytes(_same_doc(park)[3]))
    eq(doc["hubs"], {"share": 0.333, "heard": 0, "mode": "alone"})
    ok("hubs" not in json.loads(bytes(payload)), "a hub alone on its connection says nothing of it")
    # what a message allocates: a few floats (the phases' amps), not the ~12 KB of
    # dicts and a joined string state() builds for 31 chargers (64-bit: 448 B here)
    gc.collect()
    a = gc.mem_alloc()
    gc.disable()
    w.payload(sim.hub, energy, 60)
    used = gc.mem_alloc() - a
    gc.enable()
    ok(used < 1024, "the writer allocated %d bytes for a %d-byte message" % (used, len(payload)))


def _same_doc(sc):
    """The Writer's message and state()'s document agree over 60 periods of sc."""
    import random
    sim = simsite.Sim(sc)
    w = telemetry.Writer("hub1", sim.hub)
    energy = Energy(sim.hub.ids + [way + "_" + p for way in ("import", "export") for p in sim.phases])
    for k in range(60):
        sim.step(k * 500)
        for cid in energy.wh:
            energy.wh[cid] += random.random() * 20000
        if k % 7 == 3:
            sim.hub.ctl.claims.site_a[1] = 25.5        # a command's decimal limit
            sim.hub.ctl.claims.margin_a = 2.25
        heap = (12345, 678) if k % 2 else None
        tp, payload = w.payload(sim.hub, energy, k, heap)
        got = json.loads(bytes(payload))
        want = json.loads(telemetry.state("hub1", sim.hub, energy, k, heap)[1])
        if heap:
            got["heap"]["free"] = want["heap"]["free"]   # gc.mem_free() moves between the two
        eq(tp, "almhub/hub1/telemetry")
        near_doc(want, got, "t=%d" % k)
    return sim, w, energy, payload
