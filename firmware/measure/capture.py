"""Captures: raw CT samples recorded on the hub (simulation/playback.py replays them
through the Meter on the unix port, for tools/replay.py).

    capture.write_csv(f, names, buf, frames)     # on the hub: record a burst

A capture file (CSV) has a header row of channel names, then one row per
frame with one raw read_u16 count per channel. The hub's start with a line
`# sampling: round-robin` (its samplers take a frame's channels one after
another: replay corrects that skew; a `simultaneous` capture, each frame
taken at one instant, gets none). For replay the host tool (tools/replay.py)
validates the CSV and hands over the samples as raw little-endian uint16
frames, which playback.FileADC streams burst by burst.
"""


def write_csv(f, names, buf, frames):
    """Append a header and `frames` interleaved frames of buf as CSV rows."""
    nch = len(names)
    # every sampler of the hub (hw_rp2, hw_esp32, simadc) is round-robin: said so
    # that tools/replay.py corrects the skew without being told
    f.write("# sampling: round-robin\n")
    f.write(",".join(names) + "\n")
    for i in range(frames):
        k = i * nch
        f.write(",".join(str(buf[k + c]) for c in range(nch)) + "\n")
