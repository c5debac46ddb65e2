"""A syslog receiver for Render log streams: RFC 5425 / 6587 over TCP, optionally TLS.

Frames: octet-counted (`LEN SP MSG`, RFC 5425/6587 3.4.1) when a frame starts with a digit, else
newline-terminated (RFC 6587 3.4.2); both may arrive on one server, each connection decides per
frame. A line without its newline is ended by its sender's close (RFC 6587 3.4.2: the last message of a stream
need not end with LF); an octet-counted frame the close cut short is said, not read. A message of several lines is
written as several syslog lines with the same header, so the reader sees one line of output per message, as Render
sends it (the header's copies at most SPLIT_HEADS bytes a message, the lines past them without it). Messages go to a
queue bounded in messages and in bytes that `stream()` reads as a blocking binary
stream, in arrival order; a full queue is fair to its senders (`FairQueue`): the sender holding more than its
share gives up its oldest line, never a quieter sender, and what each sender lost is counted (`dropped_by`) and
said once. What a peer can make the listener hold is bounded: a frame at MAX_FRAME bytes (a line without its
newline is cut there, whatever it starts with), the queue at QUEUE_BYTES. Given networks (`allow`), a peer from
elsewhere is closed at once, before TLS or a byte read, and said once per address (`on_note`).
"""

from __future__ import annotations

import contextlib
import heapq
import ipaddress
import itertools
import queue
import re
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HEADER = re.compile(rb"^<\d{1,3}>\d{1,2} \S+ \S+ \S+ \S+ \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?")
MAX_FRAME = 64 << 10
# bytes of a message's header copied onto its further lines at most: a frame of a 32 KB header and 32,000 newlines
# was 1 GB once each line had its copy (2 GB of memory for 64 KB sent; a traceback of Render's copies some kB)
SPLIT_HEADS = 4 * MAX_FRAME
# connections served at once (a thread each): a sender past these is closed at once and counted in `refused`, so that
# a flood of connections cannot exhaust the watcher's threads (Render's log stream holds one or a few)
MAX_CONNECTIONS = 64
# with every slot taken, a new sender takes the slot of the connection that has sent no whole message for the longest,
# if for this long: a peer holding every slot with idle connections (no bytes, ever), or trickling a frame that never
# ends (slowloris: a byte now and then), would otherwise lock Render's stream out
IDLE_EVICT = 60.0
QUEUE_SIZE = 100_000
QUEUE_BYTES = 64 << 20  # bytes of messages queued at most (100 000 frames of 64 KiB would be 6.5 GB)
NOTED_PEERS = 100  # peers said by address, of each kind of problem (then only counted)
COUNTED_PEERS = 1000  # peers whose dropped lines are counted by address (the others together, as OTHER_PEERS)
OTHER_PEERS = "(other senders)"
SUMMARY_PEERS = 10  # senders named by their dropped lines in the watch's summary
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
    """One syslog message as newline-terminated lines, each with the message's header, as long as the copies of the
    header come to at most SPLIT_HEADS bytes (the lines past them as they are)."""
    msg = msg.rstrip(b"\r\n")
    if b"\n" not in msg:
        return msg + b"\n"
    m = _HEADER.match(msg)
    head = m.group(0) if m else b""
    first, *rest = msg.split(b"\n")
    headed = len(rest) if not head else SPLIT_HEADS // len(head)
    return b"\n".join([first, *(head + line.rstrip(b"\r") for line in rest[:headed]),
                       *(line.rstrip(b"\r") for line in rest[headed:])]) + b"\n"


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

    def finish(self) -> tuple[bytes | None, tuple[int, int] | None]:
        """At the end of the connection: (its last message, None) when what is left is a line without its newline
        (RFC 6587 3.4.2: the close ends it; at most MAX_FRAME bytes, as `feed` keeps), else (None, (bytes of the
        frame received, its octet count)) when it is an octet-counted frame the close cut short (a count without
        its space: (0, 0)), or (None, None) when nothing is left."""
        buf, self.buffer = self.buffer, bytearray()
        if not buf.strip():
            return None, None
        if buf[:1].isdigit():
            sp = buf.find(b" ", 0, 8)
            if sp >= 0:  # (`feed` skipped a bad count: this one is good, its frame unfinished)
                return None, (len(buf) - sp - 1, int(buf[:sp]))
            if len(buf) < 8 and buf.isdigit():
                return None, (0, 0)
        return bytes(buf[:MAX_FRAME]), None


