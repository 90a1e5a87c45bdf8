"""Files on the board's flash that must never be left half-written.

    store.save_json("state.json", {"limit": [32]})    # old or new, never broken
    data = store.load_json("state.json", {})           # default if missing or bad

A write goes to NAME.new, is flushed and closed, then renamed over NAME.
LittleFS (the default filesystem of the ESP32 and RP2040 ports) renames
atomically, so a power cut at any moment leaves either the old file or the
new one under NAME; a stray NAME.new is only ever a half-finished write and is
ignored. `fs` (open, rename) is the flash; tests hand in one that loses power.

Energy counters change every period but are written sparingly (flash wear):
at most every `every_ms`, and only when they changed.
"""

import json
import os
from array import array


class _Flash:
    """The board's own filesystem."""

    def open(self, path, mode):
        return open(path, mode)

    def rename(self, old, new):
        os.rename(old, new)


FLASH = _Flash()


def save_json(path, data, fs=FLASH):
    tmp = path + ".new"
    f = fs.open(tmp, "w")
    try:
        f.write(json.dumps(data))
    finally:
        f.close()
    fs.rename(tmp, path)


def load_json(path, default=None, fs=FLASH):
    try:
        f = fs.open(path, "r")
        try:
            return json.loads(f.read())
        finally:
            f.close()
    except (OSError, ValueError):
        return default


class Energy:
    """Energy counters (Wh) per charger and per PCC direction, kept across reboots.

    wh[k] counts whole Wh as an int: a float on the boards is 32-bit, whose
    step at 10 MWh (a few years of a car park's import) is 1 Wh, and a
    minute's 100 Wh added to it would lose up to 1 % each time. What is
    below 1 Wh waits in frac[k]; a reboot loses at most that (< 1 Wh a
    counter). Saved every every_ms (10 minutes: ~52,000 writes a year, far
    inside a LittleFS flash's wear levelling) and on demand.
    """

    def __init__(self, path, ids, every_ms=600000, fs=FLASH):
        self.path = path
        self.fs = fs
        self.every_ms = every_ms
        saved = load_json(path, {}, fs)
        if not isinstance(saved, dict):
            saved = {}
        self.wh = {}
        self.at = {}          # each counter's place in frac
        # the fractions in an array: not a float per counter made at each
        # flush, left scattered through the free end of the heap for a minute
        self.frac = array("d", bytes(8 * len(ids)))
        for i in ids:
            v = saved.get(i, 0)
            self.wh[i] = int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 else 0
            self.at[i] = len(self.at)
        self.dirty = False
        self.saved_at = None
        self.writes = 0
        self.failed = 0
        self.error = None

    def add(self, cid, wh):
        if wh > 0:
            k = self.at[cid]
            t = self.frac[k] + wh
            w = int(t)
            self.wh[cid] += w
            self.frac[k] = t - w
            self.dirty = True

    def value(self, cid):
        """The counter with its fraction of a Wh (what is shown is whole Wh)."""
        return self.wh[cid] + self.frac[self.at[cid]]

    def maybe_save(self, now, ticks_diff, force=False):
        """Save if due. A failed write (a full or failing flash) is counted in
        `failed` and kept dirty for the next interval: it never raises."""
        if not self.dirty:
            self.saved_at = None   # the next interval starts with the next change (ticks age out)
            return False
        if not force and self.saved_at is not None and ticks_diff(now, self.saved_at) < self.every_ms:
            return False
        if self.saved_at is None and not force:
            self.saved_at = now   # the first interval starts at boot
            return False
        self.saved_at = now
        try:
            save_json(self.path, dict((k, int(v)) for k, v in self.wh.items()), self.fs)
        except OSError as e:
            self.failed += 1
            self.error = str(e)
            return False
        self.dirty = False
        self.writes += 1
        return True
