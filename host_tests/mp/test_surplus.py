"""Solar surplus (firmware/control/surplus.py): a surplus charger starts after a minute
of surplus, follows it, pauses after a minute of import, never chatters, and
takes nothing when the direction is unknown."""
import random

import control
import surplus
from mpunit import eq, ok, raises

HEAPSIZE = "2M"   # a simulated site in one test
PERIOD = 500


def make(chargers=None, phases=("L1",)):
    chargers = chargers or [{"id": "sun", "surplus": True, "max": 32}, {"id": "grid", "max": 32}]
    ctl = control.Controller({"phases": list(phases), "limit": 100}, chargers)
    s = surplus.Surplus(ctl, [c.get("surplus", False) for c in chargers], lambda a, b: a - b)
    return ctl, s


def run(s, ctl, export_of, t0, t1, states=None, follow=True):
    """Periods t0..t1 (ms): export_of(t, draw) gives the phase's export with the
    surplus charger drawing `draw`; the car follows the cap at once (follow)."""
    caps = []
    draw = ctl.offer[0]
    for t in range(t0, t1, PERIOD):
        s.update(t, [export_of(t, draw)], states, None)
        caps.append((t, ctl.claims.surplus_a[0]))
        if follow:
            ctl.offer[0] = draw = ctl.claims.surplus_a[0]
    return caps


def test_a_normal_charger_is_not_capped():
    ctl, s = make()
    s.update(0, [50.0], None, None)
    eq(ctl.claims.surplus_a, [0, None])


def test_starts_only_after_a_minute_of_surplus_at_its_minimum():
    ctl, s = make()
    caps = run(s, ctl, lambda t, d: 12.0 - d, 0, 59500)      # 12 A exported, nothing drawn yet
    eq(set(c for _, c in caps), {0})
    eq(s.state(0), "starting")
    caps = run(s, ctl, lambda t, d: 12.0 - d, 59500, 60500)
    eq(caps[-1], (60000, 11))                 # 12 A less the 1 A kept exported
    eq(s.state(0), "charging")


def test_a_surplus_under_the_minimum_does_not_start_and_a_gap_restarts_the_minute():
    ctl, s = make()
    caps = run(s, ctl, lambda t, d: 6.5 - d, 0, 120000)        # 5.5 A after the reserve: < 6
    eq(set(c for _, c in caps), {0})
    eq(s.state(0), "waiting")
    # 50 s of surplus, a 1 s dip, then 59 s: no start; the minute counts from the dip
    caps = run(s, ctl, lambda t, d: (2.0 if 170000 <= t < 171000 else 10.0) - d, 120000, 231500)
    eq([t for t, c in caps if c][:1], [231000])     # 60 s after the surplus came back (171 s)


def test_follows_the_surplus_and_pauses_after_a_minute_of_import():
    ctl, s = make()
    pv = [20.0]
    run(s, ctl, lambda t, d: pv[0] - d, 0, 61000)
    eq(ctl.claims.surplus_a[0], 19)
    pv[0] = 10.0                                          # a cloud: cut at once to what is left
    caps = run(s, ctl, lambda t, d: pv[0] - d, 61000, 62000)
    eq(caps[0][1], 9)
    pv[0] = 3.0                                           # under its minimum: held at 6 A, importing
    caps = run(s, ctl, lambda t, d: pv[0] - d, 62000, 121500)
    eq(set(c for _, c in caps), {6})
    eq(s.state(0), "pausing")
    caps = run(s, ctl, lambda t, d: pv[0] - d, 121500, 122500)
    eq(caps[-1][1], 0)                                    # a minute of import: paused
    eq(s.state(0), "waiting")


def test_a_brief_export_restarts_the_pause_minute():
    ctl, s = make()
    run(s, ctl, lambda t, d: 20.0 - d, 0, 61000)
    caps = run(s, ctl, lambda t, d: (20.0 if 100000 <= t < 100500 else 4.0) - d, 61000, 161000)
    paused = [t for t, c in caps if c == 0]
    eq(paused[0], 160500)                    # 60 s after the import came back (100.5 s)


