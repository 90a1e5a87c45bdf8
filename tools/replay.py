"""Replay a recorded CT capture through the firmware's own Meter on the unix port.

    python3 tools/replay.py CAPTURE.csv --rate 4000 [--mains 50|60] [--amps-per-count K]
                            [--voltage NAME --volts-per-count KV] [--sampling round-robin|simultaneous]

CAPTURE.csv: a header row of channel names, then one row per frame with one
raw ADC count (0-65535) per channel; before the header, a line
"# sampling: round-robin|simultaneous" may say how a frame was taken (the
hub's captures say round-robin; without it, or --sampling, round-robin is
assumed: the hub's own ADC). stdout: one JSON object per
measurement window, {"t": s, "channels": {"L1": {"irms": A, "status": "ok"}}}.
With --voltage NAME, channel NAME is a voltage reference (KV volts per
count): it reads {"vrms": V, "status": ...}, and every current channel also
gets "p_w" (real power with it, import positive) and "pf" (firmware/measure/power.py),
the round-robin skew between its sample and the voltage's corrected unless
the capture is simultaneous (one instant a frame: a scope, another meter).
A malformed file exits with status 2 and a one-line error naming the line.
This program only checks and converts the file; the measuring is done by
firmware/measure/capture.py running in MicroPython.
"""

import argparse
import array
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpenv  # noqa: E402

DEFAULT_APC = 0.01  # amps per count of the reference front end (docs/boards-and-wiring.md, "CT input")
SAMPLING = ("round-robin", "simultaneous")


class CaptureError(Exception):
    pass


def read_capture(path):
    """(names, array of interleaved uint16 frames, sampling or None if the file
    does not say) or CaptureError naming the line."""
    try:
        f = open(path, newline="")
    except OSError as e:
        raise CaptureError("%s: %s" % (path, e.strerror))
    with f:
        sampling = None
        lineno = 1
        try:
            header = f.readline()
            while header.startswith("#"):    # "# key: value" lines before the header
                key, _, value = header[1:].partition(":")
                if key.strip() == "sampling":
                    sampling = value.strip()
                    if sampling not in SAMPLING:
                        raise CaptureError("%s: line %d: sampling %r is not %s"
                                           % (path, lineno, sampling, " or ".join(SAMPLING)))
                header = f.readline()
                lineno += 1
        except UnicodeDecodeError:
            raise CaptureError("%s: line %d: not a text file" % (path, lineno))
        if not header.strip():
            raise CaptureError("%s: line %d: empty file, expected a header of channel names" % (path, lineno))
        names = [c.strip() for c in header.strip().split(",")]
        for c in names:
            if not c or not (c[0].isalpha() or c[0] == "_"):
                raise CaptureError("%s: line %d: bad header: channel name %r must start with a letter"
                                   % (path, lineno, c))
        if len(set(names)) != len(names):
            raise CaptureError("%s: line %d: bad header: channel names repeat" % (path, lineno))
        data = array.array("H")
        try:
            for line in f:
                lineno += 1
                if not line.strip():
                    continue
                cells = line.strip().split(",")
                if len(cells) != len(names):
                    raise CaptureError("%s: line %d: %d cells, the header names %d channels"
                                       % (path, lineno, len(cells), len(names)))
                for col, cell in enumerate(cells, 1):
                    try:
                        v = int(cell)
                    except ValueError:
                        raise CaptureError("%s: line %d, column %d: %r is not an integer count"
                                           % (path, lineno, col, cell.strip()))
                    if not 0 <= v <= 65535:
                        raise CaptureError("%s: line %d, column %d: %d is outside 0-65535"
                                           % (path, lineno, col, v))
                    data.append(v)
        except UnicodeDecodeError:
            raise CaptureError("%s: line %d: not a text file" % (path, lineno))
    if not data:
        raise CaptureError("%s: no samples after the header" % path)
    return names, data, sampling


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("capture")
    ap.add_argument("--rate", type=int, required=True, help="sample instants per second")
    ap.add_argument("--mains", type=int, choices=(50, 60), default=0,
                    help="mains frequency (default: detect from the signal)")
    ap.add_argument("--amps-per-count", type=float, default=DEFAULT_APC, metavar="K",
                    help="calibration, amps per raw count (default %g)" % DEFAULT_APC)
    ap.add_argument("--voltage", metavar="NAME", help="the voltage-reference channel: real power for the others")
    ap.add_argument("--volts-per-count", type=float, metavar="KV", help="its calibration, volts per raw count")
    ap.add_argument("--sampling", choices=SAMPLING,
                    help="how a frame's channels were taken: one after another (round-robin, the hub's ADC: "
                         "the skew is corrected) or at one instant (default: the capture's '# sampling:' "
                         "line, else round-robin)")
    args = ap.parse_args(argv)
    if (args.voltage is None) != (args.volts_per_count is None):
        ap.error("--voltage and --volts-per-count go together")
    if args.volts_per_count is not None and not 0 < args.volts_per_count < 100:
        ap.error("--volts-per-count must be > 0 and < 100")
    if not 200 <= args.rate <= 60000:
        ap.error("--rate must be 200-60000 Hz")
    if not 0 < args.amps_per_count < 10:
        ap.error("--amps-per-count must be > 0 and < 10")
    try:
        names, data, sampling = read_capture(args.capture)
    except CaptureError as e:
        print("replay: %s" % e, file=sys.stderr)
        return 2
    sampling = args.sampling or sampling or "round-robin"
    vi = None
    if args.voltage is not None:
        if args.voltage not in names:
            print("replay: %s: no channel %r (the header names %s)" % (args.capture, args.voltage, ", ".join(names)),
                  file=sys.stderr)
            return 2
        if len(names) < 2:
            print("replay: %s: a voltage channel needs a current channel beside it" % args.capture, file=sys.stderr)
            return 2
        vi = names.index(args.voltage)
    cal = [args.amps_per_count] * len(names)
    if vi is not None:
        cal[vi] = args.volts_per_count
    frames = len(data) // len(names)
    with tempfile.NamedTemporaryFile(suffix=".u16", delete=False) as raw:
        if sys.byteorder != "little":
            data.byteswap()
        data.tofile(raw)
    try:
        code = ("import playback\n"
                "n, w = playback.replay(%r, %r, %d, %d, %r, %r, %r)\n"
                "print('#', n, w)\n" % (raw.name, names, args.rate, args.mains, cal, vi, sampling))
        r = mpenv.run(["-c", code], capture_output=True, text=True)
    finally:
        os.unlink(raw.name)
    if r.returncode != 0:
        print("replay: the firmware failed: %s" % r.stdout.strip().splitlines()[-1:], file=sys.stderr)
        return 1
    out = r.stdout.splitlines()
    tail = out.pop() if out and out[-1].startswith("#") else "# 0 0"
    _, measured, window = tail.split()
    sys.stdout.write("".join(line + "\n" for line in out))
    left = frames - int(measured)
    if not out:
        print("replay: %s: %d samples per channel, one window needs %s" % (args.capture, frames, window),
              file=sys.stderr)
        return 2
    if left:
        print("replay: %d trailing samples (less than a window) not measured" % left, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
