"""What a command wrote to a pseudo-terminal, read from its master end."""

from __future__ import annotations

import os


def read_until_closed(master: int) -> bytes:
    """Everything written to the terminal until every slave end is closed (Linux then answers EIO), the master
    end closed after."""
    chunks: list[bytes] = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the other end closed
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    return b"".join(chunks)
