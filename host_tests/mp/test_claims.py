"""claims: every limit and cap with its source, read by the controller each period."""
import claims
import commands
import control
import json
from mpunit import eq

HEAPSIZE = "1M"   # the simulated site (waveforms) runs here too


class Outside:
    """A grid.Grid's outputs as the controller reads them."""

    def __init__(self, nph):
        self.limit_a = [None] * nph
        self.ev_cap_a = [None] * nph
        self.imp_a = [None] * nph
        self.source = "site"


def test_the_lowest_claim_is_in_force_and_named():
    c = claims.Claims([40, 40], 2, [32, 16])
    eq((c.limit(0), c.source(), c.ev_cap(0), c.imp(1)), (40, "site", None, None))
    g = Outside(2)
    c.take_outside(g)
    g.limit_a[1], g.source = 25, "grid"
    eq((c.limit(0), c.limit(1), c.source()), (40, 25, "grid"))
    # issue 23: the hub aliased the grid's list; a grid that makes a new one
    # would have cut the controller off from every outside limit
    g.limit_a = [10, None]
    eq((c.limit(0), c.limit(1)), (10, 40))
    g.limit_a[0] = 50
    eq(c.limit(0), 40, "an outside limit only ever lowers the site's")


def test_who_limits_a_charger():
    c = claims.Claims([40], 0, [32, 16])
    eq(c.charger(0, 32), (32, "charger"))
    c.user_max[0] = 20
    eq(c.charger(0, 32), (20, "command"))
    c.surplus_a[0] = 9
    eq(c.charger(0, 32), (9, "surplus"))
    c.enabled[0] = False
    eq(c.charger(0, 32), (0, "paused"))
    eq(c.charger(1, 16), (16, "charger"))


def test_commands_write_their_claims_and_the_controller_reads_them():
    cfg = {"site": {"phases": ["L1"], "limit": 40, "margin": 2}, "chargers": [{"id": "a", "max": 32}]}
    ctl = control.Controller(cfg["site"], cfg["chargers"], {"holdoff_ms": 0})
    hard = commands.Hard(cfg)
    t, offers = 0, [0]
    while t <= 60000:
        offers = ctl.step(t, [4.0 + offers[0]], [True], ["C"])
        t += 500
    eq(offers, [32])
    reply, _ = commands.handle(json.dumps({"cmd": "set_limit", "limit": 20}), ctl, hard, {})
    eq(reply["ok"], True)
    eq(ctl.claims.site_a, [20])
    offers = ctl.step(t, [4.0 + offers[0]], [True], ["C"])
    eq(offers, [14], "20 - 2 margin - 4 A house, in the period it arrives in")
    commands.handle(json.dumps({"cmd": "set_max", "charger": "a", "max": 10}), ctl, hard, {})
    eq(ctl.claims.charger(0, 32), (10, "command"))
    eq(ctl.step(t + 500, [4.0 + 14], [True], ["C"]), [10])


def test_the_status_command_says_who_limits_each_charger():
    import simsite
    sc = {"duration": 20, "site": {"phases": ["L1"], "limit": 40}, "control": {"holdoff_ms": 0},
          "chargers": [{"id": "a", "max": 32}, {"id": "b", "max": 16}],
          "events": [{"t": 0, "load": {"L1": 2}}, {"t": 0, "plug": "a"},
                     {"t": 1, "cmd": {"cmd": "set_max", "charger": "a", "max": 20}}]}
    sim = simsite.Sim(sc)
    t = 0
    while t <= 3000:
        sim.step(t)
        t += 500
    st = sim.sv.command(json.dumps({"cmd": "status"}))["status"]
    eq((st["chargers"]["a"]["by"], st["chargers"]["b"]["by"]), ("command", "charger"))
    sim.clean()
