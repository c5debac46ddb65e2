"""The core's notes (`platform.notes`): `logging` is imported only when a note is emitted, and a handler the CLI
wants on the notes' logger is attached before the first one, or at once when `logging` is imported already (each in
a fresh interpreter: this one imported `logging` long ago)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return done


WAITING = r"""
import json, sys
from mosaic_diag.platform import notes
seen = []
def attach():
    import logging
    class Kept(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())
    logger, handler = logging.getLogger(notes.LOGGER), Kept()
    logger.addHandler(handler)
    return lambda: logger.removeHandler(handler)
before = "logging" in sys.modules
never = notes.when_logging(lambda: (_ for _ in ()).throw(AssertionError("attached")))
never()  # undone before any note: never attached
undo = notes.when_logging(attach)
waited = "logging" not in sys.modules and not seen
notes.note("first")
notes.note("second")
undo()
notes.note("third")  # detached: logging's last resort prints it on stderr
now = notes.when_logging(attach)  # logging imported now: attached at once
import logging
attached_at_once = len(logging.getLogger(notes.LOGGER).handlers) == 1
now()
print(json.dumps({"before": before, "waited": waited, "seen": seen, "at_once": attached_at_once,
                  "left": len(logging.getLogger(notes.LOGGER).handlers)}))
"""


def test_a_handler_waits_for_the_first_note_and_sees_every_note() -> None:
    done = _python(WAITING)
    assert json.loads(done.stdout) == {"before": False, "waited": True, "seen": ["first", "second"],
                                       "at_once": True, "left": 0}
    assert done.stderr == "third\n"


GUARDED = r"""
import sys
from mosaic_diag.commands import guard
from mosaic_diag.platform import notes
def body():
    import logging
    logging.lastResort = None  # (without the guard's handler the note would now go nowhere, and Python say so)
    print("report line")
    notes.note("a user rule gave up")
    return 0
code = guard.guarded(body)
import logging
print("handlers left:", len(logging.getLogger(guard.CORE_NOTES).handlers), file=sys.stderr)
sys.exit(code)
"""


def test_the_cli_puts_a_note_on_stderr_when_logging_came_late() -> None:
    done = _python(GUARDED)
    assert done.stdout == "report line\n"
    assert done.stderr == "a user rule gave up\nhandlers left: 0\n"


COUNT = r"""
import runpy, sys
sys.argv = ["mosaic-diag", "triage", sys.argv[1], "--format", "json"]
try:
    runpy.run_module("mosaic_diag", run_name="__main__")
finally:
    print("logging imported:", "logging" in sys.modules, file=sys.stderr)
"""


def test_a_triage_that_notes_nothing_imports_no_logging(tmp_path: Path) -> None:
    """(The second run: the first imports detect-secrets, and the `requests` it imports imports `logging`, to find
    the detectors' patterns it keeps.)"""
    runs = [subprocess.run([sys.executable, "-c", COUNT, str(ROOT / "examples" / "logs" / "render-sample.log")],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "MOSAIC_DIAG_CACHE_DIR": str(tmp_path / "c")})
            for _ in range(2)]
    assert [r.returncode for r in runs] == [1, 1], runs[0].stderr  # (errors found)
    assert runs[0].stdout == runs[1].stdout and json.loads(runs[1].stdout)["summary"]["events"] > 0
    assert runs[1].stderr == "logging imported: False\n"
