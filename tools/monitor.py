"""Watch almhubs over MQTT and send them commands (CPython, paho-mqtt).

    python3 tools/monitor.py --host 127.0.0.1 [--port 1883] [--hub ID]        # live view
    python3 tools/monitor.py --hub ID --cmd '{"cmd": "set_limit", "limit": 25}'
    python3 tools/monitor.py --once                                           # one snapshot

Without --hub it follows every hub on the broker (almhub/+/...). The view
shows each hub's status, mode, phases and chargers from its telemetry, and
the last events and command replies.
"""

import argparse
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt


class Monitor:
    def __init__(self, hub):
        self.hub = hub or "+"
        self.hubs = {}      # id -> {"status", "telemetry", "events"}
        self.replies = []
        self.lock = threading.Lock()
        self.changed = threading.Event()

    def topics(self):
        return ["almhub/%s/%s" % (self.hub, leaf) for leaf in ("status", "telemetry", "event", "cmd/result")]

    def on_message(self, client, userdata, msg):
        parts = msg.topic.split("/")
        if len(parts) < 3:
            return
        hub, leaf = parts[1], "/".join(parts[2:])
        text = msg.payload.decode("utf-8", "replace")
        with self.lock:
            h = self.hubs.setdefault(hub, {"status": "?", "telemetry": None, "events": []})
            if leaf == "status":
                h["status"] = text
            elif leaf == "telemetry":
                try:
                    h["telemetry"] = json.loads(text)
                except ValueError:
                    pass
            elif leaf == "event":
                h["events"] = (h["events"] + [text])[-5:]
            elif leaf == "cmd/result":
                self.replies.append((hub, text))
        self.changed.set()

    def render(self):
        out = []
        with self.lock:
            for hub, h in sorted(self.hubs.items()):
                t = h["telemetry"] or {}
                out.append("hub %s  %s  mode %s  uptime %s s" % (hub, h["status"].upper(),
                                                                 t.get("mode", "?"), t.get("t", "?")))
                hs = t.get("hubs")
                if hs:      # one of several hubs on the connection (docs/multi-hub.md)
                    out.append("  %s: share %s, hears %s peer(s)" % (
                        "sharing" if hs.get("mode") == "shared" else "ALONE at its safe share",
                        hs.get("share"), hs.get("heard")))
                for name, ph in sorted((t.get("phases") or {}).items()):
                    out.append("  %-4s %6.1f A of %s A  (free %s A)  sensor %s" % (
                        name, ph.get("a", 0), ph.get("limit"), ph.get("avail"), ph.get("sensor")))
                for cid, ch in sorted((t.get("chargers") or {}).items()):
                    out.append("  %-10s %s  %3s A  duty %5.1f %%  %8.3f kWh%s" % (
                        cid, ch.get("state"), ch.get("a"), ch.get("duty", 0), ch.get("kwh", 0),
                        "" if ch.get("on", True) else "  (paused by command)"))
                out += ["  event: " + e for e in h["events"]]
                out.append("")
            out += ["reply from %s: %s" % r for r in self.replies[-3:]]
        return "\n".join(out) or "waiting for hubs..."


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--hub", help="one hub's id (default: all)")
    ap.add_argument("--cmd", help="send this JSON command to --hub, print the reply, exit")
    ap.add_argument("--once", action="store_true", help="print one snapshot after --wait s and exit")
    ap.add_argument("--wait", type=float, default=6.0, help="seconds to wait for --once / --cmd")
    args = ap.parse_args(argv)
    if args.cmd:
        if not args.hub:
            ap.error("--cmd needs --hub")
        try:
            json.loads(args.cmd)
        except ValueError as e:
            ap.error("--cmd is not JSON: %s" % e)
    mon = Monitor(args.hub)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    if args.user:
        c.username_pw_set(args.user, args.password)
    c.on_message = mon.on_message
    c.on_connect = lambda cl, u, f, rc, p: [cl.subscribe(t) for t in mon.topics()]
    try:
        c.connect(args.host, args.port)
    except OSError as e:
        print("monitor: cannot reach %s:%d: %s" % (args.host, args.port, e), file=sys.stderr)
        return 2
    c.loop_start()
    try:
        if args.cmd:
            time.sleep(0.3)
            c.publish("almhub/%s/cmd" % args.hub, args.cmd)
            end = time.monotonic() + args.wait
            while time.monotonic() < end and not mon.replies:
                time.sleep(0.05)
            if not mon.replies:
                print("monitor: no reply from %s" % args.hub, file=sys.stderr)
                return 1
            print(mon.replies[0][1])
            return 0 if json.loads(mon.replies[0][1]).get("ok") else 1
        if args.once:
            time.sleep(args.wait)
            print(mon.render())
            return 0
        while True:
            mon.changed.wait(1.0)
            mon.changed.clear()
            sys.stdout.write("\x1b[H\x1b[J" + mon.render() + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    finally:
        c.loop_stop()
        c.disconnect()


if __name__ == "__main__":
    sys.exit(main())
