"""Memory bench, MicroPython side: the 30-charger site with MQTT for a simulated hour.

    micropython -X heapsize=64K mem_mp.py PORT SECONDS STATE_DIR

Runs the hub (measurement, control, pilots) and its services (MQTT to a real
broker on 127.0.0.1:PORT, commands, energy) in simulated time, with gc at
one point of each period as on the board. Prints {"ok": true, ...} at the
end; a MemoryError ends it with a traceback instead.
"""
import gc
import json
import sys

import services
import simsite

port, seconds, state_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
n = 30
sc = {"duration": seconds, "mains_hz": 50, "voltage": 230,
      "site": {"phases": ["L1", "L2", "L3"], "limit": 100, "margin": 3},
      "chargers": [{"id": "bay%d" % i, "phases": [("L1", "L2", "L3")[i % 3]]} for i in range(n)],
      "control": {"holdoff_ms": 0},
      "events": [{"t": 0, "load": {"L1": 10, "L2": 5, "L3": 7}}] +
                [{"t": 1 + i, "plug": "bay%d" % i, "kwh": 40} for i in range(n)]}
if port:
    sc["mqtt"] = {"host": "127.0.0.1", "port": port, "hub_id": "mem"}


class SimClock:
    now = 0

    def ticks_ms(self):
        return self.now

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, b):
        return a + b


sim = simsite.Sim(sc)
clock = SimClock()
sv = services.Services(sim.hub, sim.cfg, clock, state_dir + "state.json", state_dir + "energy.json")
low = None
t = 0
while t <= sim.duration_ms:
    clock.now = t
    sim.step(t)
    sv.period(t)
    gc.collect()
    free = gc.mem_free()
    low = free if low is None or free < low else low
    t += sim.period_ms
print(json.dumps({"ok": True, "min_free": low, "periods": t // sim.period_ms,
                  "mqtt_up": bool(sv.link and sv.link.up), "telemetry": sv.link.published if sv.link else 0}))
