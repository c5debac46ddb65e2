"""A loopback TCP relay in front of the real PostgreSQL, for tests of what the runtime kit does when the database
goes away: cut (`up = False`: it accepts and hangs up at once) or frozen (`freeze()`: it keeps every connection
open and relays nothing, as a network that drops packets does); it counts the connections it was asked for."""

from __future__ import annotations

import contextlib
import socket
import threading


class Proxy:
    """The relay (see the module doc); `port` is where clients connect."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.up = True
        self.accepted = 0
        self.held = 0  # chunks received while frozen, not yet relayed (a client's statement stuck in the relay)
        self._flowing = threading.Event()
        self._flowing.set()
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(128)
        self.port = self.server.getsockname()[1]
        self._accepting = threading.Thread(target=self._serve, daemon=True, name="pgproxy-accept")
        self._accepting.start()

    def freeze(self) -> None:
        """Relay nothing more (connections stay open, bytes wait) until `thaw()`."""
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            if not self.up:
                conn.close()
                continue
            upstream = socket.create_connection(self.target)
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if not self._flowing.is_set():
                    self.held += 1
                    self._flowing.wait()
                    self.held -= 1
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Stop accepting, then close the listening socket once the accepting thread has left it: closed under the
        thread's accept() it left that thread blocked for the rest of the run, and closed as the thread went back to
        accept() it let the thread accept on whatever socket took the number next (another test's server's)."""
        self.thaw()
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # (wakes the accept(): EINVAL)
        self._accepting.join(timeout=30)
        self.server.close()
