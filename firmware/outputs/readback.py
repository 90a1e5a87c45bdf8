"""Pilot read-back: each charger's pilot high level -> its debounced J1772 state.

    rb = hal.make_readback(board, machine, time.ticks_diff)   # None: the board has none
    rb.calibrate()                 # at boot, every pilot at constant +12 V
    rb.states(now_ms)              # ['A', 'C', None, ...]: the same list every call

Pure logic: the ADCs are handed in (ads7828.ADS7828 on a board,
simadc.PilotADC on the sim board and in the simulated site, fakes in
tests), each with read_into(buf, n) filling inputs 0..n-1 and raising
OSError when it does not answer. Charger i is on input i: chip i // 8,
input i % 8.

The front end (docs/boards-and-wiring.md, "Pilot read-back"): the pilot through a divider of
r_top from the pilot, r_up to the pull-up rail and r_down to GND; a unity
buffer; a Schottky diode into a hold capacitor with a bleed resistor (a peak
detector: the PWM's high level, which is what tells the state); the ADC on
the capacitor. So node = adc + drop, and, from the node's currents,

    pilot = node * (1 + r_top / r_up + r_top / r_down) - pullup * r_top / r_up

(100 k / 22 k / 33 k, 3.3 V: pilot = 8.576 node - 15 V; -12..+12 V is
0.350..3.148 V at the node). Integer mV, 12-bit fixed point: no float per read.

A chip that does not answer gives None for each of its chargers ("not read
back": the controller then assumes the bay may draw its offer at any
moment), and those chargers report None again until a state has held once
the chip is back (pilot.PilotState.forget), never a state from before the
gap. Until a state has held at boot the report is None too.
"""

from array import array
from micropython import const

import pilot

_Q = const(12)                 # fixed point of the divider's gain
_A_MV = const(12000)           # the generator's +12 V: what a line in state A reads
_INPUTS = const(8)             # inputs per chip


class Level:
    """ADC code -> the pilot's high level (mV), through the divider and the detector's drop."""

    def __init__(self, vref_mv, pullup_mv, divider, diode_mv):
        r_top, r_up, r_down = divider
        if not (r_top > 0 and r_up > 0 and r_down > 0 and vref_mv > 0 and 0 <= diode_mv < 1000):
            raise ValueError("read-back: divider %r, vref %r mV, diode %r mV" %
                             (divider, vref_mv, diode_mv))
        self.vref_mv = vref_mv
        self.gain_q = round((1 << _Q) * (1 + r_top / r_up + r_top / r_down))
        self.offset_mv = round(pullup_mv * r_top / r_up)
        self.diode_mv = diode_mv
        # +13 V (the top of band A) must stay inside the ADC's range, and every
        # product below a 30-bit small int (no allocation on the boards)
        top = self.node_of(13000) - diode_mv
        if top >= vref_mv:
            raise ValueError("read-back: +13 V gives %d mV at the ADC, over its %d mV reference"
                             % (top, vref_mv))
        if (vref_mv + 1000) * self.gain_q >= 1 << 30 or 8191 * vref_mv >= 1 << 30:
            raise ValueError("read-back: divider gain out of range")

    def node_of(self, pilot_mv):
        """The divider's output (mV) for a pilot level."""
        return ((pilot_mv + self.offset_mv) << _Q) // self.gain_q

    def pilot_mv(self, code, drop_mv):
        """The pilot level (mV) of an ADC code (taken at the middle of its LSB)."""
        node = (((code << 1) + 1) * self.vref_mv >> (_Q + 1)) + drop_mv
        return (node * self.gain_q >> _Q) - self.offset_mv

    def drop_for(self, code, pilot_mv):
        """The detector drop that makes `code` read as `pilot_mv`."""
        return self.node_of(pilot_mv) - (((code << 1) + 1) * self.vref_mv >> (_Q + 1))


class Readback:
    """The read-back of n chargers on 8-input ADCs, charger i on input i; chargers
    beyond the last input are never read back (always None)."""

    def __init__(self, chips, n, level, ticks_diff, hold_ms=500, safe_ms=100):
        if n <= 0 or not chips:
            raise ValueError("read-back: %d chargers on %d ADCs" % (n, len(chips)))
        self.debounce = [pilot.PilotState(ticks_diff, hold_ms, safe_ms) for _ in range(n)]
        for d in self.debounce:
            d.forget()                 # None until a state has held
        self.now = [None] * n  # type: list[str | None]
        read = min(n, _INPUTS * len(chips))
        self.chips = chips[:(read + _INPUTS - 1) // _INPUTS]
        self.per = [min(_INPUTS, read - _INPUTS * k) for k in range(len(self.chips))]
        self.level = level
        self.codes = array("H", bytes(2 * _INPUTS))
        self.drop_mv = array("i", [level.diode_mv] * n)
        self.up = bytearray(len(self.chips))    # 1: the chip's last read went through

    def states(self, now_ms):
        """One read of every input: a letter per charger ('A'..'F'), or None where
        its ADC did not answer (or no state has held yet). Allocates nothing."""
        # one name at a time: a tuple of more than three would be allocated
        out = self.now
        deb = self.debounce
        codes = self.codes
        drop = self.drop_mv
        lvl = self.level
        up = self.up
        i = 0
        for k in range(len(self.chips)):
            m = self.per[k]
            try:
                self.chips[k].read_into(codes, m)
                up[k] = 1
            except OSError:
                up[k] = 0
            for c in range(m):
                if up[k]:
                    out[i] = deb[i].update(now_ms, lvl.pilot_mv(codes[c], drop[i]))
                else:
                    deb[i].forget()
                    out[i] = None
                i += 1
        return out

    def calibrate(self):
        """Take out each input's diode drop on the generator's +12 V.

        Call with every pilot at constant +12 V (at boot, all paused) for
        a few ms. A line without a car then sits at the generator's +12 V:
        an input that reads in band A with the nominal drop gets the drop
        that makes it read exactly 12.0 V (the diode's drop varies with
        its current and temperature, ~0.1-0.3 V, i.e. ~1-2.5 V at the pilot).
        Other inputs (a car in B, a silent chip) keep the nominal drop.
        Returns the number of inputs calibrated.
        """
        codes, lvl = self.codes, self.level
        done = i = 0
        for k in range(len(self.chips)):
            m = self.per[k]
            try:
                self.chips[k].read_into(codes, m)
            except OSError:
                i += m
                continue
            for c in range(m):
                if pilot.state_of_mv(lvl.pilot_mv(codes[c], lvl.diode_mv)) == "A":
                    self.drop_mv[i] = lvl.drop_for(codes[c], _A_MV)
                    done += 1
                i += 1
        return done
