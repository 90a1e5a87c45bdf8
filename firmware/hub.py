"""The control loop: measure -> health -> allocate -> pilots -> (telemetry).

    hub = Hub(board, cfg, adc, pilots, ticks_diff)   # every pilot safe first
    rec = hub.step(now_ms)                           # once per control period

Wiring only: the decisions are in ct, health, control and pilot. The control
task alone owns the pilot outputs; the watchdog is fed only at the end of a
complete period, so a hung loop resets the board (and a fresh boot makes
every pilot safe before anything else, in __init__ and in main).
"""

import ct
import control
import hal
import health
import pilot

_LOG_LEN = 32


def safe_all(pilots):
    """Safety rule 1: no charging offer on any pilot."""
    for p in pilots:
        p.set_permille(pilot.PAUSED_PERMILLE)


class Hub:
    def __init__(self, board, cfg, adc, pilots, ticks_diff, readback=None, wdt=None):
        safe_all(pilots)
        self.pilots = pilots
        self.duty = [pilot.PAUSED_PERMILLE] * len(pilots)
        self.ticks_diff = ticks_diff
        self.readback = readback
        self.wdt = wdt
        site = cfg["site"]
        self.ct_names = names = [ch["name"] for ch in board["ct"]]
        self.phase_ch = []
        for p in site["phases"]:
            if p not in names:
                raise ValueError("site phase %r has no CT on board %s" % (p, board["name"]))
            self.phase_ch.append(names.index(p))
        if len(cfg.get("chargers", ())) > len(pilots):
            raise ValueError("%d chargers but %d pilot outputs" % (len(cfg["chargers"]), len(pilots)))
        ctl = cfg.get("control", {})
        self.period_ms = period = ctl.get("period_ms", control.DEFAULTS["period_ms"])
        cal = hal.calibration(board)
        trim = getattr(adc, "trim", None)   # a sampler's own gain correction (ESP32 eFuse)
        if trim:
            cal = [c * t for c, t in zip(cal, trim)]
        self.meter = ct.Meter(adc, cal, mains_hz=board["mains_hz"],
                              stale_ms=2 * period + 500)
        self.ctl = control.Controller(site, cfg.get("chargers", []), ctl, ticks_diff)
        self.ids = [ch["id"] for ch in cfg.get("chargers", [])]
        # a CT named after a charger measures that charger's own feed
        self.charger_ch = [names.index(i) if i in names else None for i in self.ids]
        self.metered = any(c is not None for c in self.charger_ch)
        self.log = []       # the last _LOG_LEN events, (now_ms, text)
        self.logged = 0     # events ever logged
        self.mode = None
        self.states = None

    def event(self, now, text):
        self.logged += 1
        self.log.append((now, text))
        if len(self.log) > _LOG_LEN:
            self.log.pop(0)

    def step(self, now):
        """One control period. Returns (phase amps, phase ok, offers)."""
        m = self.meter
        m.measure(now)
        m.check_stale(now, self.ticks_diff)
        phase_a = [m.irms_a[c] for c in self.phase_ch]
        phase_ok = [m.status[c] == health.OK for c in self.phase_ch]
        self.states = states = self.readback.states(now) if self.readback else None
        draws = None
        if self.metered:
            draws = [m.irms_a[c] if c is not None and m.status[c] == health.OK else None
                     for c in self.charger_ch]
        offers = self.ctl.step(now, phase_a, phase_ok, states, draws)
        for i, amps in enumerate(offers):
            if not self.ctl.enabled[i]:
                d = pilot.DISABLED_PERMILLE   # state F: this EVSE is not available
            else:
                d = pilot.amps_to_duty_permille(amps) if amps else pilot.PAUSED_PERMILLE
            if d != self.duty[i]:
                self.pilots[i].set_permille(d)
                if (amps == 0) != (self.duty[i] in (pilot.PAUSED_PERMILLE, pilot.DISABLED_PERMILLE)):
                    self.event(now, "%s %s" % (self.ids[i], "offered %d A" % amps if amps else
                                               "paused" if self.ctl.enabled[i] else "disabled"))
                self.duty[i] = d
        if self.ctl.mode != self.mode:
            bad = [health.NAMES[m.status[c]] for c in self.phase_ch]
            self.event(now, "mode %s (sensors: %s)" % (self.ctl.mode, ",".join(bad)))
            self.mode = self.ctl.mode
        if self.wdt is not None:
            self.wdt.feed()
        return phase_a, phase_ok, offers
