"""RP2040 sampler: the ADC's round-robin mode and FIFO, drained by DMA.

    adc = hw_rp2.make_sampler(board)     # hal.make_sampler picks this for "rp2"
    adc.read_into(buf, frames)           # one burst, no Python per sample

RP2040 datasheet 4.9: the ADC (48 MHz clock, 96 cycles a conversion, at most
500 kS/s in all) converts AINSEL, then the next channel of the RROBIN mask,
and so on, every DIV clocks (DIV = 48 MHz / total rate - 1), so every channel
is sampled at the same, even spacing and a frame is one round. The FIFO
raises DREQ_ADC (DREQ 36) and a DMA channel moves each 16-bit result to the
buffer: the CPU only starts and waits. The 12-bit results are widened in
place to read_u16 scale ((x << 4) | (x >> 8), as machine.ADC.read_u16 does),
so captures and the Meter see one scale on every board.

A burst is rejected (read_into returns 0 frames, so the Meter flags it
`missing`) when a sample was lost or is bad (datasheet 4.9, register FCS):
- FCS.OVER: a result arrived with the 4-deep FIFO full and was dropped (DMA
  held off the bus); every later sample of the burst then sits one slot
  off, i.e. in another channel's place of the round robin;
- FCS.UNDER: the FIFO was read empty, so the buffer holds a made-up sample;
- FCS.ERR is on, so each result carries its conversion-error flag in bit 15;
  widen() counts them and a single one rejects the burst.
After the DMA's last transfer the ADC keeps converting until stop(), so the
FIFO fills again; with OVER after it would take 5 more results (over 400 us
at 12 kS/s) before stop, which follows the DMA's end by a few tens of us.

The register values are computed by pure functions, and the viper code takes
its register block as an argument (an int address on the chip, a bytearray
on the host), so both are tested on the unix port.
"""

import micropython
from micropython import const

ADC_BASE = const(0x4004C000)
_CS = const(0x00)
_FCS = const(0x08)
_FIFO = const(0x0C)
_DIV = const(0x10)
_CS_EN = const(0x1)
_CS_START_MANY = const(0x8)
_FCS_EN = const(0x1)
_FCS_ERR = const(0x4)        # each result's bit 15: that conversion failed
_FCS_DREQ_EN = const(0x8)
_FCS_OVER = const(0x800)
_FCS_UNDER = const(0x400)
DREQ_ADC = const(36)
ADC_CLOCK_HZ = const(48000000)
MAX_TOTAL_HZ = const(500000)  # 96 clocks a conversion


def gpio_to_ain(pin):
    """ADC input of a GPIO: 26-29 -> 0-3 (datasheet 4.9.1)."""
    if not 26 <= pin <= 29:
        raise ValueError("GPIO %d is not an ADC input on the RP2040" % pin)
    return pin - 26


