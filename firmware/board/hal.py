"""The hardware interface: what a board backend must provide, and the factory.

    board = hal.load_board("sim")        # boards/<name>.py, a BOARD dict
    adc = hal.make_sampler(board)        # backend chosen by board["adc"]["backend"]

Logic modules (ct, health, pilot, alloc, ...) never import hardware; they are
handed these duck-typed objects:

Sampler (one per board; the sim one is simadc.SimADC)
    channels        number of inputs: board["ct"], then board["vt"] (inputs())
    rate_hz         frames per second; one frame = one sample of every channel
    read_into(buf, frames) -> int
                    fill buf (array 'H', read_u16 scale 0..65535) with `frames`
                    evenly spaced frames, interleaved ch0..chN-1, as one burst.
                    Returns the frames captured; fewer means samples went missing.
Pilot output (native PWM or a PCA9685 channel; outputs.build makes them)
    set_permille(permille)      duty in 0.1 %, 1000 = constant +12 V. May raise
                                OSError (an expander that stopped answering)
    failsafe                    True when, after such an OSError, the output is
                                known to be off (-12 V: the bank's /OE went high);
                                False: it may still be offering its last duty
Pilot read-back (make_readback; None where the board has none)
    states(now_ms) -> list      a letter 'A'..'F' per charger, debounced, or None
                                where that charger is not read back (its ADC is
                                silent, or no state has held yet)
    calibrate()                 at boot with every pilot at +12 V: the diode drops
Pilot read-back ADC (ads7828.ADS7828; the sim board's: simadc.PilotADC)
    read_into(buf, n)           inputs 0..n-1 (n <= 8) as 12-bit codes into buf;
                                OSError when the chip does not answer
Watchdog
    feed()
Clock
    ticks_ms(), ticks_diff(a, b)   (time module on the boards)
"""

_BACKENDS = {
    # backend name -> module providing make_sampler(board); imported only when used
    "sim": "simadc",
    "rp2": "hw_rp2",
    "esp32": "hw_esp32",
}


def load_board(name):
    """The BOARD dict of boards/<name>.py (on the device: board.py)."""
    mod = __import__(name)
    return mod.BOARD


def amps_per_count(ratio, burden_ohm, vref_v):
    """Amps per read_u16 count of a CT with `ratio` turns on `burden_ohm`."""
    return vref_v / 65536 / burden_ohm * ratio


def volts_per_count(ratio, vref_v):
    """Mains volts per read_u16 count of a voltage reference (VT): `ratio`
    mains volts per volt at the pin, the AC-AC adapter's and its divider's
    together (docs/measurement.md, "Real power and energy: a voltage reference")."""
    return vref_v / 65536 * ratio


def inputs(board):
    """The sampler's channels in order: the CTs, then the voltage references."""
    return board["ct"] + board.get("vt", [])


def calibration(board):
    """Per channel, amps (CT) or volts (VT) per count, in inputs() order."""
    vref = board["adc"]["vref_v"]
    return ([amps_per_count(ch["ratio"], ch["burden_ohm"], vref) * ch.get("trim", 1.0)
             for ch in board["ct"]] +
            [volts_per_count(ch["ratio"], vref) * ch.get("trim", 1.0) for ch in board.get("vt", ())])


def vt_lines(board):
    """{line: (channel, lag)}: which sampler channel gives each line's
    voltage, and by how many degrees the line lags it (0; 180 for the other
    leg of a split-phase service; 120 and 240 for the other lines of a
    three-phase site read by one VT). Raises ValueError for anything else."""
    nct = len(board["ct"])
    out = {}
    for j, v in enumerate(board.get("vt", ())):
        for line, deg in v.get("lines", {}).items():
            if deg not in (0, 120, 180, 240):
                raise ValueError("vt %s: line %s at %r degrees: 0, 120, 180 or 240 (the degrees it lags the VT)"
                                 % (v.get("name"), line, deg))
            if line in out:
                raise ValueError("vt %s: line %s has a VT already" % (v.get("name"), line))
            out[line] = (nct + j, deg)
    return out


def pilot_count(board):
    """How many pilot outputs the board has (outputs.build makes them in this order)."""
    sp = board.get("pilots", {})
    if sp.get("sim"):
        return sp["sim"]
    return len(sp.get("native", ())) + sum(e.get("channels", 16) for e in sp.get("pca9685", ()))


def make_readback(board, machine, ticks_diff, i2c=None):
    """The board's pilot read-back, or None. board["readback"]:

        {"ads7828": [0x48, ...], "vref_v": 3.3, "pullup_v": 3.3,
         "divider": [r_top, r_up, r_down], "diode_mv": 200}   # on the pilots' I2C bus
        {"sim": 30}        # unix port: 30 pilots on simadc.PilotADC chips, the
                           # reference boards' front end (simadc.PILOT_FRONT_END);
                           # their pilot levels set by a test or a simulation

    i2c: the bus already made (outputs.Outputs.i2c), else one is made here.
    Charger i is on ADC input i; the list covers every pilot of the board
    (None for any beyond the last ADC input). The sim board's is the same
    readback.Readback as a board's, so it boots and debounces as one does.
    """
    spec = board.get("readback")
    if not spec:
        return None
    import readback
    if "sim" in spec:
        import simadc
        n = spec["sim"]
        level = _level(simadc.PILOT_FRONT_END)
        return readback.Readback([simadc.PilotADC(level) for _ in range((n + 7) // 8)], n,
                                 level, ticks_diff)
    import ads7828
    addrs = spec["ads7828"]
    if i2c is None:
        bus = spec.get("i2c") or board["pilots"]["i2c"]
        i2c = machine.I2C(bus["id"], scl=machine.Pin(bus["scl"]), sda=machine.Pin(bus["sda"]),
                          freq=bus.get("freq", 400000))
    return readback.Readback([ads7828.ADS7828(i2c, a) for a in addrs], pilot_count(board),
                             _level(spec), ticks_diff)


def _level(spec):
    """The readback.Level of a board's "readback" entry (volts, ohms, mV)."""
    import readback
    return readback.Level(round(spec["vref_v"] * 1000), round(spec.get("pullup_v", spec["vref_v"]) * 1000),
                          spec["divider"], round(spec.get("diode_mv", 0)))


def make_contact(board, machine, cfg):
    """The dry contact's reader (1 closed, 0 open) where the config applies a
    limit while it is closed (grid.contact_limit_a), else None. board["inputs"]:
    {"dr": {"pin": N}}: the contact between the pin and GND, the pin pulled
    up (a broken wire reads open: the utility's relay is supervised by its
    own side; a pin that cannot be read or chatters is taken as closed)."""
    if "contact_limit_a" not in (cfg.get("grid") or {}):
        return None
    spec = (board.get("inputs") or {}).get("dr")
    if spec is None:
        raise ValueError("grid.contact_limit_a: board %s has no dry-contact input (inputs.dr)" % board["name"])
    pin = machine.Pin(spec["pin"], machine.Pin.IN, machine.Pin.PULL_UP)

    def read():
        return 1 if pin.value() == 0 else 0
    return read


def make_sampler(board):
    backend = board["adc"]["backend"]
    if backend not in _BACKENDS:
        raise ValueError("unknown sampler backend %r" % backend)
    return __import__(_BACKENDS[backend]).make_sampler(board)
