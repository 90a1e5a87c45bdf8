"""A bounded log on flash: a ring of fixed-size records, each in its own slot.

    r = Ring("demand.log", "<II6H", 3840)    # the first field is the sequence number
    r.append(end_s, a, b, ...)               # -> False (and r.error) if the flash refused
    for values in r.records(since=0): ...    # (seq, ...) oldest first, one at a time

Record seq lives in slot seq % keep, written in place with a checksum: a
power cut mid-write spoils only the slot being written (the oldest record),
and at boot the highest good sequence number is where the log goes on. The
file never grows past keep records. Nothing is built per record but the
tuple struct.unpack gives.
"""

import micropython
import struct


@micropython.viper
def _sum16(b, n: int) -> int:
    # every record is checked at boot (thousands): in viper, not a bytecode loop
    p = ptr8(b)
    s = 0x5A5A
    for i in range(n):
        s = (s * 31 + p[i]) & 0xFFFF     # < 2**21: no 32-bit word wraps
    return s


class Ring:
    def __init__(self, path, fmt, keep):
        self.path = path
        self.fmt = fmt
        self.keep = keep
        self.size = struct.calcsize(fmt) + 2
        self.buf = bytearray(self.size)
        self.seq = 0          # the next record's sequence number (1 is the first)
        self.last = None      # the newest record's values found at open (not kept after: see append)
        self.failed = 0
        self.error = None
        for r in self._scan(0):
            if r[0] >= self.seq:
                self.seq, self.last = r[0], r
        self.seq += 1

    def _decode(self, b):
        n = self.size - 2
        if _sum16(b, n) != b[n] | b[n + 1] << 8:
            return None
        v = struct.unpack_from(self.fmt, b)
        return v if v[0] else None

    def _scan(self, first):
        """Good records slot by slot from slot `first` round the ring."""
        try:
            f = open(self.path, "rb")
        except OSError:
            return
        with f:
            f.seek(first * self.size)       # then read on: one more seek where the ring wraps
            for k in range(self.keep):
                slot = (first + k) % self.keep
                if slot == 0 and k:
                    f.seek(0)
                if f.readinto(self.buf) != self.size:
                    continue
                r = self._decode(self.buf)
                if r is not None and r[0] % self.keep == slot:   # a record is good in its own slot only
                    yield r

    def records(self, since=0):
        """Every good record with seq > since, oldest first."""
        for r in self._scan(self.seq % self.keep):
            if r[0] > since:
                yield r

    def append(self, *values):
        """Write (seq, *values) in its slot; False (and `error`) if the flash refused."""
        b = self.buf
        n = self.size - 2
        struct.pack_into(self.fmt, b, 0, self.seq, *values)
        s = _sum16(b, n)
        b[n] = s & 0xFF
        b[n + 1] = s >> 8
        off = (self.seq % self.keep) * self.size
        try:
            try:
                f = open(self.path, "r+b")
            except OSError:
                f = open(self.path, "wb")
            with f:
                end = f.seek(0, 2)
                if end < off:
                    f.write(bytes(off - end))     # a new file grows slot by slot
                f.seek(off)
                f.write(b)
        except OSError as e:
            self.failed += 1
            self.error = e
            return False
        # no tuple kept of what was written: made after the file's garbage, it
        # would sit high in the heap for as long as the next append (a
        # session's record: hours), splitting the free block TLS needs
        self.seq += 1
        return True

    def erase(self):
        """Remove every record (the file); the sequence numbers go on."""
        import os
        try:
            os.remove(self.path)
        except OSError:
            pass
        self.last = None
