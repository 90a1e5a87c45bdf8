"""Captures: raw CT samples recorded on the hub (simulation/playback.py replays them
through the Meter on the unix port, for tools/replay.py).

    capture.write_csv(f, names, buf, frames)     # on the hub: record a burst
    c = capture.Captures("")                     # capture-N.csv files in a folder, the last 4 kept
    c.ask() -> path; c.due; c.write(names, buf, frames) -> None or the OSError's text

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


class Captures:
    """capture-N.csv files in a folder (dir: "" or ending in "/"): a command
    asks for one, the next period writes it, only the last `keep` stay on the
    flash, and the numbering goes on across reboots."""

    def __init__(self, folder, keep=4):
        self.folder = folder
        self.keep = keep
        self.count = last(folder)
        self.due = None         # the path asked for, written by the next period

    def ask(self):
        self.count += 1
        self.due = "%scapture-%d.csv" % (self.folder, self.count)
        return self.due

    def write(self, names, buf, frames):
        """Write the burst to the path asked for; None, or what went wrong."""
        import os
        path, self.due = self.due, None
        if path is None:
            return "no capture asked"
        try:
            if self.count > self.keep:
                try:
                    os.remove("%scapture-%d.csv" % (self.folder, self.count - self.keep))
                except OSError:
                    pass
            with open(path, "w") as f:
                write_csv(f, names, buf, frames)
        except OSError as e:
            return str(e)
        return None


def last(folder):
    """The highest N of capture-N.csv in folder (0 if none)."""
    import os
    d, _, prefix = folder.rpartition("/")
    n = 0
    try:
        names = os.listdir(d or ".")
    except OSError:
        return 0
    head = prefix + "capture-"
    for name in names:
        if name.startswith(head) and name.endswith(".csv"):
            try:
                n = max(n, int(name[len(head):-4]))
            except ValueError:
                pass
    return n
