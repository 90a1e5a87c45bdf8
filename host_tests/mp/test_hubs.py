"""Several hubs on one connection, each alone at its safe share (issue 24):
config (site.hubs, site.shares), the share as a claim, and generated sites
where every hub's controller reads the same incoming phases (house + every
hub's cars) with no word from the others: the site keeps its limit, and the
cars still get a useful part of what the house leaves."""
import random

import config
import control
import hubsite
import peers
from mpunit import eq, ok, raises

HEAPSIZE = "4M"
PERIOD = hubsite.PERIOD


def site(**kw):
    s = {"id": "park", "phases": ["L1"], "limit": 100, "margin": 2, "hubs": ["h1", "h2"]}
    s.update(kw)
    return s


def test_hubs_and_shares_are_checked_whole():
    config.validate({"site": site()})
    config.validate({"site": site(hubs=["a", "b", "c"], shares={"a": 0.5, "b": 0.25, "c": 0.25})})
    for bad, why in ((site(hubs=[]), "1 to 16"), (site(hubs="h1"), "1 to 16"), (site(hubs=["h1", "h1"]), "twice"),
                     (site(hubs=["h1", 3]), "hubs[1]"), (site(hubs=["x"] * 17), "1 to 16"),
                     (site(shares={"h1": 0.6, "h2": 0.6}), "at most 1"),
                     (site(shares={"h1": 0.5}), "one fraction for each hub"),
                     (site(shares={"h1": 0.5, "h3": 0.5}), "one fraction for each hub"),
                     (site(shares={"h1": 0, "h2": 0.5}), "site.shares.h1"),
                     (site(shares={"h1": "a", "h2": 0.5}), "site.shares.h1"),
                     ({"phases": ["L1"], "limit": 100, "shares": {"h1": 1}}, "needs site.hubs"),
                     ({k: v for k, v in site().items() if k != "id"}, "site.id")):
        e = raises(config.ConfigError, config.validate, {"site": bad})
        ok(why in str(e), "%r: %s" % (bad, e))


def test_the_share_of_each_hub():
    eq(config.share_of({"phases": ["L1"], "limit": 40}, "hub"), 1.0)          # one hub: all of it
    eq(config.share_of(site(hubs=["a", "b", "c", "d"]), "c"), 0.25)          # equal by default
    eq(config.share_of(site(shares={"h1": 0.7, "h2": 0.3}), "h2"), 0.3)
    eq(config.share_of(site(), "h9"), 0.0)      # not listed: nothing (the listed ones may hold all)


def test_a_hub_takes_its_share_of_what_the_house_leaves_and_of_its_fallback():
    s = site(hubs=["a", "b", "c", "d"], fallback=40)
    ctl = control.Controller(s, [{"id": "c%d" % i, "max": 80} for i in range(3)], {"holdoff_ms": 0})
    ctl.claims.share = config.share_of(s, "a")
    t = 0
    for _ in range(200):    # 10 A of house and nothing else: 88 A left, a quarter of it here
        offers = ctl.step(t, [10.0 + sum(ctl.offer)], [True], ["C"] * 3)
        t += PERIOD
    ok(20 <= sum(offers) <= 22, "a quarter of 88 A: %r" % offers)
    eq(ctl.fallback_a(), [10])      # a quarter of the 40 A fallback budget


def test_silent_hubs_at_their_shares_keep_the_site_limit_and_fill_part_of_it():
    # issue 24 item 3: a hub that hears no peer holds its safe share; hubs that
    # see the same free room at once must not both take it. Every hub reads
    # the same mains (its own cars and the others' in it): simulation/hubsite.py.
    # Before control._others, each hub counted its fresh raise as drawn: 62 A
    # on a 60 A site in the first case.
    random.seed(24)
    worst, fills = 0.0, []
    for case in range(24):
        k = 2 + case % 3
        rows, excuse, limit, demand = hubsite.run(random, k, 4, 240, readback=case % 2 == 0)
        w, over, fill = hubsite.judge(rows, excuse, limit, demand)
        eq(over[:1], [], "case %d, %d hubs on %d A: (t, total, house, room) over the limit" % (case, k, limit))
        worst = max(worst, w)
        if fill is not None:
            fills.append(fill)
    print("silent hubs: worst %.1f A over outside the excuses; the cars' part of the room %s"
          % (worst, " ".join("%.2f" % f for f in fills)))
    # alone, k hubs at equal shares settle where each takes its share of what
    # the house and the others leave: k / (2k - 1) of the room (2/3 for two,
    # 4/7 for four), less the 6 A steps and where shares are unequal; never a
    # site of paused cars. (Heard from each other, they fill it: the claims.)
    ok(len(fills) >= 12, "cases that ended with room: %d" % len(fills))
    ok(min(fills) >= 0.3 and sum(fills) / len(fills) >= 0.5, "the cars' part: %r" % fills)


