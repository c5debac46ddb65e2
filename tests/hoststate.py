"""The process-wide state a library must leave as it found it in its host app's process, for
tests/test_runtime_host_process.py: `snapshot()` before the library is imported and used, `changes(before,
snapshot())` after, one line per change (empty: the process is as the app left it).

Compared: warnings (`showwarning`, `formatwarning`, the filters), logging (the root's and every existing logger's
level, handlers, propagation and `disabled` flag, `logging.disable`, `lastResort`, `raiseExceptions`, the logger
class and record factory; a logger made since that does not propagate or has a handler of its own), the exception
hooks (`sys.excepthook`, `threading.excepthook`, `sys.unraisablehook`, `sys.displayhook`), every signal's handler,
`os.environ`, the working directory, `sys.path`, `sys.meta_path`, `sys.path_hooks`, the socket default timeout
(and `socket.socket`, `socket.getaddrinfo`, ssl's default context maker: a library that patches them), the locale,
faulthandler, `atexit` and `threading`'s exit registrations, the threads left running that are not daemons (they
block the interpreter's exit), the asyncio event loop policy, the recursion limit, the switch interval, the umask,
the garbage collector's switch and thresholds, the open-files limit, trace and profile functions, and the objects
`sys.stdin`, `sys.stdout` and `sys.stderr` (and their encoding and error handlers)."""

from __future__ import annotations

import asyncio
import atexit
import faulthandler
import gc
import locale
import logging
import os
import resource
import signal
import socket
import ssl
import sys
import threading
import warnings
from typing import Any

LoggerState = tuple[int, bool, bool, tuple[logging.Handler, ...]]


def _loggers() -> dict[str, LoggerState]:
    out: dict[str, LoggerState] = {}
    for name, lg in [("", logging.getLogger()), *list(logging.Logger.manager.loggerDict.items())]:
        if isinstance(lg, logging.Logger):
            out[name] = (lg.level, lg.propagate, lg.disabled, tuple(lg.handlers))
    return out


def _signals() -> dict[str, Any]:
    out = {}
    for sig in signal.valid_signals():
        try:
            out[signal.Signals(sig).name] = signal.getsignal(sig)
        except (ValueError, OSError):
            continue
    return out


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def _stream(stream: Any) -> tuple[Any, ...]:
    return (stream, getattr(stream, "encoding", None), getattr(stream, "errors", None),
            getattr(stream, "line_buffering", None))


def snapshot() -> dict[str, Any]:
    """The process-wide state as it is now (see the module doc)."""
    return {
        "modules": set(sys.modules),
        "warnings.showwarning": warnings.showwarning, "warnings.formatwarning": warnings.formatwarning,
        "warnings.filters": list(warnings.filters),
        "loggers": _loggers(), "logging.disable": logging.root.manager.disable,
        "logging.lastResort": logging.lastResort,
        "logging.raiseExceptions": logging.raiseExceptions, "logging logger class": logging.getLoggerClass(),
        "logging record factory": logging.getLogRecordFactory(),
        "sys.excepthook": sys.excepthook, "threading.excepthook": threading.excepthook,
        "sys.unraisablehook": sys.unraisablehook, "sys.displayhook": sys.displayhook,
        "signal handlers": _signals(), "os.environ": dict(os.environ), "cwd": os.getcwd(), "sys.path": list(sys.path),
        "sys.meta_path": list(sys.meta_path), "sys.path_hooks": list(sys.path_hooks),
        "socket default timeout": socket.getdefaulttimeout(), "socket.socket": socket.socket,
        "socket.getaddrinfo": socket.getaddrinfo, "ssl default context": ssl._create_default_https_context,
        "locale": locale.setlocale(locale.LC_ALL), "faulthandler": faulthandler.is_enabled(),
        "atexit callbacks": atexit._ncallbacks(),
        "threading exit callbacks": list(threading._threading_atexits),  # type: ignore[attr-defined]
        "non-daemon threads": {t.ident: t.name for t in threading.enumerate()
                               if not t.daemon and t is not threading.main_thread()},
        "asyncio event loop policy": asyncio.get_event_loop_policy(),
        "recursion limit": sys.getrecursionlimit(), "switch interval": sys.getswitchinterval(), "umask": _umask(),
        "gc": (gc.isenabled(), gc.get_threshold()),
        "open files limit": resource.getrlimit(resource.RLIMIT_NOFILE),
        "trace and profile": (sys.gettrace(), sys.getprofile(), threading.gettrace(), threading.getprofile()),
        "sys.stdin": _stream(sys.stdin), "sys.stdout": _stream(sys.stdout), "sys.stderr": _stream(sys.stderr),
    }


