"""commands: each command, every refusal, the hard limits, restore after reboot."""
import json

import commands
import control
from mpunit import eq, ok

CFG = {"site": {"phases": ["L1", "L2", "L3"], "limit": 40, "margin": 2},
       "chargers": [{"id": "bay1", "max": 32}, {"id": "bay2", "min": 8, "max": 16}]}


def setup():
    ctl = control.Controller(CFG["site"], CFG["chargers"])
    return ctl, commands.Hard(CFG), {}


def snapshot(ctl):
    return (list(ctl.claims.site_a), ctl.claims.margin_a, list(ctl.claims.user_max), list(ctl.claims.enabled),
            [c.priority for c in ctl.site.chargers])


def test_each_command_works():
    ctl, hard, ov = setup()
    for payload, check in (
        ({"cmd": "set_limit", "limit": 30}, lambda: ctl.claims.site_a == [30, 30, 30]),
        ({"cmd": "set_limit", "limit": [30, 25, 40]}, lambda: ctl.claims.site_a == [30, 25, 40]),
        ({"cmd": "set_limit", "limit": 40}, lambda: ctl.claims.site_a == [40, 40, 40]),  # back up to the hard limit
        ({"cmd": "set_margin", "margin": 5}, lambda: ctl.claims.margin_a == 5),
        ({"cmd": "set_max", "charger": "bay1", "max": 16}, lambda: ctl.claims.user_max[0] == 16),
        ({"cmd": "pause", "charger": "bay2"}, lambda: ctl.claims.enabled[1] is False),
        ({"cmd": "resume", "charger": "bay2"}, lambda: ctl.claims.enabled[1] is True),
        ({"cmd": "priority", "charger": "bay2", "priority": 3}, lambda: ctl.site.chargers[1].priority == 3),
        ({"cmd": "status", "id": "x1"}, lambda: True),
    ):
        reply, cmd = commands.handle(json.dumps(payload), ctl, hard, ov)
        eq(reply["ok"], True, "%r: %r" % (payload, reply))
        ok(check(), "%r had no effect" % payload)
    eq(commands.handle('{"cmd": "status", "id": 7}', ctl, hard, ov)[0]["id"], 7)


def test_refusals_change_nothing():
    ctl, hard, ov = setup()
    before = snapshot(ctl)
    for payload, why in (
        ('{"cmd": "set_limit", "limit": 41}', "configured limit"),       # above the breaker
        ('{"cmd": "set_limit", "limit": [30, 30, 63]}', "configured limit"),
        ('{"cmd": "set_limit", "limit": [30, 30]}', "one number per phase"),
        ('{"cmd": "set_limit", "limit": 1}', "below the margin"),
        ('{"cmd": "set_limit", "limit": "40"}', "number"),
        ('{"cmd": "set_limit", "limit": true}', "number"),
        ('{"cmd": "set_limit"}', "missing"),
        ('{"cmd": "set_margin", "margin": 1}', "outside"),               # below the configured margin
        ('{"cmd": "set_max", "charger": "bay2", "max": 20}', "outside"),  # above its config max
        ('{"cmd": "set_max", "charger": "bay2", "max": 6}', "outside"),   # below its min
        ('{"cmd": "set_max", "charger": "bay9", "max": 10}', "no charger"),
        ('{"cmd": "set_max", "charger": "bay1", "max": 10.5}', "whole number"),
        ('{"cmd": "pause", "charger": 3}', "no charger"),
        ('{"cmd": "priority", "charger": "bay1", "priority": 1000}', "outside"),
        ('{"cmd": "reboot"}', "unknown cmd"),
        ('{"limit": 30}', "cmd missing"),
        ('{"cmd": "pause", "charger": "bay1", "extra": 1}', "unknown key"),
        ('{"cmd": "status", "id": [1]}', "id"),
        ('[1, 2]', "object"),
        ('not json', "not JSON"),
        ('', "not JSON"),
        ('{"cmd": "set_limit", "limit": 30' + ' ' * 1100 + '}', "over 1024 bytes"),
        (b'\xff\xfe\x00', "not JSON"),
        # exactly one JSON value or nothing: MicroPython's json.loads stops at a NUL
        (b'{"cmd": "set_limit", "limit": 20}\x00', "not JSON"),
        (b'{"cmd": "set_limit", "limit": 20}\x00garbage', "not JSON"),
        (b'{"cmd": "set_limit", "limit": 20}\x00{"cmd": "set_limit", "limit": 40}', "not JSON"),
        ('{"cmd": "set_limit", "limit": 20}\x00', "not JSON"),
        (b'{"cmd": "set_limit", "limit": 20} {"cmd": "set_limit", "limit": 30}', "not JSON"),
        (b'{"cmd": "set_limit", "limit": 20} x', "not JSON"),
        (b'{"cmd": "set_limit", "limit": 20}\x0b', "not JSON"),       # VT and FF are not JSON space
        (b'{"cmd": "set_limit", "limit": 20}\x0c', "not JSON"),
        (b'{"cmd": "pause", "charger": "bay\x01"}', "not JSON"),       # a raw control byte in a string
    ):
        reply, cmd = commands.handle(payload, ctl, hard, ov)
        eq(reply["ok"], False, payload)
        ok(why in reply["error"], "%r: %r" % (payload, reply["error"]))
        eq(cmd, None)
    eq(snapshot(ctl), before)
    eq(ov, {})


