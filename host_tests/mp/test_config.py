"""config.validate: every error names its key; a good config passes unchanged."""
import config
from mpunit import eq, ok, raises

GOOD = {
    "site": {"phases": ["L1", "L2", "L3"], "limit": 63, "margin": 3, "fallback": 20,
             "circuits": [{"id": "garage", "limit": 40}, {"id": "bay", "limit": 32, "parent": "garage"}]},
    "chargers": [{"id": "a", "phases": ["L1"], "circuit": "bay", "min": 6, "max": 32},
                 {"id": "b", "phases": ["L1", "L2", "L3"], "circuit": "garage", "max": 16, "priority": 1}],
    "control": {"period_ms": 1000},
}


def bad(path_value, where):
    import json
    cfg = json.loads(json.dumps(GOOD))
    keys, value = path_value
    d = cfg
    for k in keys[:-1]:
        d = d[k]
    if value is KeyError:
        del d[keys[-1]]
    else:
        d[keys[-1]] = value
    e = raises(config.ConfigError, config.validate, cfg)
    ok(str(e).startswith(where), "%r should name %r" % (str(e), where))


def test_good_config_passes():
    eq(config.validate(GOOD), GOOD)


def test_errors_name_their_key():
    for change, where in (
        ((["site", "phases"], ["L1", "L2", "L3", "N"]), "site.phases"),
        ((["site", "phases"], []), "site.phases"),
        ((["site", "voltage"], 12), "site.voltage"),
        ((["site", "voltage"], "120"), "site.voltage"),
        ((["site", "design_load"], [10, 10]), "site.design_load"),
        ((["site", "design_load"], -1), "site.design_load"),
        ((["site", "phases"], ["L1", "L1", "L2"]), "site.phases"),
        ((["site", "limit"], KeyError), "site.limit"),
        ((["site", "limit"], "63"), "site.limit"),
        ((["site", "limit"], -5), "site.limit"),
        ((["site", "limit"], [63, 63]), "site.limit"),
        ((["site", "margin"], 100), "site.margin"),
        ((["site", "fallback"], 61), "site.fallback"),
        ((["site", "colour"], "red"), "site: unknown key"),
        ((["site", "circuits", 1, "parent"], "attic"), "site.circuits[1].parent"),
        ((["site", "circuits", 0, "parent"], "bay"), "site.circuits[0].parent"),
        ((["site", "circuits", 1, "id"], "garage"), "site.circuits[1].id"),
        ((["chargers", 0, "circuit"], "attic"), "chargers[0].circuit"),
        ((["chargers", 0, "max"], 40), "chargers[0].max"),
        ((["chargers", 0, "min"], 5), "chargers[0].min"),
        ((["chargers", 0, "min"], 6.5), "chargers[0].min"),
        ((["chargers", 0, "max"], 81), "chargers[0].max"),
        ((["chargers", 0, "phases"], ["L4"]), "chargers[0].phases"),
        ((["chargers", 0, "phases"], ["L1", "L1"]), "chargers[0].phases"),
        ((["chargers", 0, "phases"], ["L1", "L2", "L3", "L1"]), "chargers[0].phases"),
        ((["chargers", 0, "phases"], []), "chargers[0].phases"),
        ((["chargers", 1, "id"], "a"), "chargers[1].id"),
        ((["chargers", 1, "floor"], 4), "chargers[1].floor"),
        ((["chargers", 1, "wheels"], 4), "chargers[1]: unknown key"),
        ((["control", "period_ms"], 10), "control.period_ms"),
        ((["control", "period_ms"], True), "control.period_ms"),
    ):
        bad(change, where)


def test_control_values_are_bounded_by_the_standard_and_the_board():
    # issue 22: response_ms 0 was accepted (and a rotation handover overloaded a
    # site); period_ms up to an hour was accepted (a board whose watchdog is fed
    # once a period reset in a loop)
    for key, value, reason in (("response_ms", 0, "IEC 61851-1"), ("response_ms", 4999, "5 s"),
                               ("period_ms", 3600000, "watchdog"), ("period_ms", 99, "watchdog"),
                               ("raise_interval_ms", 1000, "5 s apart"), ("ramp_a", 0, "whole amps"),
                               ("slot_ms", 5000, "minutes"), ("min_pause_ms", 0, "paused"),
                               ("holdoff_ms", -1, "fallback")):
        cfg = dict(GOOD, control={key: value})
        e = raises(config.ConfigError, config.validate, cfg)
        ok(str(e).startswith("control." + key) and reason in str(e), "%s=%r: %s" % (key, value, e))
    for key, value in (("response_ms", 5000), ("period_ms", 2000), ("slot_ms", 60000), ("holdoff_ms", 0),
                       ("min_pause_ms", 5000), ("ramp_a", 80)):
        config.validate(dict(GOOD, control={key: value}))


