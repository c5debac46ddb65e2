"""`python -m mosaic_diag`.

An interrupted run (exit 130) leaves by `os._exit` once its streams are flushed and its exit handlers have
run. CPython marks a KeyboardInterrupt that leaves code run from a string (`exec` / `eval` of a text: the
methods `dataclasses` and `namedtuple` build as modules are imported) as unhandled even when it is caught
afterwards, and under `-m` alone it then ends the process by SIGINT (returncode -2) after our own exit code
was given (cpython gh-128130 and its `run_eval_code_obj`): a Ctrl-C or a SIGTERM at such a moment of a
start-up died by SIGINT after printing its one line. What that exit skips, the interpreter's own teardown, is
nothing a command leaves to it: each closes what it writes, and a thread still running is not waited for."""

import sys

from mosaic_diag.entry import INTERRUPTED, main

code = main()
if code == INTERRUPTED:
    import atexit
    import contextlib
    import os

    atexit._run_exitfuncs()  # (logging's flush among them) what the interpreter's own exit would have run
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # mosaic-diag: ignore[MD006]  (reader gone)
            stream.flush()
    os._exit(code)
raise SystemExit(code)
