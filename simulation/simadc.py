"""Simulated CT clamps behind the sampler interface, and simulated pilot
read-back ADCs, for the unix port.

    adc = SimADC([Clamp(amps=16.0), Clamp(amps=3.0, shape=SMPS)], rate_hz=4000)
    adc.read_into(buf, frames)   # like a board's sampler, read_u16 scale

A clamp's current is a sum of harmonics of the mains frequency (shapes below),
scaled so its true RMS is exactly `amps`. The analogue front end adds a bias
near mid-rail that drifts (a ramp, sample by sample, as a sagging supply moves
it), Gaussian-like noise, and a 12-bit ADC whose result is widened to 16 bits
as ESP32 and RP2040 `read_u16` do. Channels are sampled one after another
(round-robin), like the RP2040's ADC. Faults make the signatures health.py
looks for: "open", "shorted", "stuck", "saturated", "bias", "missing" (the
sampler returns nothing) and "frozen" (the same burst again). One fault has
no signature at all: "slipped", a clamp that slipped off its cable, reads
0 A plus noise at a healthy bias, whatever current the cable carries.

PilotADC is an ADS7828 on eight pilot lines (below): the board's own
readback.Readback reads it, so the sim board and the simulated site boot and
debounce exactly as a board does.
"""

import math
import random
from array import array

import micropython
from micropython import const

import pilot

# (harmonic, relative amplitude, phase in radians)
SINE = ((1, 1.0, 0.0),)
# EV on-board charger: mild distortion, crest factor ~1.5
EV = ((1, 1.0, 0.0), (3, 0.12, 0.4), (5, 0.07, 1.1), (7, 0.04, 2.0), (11, 0.02, 0.3))
# Switched-mode supply with a capacitor input: narrow pulses, crest factor ~2.6
SMPS = ((1, 1.0, 0.0), (3, 0.87, math.pi), (5, 0.66, 0.0), (7, 0.43, math.pi),
        (9, 0.23, 0.0), (11, 0.09, math.pi), (13, 0.02, 0.0))

_TWO_PI = 2 * math.pi

# What a Clamp's `fault` may be; "missing" and "frozen" are the SimADC's own.
FAULTS = ("open", "shorted", "stuck", "saturated", "bias", "slipped")


class Clamp:
    """One simulated CT clamp on one ADC input."""

    def __init__(self, amps=0.0, shape=SINE, hz=50.0, a_per_count=0.01, bias=0.5,
                 drift_per_s=0.0, noise_lsb=0.8, fault=None):
        self.amps = amps                # true RMS current
        self.shape = shape
        self.hz = hz
        self.a_per_count = a_per_count  # amps per read_u16 count
        self.bias = bias                # fraction of full scale
        self.drift_per_s = drift_per_s  # bias drift, fraction of full scale per second
        self.noise_lsb = noise_lsb      # noise, 12-bit LSB rms
        self.fault = fault              # None or one of FAULTS
        self._norm = 1.0 / math.sqrt(sum(a * a for _, a, _ in shape) / 2)

    def peak_a(self):
        """The largest instantaneous current of this waveform (for headroom checks)."""
        best = 0.0
        for i in range(720):
            best = max(best, abs(self.current(i / 720 / self.hz)))
        return best

    def current(self, t):
        w = _TWO_PI * self.hz * t
        s = 0.0
        for h, a, ph in self.shape:
            s += a * math.sin(h * w + ph)
        return s * self._norm * self.amps


def _noise():
    # sum of three uniforms: near Gaussian, unit variance
    return (random.random() + random.random() + random.random() - 1.5) * 2.0


_TABLE = const(1024)   # waveform points per cycle
_PHASE = const(30)     # phase accumulator bits: a cycle is 2**30
_RAMP = const(16)      # fraction bits of the bias ramp (read_u16 counts per frame)


