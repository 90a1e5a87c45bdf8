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
    entities = list(telemetry.discovery("hub1", sim.hub))
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
