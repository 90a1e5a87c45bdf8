"""Board definitions are data: check them where a mistake would cost a board."""
import ct
import hal
from mpunit import eq, ok

BOARDS = ("sim", "pico", "esp32_devkitc")
ADC_PINS = {"armv6m": (26, 27, 28), "xtensawin": (32, 33, 34, 35, 36, 37, 38, 39)}  # ESP32: ADC1 only


def test_every_board_loads_and_names_its_parts():
    for name in BOARDS:
        b = hal.load_board(name)
        eq(b["name"], name)
        ok(b["mains_hz"] in (0, 50, 60), name)
        ok(b["adc"]["backend"] in ("sim", "rp2", "esp32"), name)
        ok(len(b["ct"]) >= 1, name)
        ok(0 < b["watchdog_ms"] <= 8388, name + ": the RP2040 watchdog caps at 8388 ms")


def test_ct_pins_are_adc_capable():
    for name in BOARDS:
        b = hal.load_board(name)
        pins = ADC_PINS.get(b["arch"])
        if pins is None:
            continue
        seen = set()
        for ch in b["ct"]:
            ok(ch["pin"] in pins, "%s %s: GPIO %d has no usable ADC" % (name, ch["name"], ch["pin"]))
            ok(ch["pin"] not in seen, "pin used twice")
            seen.add(ch["pin"])


def test_rating_fits_the_adc_at_crest_factor_3():
    # 100 A of switched-mode current peaks at ~300 A: it must not clip, even
    # with the bias 5 % off mid-rail.
    for name in BOARDS:
        b = hal.load_board(name)
        for ch, k in zip(b["ct"], hal.calibration(b)):
            peak_counts = 3 * ch["rating_a"] / k
            ok(peak_counts < 32768 - 0.05 * 65536, "%s %s clips" % (name, ch["name"]))


class _RateOnly:
    def __init__(self, board):
        self.channels = len(board["ct"])
        self.rate_hz = board["adc"]["rate_hz"]


def test_burst_fits_the_kernel_bound():
    for name in BOARDS:
        b = hal.load_board(name)
        m = ct.Meter(_RateOnly(b), hal.calibration(b), mains_hz=b["mains_hz"])  # raises if not
        ok(m.frames <= ct.MAX_FRAMES, name)


def test_sim_board_gives_a_working_sampler():
    b = hal.load_board("sim")
    adc = hal.make_sampler(b)
    eq(adc.channels, len(b["ct"]))
    m = ct.Meter(adc, hal.calibration(b), mains_hz=b["mains_hz"])
    adc.clamps[1].amps = 20.0
    m.measure(0)
    ok(abs(m.irms_a[1] - 20.0) < 0.1, "reads the clamp through the board's calibration")
    eq(bytes(m.status), bytes(3))


PWM_OUT = {"armv6m": set(range(0, 23)),                                   # RP2040 GPIO 0-22
           "xtensawin": set((4, 13, 14, 16, 17, 18, 19, 21, 22, 23, 25, 26, 27, 32, 33))}  # no straps/flash/input-only


def test_boards_drive_30_pilots_on_free_pins():
    import fake_machine
    import outputs
    for name in ("pico", "esp32_devkitc"):
        b = hal.load_board(name)
        sp = b["pilots"]
        used = [ch["pin"] for ch in b["ct"]] + [sp["i2c"]["sda"], sp["i2c"]["scl"]]
        for pin in sp["native"] + [sp["oe"]]:
            ok(pin in PWM_OUT[b["arch"]], "%s: GPIO %d cannot drive a pilot" % (name, pin))
            ok(pin not in used, "%s: GPIO %d used twice" % (name, pin))
            used.append(pin)
        fake_machine.fresh(tuple(e["addr"] for e in sp["pca9685"]))
        outs = outputs.build(b, fake_machine)
        eq(len(outs), 30, name)
        eq(hal.pilot_count(b), 30, name)
        eq(fake_machine.level(sp["oe"]), 0, "%s: expanders up, /OE low" % name)
        ok(all(p.failsafe for p in outs[len(sp["native"]):]), "%s: every expander output behind /OE" % name)
    eq(len(outputs.build(hal.load_board("sim"), None)), 30)


def test_expanders_make_1khz_within_2_percent():
    import outputs
    import pca9685
    for name in ("pico", "esp32_devkitc"):
        for exp in hal.load_board(name)["pilots"]["pca9685"]:
            clk, ext = outputs.expander_clock(exp)        # raises if not declared or off
            hz = pca9685.pwm_hz(clk, 1000)
            ok(980 <= hz <= 1020, "%s 0x%02x: %r Hz" % (name, exp["addr"], hz))
            ok(ext, "%s 0x%02x: the reference boards use EXTCLK" % (name, exp["addr"]))


def test_reference_boards_read_back_all_30_pilots():
    import fake_machine
    from fake_i2c import FakeADS7828
    for name in ("pico", "esp32_devkitc"):
        b = hal.load_board(name)
        rb = b["readback"]
        addrs = rb["ads7828"]
        ok(len(set(addrs)) == len(addrs) and all(0x48 <= a <= 0x4B for a in addrs), name)
        ok(8 * len(addrs) >= hal.pilot_count(b), "%s: an ADC input per pilot" % name)
        taken = [e["addr"] for e in b["pilots"]["pca9685"]] + [0x70]   # PCA9685 LED All Call
        ok(not set(addrs) & set(taken), "%s: read-back addresses collide" % name)
        fake_machine.fresh(())
        for a in addrs:
            fake_machine.EXPANDERS[a] = FakeADS7828(vref_v=rb["vref_v"])
        r = hal.make_readback(b, fake_machine, lambda x, y: x - y)
        # every pilot at +9 V (B) through the divider and a 0.25 V diode drop
        g = 1 / 100000 + 1 / 22000 + 1 / 33000
        v = (9.0 / 100000 + 3.3 / 22000) / g - 0.25
        for i in range(30):
            fake_machine.EXPANDERS[addrs[i // 8]].set_volts(i % 8, v)
        r.states(0)
        eq(r.states(500), ["B"] * 30, name)
    eq(hal.make_readback(hal.load_board("sim"), None, lambda x, y: x - y), None)