@micropython.viper
def _synth(buf, nch: int, ch: int, frames: int, table, st):
    """Healthy samples of one channel: table lookup + bias ramp + triangular noise, 12-bit.

    st (array 'i'): [phase, step, bias16, noise_k, seed, ramp, falling], phase
    and seed updated; ramp is the size of the bias change per frame in 2**-16
    read_u16 counts, falling 1 when it goes down (a ptr32 load is unsigned,
    and a constant of 2**30 or more is no small int on a 32-bit board).
    r = f * ramp, the change so far, stays below 2**31: SimADC keeps a burst's
    whole change under 32767 counts (32767 * 2**16, plus 0.5 a frame of rounding).
    """
    p = ptr16(buf)
    w = ptr32(table)
    s = ptr32(st)
    phase = int(s[0])
    step = int(s[1])
    bias = int(s[2])
    nk = int(s[3])
    seed = int(s[4])
    ramp = int(s[5])
    if int(s[6]):
        ramp = 0 - ramp
    r = 0
    i = ch
    stop = frames * nch
    while i < stop:
        # LCG mod 2**30 (Numerical Recipes' a, c): constants below 2**30 stay
        # small ints on a 32-bit board, and the sequence is the same on both
        seed = (seed * 1664525 + 1013904223) & 0x3FFFFFFF
        tri = ((seed >> 16) & 0xFF) + ((seed >> 8) & 0xFF) - 255
        # the table is stored +65536: a ptr32 load is unsigned, and a 64-bit
        # host would not sign-extend a negative entry
        v = (bias + (r >> _RAMP) + int(w[phase >> 20]) - 65536 + ((tri * nk) >> 8) + 8) >> 4
        if v < 0:
            v = 0
        if v > 4095:
            v = 4095
        p[i] = (v << 4) | (v >> 8)
        phase = (phase + step) & 0x3FFFFFFF
        r += ramp
        i += nch
    s[0] = phase
    s[4] = seed


class SimADC:
    """The sampler interface of hal.py over simulated clamps."""

    def __init__(self, clamps, rate_hz=4000, seed=1):
        self.clamps = clamps
        self.channels = len(clamps)
        self.rate_hz = rate_hz
        self.t = 0.0          # simulated time of the next frame, seconds
        self.fault = None     # "missing" or "frozen" for the whole sampler
        self.st = array("i", bytes(28))
        self.tables = [None] * len(clamps)  # type: list
        self.keys = [None] * len(clamps)
        self.seed = seed
        random.seed(seed)

    def _table(self, c, cl):
        # a slipped clamp's core no longer holds the cable: no current, just noise
        slipped = cl.fault == "slipped"
        key = (cl.amps, cl.shape, cl.a_per_count, slipped)
        if self.keys[c] != key:  # one cycle of the waveform, in read_u16 counts
            scale = 0.0 if slipped else 1.0 / cl.a_per_count
            self.tables[c] = array("i", (65536 + int(round(cl.current(k / _TABLE / cl.hz) * scale))
                                         for k in range(_TABLE)))
            self.keys[c] = key
        return self.tables[c]

    def read_into(self, buf, frames):
        if self.fault == "missing":
            return 0
        if self.fault == "frozen":
            return frames  # the buffer is left as it was: the DMA stopped
        nch = self.channels
        dt = 1.0 / self.rate_hz
        for c in range(nch):
            cl = self.clamps[c]
            t = self.t + c * dt / nch  # round-robin: channels a slot apart
            # the bias ramps sample by sample (drift_per_s), continuous across bursts
            bias = (cl.bias + cl.drift_per_s * t) * 65535
            slope = cl.drift_per_s * 65535 * dt  # read_u16 counts per frame
            if abs(slope) * frames > 32767:
                raise ValueError("bias drift beyond half the ADC's range in one burst")
            if cl.fault is None or cl.fault == "slipped":
                st = self.st
                cyc = t * cl.hz
                st[0] = int((cyc - int(cyc)) * (1 << _PHASE))
                st[1] = int(cl.hz / self.rate_hz * (1 << _PHASE) + 0.5)
                st[2] = int(bias)
                st[3] = int(cl.noise_lsb * 16 * 256 / 104.1)  # triangular noise: sd 104.1
                self.seed = st[4] = (self.seed * 69069 + 1) & 0x3FFFFFFF
                st[5] = int(abs(slope) * (1 << _RAMP) + 0.5)
                st[6] = 1 if slope < 0 else 0
                _synth(buf, nch, c, frames, self._table(c, cl), st)
            else:
                self._faulty(buf, nch, c, frames, cl, t, dt, bias, slope)
        self.t += frames * dt
        return frames

    def _faulty(self, buf, nch, c, frames, cl, t, dt, bias, slope):
        scale = 1.0 / cl.a_per_count
        noise = cl.noise_lsb * 16
        fault = cl.fault
        first = -1
        for f in range(frames):
            if fault == "open":
                v = 0.4 + abs(_noise())
            elif fault == "shorted":
                v = 4095 - abs(_noise())
            else:
                i = cl.current(t + f * dt)
                if fault == "saturated":
                    i *= 50
                b = bias + slope * f if fault != "bias" else 0.2 * 65535
                v = (b + i * scale + _noise() * noise) / 16
            v = int(v + 0.5)
            v = 0 if v < 0 else 4095 if v > 4095 else v
            if fault == "stuck":
                if first < 0:
                    first = v
                v = first
            buf[f * nch + c] = (v << 4) | (v >> 8)


