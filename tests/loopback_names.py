"""A provider's or job board's host name resolved to the loopback interface for one test, so the real HTTP
clients say their own words about that host (`HTTPSConnectionPool(host='api.openai.com', …)`) while talking to a
local server."""

from __future__ import annotations

import socket

import pytest


def resolve_to_loopback(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    """`host` resolves to 127.0.0.1 until the test ends; every other name as before."""
    real = socket.getaddrinfo

    def resolve(name: str, *args: object, **kwargs: object) -> object:
        return real("127.0.0.1" if name == host else name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
