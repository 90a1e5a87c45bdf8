"""A capture (firmware/measure/capture.py's CSV, as raw frames) replayed through the
hub's own Meter, on the unix port: what tools/replay.py runs. Host-only.

    playback.replay(path, names, rate_hz, mains_hz, cal_a, voltage=None,
                    sampling="round-robin")        # JSON lines on stdout
"""

import json

import ct
import health
import power


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


def replay(path, names, rate_hz, mains_hz, cal_a, voltage=None, sampling="round-robin"):
    """Print one JSON object per measurement window of the raw frames in path.
    voltage: the index of a voltage-reference channel (cal_a[voltage] is then
    volts per count): every other channel also gets its real power (p_w,
    import positive) and power factor with it; the voltage channel gets vrms.
    sampling: "round-robin" (the skew between a frame's channels is corrected)
    or "simultaneous" (a frame taken at one instant: no skew to correct)."""
    from array import array
    with open(path, "rb") as f:
        adc = FileADC(f, len(names), rate_hz)
        m = ct.Meter(adc, cal_a, mains_hz=mains_hz)
        nch = len(names)
        cur = [c for c in range(nch) if c != voltage] if voltage is not None else []
        pairs = array("i", [])
        for c in cur:
            pairs.append(c)
            pairs.append(voltage)
        skew = array("b", [0] * len(cur))
        delay = array("i", [0] * len(cur))
        out = array("i", [0] * (power.NOUT * len(cur)))
        done = 0
        while True:
            m.measure(done)
            if m.status[0] == health.MISSING:
                break  # the tail: fewer samples than one window
            done += m.frames
            chans = {}
            for c, name in enumerate(names):
                if c == voltage:
                    chans[name] = {"vrms": round(m.irms_a[c], 2), "status": health.NAMES[m.status[c]]}
                else:
                    chans[name] = {"irms": round(m.irms_a[c], 3), "status": health.NAMES[m.status[c]]}
            if voltage is not None:
                if sampling == "round-robin":   # else skew stays 0
                    hz = m.hz or (mains_hz or 50)
                    for k, c in enumerate(cur):
                        skew[k] = power.skew_q5(c, voltage, nch, 0.0, hz, rate_hz)
                start, end = m.window[0], m.window[1]
                power.products(m.buf, nch, start, end, m.shift, m.bias, pairs, skew, out, delay)
                for k, c in enumerate(cur):
                    w = power.watts(out, k, end - start, m.cal_a[c], m.cal_a[voltage])
                    ch = chans[names[c]]
                    ch["p_w"] = round(w, 1)
                    ch["pf"] = round(power.pf(w, m.irms_a[c] * m.irms_a[voltage]), 3)
            print(json.dumps({"t": round(done / rate_hz, 6), "channels": chans}))
    return done, m.frames
