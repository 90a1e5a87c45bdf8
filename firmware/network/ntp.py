"""Wall clock from NTP (SNTP, RFC 4330) that never holds up the control loop.

    n = Ntp("192.168.1.1", clock)     # an IPv4 address (config.validate_ntp: no lookup)
    n.service(now_ms)                 # once a period: sends, or reads a reply
    n.unix_s(now_ms)                  # Unix seconds now, 0 until a reply was taken

One UDP request at a time on a non-blocking socket: a period sends it, the
following periods look for the reply (nothing waits), and after timeout_ms
without one it is dropped and retried in retry_ms. After a good reply the
clock is the reply's time carried on by ticks, and asked again every
every_ms. A reply is taken only if it answers our request (its origin
timestamp is the transmit timestamp we sent), comes from a synchronised
server (stratum 1-15, leap indicator not 3, mode 4) and is after 2025: a
stray or forged packet cannot set the clock to anything a hub would act on.
The board's RTC is left alone; the hub's sessions and schedules read
unix_s().
"""

import socket
import struct

import grid

_NTP_UNIX = 2208988800      # seconds from 1900 (NTP) to 1970 (Unix)


class Ntp:
    def __init__(self, host, clock, port=123, every_ms=3600000, retry_ms=60000, timeout_ms=3000):
        self.clock = clock
        self.every_ms = every_ms
        self.retry_ms = retry_ms
        self.timeout_ms = timeout_ms
        self.addr = socket.getaddrinfo(host, port)[0][-1]   # an address: nothing to look up
        self.sock = None
        self.sent_at = None     # ticks of the request in flight
        self.nonce = b""
        self.next_at = None     # ticks of the next request (None: now)
        self.base_s = 0         # Unix seconds at base_ms
        self.base_ms = 0
        self.synced = False
        self.replies = 0
        self.refused = 0        # packets that were not an answer to us

    def unix_s(self, now):
        """Unix seconds now, 0 while no reply has been taken."""
        if not self.synced:
            return 0
        return self.base_s + self.clock.ticks_diff(now, self.base_ms) // 1000

    def service(self, now):
        td = self.clock.ticks_diff
        if self.sock is None:
            if self.next_at is not None and td(now, self.next_at) < 0:
                return
            self._send(now)
            return
        self._receive(now)
        if self.sock is not None and td(now, self.sent_at) >= self.timeout_ms:
            self._close(now, self.retry_ms)      # no answer: try again later

    def _send(self, now):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            # a request: LI 0, version 4, mode 3 (client); the transmit
            # timestamp is a nonce the answer must echo as its origin
            self.nonce = struct.pack(">II", (now & 0x3FFFFFFF) + 1, self.replies + self.refused + 1)
            s.sendto(b"\x23" + bytes(39) + self.nonce, self.addr)
        except OSError:
            self._close(now, self.retry_ms)
            return
        self.sock = s
        self.sent_at = now

    def _receive(self, now):
        try:
            data = self.sock.recv(64)
        except OSError:
            return                  # nothing yet (EAGAIN)
        if not self._take(data, now):
            self.refused += 1
            return                  # keep listening until the timeout
        self.replies += 1
        self._close(now, self.every_ms)

    def _take(self, data, now):
        if len(data) < 48 or data[24:32] != self.nonce:
            return False
        li, mode, stratum = data[0] >> 6, data[0] & 7, data[1]
        if li == 3 or mode != 4 or not 1 <= stratum <= 15:
            return False
        secs, frac = struct.unpack(">II", data[40:48])
        unix = secs - _NTP_UNIX
        if unix < grid.WALL_VALID:     # a reply before 2025 is wrong
            return False
        # half the round trip is taken as the reply's age
        self.base_s = unix
        back = self.clock.ticks_diff(now, self.sent_at) // 2 + (frac >> 22) * 1000 // 1024
        self.base_ms = self.clock.ticks_add(now, -back)
        self.synced = True
        return True

    def _close(self, now, after_ms):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.next_at = self.clock.ticks_add(now, after_ms)