class _Sender:
    """One sender's lines in a FairQueue (a peer address's: all its connections)."""

    __slots__ = ("name", "lines", "weight", "stale", "rank", "version")

    def __init__(self, name: str, rank: int) -> None:
        self.name = name
        self.lines: deque[bytes] = deque()
        self.weight = 0  # of its lines queued (see FairQueue)
        self.stale = 0  # its first entries in the queue's order that stand for lines dropped
        self.rank = rank  # (the heaviest senders' order: the one queued first)
        self.version = 0  # of its weight: its entry in the queue's heap of the heaviest is the one of this version


class FairQueue:
    """Lines of several senders, read in arrival order, bounded: a line weighs its bytes, at least
    `max_bytes // max_lines`, and the lines queued weigh at most `max_bytes` (so at most `max_lines` of them).
    When a line does not fit, its own sender gives up its oldest line if it holds more than its share (`max_bytes`
    over the senders with lines queued), else the sender holding the most: a sender that floods loses its own
    lines, never those of a quieter one. `put` says whose lines it dropped. The heaviest sender is found in a heap
(`_heap`, an entry per weight a sender had, the stale ones skipped): thousands of senders of a line each (one address
each, an IPv6 network's) made each put into a full queue look at all of them, under the lock the reader waits for."""

    def __init__(self, max_lines: int, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.min_weight = max(1, max_bytes // max(1, max_lines))
        self._ready = threading.Condition(threading.Lock())
        self._order: deque[_Sender] = deque()  # a sender per line put, in arrival order (its `stale` ones skipped)
        self._senders: dict[str, _Sender] = {}  # those with lines queued
        self._heap: list[tuple[int, int, int, _Sender]] = []  # (-weight, rank, version, sender), by weight
        self._ranks = itertools.count()
        self.weight = 0
        self.size = 0  # bytes of the lines queued
        self.count = 0  # lines queued

    def _weight(self, line: bytes) -> int:
        return max(len(line), self.min_weight)

    def put(self, sender: str, line: bytes) -> list[str]:
        """Queue `line` of `sender`; the senders (one per line dropped to make room for it)."""
        weight = self._weight(line)
        dropped: list[str] = []
        with self._ready:
            me = self._senders.get(sender)
            if me is None:
                me = self._senders[sender] = _Sender(sender, next(self._ranks))
            while self.weight + weight > self.max_bytes and self.count:
                share = self.max_bytes // len(self._senders)
                victim = me if me.lines and me.weight + weight > share else self._heaviest()
                self._take(victim)
                victim.stale += 1
                dropped.append(victim.name)
            self._senders[sender] = me  # (again, when its own last line made room)
            me.lines.append(line)
            me.weight += weight
            self._weighed(me)
            self.weight += weight
            self.size += len(line)
            self.count += 1
            self._order.append(me)
            if len(self._order) > 2 * self.count + 1024:  # dropped lines' entries, while nobody reads
                self._compact()
            self._ready.notify()
        return dropped

    def _weighed(self, sender: _Sender) -> None:
        """`sender`'s weight changed: its entry in the heap of the heaviest is a new one (the heap rebuilt from the
        senders queued when the stale entries are most of it)."""
        sender.version += 1
        if sender.lines:
            heapq.heappush(self._heap, (-sender.weight, sender.rank, sender.version, sender))
        if len(self._heap) > 2 * len(self._senders) + 1024:
            self._heap = [(-s.weight, s.rank, s.version, s) for s in self._senders.values() if s.lines]
            heapq.heapify(self._heap)

    def _heaviest(self) -> _Sender:
        """The sender holding the most (of those as heavy, the one queued first)."""
        heap = self._heap
        while True:
            _, _, version, sender = heap[0]
            if version == sender.version and sender.lines and self._senders.get(sender.name) is sender:
                return sender
            heapq.heappop(heap)

    def _take(self, sender: _Sender) -> bytes:
        line = sender.lines.popleft()
        weight = self._weight(line)
        sender.weight -= weight
        self.weight -= weight
        self.size -= len(line)
        self.count -= 1
        if not sender.lines and self._senders.get(sender.name) is sender:
            del self._senders[sender.name]
        self._weighed(sender)
        return line

    def _compact(self) -> None:
        """The order without the entries of dropped lines (each sender's first `stale` ones)."""
        order: deque[_Sender] = deque()
        for sender in self._order:
            if sender.stale:
                sender.stale -= 1
            else:
                order.append(sender)
        self._order = order

    def get(self, timeout: float | None = None) -> bytes:
        """The oldest line queued, waiting up to `timeout` seconds (None: for ever) for one; queue.Empty if none."""
        with self._ready:
            if not self._ready.wait_for(lambda: self.count > 0, timeout):
                raise queue.Empty
            while True:
                sender = self._order.popleft()
                if sender.stale:
                    sender.stale -= 1
                    continue
                return self._take(sender)

    def get_nowait(self) -> bytes:
        return self.get(timeout=0)

    def lines(self) -> list[bytes]:
        """The lines queued, oldest first (a copy)."""
        with self._ready:
            stale = {id(s): s.stale for s in self._order}
            taken = dict.fromkeys(stale, 0)
            out = []
            for sender in self._order:
                if stale[id(sender)]:
                    stale[id(sender)] -= 1
                else:
                    out.append(sender.lines[taken[id(sender)]])
                    taken[id(sender)] += 1
            return out


class SyslogListener:
    """A threaded TCP (or TLS) syslog server on `host:port` feeding one queue."""

    def __init__(self, host: str, port: int, *, certfile: Path | None = None, keyfile: Path | None = None,
                 clock: Callable[[], float] = time.monotonic, allow: Sequence[Network] | None = None,
                 on_note: Callable[[str], None] | None = None) -> None:
        self.clock = clock
        self.allow = tuple(allow) if allow is not None else None
        self.denied = 0  # connections from peers outside `allow`, closed at once
        self._noted: set[tuple[str, str]] = set()  # (kind of problem, peer address) said
        self._noted_kinds: dict[str, int] = {}  # addresses said, by kind
        self._on_note = on_note
        self.received = 0  # bytes read from every connection
        self.queue = FairQueue(QUEUE_SIZE, QUEUE_BYTES)
        self.dropped = 0  # lines dropped from a full queue, in all
        self.dropped_by: dict[str, int] = {}  # of them, by the address of the sender that lost them
        self.truncated = 0  # octet-counted frames a sender's close cut short (not read)
        self.messages = 0
        self._count_lock = threading.Lock()
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
        """Stop accepting, then close the listening socket once the accepting thread has left it: a socket closed
        under a thread polling it lets that thread poll (and accept on) whatever socket next takes its number."""
        self._stop.set()
        if self._thread.is_alive():  # (a listener closed unstarted: refused before it served)
            self._thread.join(timeout=30)  # (it looks at the stop at least every 0.2 s: its accept's timeout)
        self._sock.close()

    def summary(self, top: int = SUMMARY_PEERS) -> dict[str, Any]:
        """What the listener saw, for the watch's summary: connections served, refused (all slots busy) and denied
        (outside `allow`), idle ones evicted, messages read, lines dropped from a full queue in all and by the
        `top` senders that lost most (the rest together under OTHER_PEERS), and frames a close cut short."""
        with self._count_lock:
            by = sorted(self.dropped_by.items(), key=lambda kv: (-kv[1], kv[0]))
            dropped, messages = self.dropped, self.messages
        shown = dict(by[:top])
        if rest := sum(n for _, n in by[top:]):
            shown[OTHER_PEERS] = shown.get(OTHER_PEERS, 0) + rest
        return {"connections": self.connections, "refused": self.refused, "denied": self.denied,
                "evicted": self.evicted, "messages": messages, "dropped": dropped, "dropped_by": shown,
                "truncated": self.truncated}

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
            threading.Thread(target=self._serve, args=(conn, str(peer[0])), daemon=True, name="syslog-conn").start()

    def _deny(self, address: str) -> None:
        self.denied += 1
        self._note("denied", address, f"syslog: refused a connection from {address}: not in --syslog-allow")

    def _note(self, kind: str, address: str, text: str) -> None:
        """Say `text` once per kind and address (of at most NOTED_PEERS addresses a kind; the rest are counted)."""
        with self._count_lock:
            key = (kind, address)
            if self._on_note is None or key in self._noted or self._noted_kinds.get(kind, 0) >= NOTED_PEERS:
                return
            self._noted.add(key)
            self._noted_kinds[kind] = self._noted_kinds.get(kind, 0) + 1
        self._on_note(text)

    def _evict_idle(self) -> bool:
        """Close the connection that has sent no whole message for the longest, if for IDLE_EVICT seconds or more
        (its thread then frees its slot); True when one was."""
        with self._active_lock:
            idle = min(self._active.values(), key=lambda entry: entry[1], default=None)
            if idle is None or self.clock() - idle[1] < IDLE_EVICT:
                return False
            idle[1] = float("inf")  # (chosen once)
        with contextlib.suppress(OSError):  # mosaic-diag: ignore[MD006] - already gone: its slot is being freed
            socket.socket.shutdown(idle[0], socket.SHUT_RDWR)  # (a TLS socket's too: its reading thread's recv ends)
        self.evicted += 1
        return True

    def _serve(self, conn: socket.socket, address: str) -> None:
        parser = FrameParser()
        me = threading.get_ident()
        entry: list[Any] = [conn, self.clock()]
        with self._active_lock:
            self._active[me] = entry
        try:
            if self._ctx is not None:
                conn.settimeout(10)
                # the handshake on the wrapped socket, once `entry` holds it: wrap_socket detaches the plain one, and
                # `_evict_idle` shut nothing down (EBADF) while a handshake trickled a byte now and then
                conn = entry[0] = self._ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
                conn.do_handshake()
            conn.settimeout(0.5)
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:  # mosaic-diag: ignore[MD006]
                    continue
                if not data:
                    if entry[1] != float("inf"):  # the sender's close, not the listener's (`_evict_idle`)
                        self._finish(parser, address)
                    break
                with self._active_lock:  # (threads at once: a bare += may lose a count)
                    self.received += len(data)
                messages = parser.feed(data)
                if messages and entry[1] != float("inf"):  # (bytes of a frame that never ends keep no slot)
                    entry[1] = self.clock()
                for msg in messages:
                    self._put(split_message(msg), address)
        except (OSError, ssl.SSLError):  # mosaic-diag: ignore[MD006]
            pass  # a client that went away or failed its handshake ends its own connection only
        finally:
            with self._active_lock:
                self._active.pop(me, None)
            conn.close()
            self._slots.release()

    def _finish(self, parser: FrameParser, address: str) -> None:
        """The connection of `address` ended: its last line without a newline read, a frame it cut short said."""
        last, cut = parser.finish()
        if last is not None:
            self._put(split_message(last), address)
        elif cut is not None:
            with self._count_lock:
                self.truncated += 1
            got, want = cut
            what = f"{got:,} of its {want:,} bytes" if want else "its octet count without the frame"
            self._note("truncated", address, f"syslog: {address} closed its connection in the middle of an "
                       f"octet-counted frame ({what}): that message is not read (and no further one cut short "
                       "by this sender is said)")

    def _put(self, line: bytes, address: str) -> None:
        dropped = self.queue.put(address, line)
        with self._count_lock:
            self.messages += 1
            self.dropped += len(dropped)
            for name in dropped:
                key = name if name in self.dropped_by or len(self.dropped_by) < COUNTED_PEERS else OTHER_PEERS
                self.dropped_by[key] = self.dropped_by.get(key, 0) + 1
        for name in dict.fromkeys(dropped):
            self._note("dropped", name, f"syslog: {name} sends more than the watch reads: its oldest lines are "
                       f"dropped to keep the queue within {self.queue.max_bytes / (1 << 20):g} MB (counted by sender; "
                       "other senders keep their share)")

    def stream(self, stop: threading.Event) -> QueueStream:
        return QueueStream(self.queue, stop)


class QueueStream:
    """A blocking binary stream over a queue of lines; b"" once `stop` is set and the queue is empty."""

    def __init__(self, q: FairQueue, stop: threading.Event) -> None:
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
