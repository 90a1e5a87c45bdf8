"""Captures: raw CT samples recorded on the hub, and replayed through the Meter.

    capture.write_csv(f, names, buf, frames)     # on the hub: record a burst
    capture.replay(path, names, rate_hz, mains_hz, cal_a)  # unix port: JSON lines

A capture file (CSV) has a header row of channel names, then one row per
sample instant with one raw read_u16 count per channel. For replay the host
tool (tools/replay.py) validates the CSV and hands over the samples as raw
little-endian uint16 frames, which FileADC streams burst by burst.
"""

import json

import ct
import health


class FileADC:
    """The sampler interface of hal.py over a file of raw uint16 frames."""

    def __init__(self, f, channels, rate_hz):
        self.f = f
        self.channels = channels
        self.rate_hz = rate_hz

    def read_into(self, buf, frames):
        mv = memoryview(buf)
        want = 2 * frames * self.channels
        got = self.f.readinto(mv[:frames * self.channels]) or 0
        # a short read at the end of the file: that many whole frames
        return frames if got == want else got // (2 * self.channels)


def write_csv(f, names, buf, frames):
    """Append a header and `frames` interleaved frames of buf as CSV rows."""
    nch = len(names)
    f.write(",".join(names) + "\n")
    for i in range(frames):
        k = i * nch
        f.write(",".join(str(buf[k + c]) for c in range(nch)) + "\n")


def replay(path, names, rate_hz, mains_hz, cal_a):
    """Print one JSON object per measurement window of the raw frames in path."""
    with open(path, "rb") as f:
        adc = FileADC(f, len(names), rate_hz)
        m = ct.Meter(adc, cal_a, mains_hz=mains_hz)
        done = 0
        while True:
            m.measure(done)
            if m.status[0] == health.MISSING:
                break  # the tail: fewer samples than one window
            done += m.frames
            chans = {}
            for c, name in enumerate(names):
                chans[name] = {"irms": round(m.irms_a[c], 3), "status": health.NAMES[m.status[c]]}
            print(json.dumps({"t": round(done / rate_hz, 6), "channels": chans}))
    return done, m.frames