def registers(ains, rate_hz):
    """(CS, FCS, DIV) values for round-robin sampling of `ains` at rate_hz each.

    The channels must be consecutive from the first: round robin goes up
    from AINSEL through the mask, so the frame order is the inputs' order.
    """
    if not ains or list(ains) != list(range(ains[0], ains[0] + len(ains))):
        raise ValueError("CT inputs must be consecutive ADC inputs, in order")
    total = rate_hz * len(ains)
    if not 0 < total <= MAX_TOTAL_HZ:
        raise ValueError("%d x %d Hz is beyond the ADC's 500 kS/s" % (len(ains), rate_hz))
    # DIV is 16.8 fixed point; a conversion every (1 + DIV) clocks
    div = (ADC_CLOCK_HZ * 256 + total // 2) // total - 256
    mask = 0
    for a in ains:
        mask |= 1 << a
    rrobin = mask if len(ains) > 1 else 0
    cs = _CS_EN | (ains[0] << 12) | (rrobin << 16)
    # DREQ at 1 sample in the FIFO; ERR: bit 15 of a result flags a failed
    # conversion (no SHIFT: results stay 12 bits in bits 0-11)
    fcs = _FCS_EN | _FCS_ERR | _FCS_DREQ_EN | (1 << 24)
    return cs, fcs, div


def actual_rate(div, nch):
    """The per-channel rate a DIV value gives (the clock divides exactly)."""
    return ADC_CLOCK_HZ * 256 / (div + 256) / nch


def frame_rate(div, nch):
    """rate_hz of the sampler: actual_rate as a whole number, which the Meter
    sizes its burst buffer from (4000 Hz is exact; others move by < 0.5 Hz)."""
    return round(actual_rate(div, nch))


@micropython.viper
def widen(buf, n: int) -> int:
    """12-bit results -> read_u16 scale, in place, as read_u16 does.

    Returns how many results had bit 15 (FCS.ERR: a conversion error) set;
    n <= 16384 * 4, so the count is a small int.
    """
    p = ptr16(buf)
    bad = 0
    i = 0
    while i < n:
        v = p[i]
        if v & 0x8000:
            bad += 1
        x = v & 0xFFF
        p[i] = (x << 4) | (x >> 8)
        i += 1
    return bad


@micropython.viper
def lost(regs) -> int:
    """FCS.OVER | FCS.UNDER: nonzero if a sample was dropped or made up since drain()."""
    return ptr32(regs)[_FCS >> 2] & (_FCS_OVER | _FCS_UNDER)


@micropython.viper
def drain(regs) -> int:
    """Empty the FIFO (and clear its flags) before a burst; returns samples dropped."""
    r = ptr32(regs)
    n = 0
    while (r[_FCS >> 2] >> 16) & 0xF:
        _ = r[_FIFO >> 2]   # the read pops the FIFO
        n += 1
    r[_FCS >> 2] = r[_FCS >> 2] | _FCS_OVER | _FCS_UNDER   # write 1 to clear
    return n


@micropython.viper
def configure(regs, cs: int, fcs: int, div: int):
    """Stop, set up, and leave the ADC ready for START_MANY."""
    r = ptr32(regs)
    r[_CS >> 2] = cs & ~_CS_START_MANY
    r[_DIV >> 2] = div
    r[_FCS >> 2] = fcs


@micropython.viper
def start(regs, cs: int):
    ptr32(regs)[_CS >> 2] = cs | _CS_START_MANY


@micropython.viper
def stop(regs, cs: int):
    ptr32(regs)[_CS >> 2] = cs & ~_CS_START_MANY


def finish(regs, cs, buf, n, channels):
    """End a burst of n results: stop the ADC, check the FIFO flags, widen.

    Returns the frames to report: n // channels, or 0 when the FIFO over- or
    underflowed or any result carries the error bit (the Meter then flags the
    burst `missing`: its samples may be in the wrong channels' places).
    """
    stop(regs, cs)
    flags = lost(regs)
    bad = widen(buf, n)
    if flags or bad:
        return 0
    return n // channels


class RP2Sampler:
    """The sampler interface of hal.py, on the RP2040's ADC + DMA."""

    def __init__(self, pins, rate_hz, timeout_ms=1000):
        import machine
        import rp2
        import time
        self.time = time
        self.ains = [gpio_to_ain(p) for p in pins]
        for p in pins:
            machine.ADC(machine.Pin(p))   # the pin to analogue input: no digital buffer
        self.cs, self.fcs, self.div = registers(self.ains, rate_hz)
        self.channels = len(pins)
        self.rate_hz = frame_rate(self.div, self.channels)
        self.timeout_ms = timeout_ms
        self.dma = rp2.DMA()
        self.ctrl = self.dma.pack_ctrl(size=1, inc_read=False, inc_write=True, treq_sel=DREQ_ADC)
        configure(ADC_BASE, self.cs, self.fcs, self.div)

    def read_into(self, buf, frames):
        n = frames * self.channels
        configure(ADC_BASE, self.cs, self.fcs, self.div)   # AINSEL back to the first input
        drain(ADC_BASE)
        self.dma.config(read=ADC_BASE + _FIFO, write=buf, count=n, ctrl=self.ctrl, trigger=True)
        start(ADC_BASE, self.cs)
        t0 = self.time.ticks_ms()
        while self.dma.active():
            if self.time.ticks_diff(self.time.ticks_ms(), t0) > self.timeout_ms:
                break
        stop(ADC_BASE, self.cs)   # at once: the FIFO fills again after the last transfer
        left = self.dma.count if hasattr(self.dma, "count") else 0
        self.dma.active(0)
        done = n - left if self.dma.active() == 0 and left else n
        return finish(ADC_BASE, self.cs, buf, done, self.channels)


def make_sampler(board):
    import hal
    return RP2Sampler([ch["pin"] for ch in hal.inputs(board)], board["adc"]["rate_hz"])
