"""A syslog receiver for Render log streams: RFC 5425 / 6587 over TCP, optionally TLS.

Frames: octet-counted (`LEN SP MSG`, RFC 5425/6587 3.4.1) when a frame starts with a digit, else
newline-terminated (RFC 6587 3.4.2); both may arrive on one server, each connection decides per
frame. A message of several lines is written as several syslog lines with the same header, so the
reader sees one line of output per message, as Render sends it. Messages go to a queue bounded in
messages and in bytes (a full queue drops the oldest and counts it) that `stream()` reads as a blocking
binary stream. What a peer can make the listener hold is bounded: a frame at MAX_FRAME bytes (a line
without its newline is cut there, whatever it starts with), the queue at QUEUE_BYTES. Given networks (`allow`), a
peer from elsewhere is closed at once, before TLS or a byte read, and said once per address (`on_note`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import queue
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HEADER = re.compile(rb"^<\d{1,3}>\d{1,2} \S+ \S+ \S+ \S+ \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?")
MAX_FRAME = 64 << 10
# connections served at once (a thread each): a sender past these is closed at once and counted in `refused`, so that
# a flood of connections cannot exhaust the watcher's threads (Render's log stream holds one or a few)
MAX_CONNECTIONS = 64
# with every slot taken, a new sender takes the slot of the connection that has sent no whole message for the longest,
# if for this long: a peer holding every slot with idle connections (no bytes, ever), or trickling a frame that never
# ends (slowloris: a byte now and then), would otherwise lock Render's stream out
IDLE_EVICT = 60.0
QUEUE_SIZE = 100_000
QUEUE_BYTES = 64 << 20  # bytes of messages queued at most (100 000 frames of 64 KiB would be 6.5 GB)
NOTED_PEERS = 100  # peers outside `allow` said by address (then only counted)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def peer_allowed(address: str, allow: Sequence[Network]) -> bool:
    """Whether the peer `address` is in one of the networks (an IPv4 peer on a dual-stack socket, `::ffff:a.b.c.d`,
    as its IPv4 address)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in allow)


def split_message(msg: bytes) -> bytes:
    """One syslog message as newline-terminated lines, each with the message's header."""
    msg = msg.rstrip(b"\r\n")
    if b"\n" not in msg:
        return msg + b"\n"
    m = _HEADER.match(msg)
    head = m.group(0) if m else b""
    first, *rest = msg.split(b"\n")
    return b"\n".join([first, *(head + line.rstrip(b"\r") for line in rest)]) + b"\n"


@dataclass
class FrameParser:
    """Splits a TCP byte stream into syslog messages (octet-counted or newline-framed)."""

    buffer: bytearray = field(default_factory=bytearray)
    bad: int = 0

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        out: list[bytes] = []
        buf = self.buffer
        while buf:
            if buf[:1].isdigit():
                sp = buf.find(b" ", 0, 8)
                if sp < 0:
                    if len(buf) >= 8 or not buf.isdigit():
                        # not a length after all: fall back to newline framing
                        nl = buf.find(b"\n", 0, MAX_FRAME + 1)
                        if nl < 0:
                            if len(buf) > MAX_FRAME:  # a line of digits that never ends: cut as any line is
                                out.append(bytes(buf[:MAX_FRAME]))
                                del buf[:MAX_FRAME]
                                continue
                            break
                        out.append(bytes(buf[:nl]))
                        del buf[:nl + 1]
                        continue
                    break
                # (digits only: int() takes "1_0" and " 1" too)
                length = int(buf[:sp]) if buf[:sp].isdigit() else -1
                if length < 0 or length > MAX_FRAME:
                    self.bad += 1
                    nl = buf.find(b"\n")
                    if nl < 0:
                        buf.clear()
                        break
                    del buf[:nl + 1]
                    continue
                if len(buf) < sp + 1 + length:
                    break
                if length:  # (an empty frame is no message)
                    out.append(bytes(buf[sp + 1: sp + 1 + length]))
                del buf[:sp + 1 + length]
                while buf.startswith((b"\n", b"\r")):  # some senders add a newline after a counted frame
                    del buf[:1]
            else:
                nl = buf.find(b"\n")
                if nl < 0:
                    if len(buf) > MAX_FRAME:
                        out.append(bytes(buf[:MAX_FRAME]))
                        buf.clear()
                    break
                line = bytes(buf[:min(nl, MAX_FRAME)])  # (a line whose newline came in the same reads: cut too)
                del buf[:nl + 1]
                if line.strip():
                    out.append(line)
        return out


class _ByteQueue(queue.Queue[bytes]):
    """A queue that knows how many bytes it holds (`size`), kept under its own lock."""

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)
        self.size = 0

    def _put(self, item: bytes) -> None:
        super()._put(item)
        self.size += len(item)

    def _get(self) -> bytes:
        item = super()._get()
        self.size -= len(item)
        return item


