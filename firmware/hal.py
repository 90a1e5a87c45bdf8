"""The hardware interface: what a board backend must provide, and the factory.

    board = hal.load_board("sim")        # boards/<name>.py, a BOARD dict
    adc = hal.make_sampler(board)        # backend chosen by board["adc"]["backend"]

Logic modules (ct, health, pilot, alloc, ...) never import hardware; they are
handed these duck-typed objects:

Sampler (one per board; the sim one is simadc.SimADC)
    channels        number of CT inputs, in board["ct"] order
    rate_hz         frames per second; one frame = one sample of every channel
    read_into(buf, frames) -> int
                    fill buf (array 'H', read_u16 scale 0..65535) with `frames`
                    evenly spaced frames, interleaved ch0..chN-1, as one burst.
                    Returns the frames captured; fewer means samples went missing.
Pilot output (native PWM or a PCA9685 channel)
    set_permille(permille)      duty in 0.1 %, 1000 = constant +12 V
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


def calibration(board):
    """Per-channel amps per count, in board["ct"] order."""
    vref = board["adc"]["vref_v"]
    return [amps_per_count(ch["ratio"], ch["burden_ohm"], vref) * ch.get("trim", 1.0)
            for ch in board["ct"]]


def make_sampler(board):
    backend = board["adc"]["backend"]
    if backend not in _BACKENDS:
        raise ValueError("unknown sampler backend %r" % backend)
    return __import__(_BACKENDS[backend]).make_sampler(board)