def make_sampler(board):
    """A SimADC with one idle clamp per CT of the board (hal.make_sampler)."""
    import hal
    hz = board["mains_hz"] or 50
    clamps = [Clamp(0.0, SINE, hz, a_per_count=k) for k in hal.calibration(board)]
    return SimADC(clamps, board["adc"]["rate_hz"])


# The pilot read-back front end of both reference boards (boards/pico.py and
# boards/esp32_devkitc.py, "readback"): ADS7828 on the 3V3 rail, the divider
# 100 k / 22 k / 33 k pulled up to 3V3, a BAT54 taken as 200 mV. The sim board
# reads its PilotADCs through this one (hal.make_readback).
PILOT_FRONT_END = {"vref_v": 3.3, "pullup_v": 3.3, "divider": [100000, 22000, 33000], "diode_mv": 200}
_PILOT_INPUTS = const(8)
_A_MV = const(12000)
_ENODEV = const(19)     # what machine.I2C raises when no chip acknowledges


class PilotADC:
    """An ADS7828 (ads7828.py) on eight simulated pilot lines: read_into(buf, n)
    as the driver's, each input the code that the board's front end (level, a
    readback.Level) gives for level_mv[i], the pilot's high level in mV (12 V,
    no car, at start), with the nominal diode drop. silent = True: the chip
    does not answer, as one off the bus (OSError)."""

    def __init__(self, level):
        self.level = level
        self.level_mv = array("i", [_A_MV] * _PILOT_INPUTS)
        self.silent = False

    def code(self, mv):
        """The 12-bit code of a pilot at mv, the inverse of Level.pilot_mv:
        node = (mv + offset) / gain, less the drop, in LSBs of vref / 4096,
        floored as the converter does, clipped to its range. The node's
        fraction of a mV is kept (Level.node_of's whole mV would lose up to
        1.2 LSB). On PILOT_FRONT_END (gain_q 35127) every product stays under
        2**30 for any pilot within +-100 V: no big int on a 32-bit unix port."""
        lv = self.level
        g = lv.gain_q
        n = (mv + lv.offset_mv) << 12
        node = n // g
        frac = ((n - node * g) << 12) // g     # the node's fraction of a mV, in 1/4096 mV
        c = (((node - lv.diode_mv) << 12) + frac) // lv.vref_mv
        return 0 if c < 0 else 4095 if c > 4095 else c

    def read_into(self, buf, n):
        if not 0 <= n <= _PILOT_INPUTS:
            raise ValueError("ADS7828 has %d inputs, not %r" % (_PILOT_INPUTS, n))
        if self.silent:
            raise OSError(_ENODEV)
        lv = self.level_mv
        for ch in range(n):
            buf[ch] = self.code(lv[ch])


class SimPilot:
    """A pilot output on the unix port: remembers its duty (permille)."""

    failsafe = False

    def __init__(self):
        self.permille = pilot.PAUSED_PERMILLE

    def set_permille(self, permille):
        if not 0 <= permille <= 1000:
            raise ValueError("duty %r permille out of range" % (permille,))
        self.permille = permille