def test_silent_hubs_on_three_phases_with_line_to_line_chargers_keep_every_line():
    # chargers on 1, 2 (208 V line to line) or 3 lines, each line the phasor
    # sum of its cars (the allocator's weights) and its own house
    random.seed(3)
    for case in range(12):
        k = 2 + case % 3
        rows, excuse, limit = hubsite.run3(random, k, 4, 240, readback=case % 2 == 0)
        for t, over in rows:
            if not any(0 <= t - e < hubsite.EXCUSE_MS for e in excuse):
                ok(over <= 0.5, "case %d, %d hubs, t=%d ms: a line %.1f A over its %d A limit" % (case, k, t, over, limit))


def test_a_peer_the_hub_cannot_share_with_is_a_conflict_for_a_lease():
    def diff(a, b):
        return a - b
    s = site(hubs=["h1", "h2", "h3"])
    w = peers.Watch("h1", s, 77, diff)
    other = peers.Watch("h2", config.validate({"site": dict(s)})["site"], 5, diff)
    eq(w.heard(other.mine(), 0), None, "a listed peer with the same site")
    eq(w.fresh(0), ["h2"])
    eq(w.heard(w.mine(), 0), None, "our own claim, back from the broker")
    eq(w.heard(dict(other.mine(), site_id="elsewhere"), 0), None, "another site's hub: none of our business")
    for c in ("x", [], {"hub": "h2"}, dict(other.mine(), boot="5"), dict(other.mine(), site=True)):
        eq(w.heard(c, 0), None, "not a claim: %r" % (c,))
    eq(w.conflict(0), None)
    # the same site section written otherwise (keys in another order, 100.0 for 100) is the same
    same = {"hubs": ["h1", "h2", "h3"], "margin": 2.0, "limit": 100.0, "phases": ["L1"], "id": "park"}
    eq(peers.checksum(same), peers.checksum(s))
    for c, why in ((dict(other.mine(), hub="h1"), "hub id h1 is used by two hubs"),
                   (dict(other.mine(), hub="h9"), "hub h9 is not in site.hubs"),
                   (dict(other.mine(), site=peers.checksum(dict(s, limit=120))), "hub h2 has another site section")):
        w = peers.Watch("h1", s, 77, diff)
        eq(w.heard(c, 1000), why)
        eq(w.heard(c, 2000), None, "said once while it stands")
        eq(w.conflict(2000 + peers.LEASE_MS - 1), why)
        eq(w.conflict(2000 + peers.LEASE_MS), None, "a lease after the last one heard")
    # a retained claim of a hub that is gone (a minute older, by both wall clocks) is not taken
    w = peers.Watch("h1", s, 77, diff)
    eq(w.heard(dict(other.mine(1780000000), hub="h9"), 0, 1780000061), None)
    eq(w.heard(dict(other.mine(1780000000), hub="h9"), 0, 1780000030), "hub h9 is not in site.hubs")


def test_the_hub_takes_its_share_by_its_mqtt_id_and_an_unlisted_one_none():
    import hal
    import hub
    import simadc
    b = hal.load_board("sim")
    for me, share, said in (("h2", 0.5, None), ("h9", 0.0, "hub h9 is not in site.hubs: share 0, its chargers wait")):
        cfg = config.validate({"site": site(phases=["L1", "L2", "L3"]), "chargers": [{"id": "c0"}],
                               "mqtt": {"host": "127.0.0.1", "hub_id": me}})
        h = hub.Hub(b, cfg, hal.make_sampler(b), [simadc.SimPilot()], lambda a, b: a - b)
        eq(h.ctl.claims.share, share)
        eq([text for t, text in h.log], [said] if said else [])


def test_the_services_take_the_share_to_0_on_a_conflict_and_give_it_back_a_lease_later():
    import json
    import hal
    import hub
    import os
    import services
    import simadc

    class Clock:
        now = 0

        def ticks_ms(self):
            return self.now

        def ticks_diff(self, a, b):
            return a - b

        def ticks_add(self, a, b):
            return a + b

    b = hal.load_board("sim")
    cfg = config.validate({"site": site(phases=["L1", "L2", "L3"]), "chargers": [{"id": "c0"}],
                           "mqtt": {"host": "127.0.0.1", "hub_id": "h1"}})
    h = hub.Hub(b, cfg, hal.make_sampler(b), [simadc.SimPilot()], lambda a, b: a - b)
    d = "/tmp/almhub_test_hubs_"
    clock = Clock()
    sv = services.Services(h, cfg, clock, d + "state.json", d + "energy.json", capture_dir=d)
    eq(h.ctl.claims.share, 0.5)
    twin = peers.Watch("h1", cfg["site"], sv.watch.boot + 1, clock.ticks_diff)
    sv.peer_message(json.dumps(twin.mine()))       # another hub with our id
    eq(h.ctl.claims.share, 0.0)
    eq(h.log[-1][1], "share 0, its chargers wait: hub id h1 is used by two hubs")
    sv.peer_message(b"{not json")                  # changes nothing
    clock.now = peers.LEASE_MS - 1
    sv._peers(clock.now)
    eq(h.ctl.claims.share, 0.0, "within the lease")
    clock.now = peers.LEASE_MS
    sv._peers(clock.now)
    eq(h.ctl.claims.share, 0.5)
    eq(h.log[-1][1], "share back: no conflict for 10 s")
    for name in ("state.json", "energy.json", "demand.log", "sessions.log"):
        try:
            os.remove(d + name)
        except OSError:
            pass
