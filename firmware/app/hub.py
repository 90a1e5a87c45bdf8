"""The control loop: measure -> health -> allocate -> pilots -> (telemetry).

    hub = Hub(board, cfg, adc, pilots, ticks_diff)   # every pilot safe first
    rec = hub.step(now_ms)                           # once per control period

Wiring only: the decisions are in ct, health, control and pilot. The control
task alone owns the pilot outputs; the watchdog is fed only at the end of a
complete period, so a hung loop resets the board (and a fresh boot makes
every pilot safe before anything else, in __init__ and in main).
"""

import gc

import ct
import control
import demand
import grid
import health
import pilot

_LOG_LEN = 32
IMPLAUSIBLE = "implausible"   # a healthy-looking CT the EVs' known draw contradicts


def safe_all(pilots):
    """Safety rule 1: no charging offer on any pilot."""
    for p in pilots:
        try:
            p.set_permille(pilot.PAUSED_PERMILLE)
        except OSError:
            pass    # an expander bank that is down: its /OE holds it off (the loop retries)


def _kind(duty):
    # no dict built per call: this runs for every charger every period
    if duty == pilot.PAUSED_PERMILLE:
        return "paused"
    return "disabled" if duty == pilot.DISABLED_PERMILLE else "offered"


class PilotWriter:
    """The offers onto the pilots: each charger's duty (the offer, +12 V paused,
    -12 V state F once a disabled car has had its time to stop), written only
    when it changes, or when its PCA9685 bank failed (/OE high: all at -12 V)
    or restarted (all at +12 V), after which every channel of it is rewritten.
    An output that fails is reported to the controller (its offer stays
    booked) and does not stop the others' cuts."""

    def __init__(self, pilots, ids, event):
        self.pilots = pilots
        self.ids = ids
        self.event = event
        self.banks = [getattr(p, "bank", None) for p in pilots]
        self.starts = [b.starts if b is not None else 0 for b in self.banks]
        self.duty = [pilot.PAUSED_PERMILLE] * len(pilots)

    def _duty(self, ctl, i, amps, now):
        if not ctl.claims.enabled[i]:
            # +12 V first: the car stops charging on "not ready", then state F
            return pilot.PAUSED_PERMILLE if ctl.committed(i, now) else pilot.DISABLED_PERMILLE
        if not amps:
            return pilot.PAUSED_PERMILLE
        try:
            return pilot.amps_to_duty_permille(amps)
        except ValueError:   # never expected (offers are whole amps); pause rather than stop the loop
            ctl.output_failed(i, now, True)
            return pilot.PAUSED_PERMILLE

    def write(self, ctl, offers, now):
        for i in range(len(offers)):
            amps = offers[i]
            d = self._duty(ctl, i, amps, now)
            bank = self.banks[i]
            if d == self.duty[i] and not ctl.out_fault[i] and (
                    bank is None or (not bank.fault and bank.starts == self.starts[i])):
                continue    # unchanged, and its expander bank neither down nor restarted (+12 V)
            try:
                self.pilots[i].set_permille(d)
            except OSError as e:
                # one output's bus error must not stop the other chargers' cuts
                if not ctl.out_fault[i]:
                    self.event(now, "%s output failed (%s)" % (self.ids[i], e))
                ctl.output_failed(i, now, getattr(self.pilots[i], "failsafe", False))
                continue
            if bank is not None:
                self.starts[i] = bank.starts
            if ctl.out_fault[i]:
                ctl.output_ok(i, now)
                self.event(now, "%s output back" % self.ids[i])
            kind = _kind(d)
            if kind != _kind(self.duty[i]):
                self.event(now, "%s %s" % (self.ids[i], "offered %d A" % amps if kind == "offered" else kind))
            self.duty[i] = d