class SyslogListener:
    """A threaded TCP (or TLS) syslog server on `host:port` feeding one queue."""

    def __init__(self, host: str, port: int, *, certfile: Path | None = None, keyfile: Path | None = None,
                 clock: Callable[[], float] = time.monotonic, allow: Sequence[Network] | None = None,
                 on_note: Callable[[str], None] | None = None) -> None:
        self.clock = clock
        self.allow = tuple(allow) if allow is not None else None
        self.denied = 0  # connections from peers outside `allow`, closed at once
        self._noted: set[str] = set()
        self._on_note = on_note
        self.received = 0  # bytes read from every connection
        self.queue: _ByteQueue = _ByteQueue(QUEUE_SIZE)
        self.dropped = 0
        self.messages = 0
        self.connections = 0
        self.refused = 0
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._active: dict[int, list[Any]] = {}  # thread id -> [socket read, `clock` time of its last whole message]
        self._active_lock = threading.Lock()
        self.evicted = 0
        self._stop = threading.Event()
        self._ctx: ssl.SSLContext | None = None
        if certfile is not None:
            self._ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ctx.load_cert_chain(str(certfile), str(keyfile) if keyfile else None)
            # no TLS 1.3 session tickets: a sender that writes and closes at once would otherwise
            # answer the tickets with a reset, and the kernel may drop what it sent before it
            self._ctx.num_tickets = 0
        self._sock = socket.create_server((host, port), reuse_port=False)
        self._sock.settimeout(0.2)
        self.address = self._sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept, daemon=True, name="syslog-accept")

    def start(self) -> SyslogListener:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():  # (a listener closed unstarted: refused before it served)
            self._thread.join(timeout=2)
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._sock.accept()
            except (TimeoutError, OSError):  # mosaic-diag: ignore[MD006]
                continue
            if self.allow is not None and not peer_allowed(str(peer[0]), self.allow):
                conn.close()
                self._deny(str(peer[0]))
                continue
            if not self._slots.acquire(blocking=False) and not (self._evict_idle()
                                                                 and self._slots.acquire(timeout=2)):
                self.refused += 1
                conn.close()
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True, name="syslog-conn").start()

    def _deny(self, address: str) -> None:
        self.denied += 1
        if self._on_note is not None and address not in self._noted and len(self._noted) < NOTED_PEERS:
            self._noted.add(address)
            self._on_note(f"syslog: refused a connection from {address}: not in --syslog-allow")

    def _evict_idle(self) -> bool:
        """Close the connection that has sent no whole message for the longest, if for IDLE_EVICT seconds or more
        (its thread then frees its slot); True when one was."""
        with self._active_lock:
            idle = min(self._active.values(), key=lambda entry: entry[1], default=None)
            if idle is None or self.clock() - idle[1] < IDLE_EVICT:
                return False
            idle[1] = float("inf")  # (chosen once)
        with contextlib.suppress(OSError):  # mosaic-diag: ignore[MD006] - already gone: its slot is being freed
            idle[0].shutdown(socket.SHUT_RDWR)
        self.evicted += 1
        return True

    def _serve(self, conn: socket.socket) -> None:
        parser = FrameParser()
        me = threading.get_ident()
        entry: list[Any] = [conn, self.clock()]
        with self._active_lock:
            self._active[me] = entry
        try:
            if self._ctx is not None:
                conn.settimeout(10)
                conn = entry[0] = self._ctx.wrap_socket(conn, server_side=True)
            conn.settimeout(0.5)
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:  # mosaic-diag: ignore[MD006]
                    continue
                if not data:
                    break
                with self._active_lock:  # (threads at once: a bare += may lose a count)
                    self.received += len(data)
                messages = parser.feed(data)
                if messages and entry[1] != float("inf"):  # (bytes of a frame that never ends keep no slot)
                    entry[1] = self.clock()
                for msg in messages:
                    self._put(split_message(msg))
        except (OSError, ssl.SSLError):  # mosaic-diag: ignore[MD006]
            pass  # a client that went away or failed its handshake ends its own connection only
        finally:
            with self._active_lock:
                self._active.pop(me, None)
            conn.close()
            self._slots.release()

    def _put(self, line: bytes) -> None:
        self.messages += 1
        while self.queue.size + len(line) > QUEUE_BYTES:  # the oldest make room (a reader slower than a flood)
            try:
                self.queue.get_nowait()
                self.dropped += 1
            except queue.Empty:
                break
        while True:
            try:
                self.queue.put_nowait(line)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:  # mosaic-diag: ignore[MD006]
                    pass

    def stream(self, stop: threading.Event) -> QueueStream:
        return QueueStream(self.queue, stop)


class QueueStream:
    """A blocking binary stream over a queue of lines; b"" once `stop` is set and the queue is empty."""

    def __init__(self, q: queue.Queue[bytes], stop: threading.Event) -> None:
        self.q = q
        self.stop = stop

    def read(self, size: int = -1) -> bytes:
        return self.read_some(size) or b""

    def read_some(self, size: int = -1, timeout: float | None = None) -> bytes | None:
        limit = size if size > 0 else 1 << 20
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                first = self.q.get(timeout=0.2)
            except queue.Empty:
                if self.stop.is_set():
                    return b""
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                continue
            parts, total = [first], len(first)
            while total < limit:
                try:
                    more = self.q.get_nowait()
                except queue.Empty:
                    break
                parts.append(more)
                total += len(more)
            return b"".join(parts)
