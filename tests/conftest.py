"""Shared fixtures: a real PostgreSQL (`pg`, `pg_db`), the LLM provider stand-in (`standin`, `llm`), a loopback
port that refuses connections (`refused_port`) and a private cache directory (`cache`); the modules with a test
marked `slow` run first, in another order under `MOSAIC_TEST_ORDER=reverse` or `shuffle:SEED`."""

from __future__ import annotations

import itertools
import os
import random
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.llm_standin import LLMStandIn
from examples.pgtemp import TempPostgres, ram_dir

pytest_plugins = ["tests.strict_skips", "tests.isolation"]  # a skip under CI is a failure; logging put back

_db_counter = itertools.count(1)


_RAM_BASETEMP = pytest.StashKey[str]()


def sigint_as_a_terminal_gives_it() -> None:
    """Ctrl-C handled in this process, so that the commands the tests start take SIGINT as a terminal's foreground job
    does: a run started in the background (`cmd &` in a script, a CI step) ignores SIGINT, and an ignored signal stays
    ignored through exec, so every command a test interrupted with SIGINT read on to its end."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """The run's temporary files (`tmp_path`, every xdist worker's under it) in RAM when there is room (`ram_dir`)
    and no `--basetemp` was given: a file made on a busy disk cost up to ~2 ms, and the suite makes git
    repositories, virtual environments and PostgreSQL servers by the hundred. A passed test's `tmp_path` is removed
    after it (`tmp_path_retention_policy` in pyproject.toml), the rest at the end of the run. A MOSAIC_TEST_ORDER it
    cannot read stops the run before anything is collected."""
    order_setting()
    sigint_as_a_terminal_gives_it()
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        ram = ram_dir()
        if ram is not None:
            config.option.basetemp = config.stash[_RAM_BASETEMP] = tempfile.mkdtemp(prefix="mosaic-diag-pytest-",
                                                                                      dir=ram)


def pytest_unconfigure(config: pytest.Config) -> None:
    where = config.stash.get(_RAM_BASETEMP, None)
    if where is not None:
        shutil.rmtree(where, ignore_errors=True)


# `MOSAIC_TEST_ORDER` reruns the suite in another order, to find a test that passes only after (or before) another
# one: `reverse` (the modules of each part, slow and the rest, in reverse order, the tests of each module too) or
# `shuffle:SEED` (both shuffled by that seed: every xdist worker must collect the same order, so never a seed of
# its own). Unset (or `default`) the order is the one below. Modules stay whole, so that a module-scoped fixture
# is still set up once; the slow modules still come first. The header of the run names the order.
ORDER_VAR = "MOSAIC_TEST_ORDER"


def order_setting() -> tuple[str, int | None]:
    """`MOSAIC_TEST_ORDER` read: ("default", None), ("reverse", None) or ("shuffle", seed)."""
    value = os.environ.get(ORDER_VAR, "").strip().lower()
    if value in {"", "default"}:
        return "default", None
    if value == "reverse":
        return "reverse", None
    kind, _, seed = value.partition(":")
    if kind == "shuffle" and seed.strip().isdigit():
        return "shuffle", int(seed)
    raise pytest.UsageError(f"{ORDER_VAR}={value!r}: expected `default`, `reverse` or `shuffle:SEED` (an integer)")


def reordered(items: list[pytest.Item], kind: str, seed: int | None) -> list[pytest.Item]:
    """`items` (already slow-first) with the modules of each part, and the tests of each module, reversed or
    shuffled by `seed`; each module's tests kept together."""
    if kind == "default":
        return items
    rng = random.Random(seed)

    def arrange(seq: list[Any]) -> list[Any]:
        if kind == "reverse":
            return seq[::-1]
        seq = list(seq)
        rng.shuffle(seq)
        return seq

    out: list[pytest.Item] = []
    for _, part in itertools.groupby(items, key=lambda item: item.stash.get(_SLOW, False)):
        modules: dict[Path, list[pytest.Item]] = {}
        for item in part:
            modules.setdefault(item.path, []).append(item)
        for path in arrange(list(modules)):
            out.extend(arrange(modules[path]))
    return out


_SLOW = pytest.StashKey[bool]()


def pytest_report_header(config: pytest.Config) -> str | None:
    kind, seed = order_setting()
    return None if kind == "default" else f"test order: {ORDER_VAR}={kind}" + ("" if seed is None else f":{seed}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The modules holding a test marked `slow` first, each whole and in its own order, the rest after them as
    collected: pytest-xdist deals the tests out in this order, so a long test is started early, while the other
    workers still have work, never last (a mypy run or a deploy dealt at the end kept one worker busy alone for up
    to a minute). Whole modules, so that a module-scoped fixture is still set up once a worker. Then
    `MOSAIC_TEST_ORDER`, if set, reverses or shuffles modules and tests within that."""
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow)  # (a stable sort: the order within each part is kept)
    for item in items:
        item.stash[_SLOW] = item.path in slow
    items[:] = reordered(items, *order_setting())


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private on-disk cache directory of the test's own (`MOSAIC_DIAG_CACHE_DIR`), not made yet."""
    where = tmp_path / "cache"
    monkeypatch.setenv("MOSAIC_DIAG_CACHE_DIR", str(where))
    return where


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TempPostgres]:
    """A started throwaway PostgreSQL server, stopped at session end whatever happened; its files in RAM when there
    is room (`ram_dir`: a CREATE DATABASE took 0.1 s on a quiet disk, 0.4-0.6 s on a busy one, ~0.05 s there)."""
    server = TempPostgres(ram_dir() or tmp_path_factory.mktemp("pg"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_db(pg: TempPostgres) -> Iterator[str]:
    """The dsn of a fresh, empty database owned by `mosaic` (one per test), dropped after the test: the server's
    files stay small (a worker's hundreds of databases, ~12 MB each, took its last test's teardown 40 s to remove)."""
    name = f"t{next(_db_counter)}_{secrets.token_hex(3)}"
    yield pg.create_database(name)
    pg.drop_database(name)


@pytest.fixture(scope="session")
def standin() -> Iterator[LLMStandIn]:
    """The OpenAI/Anthropic stand-in on a loopback port, for the whole session."""
    server = LLMStandIn().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def llm(standin: LLMStandIn) -> Iterator[LLMStandIn]:
    """The session stand-in with no failures and an empty request log, reset again afterwards."""
    standin.reset()
    try:
        yield standin
    finally:
        standin.reset()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses every connection for the length of the test: bound by this process and never
    listening, so no server another test starts meanwhile can take it (as it can take a port merely found free)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]