def test_noisy_surplus_never_chatters():
    # a surplus wandering around the charger's minimum, for an hour
    rnd = random.Random(7) if hasattr(random, "Random") else None
    ctl, s = make()
    ticks = []
    last = 0
    for t in range(0, 3600000, PERIOD):
        x = (rnd.random() if rnd else random.random())
        pv = 7.0 + 3.0 * x
        s.update(t, [pv - ctl.offer[0]], None, None)
        ctl.offer[0] = ctl.claims.surplus_a[0]
        on = ctl.claims.surplus_a[0] > 0
        if on != last:
            ticks.append(t)
            last = on
    ok(ticks, "it charged at all")
    for a, b in zip(ticks, ticks[1:]):
        ok(b - a >= surplus.HOLD_MS, "start and pause %d ms apart" % (b - a))
    # the offer itself moves by more than a raise's hysteresis or not at all while charging
    ok(len(ticks) <= 3600000 // surplus.HOLD_MS, len(ticks))


def test_no_direction_or_no_car_takes_nothing_at_once():
    ctl, s = make()
    run(s, ctl, lambda t, d: 20.0 - d, 0, 61000)
    ok(ctl.claims.surplus_a[0] > 0, ctl.claims.surplus_a)
    s.update(61000, [None], None, None)       # the voltage reference lost
    eq(ctl.claims.surplus_a[0], 0)
    eq(s.state(0), "waiting")
    run(s, ctl, lambda t, d: 20.0 - d, 61500, 122000)
    ok(ctl.claims.surplus_a[0] > 0, ctl.claims.surplus_a)
    s.update(122000, [20.0], ["A", "A"], None)   # the car left
    eq(ctl.claims.surplus_a[0], 0)


def test_a_charger_not_read_back_is_taken_as_one_that_may_charge():
    # None: not read back (a board's first periods, a silent ADC). Before, a
    # string membership test raised TypeError on it and stopped the hub.
    ctl, s = make()
    run(s, ctl, lambda t, d: 20.0 - d, 0, 61000, [None, None])
    ok(ctl.claims.surplus_a[0] > 0, ctl.claims.surplus_a)
    ctl.offer[0] = ctl.claims.surplus_a[0]
    s.update(61000, [20.0 - ctl.offer[0]], [None, None], None)   # its offer is its own again, as without read-back
    eq(ctl.claims.surplus_a[0], 19)
    s.update(61500, [20.0], ["A", None], None)   # read back, and no car
    eq(ctl.claims.surplus_a[0], 0)


def test_two_surplus_chargers_share_and_the_second_gets_the_rest():
    chargers = [{"id": "a", "surplus": True}, {"id": "b", "surplus": True, "phases": ["L1"]}]
    ctl, s = make(chargers)
    for t in range(0, 62000, PERIOD):
        s.update(t, [30.0 - ctl.offer[0] - ctl.offer[1]], None, None)
        ctl.offer[0], ctl.offer[1] = ctl.claims.surplus_a[0], ctl.claims.surplus_a[1]
    eq(ctl.claims.surplus_a, [29, 0])                 # the first takes it all (29 A after the reserve)
    ctl2, s2 = make([{"id": "a", "surplus": True, "max": 16}, {"id": "b", "surplus": True}])
    for t in range(0, 62000, PERIOD):
        s2.update(t, [30.0 - ctl2.offer[0] - ctl2.offer[1]], None, None)
        ctl2.offer[0], ctl2.offer[1] = ctl2.claims.surplus_a[0], ctl2.claims.surplus_a[1]
    eq(ctl2.claims.surplus_a, [16, 13])               # its max, then the rest


def test_a_cap_only_lowers_what_the_controller_offers():
    ctl, s = make()
    ctl.mode = control.NORMAL
    s.update(0, [40.0], None, None)
    offers = ctl.step(0, [2.0], [True], None, None)
    eq(offers[0], 0)                          # waiting for its minute: paused
    ok(offers[1] >= 6, offers)                # the other charger as before


def test_the_controller_takes_a_mains_reading_under_a_sub_ct_for_the_sun_where_there_is_pv():
    chargers = [{"id": "c"}]
    for pv, want in ((False, True), (True, False)):
        ctl = control.Controller({"phases": ["L1"], "limit": 60, "pv": pv}, chargers)
        ctl.offer[0] = 16
        ctl.step(0, [4.0], [True], ["C"], [16.0])     # the mains reads 4 A, the charger's own CT 16
        eq(ctl.implausible[0], want, "pv %r" % pv)
    ctl = control.Controller({"phases": ["L1"], "limit": 60, "pv": True}, chargers)
    ctl.offer[0] = 16
    ctl.step(0, [0.1], [True], ["C"], None)           # 0 A with an offer standing: still a slipped clamp
    eq(ctl.implausible[0], True)


def test_config_refuses_what_is_not_a_bool():
    import config
    for site, ch, where in (({"pv": 1}, {}, "site.pv"), ({}, {"surplus": "yes"}, ".surplus")):
        s = {"phases": ["L1"], "limit": 40}
        s.update(site)
        c = {"id": "c"}
        c.update(ch)
        e = raises(config.ConfigError, config.validate, {"site": s, "chargers": [c]})
        ok(where in e.args[0], e.args[0])


def test_the_hub_refuses_surplus_without_a_voltage_reference():
    import simsite
    sc = {"duration": 5, "site": {"phases": ["L1", "L2", "L3"], "limit": 40},
          "chargers": [{"id": "c", "phases": ["L2"], "surplus": True}]}
    e = raises(ValueError, simsite.Sim, sc)
    eq(e.args[0], "charger 'c': surplus needs a voltage reference (board vt) on L2")
    sc["vt"] = True
    ok(simsite.Sim(sc).hub.surplus is not None, "with one: built")


def test_the_surplus_command_switches_a_charger_set_up_for_it_and_survives_a_reboot():
    import commands
    cfg = {"site": {"phases": ["L1"], "limit": 100},
           "chargers": [{"id": "sun", "surplus": True, "max": 32}, {"id": "grid", "max": 32}]}
    ctl, s = make(cfg["chargers"])
    hard = commands.Hard(cfg)
    kept = {}
    run(s, ctl, lambda t, d: 20.0 - d, 0, 61000)
    eq(ctl.claims.surplus_a[0], 19)

    def cmd(**kw):
        kw["cmd"] = "surplus"
        import json
        return commands.handle(json.dumps(kw), ctl, hard, kept)[0]
    eq(cmd(charger="sun", on=True)["ok"], True)
    eq(ctl.claims.surplus_a[0], 19)                          # a repeat does not pause a charging car
    eq(cmd(charger="sun", on=False)["ok"], True)
    eq(ctl.claims.surplus_a[0], None)                        # as any charger: the controller alone
    eq(s.state(0), None)
    for bad, why in (({"charger": "grid", "on": True}, "not set up"), ({"charger": "sun", "on": 1}, "on:"),
                     ({"charger": "nobody", "on": True}, "no charger"), ({"charger": "sun"}, "on missing")):
        r = cmd(**bad)
        ok(not r["ok"] and why in r["error"], r)
    eq(ctl.claims.surplus_a[0], None)                        # a refusal changes nothing
    eq(kept, {"surplus": {"sun": False}})
    ctl2, s2 = make(cfg["chargers"])                  # a reboot: the override re-applied
    eq(ctl2.claims.surplus_a[0], 0)
    eq(commands.restore(kept, ctl2, hard), {"surplus": {"sun": False}})
    eq(ctl2.claims.surplus_a[0], None)
    eq(cmd(charger="sun", on=True)["ok"], True)
    eq(ctl.claims.surplus_a[0], 0)                           # back in surplus mode: waiting for its minute
