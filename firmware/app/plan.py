"""The board against the configuration: which CT channel measures each site
phase and each charger, which voltage channel pairs with each for real power,
and the checks that refuse a configuration this board cannot serve.

    p = plan.Plan(board, cfg, npilots)   # ValueError: what the board cannot serve

The hub wires itself from it at boot (app/hub.py); tools/deploy.py runs the
same Plan on the unix port before it copies a configuration to a board, so a
config the hub would refuse at boot never reaches one. The sampler's own
limit (a period must hold its burst) is the hub's, which has the sampler.
"""

import control
import hal


def _pair(spec, lines, c, vt, leads):
    """Append to spec the pair (CT channel, VT channel, scale, lead, lag) that
    meters CT channel c carrying a current across `lines`; its index, or None
    where no VT serves them (three lines, or two lines from two VTs: the
    kernel takes one voltage channel; such a charger's energy is estimated).
    Across two lines the voltage is V_a - V_b, a phasor of the VT's: twice
    it across split-phase legs, sqrt(3) of it leading by 30 degrees for
    L1-L2 of a three-phase site."""
    import math
    for name in lines:
        if name not in vt:
            return None
    cv = vt[lines[0]][0]
    if len(lines) > 2 or any(vt[name][0] != cv for name in lines):
        return None
    re = im = 0.0
    for j, name in enumerate(lines):
        t = math.radians(vt[name][1])
        sign = 1 if j == 0 else -1
        re += sign * math.cos(t)
        im -= sign * math.sin(t)
    scale = math.sqrt(re * re + im * im)
    if scale < 0.5:
        return None
    lag = round(-math.degrees(math.atan2(im, re))) % 360
    if lag in (0, 180):              # in phase or opposite: a sign, no delay
        scale, lag = (scale if lag == 0 else -scale), 0
    spec.append((c, cv, scale, leads[c] - leads[cv], lag))
    return len(spec) - 1


class Plan:
    """phase_ch[p], charger_ch[i]: CT channels (None: a charger without its own
    CT); spec: the (CT, VT, scale, lead, lag) pairs for power.Pairs;
    pw_phase[p], pw_charger[i]: a pair's index in spec, or None; vt_ch,
    vt_names: the voltage channels after the CTs. cfg is config.validate's."""

    def __init__(self, board, cfg, npilots):
        site = cfg["site"]
        chargers = cfg.get("chargers", [])
        self.ct_names = names = [ch["name"] for ch in board["ct"]]
        self.phase_ch = []
        for p in site["phases"]:
            if p not in names:
                raise ValueError("site.phases: %r is no CT of board %s (%s)" % (p, board["name"], ", ".join(names)))
            self.phase_ch.append(names.index(p))
        if len(chargers) > npilots:
            raise ValueError("%d chargers but %d pilot outputs on board %s" % (len(chargers), npilots, board["name"]))
        wd = board.get("watchdog_ms")
        period = cfg.get("control", {}).get("period_ms", control.DEFAULTS["period_ms"])
        if wd and 2 * period > wd:
            raise ValueError("control.period_ms: %d ms, but the watchdog (%d ms) is fed once a period: at most %d"
                             % (period, wd, wd // 2))
        # a CT named after a charger measures that charger's own feed
        ids = [ch["id"] for ch in chargers]
        self.charger_ch = [names.index(i) if i in names else None for i in ids]
        # Real power where a voltage reference (board "vt") serves a CT's line:
        # every site phase, and every charger with its own CT on one line (or
        # across both legs of a split-phase VT).
        vt, leads = hal.vt_lines(board), [ch.get("lead_deg", 0.0) for ch in hal.inputs(board)]
        spec = []   # type: list
        self.spec = spec
        self.pw_phase = [_pair(spec, [name], self.phase_ch[p], vt, leads)
                         for p, name in enumerate(site["phases"])]
        self.pw_charger = [None if c is None else _pair(spec, ch.get("phases", site["phases"][:1]), c, vt, leads)
                           for ch, c in zip(chargers, self.charger_ch)]
        # solar surplus tells export from import by a voltage reference on each of its lines
        for ch in chargers:
            if ch.get("surplus", False):
                for name in ch.get("phases", site["phases"][:1]):
                    if self.pw_phase[site["phases"].index(name)] is None:
                        raise ValueError("charger %r: surplus needs a voltage reference (board vt) on %s"
                                         % (ch["id"], name))
        self.vt_ch = [len(names) + j for j in range(len(board.get("vt", ())))]
        self.vt_names = [v["name"] for v in board.get("vt", ())]
