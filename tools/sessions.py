"""Charging sessions off a hub, as billing CSV per bay and month.

    python3 tools/sessions.py --log sessions.log --out DIR [--site-kwh KWH]
    python3 tools/sessions.py --mqtt HOST:PORT --hub-id ID --out DIR [--since N] [--site-kwh KWH]

--log reads `sessions.log` copied off the board (`mpremote cp :sessions.log .`)
with the firmware's own reader on the unix port; --mqtt asks the hub for its
sessions (`{"cmd": "sessions", "since": N}`, 20 a reply, until none is left).

Writes DIR/sessions.csv (every session) and DIR/billing.csv: per month (from
the wall clock where the hub had one, else "undated") and bay, the sessions
and kWh. With --site-kwh (the utility meter's import over the same span) it
adds the subtractive view: site import - EV energy = the building's own. The
hub's kWh are estimates until a voltage reference meters them (`measured`);
billing.csv says which. A session names a bay, never a person.
Errors: status 2 (bad input) or 1 (the hub did not answer), one line.
"""

import argparse
import csv
import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpenv  # noqa: E402

FIELDS = ("seq", "bay", "start", "end", "start_wall", "end_wall", "kwh", "peak_a", "measured")

_READ = r"""
import json, sessions
s = sessions.Sessions([], [], %r)
for v in s.ring.records(0):
    print(json.dumps(s.as_dict(v)))
"""


def fail(msg, status=2):
    print("sessions: %s" % msg, file=sys.stderr)
    return status


def from_log(path):
    if not os.path.isfile(path):
        raise ValueError("%s: no such file" % path)
    r = mpenv.run(["-c", _READ % os.path.abspath(path)], capture_output=True, text=True, timeout=120)
    if r.returncode:
        raise ValueError("%s: %s" % (path, (r.stderr.strip().splitlines() or ["unreadable"])[-1]))
    return [json.loads(line) for line in r.stdout.splitlines()]


def from_mqtt(addr, hub_id, since, timeout=10.0):
    import paho.mqtt.client as mqtt
    host, _, port = addr.rpartition(":")
    got = []
    replies = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.on_message = lambda cl, u, m: replies.append(json.loads(m.payload))
    c.connect(host or "127.0.0.1", int(port))
    c.subscribe("almhub/%s/cmd/result" % hub_id, qos=1)
    c.loop_start()
    try:
        time.sleep(0.3)
        k = 0
        while True:
            k += 1
            rid = "sessions-%d" % k
            c.publish("almhub/%s/cmd" % hub_id, json.dumps({"cmd": "sessions", "since": since, "id": rid}), qos=1)
            end = time.monotonic() + timeout
            reply = None
            while reply is None and time.monotonic() < end:
                for r in list(replies):
                    if r.get("id") == rid:
                        reply = r
                time.sleep(0.05)
            if reply is None:
                raise TimeoutError("hub %r did not answer within %g s" % (hub_id, timeout))
            if not reply.get("ok"):
                raise ValueError("hub %r refused: %s" % (hub_id, reply.get("error")))
            batch = reply.get("sessions", [])
            if not batch:
                return got
            got += batch
            since = batch[-1]["seq"]
    finally:
        c.loop_stop()
        c.disconnect()


def month(rec):
    t = rec.get("start_wall")
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m") if t else "undated"


def billing(records, site_kwh=None):
    """Rows of billing.csv: per month and bay; the subtractive view with site_kwh."""
    totals = {}
    for r in records:
        key = (month(r), r["bay"])
        t = totals.setdefault(key, [0, 0.0, True])
        t[0] += 1
        t[1] += r["kwh"]
        t[2] = t[2] and bool(r["measured"])
    rows = [["month", "bay", "sessions", "kwh", "basis"]]
    ev = 0.0
    for (m, bay), (n, kwh, measured) in sorted(totals.items()):
        rows.append([m, bay, n, "%.3f" % kwh, "measured" if measured else "estimated"])
        ev += kwh
    rows.append(["all", "EV total", sum(t[0] for t in totals.values()), "%.3f" % ev, ""])
    if site_kwh is not None:
        rows.append(["all", "site import (utility meter)", "", "%.3f" % site_kwh, "given"])
        rows.append(["all", "building's own = site import - EV", "", "%.3f" % (site_kwh - ev), ""])
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--log", help="sessions.log copied off the board")
    src.add_argument("--mqtt", metavar="HOST:PORT", help="ask the hub over MQTT")
    ap.add_argument("--hub-id", default="hub")
    ap.add_argument("--since", type=int, default=0, help="sessions after this number (--mqtt)")
    ap.add_argument("--site-kwh", type=float, help="the site's import over the same span (utility meter), kWh")
    ap.add_argument("--out", required=True, help="folder for sessions.csv and billing.csv")
    args = ap.parse_args(argv)
    if args.site_kwh is not None and not 0 <= args.site_kwh < 1e9:
        return fail("--site-kwh: a reading in kWh, 0 or more")
    try:
        recs = from_log(args.log) if args.log else from_mqtt(args.mqtt, args.hub_id, args.since)
    except (ValueError, OSError) as e:
        return fail(str(e), 1 if isinstance(e, (TimeoutError, ConnectionError)) else 2)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "sessions.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        for r in recs:
            w.writerow([r[k] for k in FIELDS])
    with open(os.path.join(args.out, "billing.csv"), "w", newline="") as f:
        csv.writer(f).writerows(billing(recs, args.site_kwh))
    print("sessions: %d sessions, %.3f kWh -> %s" % (len(recs), sum(r["kwh"] for r in recs), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