def test_a_period_the_board_cannot_keep_is_refused_at_boot():
    import hal
    import hub
    import simadc
    board = dict(hal.load_board("sim"))
    board["ct"] = [dict(board["ct"][0], name=p) for p in ("L1", "L2", "L3")]
    adc = simadc.SimADC([simadc.Clamp(0.0, simadc.EV, 50) for _ in range(3)], board["adc"]["rate_hz"])
    import gc
    for period, why in ((2000, "watchdog"), (100, "burst")):
        gc.collect()        # the hub refused before is garbage: a board boots once
        board["watchdog_ms"] = 3000
        cfg = config.validate(dict(GOOD, control={"period_ms": period}))
        e = raises(ValueError, hub.Hub, board, cfg, adc, [simadc.SimPilot() for _ in range(2)],
                   lambda a, b: a - b)
        ok(str(e).startswith("control.period_ms") and why in str(e), str(e))


def test_us_services_and_line_to_line_chargers():
    # before: a split-phase service (2 legs) and 208 V line-to-line chargers were refused
    split = {"site": {"phases": ["L1", "L2"], "limit": 100, "margin": 20},
             "chargers": [{"id": "garage", "phases": ["L1", "L2"], "max": 40},
                          {"id": "shop", "phases": ["L2"], "max": 16}]}
    eq(config.validate(split), split)
    eq(config.voltage(split["site"]), 120)                  # 120/240 V by default
    eq(config.charger_volts(split["site"], 2), 240)
    eq(config.charger_volts(split["site"], 1), 120)
    wye = {"site": {"phases": ["A", "B", "C"], "voltage": 120, "limit": 200, "design_load": [40, 35, 50]},
           "chargers": [{"id": "s%d" % i, "phases": p, "max": 32}
                        for i, p in enumerate((["A", "B"], ["B", "C"], ["C", "A"], ["A", "B", "C"], ["B"]))]}
    eq(config.validate(wye), wye)
    ok(abs(config.charger_volts(wye["site"], 2) - 207.85) < 0.01, "208 V line to line")
    eq(config.charger_volts(wye["site"], 3), 360)           # three lines at 120 V each
    eq(config.voltage({"phases": ["L1", "L2", "L3"]}), 230)
    # a charger across two legs needs a site with two
    one = {"site": {"phases": ["L1"], "limit": 40}, "chargers": [{"id": "a", "phases": ["L1", "L2"]}]}
    e = raises(config.ConfigError, config.validate, one)
    ok(str(e).startswith("chargers[0].phases"), str(e))


def test_not_even_a_dict():
    for cfg in (None, [], "x", 3, {"chargers": []}):
        raises(config.ConfigError, config.validate, cfg)


def test_circuits_in_order_puts_parents_first():
    cs = [{"id": "c", "parent": "b", "limit": 1}, {"id": "b", "parent": "a", "limit": 1},
          {"id": "a", "limit": 1}]
    eq([c["id"] for c in config.circuits_in_order(cs)], ["a", "b", "c"])


def test_chargers_per_breaker_are_a_warning_not_a_refusal():
    # a code's table is evidence for a permit (design rule 7): the site boots
    eq([config.max_evse(a) for a in (16, 20, 32, 40, 63, 100, 150, 200)], [1, 1, 2, 4, 6, 11, 17, None])
    import json
    cfg = json.loads(json.dumps(GOOD))
    cfg["site"]["circuits"] = [{"id": "g", "limit": 30}]
    cfg["chargers"] = [{"id": "c%d" % i, "circuit": "g", "max": 16} for i in range(3)]
    config.validate(cfg)
    w = config.code_warnings(cfg)
    eq(len(w), 1)
    ok("carries 3 chargers; one code's table allows 2" in w[0], w[0])
    cfg["chargers"].pop()
    eq(config.code_warnings(cfg), [])
