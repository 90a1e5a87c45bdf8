"""Pilot read-back: ADS7828 driver, divider and diode arithmetic, debounce, silent chips."""
import micropython

import ads7828
import fake_machine as machine
import hal
import pilot
import readback
import simadc
from fake_i2c import FakeADS7828, FakeI2C
from mpunit import eq, near, ok, raises

R_TOP, R_UP, R_DOWN = 100000, 22000, 33000
VCC = 3.3
DIODE_V = 0.25
ADDRS = (0x48, 0x49, 0x4A, 0x4B)
# IEC 61851-1 Table A.4: nominal pilot high levels
NOMINAL = (("A", 12.0), ("B", 9.0), ("C", 6.0), ("D", 3.0), ("E", 0.0), ("F", -12.0))


def node_v(pilot_v):
    """The divider's output for a pilot level (Kirchhoff at the node)."""
    g = 1 / R_TOP + 1 / R_UP + 1 / R_DOWN
    return (pilot_v / R_TOP + VCC / R_UP) / g


def adc_v(pilot_v, diode_v=DIODE_V):
    """What the ADC sees: the peak detector's capacitor, a diode drop below the node."""
    return max(0.0, node_v(pilot_v) - diode_v)


def ticks_diff(a, b):
    return a - b


def level():
    return readback.Level(3300, 3300, (R_TOP, R_UP, R_DOWN), 250)


