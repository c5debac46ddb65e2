"""Leftovers round 35, the reader's (tests/realworld/README.md, "Leftovers round 35"): Python's own `Error in
sitecustomize; set PYTHONVERBOSE for traceback:` over the exception's line (a real interpreter whose sitecustomize.py
fails, on PYTHONPATH), and Flyte's app log (`Container [name]: ERROR:` before the first frame, `Filtered traceback (most
recent call last):` under the frames; Flyte is not installed here, so the pasted text by id, with guards)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.classifier.tracebacks import parse_traceback_text
from tests.realworld.corpus import layout_text
from tests.test_logs_support import BLOCKS, error_events, triage_labels

_SITE_LINE = "Error in sitecustomize; set PYTHONVERBOSE for traceback:"


def _stderr(tmp_path: Path, program: str, *, verbose: bool = False) -> str:
    """What a real interpreter writes to stderr running `program` with a sitecustomize.py on PYTHONPATH that fails
    (an import of a name its package does not have, as open-webui#9924's platformdirs)."""
    (tmp_path / "sitecustomize.py").write_text("from json import no_such_name_leftovers35\n")
    (tmp_path / "app.py").write_text(program)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(tmp_path)
    if verbose:
        env["PYTHONVERBOSE"] = "1"
    done = subprocess.run([sys.executable, str(tmp_path / "app.py")], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    return done.stderr


def _spans(text: str) -> list[list[tuple[int, int, str | None, str]]]:
    return [[(e.line, e.end_line, e.level, e.message) for e in error_events(text, block)] for block in BLOCKS]


def test_site_pys_error_over_its_exception_line_is_one_event(tmp_path: Path) -> None:
    text = _stderr(tmp_path, "print('served')\n")
    lines = text.splitlines()
    assert lines[0] == _SITE_LINE
    assert lines[1].startswith("ImportError: cannot import name 'no_such_name_leftovers35' from 'json'")
    assert len(lines) == 2
    for spans in _spans(text):
        assert spans == [(1, 2, "ERROR", _SITE_LINE)]
    assert triage_labels(text) == ["UNKNOWN_ERROR"]


def test_site_pys_error_then_the_programs_own_traceback_are_two_events(tmp_path: Path) -> None:
    """The program crashes after the failed start-up hook: site.py's two lines, then the uncaught traceback."""
    text = _stderr(tmp_path, "def main():\n    raise KeyError('DATABASE_URL')\n\nmain()\n")
    lines = text.splitlines()
    assert lines[0] == _SITE_LINE and lines[2] == "Traceback (most recent call last):"
    assert lines[-1] == "KeyError: 'DATABASE_URL'"
    for spans in _spans(text):
        assert spans == [(1, 2, "ERROR", _SITE_LINE), (3, len(lines), None, "KeyError: 'DATABASE_URL'")]
    assert triage_labels(text) == ["UNKNOWN_ERROR", "ENV_VAR_MISSING"]


def test_site_pys_error_in_k9s_pane_is_its_own_event() -> None:
    """open-webui#9924, k9s's pane copied with its right border: site.py's lines (1-2), then uvicorn's traceback."""
    text = layout_text("r30l-k9s-right-border-sitecustomize-error-then-uvicorn-importerror-cut")
    for spans in _spans(text):
        assert [s[:3] for s in spans] == [(1, 2, "ERROR"), (3, 6, None)]
        assert spans[0][3] == _SITE_LINE


def test_with_pythonverbose_site_py_prints_the_traceback_alone(tmp_path: Path) -> None:
    """A guard: under PYTHONVERBOSE site.py hands the error to the excepthook (a traceback, no line of its own)."""
    text = _stderr(tmp_path, "print('served')\n", verbose=True)
    ours = [ln for ln in text.splitlines() if not ln.startswith("#")]  # (the import system's verbose notes)
    assert _SITE_LINE not in ours and "Traceback (most recent call last):" in ours
    events = error_events("\n".join(ours) + "\n")
    assert [e.message for e in events][-1].startswith("ImportError: cannot import name 'no_such_name_leftovers35'")


def test_the_sentence_inside_another_line_is_no_event() -> None:
    """A guard: the words quoted in an INFO record are that record's."""
    text = f"2026-12-07 10:00:00,000 INFO app.boot: docs say '{_SITE_LINE}' appears when a hook fails\n"
    assert error_events(text) == []


_FLYTE = "r30l-flyte-container-prefix-error-frames-filtered-traceback-header-after"


def test_flytes_app_log_is_one_event_with_its_exception() -> None:
    """flyteorg/flyte-sdk#506: `Container [name]: ERROR:` before the first frame line, the frames unprefixed under it,
    Flyte's `Filtered traceback (most recent call last):` above the exception line."""
    text = layout_text(_FLYTE)
    for spans in _spans(text):
        assert [s[:3] for s in spans] == [(1, 17, "ERROR")]
    (event,) = error_events(text)
    assert event.traceback is not None and event.traceback.endswith(
        "ValueError: --resolver and --resolver-args are required when using --tgz code bundle")


@pytest.mark.parametrize("how", ["text", "reader"])
def test_flytes_header_under_the_frames_is_no_exception_line(how: str) -> None:
    """The header names no exception: the `ValueError` under it is the exception, in `classify` and in the reader's
    event."""
    text = layout_text(_FLYTE)
    if how == "reader":
        (event,) = error_events(text)
        text = event.traceback or ""
    (exc,) = parse_traceback_text(text)
    assert exc.type == "ValueError" and exc.message.startswith("--resolver and --resolver-args are required")
    assert Classifier.default().classify_text(text).exception_type == "ValueError"


def test_a_plain_line_behind_the_container_name_is_no_event() -> None:
    """A guard: the prefix is peeled, the line read as it is (an INFO line stays none)."""
    assert error_events("Container [web]: INFO:     Started server process [1]\n") == []
