"""Each test starts from the process state the one before it found, whatever order xdist deals them in.

Put back after every test: logging (the level, propagation, `disabled` flag and handlers of every logger that
existed before it, the root's included, and `logging.disable`'s level; a logger the test brought into being is
made to propagate again, enabled and stripped of its handlers, a library's `NullHandler` and a level set when it
was imported kept), `sys.path`, `sys.excepthook` (Typer installs its own whenever the CLI runs in-process: put
back, not reported) and `threading.excepthook`; and the modules imported from a temporary directory are forgotten
(an app a test wrote, imported by a fixed name: the next test writing one of that name got the first). A logger
left not propagating by one test made another's records vanish: `api.storage`'s never reached `caplog` after the
rich-handler tests, the level column was empty after the rotation tests.

With `MOSAIC_DIAG_LEAK_CHECK=1` a test that leaves any of this behind fails its teardown, naming what it left, and
so does one that changes the environment, the working directory, a signal handler, the socket default timeout,
the umask, the unraisable hook or the locale, or leaves a thread running (unless it uses a module- or
session-scoped fixture of the suite's, whose servers outlive the test by design). Each is compared after the
test's fixtures are torn down. It is how the suite is audited for leaks:

    MOSAIC_DIAG_LEAK_CHECK=1 python -m pytest -n 0 -p no:cacheprovider tests/test_x.py tests/test_y.py
"""

from __future__ import annotations

import locale
import logging
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from tests.hoststate import _signals, _umask  # (stdlib only: the same readings in an app under test)

_pytest_logging: Any
try:
    import _pytest.logging as _pytest_logging
except ImportError:  # pragma: no cover
    _pytest_logging = None

_PYTEST_HANDLERS: tuple[type, ...] = () if _pytest_logging is None else (
    _pytest_logging.LogCaptureHandler, _pytest_logging._FileHandler, _pytest_logging._LiveLoggingNullHandler,
    _pytest_logging._LiveLoggingStreamHandler)


@dataclass(frozen=True)
class LoggerState:
    """What a test may change of one logger."""

    level: int
    propagate: bool
    disabled: bool
    handlers: tuple[logging.Handler, ...]


@dataclass(frozen=True)
class LoggingState:
    """Every logger's `LoggerState` (the root's under ""), and `logging.disable`'s level."""

    loggers: dict[str, LoggerState]
    disable: int


def _loggers() -> Iterator[tuple[str, logging.Logger]]:
    yield "", logging.getLogger()
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            yield name, logger


def logging_state() -> LoggingState:
    """The logging configuration as it is now."""
    return LoggingState({name: LoggerState(lg.level, lg.propagate, lg.disabled, tuple(lg.handlers))
                         for name, lg in _loggers()}, logging.root.manager.disable)


def _fresh(state: LoggerState) -> LoggerState:
    """What is left of a logger created during a test: propagating, enabled, its library's NullHandler only."""
    return LoggerState(state.level, True, False,
                       tuple(h for h in state.handlers if type(h) is logging.NullHandler))


# configured once a process by design, not reported: the runtime kit's request log (`instrument.log_sink`, at an
# app's first request: a handler of its own writing to the stderr of the moment, not propagating; left as it is),
# and detect-secrets' logger (at its import: a handler on the sys.stderr of that moment, a test's capture that is
# closed after it; taken off after the test like any other)
_PROCESS_WIDE = frozenset({"mosaic.request"})
_BY_DESIGN = _PROCESS_WIDE | {"detect-secrets"}


def logging_changes(before: LoggingState, after: LoggingState) -> list[str]:
    """What differs between two states, one line each (loggers new in `after` as `_fresh` would leave them)."""
    changes = []
    if after.disable != before.disable:
        changes.append(f"logging.disable({logging.getLevelName(after.disable)}) left on")
    for name, now in after.loggers.items():
        if name in _BY_DESIGN:
            continue
        was = before.loggers.get(name)
        if was is None:
            was = _fresh(now)
        if now != was:
            label = repr(name) if name else "the root logger"
            diff = [f"{field} {getattr(was, field)!r} -> {getattr(now, field)!r}"
                    for field in ("level", "propagate", "disabled", "handlers")
                    if getattr(was, field) != getattr(now, field)]
            changes.append(f"logger {label}: {', '.join(diff)}")
    return changes