def rig(n=30, diode_v=DIODE_V, pilots=None):
    chips = {a: FakeADS7828(vref_v=3.3) for a in ADDRS}
    bus = FakeI2C(chips)
    for i in range(n):
        v = pilots[i] if pilots else 12.0
        chips[ADDRS[i // 8]].set_volts(i % 8, adc_v(v, diode_v))
    rb = readback.Readback([ads7828.ADS7828(bus, a) for a in ADDRS], n, level(), ticks_diff)
    return chips, bus, rb


def set_pilot(chips, i, v, diode_v=DIODE_V):
    chips[ADDRS[i // 8]].set_volts(i % 8, adc_v(v, diode_v))


def test_divider_arithmetic():
    # -12..+12 V -> 0.350..3.148 V at the divider's output
    near(node_v(-12), 0.350, 0.001)
    near(node_v(12), 3.148, 0.001)
    near(node_v(0), 1.749, 0.001)
    lv = level()
    near(lv.gain_q / 4096, 1 + R_TOP / R_UP + R_TOP / R_DOWN, 0.0003)   # 8.576
    eq(lv.offset_mv, 15000)                                             # 3.3 V * 100k / 22k
    near(lv.node_of(12000), 3148, 1)
    near(lv.node_of(-12000), 350, 1)
    for mv in range(-13000, 13001, 500):
        code = int(adc_v(mv / 1000) / 3.3 * 4096)    # an ideal 12-bit ADC on a 3.3 V reference
        if code <= 0:
            continue
        # 1 LSB is 6.9 mV at the pilot, 1 mV at the node 8.6 mV: within 12 mV
        near(lv.pilot_mv(code, 250), mv, 12, "%d mV round trip" % mv)
    raises(ValueError, readback.Level, 2500, 3300, (R_TOP, R_UP, R_DOWN), 0)   # +13 V over a 2.5 V ref


def test_command_bytes_single_ended_odd_order_external_reference():
    want = {0: 0x84, 1: 0xC4, 2: 0x94, 3: 0xD4, 4: 0xA4, 5: 0xE4, 6: 0xB4, 7: 0xF4}
    for ch in range(8):
        cmd = ads7828.command(ch)
        eq(cmd, want[ch], "input %d" % ch)
        eq(FakeADS7828.input_of(cmd), ch)
        eq(cmd & 0x80, 0x80, "SD: single-ended")
        eq(cmd & 0x08, 0, "PD1 0: internal reference off, REFin from the board")
        eq(cmd & 0x04, 0x04, "PD0 1: converter on")
    raises(ValueError, ads7828.command, 8)


def test_driver_reads_each_input():
    chip = FakeADS7828(vref_v=3.3, volts=[0.1 * (i + 1) for i in range(8)])
    bus = FakeI2C({0x49: chip})
    adc = ads7828.ADS7828(bus, 0x49)
    buf = [0] * 8
    adc.read_into(buf, 8)
    eq(buf, [int(0.1 * (i + 1) / 3.3 * 4096) for i in range(8)])
    eq(chip.commands, [ads7828.command(i) for i in range(8)])
    chip.set_volts(3, 3.4)
    eq(adc.read(3), 4095, "clipped at the reference")
    raises(ValueError, adc.read_into, buf, 9)


def test_silent_or_foreign_chip_raises_oserror():
    bus = FakeI2C({})
    eq(raises(OSError, ads7828.ADS7828(bus, 0x48).read, 0).errno, 19)

    class NotAnADC(FakeADS7828):
        def read_raw(self, buf):
            buf[0], buf[1] = 0xFF, 0xFF
    bus = FakeI2C({0x48: NotAnADC()})
    eq(raises(OSError, ads7828.ADS7828(bus, 0x48).read, 0).errno, 5)


def test_every_state_through_the_divider_and_the_diode():
    for diode_v in (0.25, 0.20, 0.30):       # the nominal drop, and +-50 mV of it
        pilots = [NOMINAL[i % 6][1] for i in range(30)]
        chips, bus, rb = rig(30, diode_v, pilots)
        rb.states(0)
        got = rb.states(600)                  # every state held past its debounce
        eq(got, [NOMINAL[i % 6][0] for i in range(30)], "diode %.2f V" % diode_v)
    # each band's edges (+-0.9 V) still read as that state with the nominal drop
    for st, v in NOMINAL[:5]:
        for dv in (-0.9, 0.9):
            chips, bus, rb = rig(8, pilots=[v + dv] * 8)
            rb.states(0)
            eq(rb.states(600)[0], st, "%s at %.1f V" % (st, v + dv))


def test_debounce():
    chips, bus, rb = rig(8, pilots=[9.0] * 8)
    eq(rb.states(0)[0], None, "nothing held yet: not read back")
    eq(rb.states(400)[0], None)
    eq(rb.states(500)[0], "B", "B after 500 ms")
    set_pilot(chips, 0, 6.0)                  # the car starts charging
    eq(rb.states(600)[0], "B")
    eq(rb.states(1000)[0], "B")
    eq(rb.states(1100)[0], "C", "C held 500 ms")
    set_pilot(chips, 0, 9.0)
    eq(rb.states(1200)[0], "C")
    set_pilot(chips, 0, 6.0)                  # a glitch: the timer starts again
    eq(rb.states(1300)[0], "C")
    set_pilot(chips, 0, 12.0)                 # unplugged: a safer state, 100 ms
    eq(rb.states(1400)[0], "C")
    eq(rb.states(1500)[0], "A")
    set_pilot(chips, 0, 10.5)                 # between bands: E only after the full hold
    eq(rb.states(1600)[0], "A")
    eq(rb.states(2000)[0], "A")
    eq(rb.states(2100)[0], "E")


def test_each_charger_is_debounced_on_its_own():
    rb = hal.make_readback({"readback": {"sim": 3}}, None, ticks_diff)
    lv = rb.chips[0].level_mv
    lv[0], lv[1], lv[2] = 12000, 9000, 6000
    eq(rb.states(0), [None] * 3)
    eq(rb.states(600), ["A", "B", "C"])
    lv[2] = 0                                  # a short: E, a safer state, in 100 ms
    eq(rb.states(650), ["A", "B", "C"])
    eq(rb.states(750), ["A", "B", "E"])


def test_silent_chip_gives_none_for_its_eight_chargers():
    chips, bus, rb = rig(30, pilots=[6.0] * 30)
    rb.states(0)
    eq(rb.states(500), ["C"] * 30)
    bus.fail(0x49)
    got = rb.states(1000)
    eq(got[8:16], [None] * 8, "0x49's chargers: not read back")
    eq(got[:8] + got[16:], ["C"] * 22, "the other chips still read")
    eq(list(rb.up), [1, 0, 1, 1])
    bus.heal()
    eq(rb.states(1500)[8:16], [None] * 8, "back: None until a state has held again")
    eq(rb.states(2000)[8:16], ["C"] * 8)
    bus.fail(0x4B, 5)                          # the last chip has only 6 chargers
    eq(rb.states(2500)[24:], [None] * 6)
    eq(len(rb.states(3000)), 30)


def test_more_chargers_than_inputs_are_not_read_back():
    chips = {0x48: FakeADS7828(vref_v=3.3, volts=[adc_v(9.0)] * 8)}
    rb = readback.Readback([ads7828.ADS7828(FakeI2C(chips), 0x48)], 10, level(), ticks_diff)
    rb.states(0)
    eq(rb.states(500), ["B"] * 8 + [None] * 2)


def test_calibration_takes_out_the_diode_drop():
    # the diodes drop 0.15 V here (a low current), the board says 0.25: uncalibrated,
    # every level reads ~0.86 V high
    pilots = [12.0] * 28 + [9.0, 9.0]          # two cars already plugged in (B) at boot
    chips, bus, rb = rig(30, 0.15, pilots)
    lv = level()
    code = chips[0x48].codes[0]
    near(lv.pilot_mv(code, 250), 12860, 30, "uncalibrated")
    eq(rb.calibrate(), 28, "the lines at +12 V")
    for i in range(28):
        near(lv.pilot_mv(chips[ADDRS[i // 8]].codes[i % 8], rb.drop_mv[i]), 12000, 10)
        near(rb.drop_mv[i], 150, 10)
    eq(rb.drop_mv[28], 250, "a car in B at boot: the nominal drop")
    for i in range(28):
        set_pilot(chips, i, 6.0, 0.15)
    rb.states(0)
    out = rb.states(500)
    for i in range(28):
        eq(out[i], "C")
        near(lv.pilot_mv(chips[ADDRS[i // 8]].codes[i % 8], rb.drop_mv[i]), 6000, 15)
    bus.fail(0x48)
    chips2, bus2, rb2 = rig(30, 0.15)
    bus2.fail(0x48)
    eq(rb2.calibrate(), 22, "a silent chip is skipped")


def _states_locked(rb, t):
    micropython.heap_lock()
    try:
        for k in range(5):
            rb.states(t + 100 * k)
    finally:
        micropython.heap_unlock()


def test_states_allocates_nothing():
    chips, bus, rb = rig(30, pilots=[6.0] * 30)
    for c in chips.values():
        c.record = False
    rb.states(0)
    _states_locked(rb, 100)
    eq(rb.states(1000), ["C"] * 30)
    sim = hal.make_readback({"readback": {"sim": 30}}, None, ticks_diff)
    sim.states(0)
    _states_locked(sim, 100)


def test_sim_readback():
    # the sim board's read-back is a board's (readback.Readback) on simulated
    # ADS7828s: charger i on chip i // 8, input i % 8
    sim = hal.make_readback({"readback": {"sim": 10}}, None, ticks_diff)
    ok(isinstance(sim, readback.Readback))
    eq(len(sim.chips), 2, "10 pilots: two chips")
    eq(sim.states(0), [None] * 10, "nothing held yet: not read back")
    eq(sim.states(100), ["A"] * 10)
    sim.chips[0].level_mv[2] = 6000
    sim.chips[1].silent = True
    sim.states(200)
    eq(sim.states(700), ["A", "A", "C"] + ["A"] * 5 + [None, None])
    eq(list(sim.up), [1, 0])
    sim.chips[1].silent = False
    eq(sim.states(800)[8:], [None, None], "back: None until a state has held again")
    eq(sim.states(900)[8:], ["A", "A"])
    eq(hal.make_readback(hal.load_board("sim"), None, ticks_diff), None, "the sim board: none")


def test_pilot_adc_reads_every_band_through_a_reference_front_end():
    # the sim's front end is the reference boards' own
    fe = simadc.PILOT_FRONT_END
    for name in ("pico", "esp32_devkitc"):
        spec = hal.load_board(name)["readback"]
        eq(dict((k, spec[k]) for k in fe), fe, name)
    lv = readback.Level(3300, 3300, (R_TOP, R_UP, R_DOWN), 200)
    chip = simadc.PilotADC(lv)
    # the code is what an ideal ADC gives for the node less the nominal drop
    for mv in range(-13000, 13001, 500):
        near(chip.code(mv), adc_v(mv / 1000, 0.2) / 3.3 * 4096, 1, "%d mV" % mv)
    # and reads back within an LSB (6.9 mV at the pilot) and the rounding: each J1772 band
    for st, v in NOMINAL:
        for dv in (-900, 0, 900):
            mv = round(v * 1000) + dv
            got = lv.pilot_mv(chip.code(mv), lv.diode_mv)
            near(got, mv, 12, "%d mV" % mv)
            eq(pilot.state_of_mv(got), st, "%d mV" % mv)
    # through the board's Readback: every state, and a silent chip is None
    chips = [simadc.PilotADC(lv) for _ in range(4)]
    rb = readback.Readback(chips, 30, lv, ticks_diff)
    eq(rb.calibrate(), 30, "every line at +12 V at start")
    for i in range(30):
        chips[i // 8].level_mv[i % 8] = round(NOMINAL[i % 6][1] * 1000)
    eq(rb.states(0), [None] * 30)
    eq(rb.states(600), [NOMINAL[i % 6][0] for i in range(30)])
    chips[3].silent = True
    eq(raises(OSError, chips[3].read_into, rb.codes, 6).errno, 19)
    eq(rb.states(700)[24:], [None] * 6)
    raises(ValueError, chips[0].read_into, rb.codes, 9)


def test_board_readback_reads_all_30_pilots():
    for name in ("pico", "esp32_devkitc"):
        b = hal.load_board(name)
        machine.fresh(())
        for a in b["readback"]["ads7828"]:
            machine.EXPANDERS[a] = FakeADS7828(vref_v=b["readback"]["vref_v"])
        rb = hal.make_readback(b, machine, ticks_diff)
        for i in range(30):
            v = NOMINAL[i % 6][1]
            machine.EXPANDERS[ADDRS[i // 8]].set_volts(i % 8, adc_v(v))
        rb.states(0)
        eq(rb.states(600), [NOMINAL[i % 6][0] for i in range(30)], name)
