"""Several hubs on one connection, each alone at its safe share (issue 24):
config (site.hubs, site.shares), the share as a claim, and generated sites
where every hub's controller reads the same incoming phases (house + every
hub's cars) with no word from the others: the site keeps its limit, and the
cars still get a useful part of what the house leaves."""
import random

import config
import control
import hubsite
from mpunit import eq, ok, raises

HEAPSIZE = "4M"
PERIOD = hubsite.PERIOD


def site(**kw):
    s = {"phases": ["L1"], "limit": 100, "margin": 2, "hubs": ["h1", "h2"]}
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
                     ({"phases": ["L1"], "limit": 100, "shares": {"h1": 1}}, "needs site.hubs")):
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