def _logger_changes(before: dict[str, LoggerState], after: dict[str, LoggerState],
                    allowed: frozenset[str]) -> list[str]:
    out = []
    fields = ("level", "propagate", "disabled", "handlers")
    for name, now in sorted(after.items()):
        if name in allowed:
            continue
        label = repr(name) if name else "the root logger"
        was = before.get(name)
        if was is None:  # made since: its own records are its business while they reach the app's handlers
            own = [h for h in now[3] if type(h) is not logging.NullHandler]
            if not now[1] or now[2] or own:
                out.append(f"new logger {label}: propagate={now[1]} disabled={now[2]} handlers={own}")
        elif now != was:
            diff = [f"{f} {a!r} -> {b!r}" for f, a, b in zip(fields, was, now, strict=True) if a != b]
            out.append(f"logger {label}: {', '.join(diff)}")
    return out


def _filter_changes(before: list[Any], after: list[Any], imported: set[str]) -> list[str]:
    """The warnings filters added or taken away, but for those a library imported since added for warnings of its
    own (urllib3's and requests' at their import: they match only those libraries' own warning classes)."""
    added = [f for f in after if f not in before and f[2].__module__.split(".")[0] not in imported]
    removed = [f for f in before if f not in after]
    kept = [f for f in after if f in before]
    return ([f"warnings filter added: {f!r}" for f in added] + [f"warnings filter taken away: {f!r}" for f in removed]
            + (["warnings filters reordered"] if not removed and kept != before else []))


def changes(before: dict[str, Any], after: dict[str, Any], *, allowed_loggers: frozenset[str] = frozenset(),
            allowed_threads: tuple[str, ...] = (), allowed_atexit: int = 0) -> list[str]:
    """What differs between two snapshots, one line each: `allowed_loggers` (set up by design), the non-daemon
    threads whose names start with one of `allowed_threads` (not the library's) and `allowed_atexit` new `atexit`
    callbacks (by design) are left out."""
    out = []
    imported = {name.split(".")[0] for name in after["modules"] - before["modules"]}
    for key, was in before.items():
        now = after[key]
        if key == "modules":
            continue
        if key == "loggers":
            out += _logger_changes(was, now, allowed_loggers)
        elif key == "warnings.filters":
            out += _filter_changes(was, now, imported)
        elif key == "non-daemon threads":
            started = sorted(name for ident, name in now.items()
                             if ident not in was and not name.startswith(allowed_threads))
            if started:
                out.append(f"non-daemon threads left running: {started}")
        elif key == "atexit callbacks":
            if now - was != allowed_atexit:
                out.append(f"atexit callbacks: {was} -> {now} ({allowed_atexit} expected)")
        elif key in ("os.environ", "signal handlers") and was != now:
            diff = sorted(k for k in was.keys() | now.keys() if was.get(k, "<unset>") != now.get(k, "<unset>"))
            out.append(f"{key} changed: " + ", ".join(f"{k} {was.get(k, '<unset>')!r} -> {now.get(k, '<unset>')!r}"
                                                      for k in diff))
        elif was != now:
            out.append(f"{key}: {was!r} -> {now!r}")
    return out