class Hub:
    def __init__(self, board, cfg, adc, pilots, ticks_diff, readback=None, wdt=None, contact=None):
        safe_all(pilots)
        self.pilots = pilots
        self.ticks_diff = ticks_diff
        self.readback = readback
        self.wdt = wdt
        site = cfg["site"]
        # the board against the config (app/plan.py, which deploy runs too);
        # config, hal and plan are boot-only: imported where used, and main
        # unloads them once the hub stands (heap.unload)
        import plan
        wiring = plan.Plan(board, cfg, len(pilots))
        self.ct_names = wiring.ct_names
        self.phase_ch = wiring.phase_ch
        ctl = cfg.get("control", {})
        self.period_ms = period = ctl.get("period_ms", control.DEFAULTS["period_ms"])
        import hal
        cal = hal.calibration(board)
        trim = getattr(adc, "trim", None)   # a sampler's own gain correction (ESP32 eFuse)
        if trim:
            cal = [c * t for c, t in zip(cal, trim)]
        self.meter = ct.Meter(adc, cal, mains_hz=board["mains_hz"],
                              stale_ms=2 * period + 500)
        # the period against this board (config.py bounds it for every board):
        # it must hold a burst, and the watchdog is fed once a period
        burst_ms = self.meter.frames * 1000 // adc.rate_hz
        if period < burst_ms + 20:
            raise ValueError("control.period_ms: %d ms cannot hold this board's %d ms burst" % (period, burst_ms))
        # Boot in stages with a collection between them: a stage's garbage
        # (comprehensions' temporaries, `[x] * n`'s one-item list) is freed
        # before the next stage's lasting objects are placed, so they fill its
        # holes instead of sitting above them and splitting the free end.
        # Largest free block after a simulated hour (tools/bench.py heap's
        # program: 32 bits, ROMFS, 108 KiB): 12.0 -> 14.4 KiB for these, and
        # 16.5 -> 18.9 KiB for those in Services.
        gc.collect()
        self.ctl = control.Controller(site, cfg.get("chargers", []), ctl, ticks_diff)
        gc.collect()
        self.ids = [ch["id"] for ch in cfg.get("chargers", [])]
        import config   # boot-only: main unloads it once the hub stands (heap.unload)
        # volts per amp of each charger's connection (line to neutral, split-phase
        # 240 V, 208 V line to line, three-phase): its energy (app/metering.py)
        self.charger_v = [config.charger_volts(site, len(c.phases)) for c in self.ctl.site.chargers]
        # one of several hubs on the connection: its safe share of the room
        # (config.share_of: 0 where its id is not in site.hubs: its cars wait)
        me = (cfg.get("mqtt") or {}).get("hub_id", "hub")
        self.ctl.claims.share = config.share_of(site, me)
        if "hubs" in site:      # a circuit not its own: its share of the circuit's limit
            a = self.ctl.site
            for node in range(1, len(a.limit_a)):
                f = config.circuit_share(site, a.circuit_ids[node], me)
                if f < 1:
                    a.limit_a[node] = int(a.limit_a[node] * f)
        unlisted = "hubs" in site and me not in site["hubs"]
        self.writer = PilotWriter(pilots, self.ids, self.event)
        self.charger_ch = wiring.charger_ch
        self.metered = any(c is not None for c in self.charger_ch)
        self.draws = None       # per charger: its own CT's amps (healthy) or None; None without any
        # real power: pw_phase[p], pw_charger[i] index the pairs in self.power, or None
        self.pw_phase, self.pw_charger = wiring.pw_phase, wiring.pw_charger
        # the lines' currents with their direction, for the draw tracker (control.py)
        self.vt_lines = any(k is not None for k in self.pw_phase)
        self.signed_a = [0.0] * len(site["phases"])
        self.power = None
        gc.collect()
        if wiring.spec:
            import power    # only where a VT is wired: the module stays out of RAM otherwise
            self.power = power.Pairs(self.meter, wiring.spec, board["mains_hz"])
        # solar surplus: chargers that charge only from export, which a voltage
        # reference on each of their lines tells from import
        modes = [ch.get("surplus", False) for ch in cfg.get("chargers", [])]
        self.surplus = None
        if True in modes:
            import surplus    # only where configured: the module stays out of RAM otherwise
            self.surplus = surplus.Surplus(self.ctl, modes, ticks_diff)
            self.export_a = [None] * len(site["phases"])   # type: list
            self.volts = config.voltage(site)     # line to neutral
        self.vt_ch, self.vt_names = wiring.vt_ch, wiring.vt_names
        # how each charger's energy is known: metered (its own CT and a voltage
        # reference: real power), its own CT alone or the pilot's read-back
        # (offer while in C or D) at the nominal voltage (estimates), or not
        # at all (no read-back, no CT: an offer on an empty bay is not energy)
        self.energy_by = [("meter" if k is not None else "ct" if c is not None else
                           "pilot" if readback is not None else "none")
                          for c, k in zip(self.charger_ch, self.pw_charger)]
        nph = len(site["phases"])
        gc.collect()
        self.demand = demand.Demand(nph)   # 15-minute demand, per phase
        # limits from outside (grid signals, the dry contact, schedules, the
        # demand cap): the controller reads them each period through its claims
        self.grid = grid.Grid(cfg, ticks_diff)
        self.ctl.claims.take_outside(self.grid)
        self.contact = contact       # the dry contact's reader: 1 closed, 0 open (None: not wired)
        self.wall_s = grid.no_clock      # Unix seconds (0: unknown); Services gives its own
        self.now = 0                 # the last period's ticks
        # per phase, reused every period (the lists step returns: read them before the next step)
        self.phase_a = [0.0] * nph
        self.phase_ok = [False] * nph
        self.believed = [False] * nph
        self.log = [None] * (_LOG_LEN + 1)  # type: list  # the last _LOG_LEN events, (now_ms, text) (Services keeps 8 once posted)
        del self.log[:]     # room made at boot and kept (see mqttlink.Link.outbox)
        self.logged = 0     # events ever logged
        self.mode = None
        self.states = None
        if unlisted:
            self.event(0, "hub %s is not in site.hubs: share 0, its chargers wait" % me)

    def event(self, now, text):
        self.logged += 1
        self.log.append((now, text))
        if len(self.log) > _LOG_LEN:
            self.log.pop(0)

    def surplus_state(self, i):
        """Charger i's solar surplus state (surplus.Surplus.state), None where it
        is not in surplus mode or none is set up: for telemetry and the simulator."""
        return self.surplus.state(i) if self.surplus is not None else None

    def sensor(self, p):
        """Phase p's sensor status name: the Meter's, or `implausible` when the
        controller does not believe a healthy-looking reading."""
        c = self.phase_ch[p]
        if self.meter.status[c] == health.OK and self.ctl.implausible[p]:
            return IMPLAUSIBLE
        return health.NAMES[self.meter.status[c]]

    def step(self, now):
        """One control period. Returns (phase amps, phase ok, offers)."""
        phase_a, phase_ok = self._measure(now)
        states, draws = self.states, self.draws
        self._limits(now)
        if self.surplus is not None:
            self._surplus(now, phase_ok, states, draws)
        signed = self._signed(phase_a) if self.vt_lines else None
        ctl = self.ctl
        offers = ctl.step(now, phase_a, phase_ok, states, draws, signed)
        self.writer.write(ctl, offers, now)
        believed = self.believed
        for p in range(len(phase_ok)):
            believed[p] = phase_ok[p] and not ctl.implausible[p]
        self.demand.add(now, phase_a, believed, self.ticks_diff, signed)
        if ctl.mode != self.mode:
            self.event(now, "mode %s (sensors: %s)" % (ctl.mode, ",".join(
                self.sensor(p) for p in range(len(self.phase_ch)))))
            self.mode = ctl.mode
        if self.wdt is not None:
            self.wdt.feed()
        return phase_a, phase_ok, offers

    @property
    def duty(self):
        """Each charger's duty as written (permille), for telemetry."""
        return self.writer.duty

    def _measure(self, now):
        """The clamps (phase amps and health; each charger's own CT where it has
        one: self.draws) and the pilots read back (self.states)."""
        m = self.meter
        m.measure(now)
        m.check_stale(now, self.ticks_diff)
        if self.power is not None:
            self.power.update()
        phase_a, phase_ok = self.phase_a, self.phase_ok
        for p in range(len(phase_a)):
            c = self.phase_ch[p]
            phase_a[p] = m.irms_a[c]
            phase_ok[p] = m.status[c] == health.OK
        self.states = self.readback.states(now) if self.readback else None
        draws = None
        if self.metered:
            draws = [m.irms_a[c] if c is not None and m.status[c] == health.OK else None
                     for c in self.charger_ch]
        self.draws = draws
        self.now = now
        return phase_a, phase_ok

    def _limits(self, now):
        """The limits from outside in force this period (grid.Grid), said when their source changes."""
        g = self.grid
        if self.contact is not None:
            try:
                r = self.contact()
            except OSError:    # an input behind a bus that hangs: unreadable
                r = None
            g.contact(r, now)
        src = g.source
        g.update(now, self.wall_s() if g.scheduled else 0, self.ctl.claims.site_a, self.demand)
        if g.source != src:
            self.event(now, "limit %s" % g.source)

    def _surplus(self, now, phase_ok, states, draws):
        ex, w = self.export_a, self.power.w
        for p in range(len(ex)):      # amps exported (import < 0); None: direction unknown
            k = self.pw_phase[p]
            x = w[k] if k is not None and phase_ok[p] else None
            ex[p] = -x / self.volts if x is not None else None
        self.surplus.update(now, ex, states, draws)

    def _signed(self, phase_a):
        """phase_a with export < 0, where a voltage reference gives direction."""
        signed, w = self.signed_a, self.power.w
        for p in range(len(signed)):
            k = self.pw_phase[p]
            x = w[k] if k is not None else None
            signed[p] = -phase_a[p] if x is not None and x < 0 else phase_a[p]
        return signed