def restore_logging(before: LoggingState) -> None:
    """Put the loggers that existed in `before` back as they were; a logger made since gets `_fresh`."""
    logging.disable(before.disable)
    for name, logger in _loggers():
        if name in _PROCESS_WIDE:
            continue
        was = before.loggers.get(name)
        if was is None:
            was = _fresh(LoggerState(logger.level, logger.propagate, logger.disabled, tuple(logger.handlers)))
        keep = [h for h in logger.handlers if isinstance(h, _PYTEST_HANDLERS) and h not in was.handlers]
        logger.handlers = [*was.handlers, *keep]
        logger.propagate, logger.disabled, logger.level = was.propagate, was.disabled, was.level
    logging.Logger.manager._clear_cache()  # type: ignore[attr-defined]  # the loggers' cached effective levels


@contextmanager
def loggers_kept(*names: str) -> Iterator[list[logging.Logger]]:
    """The loggers `names` (level, propagation, `disabled`, handlers) put back as they were after the block,
    whatever it did to them (a helper that configures a logger the way an app does)."""
    loggers = [logging.getLogger(name) for name in names]
    saved = [LoggerState(lg.level, lg.propagate, lg.disabled, tuple(lg.handlers)) for lg in loggers]
    try:
        yield loggers
    finally:
        for logger, was in zip(loggers, saved, strict=True):
            logger.handlers = list(was.handlers)
            logger.propagate, logger.disabled = was.propagate, was.disabled
            logger.setLevel(was.level)




# where a test's files are: the system's temporary directory, and the run's own base if it is elsewhere
# (`--basetemp` or PYTEST_DEBUG_TEMPROOT naming any folder: a module a test wrote there was never forgotten, and the
# next test importing one of that name got the first test's)
_TEMP_ROOTS: list[str] = []


def _temp_roots(config: pytest.Config) -> list[str]:
    """The folders, each ending in a separator, a test's temporary files may be in under `config`."""
    roots = [tempfile.gettempdir(), config.getoption("basetemp", None), os.environ.get("PYTEST_DEBUG_TEMPROOT")]
    return sorted({os.path.join(os.path.realpath(root), "") for root in roots if root})


# the checkout the suite runs from: a clone in the temporary directory (`git clone … /tmp/ci`) is no test's files, so
# its modules are never forgotten (every lazily imported `mosaic_diag` module was, and imported again by the next
# test: two classes of one name, an `except` that no longer caught what a module imported earlier raised)
_CHECKOUT = os.path.join(os.path.realpath(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "")


def _test_file(path: str, roots: tuple[str, ...]) -> bool:
    """Whether `path` (real) is a test's file: under a temporary root, and outside the checkout unless that root is
    itself in the checkout (`--basetemp ./tmp`)."""
    return any(path.startswith(root) and (not path.startswith(_CHECKOUT) or root.startswith(_CHECKOUT))
               for root in roots)


def _tmp_modules(names: set[str] | None = None) -> set[str]:
    """The modules (of `names`, default all) imported from a file in a temporary directory (`_TEMP_ROOTS`), the
    checkout's own excepted."""
    tmp = tuple(_TEMP_ROOTS) or (os.path.join(os.path.realpath(tempfile.gettempdir()), ""),)
    found = set()
    items = list(sys.modules.items()) if names is None else [(n, sys.modules[n]) for n in names if n in sys.modules]
    for name, mod in items:
        try:
            file = mod.__dict__.get("__file__") if hasattr(mod, "__dict__") else None
        except Exception:  # noqa: BLE001 - a lazy stand-in module's attribute access may raise anything
            continue
        if isinstance(file, str) and _test_file(os.path.realpath(file), tmp):
            found.add(name)
    return found


def process_state() -> dict[str, Any]:
    """The rest of what `MOSAIC_DIAG_LEAK_CHECK` compares."""
    return {"os.environ": dict(os.environ), "cwd": os.getcwd(), "sys.path": list(sys.path),
            "signal handlers": _signals(), "socket default timeout": socket.getdefaulttimeout(),
            "umask": _umask(), "threading.excepthook": threading.excepthook, "sys.unraisablehook": sys.unraisablehook,
            "locale": locale.setlocale(locale.LC_ALL),
            "modules from a temp dir": _tmp_modules(),
            "threads": {t.ident: t.name for t in threading.enumerate()}}


def process_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    out = []
    for key, was in before.items():
        now = after[key]
        if key == "threads":
            started = sorted(name for ident, name in now.items() if ident not in was)
            if started:
                out.append(f"threads still running: {started}")
        elif isinstance(was, dict) and was != now:
            diff = sorted(k for k in was.keys() | now.keys() if was.get(k, "<unset>") != now.get(k, "<unset>"))
            out.append(f"{key} changed: {diff}")
        elif isinstance(was, set) and was != now:
            out.append(f"{key}: {sorted(now - was)}")
        elif was != now:
            out.append(f"{key}: {was!r} -> {now!r}")
    return out


def leak_check() -> bool:
    return os.environ.get("MOSAIC_DIAG_LEAK_CHECK", "").strip().lower() in {"1", "true", "yes"}


_HOME_VARS = ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "MOSAIC_DIAG_CACHE_DIR")
# what Rich (and so the CLI a test runs, in this process or a child) reads of the terminal it is run from: a width
# the user's shell exports (COLUMNS=40) wrapped the CLI's text and structlog's traceback boxes, and six tests failed
_TERMINAL_VARS = ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS",
                  "JUPYTER_LINES")
