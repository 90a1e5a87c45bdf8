"""A flash filesystem that can lose power after any number of byte writes.

    fl = FakeFlash(cut_after=12); store.save_json("a.json", {...}, fl)  # raises PowerCut
    fl.files["a.json"]   # what survived
"""


class PowerCut(Exception):
    pass


class _File:
    def __init__(self, fl, path, mode):
        self.fl, self.path = fl, path
        if "w" in mode:
            fl.files[path] = b""
        elif path not in fl.files:
            raise OSError(2)
        self.pos = 0

    def write(self, s):
        for b in s.encode() if isinstance(s, str) else s:   # a byte at a time
            self.fl.tick()
            self.fl.files[self.path] += bytes([b])
        return len(s)

    def read(self):
        return self.fl.files[self.path].decode()

    def close(self):
        self.fl.tick()


class FakeFlash:
    def __init__(self, files=None, cut_after=None):
        self.files = dict(files or {})
        self.cut_after = cut_after
        self.ops = 0

    def tick(self):
        if self.cut_after is not None and self.ops >= self.cut_after:
            raise PowerCut()
        self.ops += 1

    def open(self, path, mode):
        return _File(self, path, mode)

    def rename(self, old, new):
        self.tick()   # one atomic step, as on LittleFS
        self.files[new] = self.files.pop(old)
