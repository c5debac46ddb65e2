"""`python -m mosaic_diag ARGS` run in the test's own process: the same entry point (`mosaic_diag.entry.main`,
its fast paths and the Typer app behind them) and the same error handler, with stdin, stdout, stderr, the
working directory and the environment of a child, and its answer in a `subprocess.CompletedProcess`. A second
or so of interpreter and import start-up per run saved, for tests whose behaviour is not the process boundary
(exit through the console script, signals, a closed stdout, what Python prints at exit keep a whole process)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def _fresh_process_state() -> None:
    """What a new process starts without: Rich reads COLUMNS, TERM, NO_COLOR when a Console is made (one made for
    this run), an unknown config key is warned about once a process, and the signing key of a cache directory and
    whether it lies in a work tree are read once a process (pytest gives a later test the path of a passed test's
    removed `tmp_path`: a key remembered for it was never written to that test's directory)."""
    from mosaic_diag.commands import _common
    from mosaic_diag.platform import signed
    from mosaic_diag.render import console

    console.out.cache_clear()
    console.err.cache_clear()
    _common._WARNED.clear()
    signed._user_keys.clear()
    signed._trees.clear()


def _forget_imports(before: set[str], path: list[str]) -> None:
    """Drop the modules the run imported from outside this interpreter's path (an app, a validator, a plugin in
    a test's directory): the next run imports its own, as a new process would."""
    roots = tuple(os.path.join(os.path.abspath(p), "") for p in path if p)
    for name in set(sys.modules) - before:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file and not os.path.abspath(file).startswith(roots):
            del sys.modules[name]


def _text(data: bytes) -> str:
    """As `subprocess.run(text=True)` reads a pipe: UTF-8, universal newlines."""
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def run_cli(args: list[str] | tuple[str, ...], *, cwd: Path | str | None = None,
            env: Mapping[str, str] | None = None, replace_env: bool = False, stdin: str | bytes | None = None,
            text: bool = True) -> subprocess.CompletedProcess:
    """What `subprocess.run([python, "-m", "mosaic_diag", *args], cwd=cwd, env={**os.environ, **env},
    input=stdin, capture_output=True, text=text)` returns, run in this process (`env` adds to the environment;
    with `replace_env` it is the whole environment, as `env=` of subprocess.run)."""
    from mosaic_diag.entry import main

    raw_in = stdin.encode("utf-8") if isinstance(stdin, str) else (stdin or b"")
    out, err = io.BytesIO(), io.BytesIO()
    new_in = io.TextIOWrapper(io.BytesIO(raw_in), encoding="utf-8", errors="surrogateescape")
    new_out = io.TextIOWrapper(out, encoding="utf-8", errors="surrogateescape")
    new_err = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", line_buffering=True)
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved = sys.stdin, sys.stdout, sys.stderr
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    from mosaic_diag.platform import redact

    saved_secrets = dict(redact._known)  # a new process knows none; the run's must not outlive it
    redact._known.clear()
    if replace_env:
        os.environ.clear()
    os.environ.update(env or {})
    try:
        if cwd is not None:
            os.chdir(cwd)
        _fresh_process_state()
        sys.stdin, sys.stdout, sys.stderr = new_in, new_out, new_err
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        for stream in (new_out, new_err):
            stream.flush()
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path[:] = saved_path
        _forget_imports(saved_modules, saved_path)
        _fresh_process_state()
        redact._known.clear()
        redact._known.update(saved_secrets)
    stdout, stderr = out.getvalue(), err.getvalue()
    if text:
        return subprocess.CompletedProcess(["mosaic_diag", *args], code, _text(stdout), _text(stderr))
    return subprocess.CompletedProcess(["mosaic_diag", *args], code, stdout, stderr)