_saved_home: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    """A home of the run's own (each xdist worker's): HOME and the XDG directories in a new temporary directory,
    `MOSAIC_DIAG_CACHE_DIR` unset, for this process and every child it starts. The suite wrote the YAML cache, the
    signing key and whatever else a tool keeps under ~ into the user's own home (shared with their runs and with
    every other run of the suite on the machine). One per process, not per test: the signing key is read once
    a process, and a child must sign with the key its parent reads. And a terminal of its own: the width and
    colour settings of the shell the suite runs from unset (`_TERMINAL_VARS`; a test that wants one sets it)."""
    home = tempfile.mkdtemp(prefix="mosaic-diag-test-home-")
    for name in (*_HOME_VARS, *_TERMINAL_VARS):
        _saved_home[name] = os.environ.get(name)
    for name in _TERMINAL_VARS:
        os.environ.pop(name, None)
    for name, sub in (("HOME", ""), ("XDG_CACHE_HOME", ".cache"), ("XDG_CONFIG_HOME", ".config"),
                      ("XDG_DATA_HOME", ".local/share"), ("XDG_STATE_HOME", ".local/state")):
        os.environ[name] = os.path.join(home, sub) if sub else home
    os.environ.pop("MOSAIC_DIAG_CACHE_DIR", None)
    config.stash[_HOME] = home
    _TEMP_ROOTS[:] = _temp_roots(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The user's home back, the run's removed."""
    import shutil

    for name, value in _saved_home.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    home = config.stash.get(_HOME, None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


_HOME = pytest.StashKey[str]()


@dataclass(frozen=True)
class Kept:
    """What is put back after every test, leak check or not."""

    logging: LoggingState
    path: list[str]
    modules: set[str]
    hooks: tuple[Any, Any]


def kept() -> Kept:
    return Kept(logging_state(), list(sys.path), set(sys.modules), (sys.excepthook, threading.excepthook))


def put_back(before: Kept) -> None:
    """Logging, `sys.path`, the exception hooks as in `before`; modules imported since from a temporary directory
    (an app or a plugin a test wrote, imported by a fixed name) forgotten, so the next test imports its own."""
    restore_logging(before.logging)
    if sys.path != before.path:
        sys.path[:] = before.path
    for name in _tmp_modules(set(sys.modules) - before.modules):  # (only the new ones: a realpath each costs)
        sys.modules.pop(name, None)
    sys.excepthook, threading.excepthook = before.hooks


def _wider_fixtures(item: pytest.Item) -> bool:
    """Whether the test uses a fixture of a wider scope than its own that is the suite's (a server started on first
    use, shared by the module or the session, whose threads outlive the test by design)."""
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info is not None else ()):
        for fixturedef in defs:
            module = getattr(fixturedef.func, "__module__", "") or ""
            if fixturedef.scope != "function" and module.startswith(("tests", "examples")):
                return True
    return False


_KEPT = pytest.StashKey[Kept]()
_PROCESS = pytest.StashKey[dict[str, Any]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """Note the state before the test's fixtures are set up (outside pytest's own log capture)."""
    item.stash[_KEPT] = kept()
    if leak_check():
        item.stash[_PROCESS] = process_state()
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    """After the fixtures are torn down: the state put back; under MOSAIC_DIAG_LEAK_CHECK, any leak fails."""
    try:
        return (yield)
    finally:
        before = item.stash.get(_KEPT, None)
        if before is not None:
            process = item.stash.get(_PROCESS, None)
            leaks = [] if process is None else logging_changes(before.logging, logging_state())
            if process is not None:
                now = process_state()
                if _wider_fixtures(item):
                    now["threads"] = process["threads"]
                leaks += process_changes(process, now)
            put_back(before)
            if leaks:
                pytest.fail("the test left process state behind:\n  " + "\n  ".join(leaks), pytrace=False)