def test_a_profile_is_checked_whole_before_it_is_kept():
    # the profile command checked its hours with config.validate_hourly; boot
    # unloads config now, so commands checks them itself (same bounds)
    import grid
    ctl, hard, ov = setup()
    grd = grid.Grid(dict(CFG, grid={"schedule": {"utc_offset_min": 0}}), lambda a, b: a - b)
    grd.wall_s = lambda: 0
    day = "2026-06-01"
    for hours, why in (([10] * 23, "24 limits"), ("x", "24 limits"), ([10] * 23 + [10001], "outside 0..10000"),
                       ([10] * 23 + [[1, 2]], "one number per phase"), ([10] * 23 + ["9"], "number"),
                       ([10] * 23 + [-1], "outside")):
        reply, cmd = commands.handle(json.dumps({"cmd": "profile", "date": day, "hourly": hours}), ctl, hard, ov, grd)
        eq(reply["ok"], False, hours)
        ok(why in reply["error"], "%r: %r" % (hours, reply["error"]))
        eq(grd.profiles, {})
        eq(ov, {})
    reply, cmd = commands.handle(json.dumps({"cmd": "profile", "date": day, "hourly": [None] * 23 + [[30, 20, 10]]}),
                                 ctl, hard, ov, grd)
    eq(reply["ok"], True, reply)
    eq(list(grd.profiles.values()), [[None] * 23 + [[30, 20, 10]]])


def test_json_whitespace_is_still_accepted():
    ctl, hard, ov = setup()
    reply, cmd = commands.handle(b'\t{"cmd": "set_limit",\r\n "limit": 30}\n ', ctl, hard, ov)
    eq(reply["ok"], True, reply)
    eq(ctl.claims.site_a, [30, 30, 30])


def test_every_refusal_echoes_the_id():
    # before: refusals from parsing (unknown or missing cmd, unknown or missing
    # key) dropped the id, so a client could not tell which command failed
    ctl, hard, ov = setup()
    before = snapshot(ctl)
    for rid in (7, "a-1"):
        for body, why in (
            ('"cmd": "fly"', "unknown cmd 'fly'"),
            ('"cmd": 3', "cmd missing"),
            ('"limit": 30', "cmd missing"),
            ('"cmd": "pause"', "pause: charger missing"),
            ('"cmd": "set_max", "charger": "bay1"', "set_max: max missing"),
            ('"cmd": "pause", "charger": "bay1", "x": 1', "unknown key"),
            ('"cmd": "pause", "charger": "bay9"', "no charger"),
            ('"cmd": "set_limit", "limit": 99', "configured limit"),
            ('"cmd": "set_max", "charger": "bay1", "max": "16"', "whole number"),
        ):
            payload = '{%s, "id": %s}' % (body, json.dumps(rid))
            reply, cmd = commands.handle(payload, ctl, hard, ov)
            eq(reply.get("id"), rid, "%s: %r" % (payload, reply))
            eq(reply["ok"], False, payload)
            ok(why in reply["error"], "%s: %r" % (payload, reply))
            eq(cmd, None)
    # an id a reply cannot carry is itself the refusal; no id is invented
    for payload in ('{"cmd": "status", "id": [1]}', '{"cmd": "status", "id": true}',
                    '{"cmd": "status", "id": "%s"}' % ("x" * 33), '{"cmd": "fly"}',
                    '{"cmd": "status", "id": 1}\x00'):
        reply, cmd = commands.handle(payload, ctl, hard, ov)
        eq(reply["ok"], False, payload)
        ok("id" not in reply, "%s: %r" % (payload, reply))
    eq(snapshot(ctl), before)
    eq(ov, {})


def test_overrides_restore_within_hard_limits():
    ctl, hard, ov = setup()
    for p in ({"cmd": "set_limit", "limit": 30}, {"cmd": "pause", "charger": "bay1"},
              {"cmd": "set_max", "charger": "bay2", "max": 10}):
        commands.handle(json.dumps(p), ctl, hard, ov)
    saved = json.loads(json.dumps(ov))
    ctl2, hard2, _ = setup()
    kept = commands.restore(saved, ctl2, hard2)
    eq(snapshot(ctl2), snapshot(ctl))
    eq(kept, saved)
    # the configuration was changed by hand since: a saved value above it is dropped
    saved["limit"] = [60, 60, 60]
    saved["max"]["gone"] = 10
    ctl3, hard3, _ = setup()
    kept = commands.restore(saved, ctl3, hard3)
    eq(ctl3.claims.site_a, [40, 40, 40])
    ok("limit" not in kept and "gone" not in kept.get("max", {}), "dropped: %r" % kept)


def test_state_file_of_any_shape_restores_safely():
    # before: a state.json of the wrong shape raised at boot
    for bad in ([1, 2], "x", 3, None, {"limit": "a lot"}, {"max": [1]}, {"paused": ["bay1"]},
                {"paused": {"bay1": "yes"}}, {"priority": {"bay1": None}}, {"limit": [1, 2]},
                {"max": {"bay1": 99, "nope": 6}}, {"margin": -1}):
        ctl, hard, _ = setup()
        before = snapshot(ctl)
        kept = commands.restore(bad, ctl, hard)
        eq(snapshot(ctl), before, "state %r changed the controller" % (bad,))
        eq(kept, {}, "state %r" % (bad,))
