"""The log reader judged on whole log excerpts that real users pasted (``layouts.yml``): loguru,
structlog's console renderer, Rich's RichHandler and traceback boxes, the logs of deployed web apps
(Heroku, gunicorn, uvicorn, Docker, Kubernetes, Celery, CloudWatch), JSON-lines logs and hosting platforms' logs
(journald, Fly.io, Azure App Service, Vercel, pm2, Docker json-file, Google Cloud Logging, supervisord), Heroku's router
and error codes, GitHub Actions job logs, and what log sinks print or export (Fluent Bit's stdout output, a Datadog CSV
export, Elasticsearch hits, RFC 5424 syslog lines).

Each text is read whole and in 7-byte blocks (the same events either way); the error events found are
compared with the ones an operator reads in the text (line, level, message prefix). The reader must find
at least 90% of all expected events exactly, and report no error event where a text expects none. Events
that carry the taxonomy's `label` (with its `alternatives`) are classified as triage does: at least 90% of
them must be found with an accepted label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.triage.events import EventClassifier
from tests.realworld.corpus import read_yaml
from tests.test_logs_support import read

LAYOUTS_PATH = Path(__file__).with_name("layouts.yml")
LAYOUTS = ("loguru", "structlog", "rich", "ansi", "heroku", "gunicorn", "uvicorn", "compose", "docker", "kubernetes",
           "celery", "cloudwatch", "plain", "json", "journal", "fly", "azure", "vercel", "pm2", "docker-json", "gcp",
           "supervisord", "github-actions", "python", "cri", "fluent-bit", "datadog", "elasticsearch", "syslog",
           "render", "apache", "ipython", "pytest", "papertrail", "netlify", "hypercorn", "k9s", "docker-desktop",
           "langsmith", "dokku", "flyte", "loki")
LEVELS = ("ERROR", "CRITICAL")
MIN_FOUND = 0.9
MIN_LABELLED = 0.9
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_KEYS = {"id", "layout", "source", "cut", "text", "events"}
_EVENT_KEYS = {"line", "level", "message_starts"}
_LABEL = re.compile(r"^[A-Z][A-Z0-9_]+$")


@dataclass(frozen=True)
class Expected:
    line: int
    level: str
    message_starts: str
    label: str | None = None          # the taxonomy's label for the event, when the entry gives one
    alternatives: tuple[str, ...] = ()  # other labels the spec honestly allows
    end_line: int | None = None  # the event's last line, when the entry gives it

    @property
    def labels(self) -> tuple[str, ...]:
        return () if self.label is None else (self.label, *self.alternatives)


@dataclass(frozen=True)
class Excerpt:
    id: str
    layout: str
    source: str
    cut: bool
    text: str
    events: tuple[Expected, ...]


def _event(raw: Any, where: str, n_lines: int) -> Expected:
    assert isinstance(raw, dict) and _EVENT_KEYS <= set(raw) <= _EVENT_KEYS | {"label", "alternatives", "end_line"}, \
        f"{where}: event keys"
    line, level, prefix = raw["line"], raw["level"], raw["message_starts"]
    assert isinstance(line, int) and 1 <= line <= n_lines, f"{where}: line {line!r} outside the text"
    assert level in LEVELS, f"{where}: level {level!r}"
    assert isinstance(prefix, str), f"{where}: message_starts"
    label = raw.get("label")
    assert label is None or (isinstance(label, str) and _LABEL.match(label)), f"{where}: label {label!r}"
    alts = raw.get("alternatives", [])
    assert label is not None or not alts, f"{where}: alternatives without a label"
    assert isinstance(alts, list) and all(
        isinstance(a, dict) and set(a) == {"label", "reason"} and _LABEL.match(str(a["label"]))
        and isinstance(a["reason"], str) and a["reason"] for a in alts), f"{where}: alternatives"
    end = raw.get("end_line")
    assert end is None or (isinstance(end, int) and line <= end <= n_lines), f"{where}: end_line {end!r}"
    return Expected(line, level, prefix, label, tuple(a["label"] for a in alts), end)


def load_layouts(path: Path = LAYOUTS_PATH) -> list[Excerpt]:
    """The excerpts of `path`, their shape checked."""
    data = read_yaml(path)
    assert isinstance(data, list) and data, "a non-empty list of entries"
    out: list[Excerpt] = []
    for i, raw in enumerate(data):
        where = f"entry {i}"
        assert isinstance(raw, dict) and set(raw) == _KEYS, f"{where}: keys {sorted(raw)}"
        where = raw["id"]
        assert isinstance(where, str) and _ID.match(where), f"{where!r}: id"
        assert raw["layout"] in LAYOUTS, f"{where}: layout"
        assert isinstance(raw["source"], str) and raw["source"].startswith("https://"), f"{where}: source"
        assert isinstance(raw["cut"], bool), f"{where}: cut"
        text = raw["text"]
        assert isinstance(text, str) and text.strip() and not text.endswith("\n"), f"{where}: text"
        assert isinstance(raw["events"], list), f"{where}: events"
        events = tuple(_event(e, where, len(text.splitlines())) for e in raw["events"])
        assert [e.line for e in events] == sorted({e.line for e in events}), f"{where}: event lines"
        out.append(Excerpt(where, raw["layout"], raw["source"], raw["cut"], text, events))
    ids = [e.id for e in out]
    assert len(ids) == len(set(ids)), "ids are unique"
    return out


def _errors(text: str) -> list[RawEvent]:
    data = text.encode()
    events, _ = read(data)
    small, _ = read(data, block_size=7)
    assert [(e.line, e.end_line, e.level, e.message) for e in small] == \
        [(e.line, e.end_line, e.level, e.message) for e in events], "whole and 7-byte blocks differ"
    # (a platform's failure line, Lambda's timeout or Render's `==> Exited with status 1`, is an error event triage
    # reads as the reader's `platform` kind)
    return [e for e in events if e.kind in ("error", "platform")]


def _matches(want: Expected, got: RawEvent) -> bool:
    # a traceback with no record before it has no level of its own: it is an error
    return got.line == want.line and (got.level or "ERROR") == want.level \
        and got.message.startswith(want.message_starts)


def test_layouts_file_shape() -> None:
    excerpts = load_layouts()
    assert len(excerpts) >= 12
    assert {e.layout for e in excerpts} >= {"loguru", "structlog", "rich"}
    # the texts are the YAML's exactly: a dump and load keeps them
    for e in excerpts:
        assert yaml.safe_load(yaml.safe_dump(e.text, allow_unicode=True)) == e.text


def test_reader_finds_the_events_users_see() -> None:
    excerpts = load_layouts()
    expected = found = ends = ends_right = 0
    misses: list[str] = []
    extras: list[str] = []
    for ex in excerpts:
        got = _errors(ex.text)
        for want in ex.events:
            expected += 1
            hit = [g for g in got if _matches(want, g)]
            if hit:
                found += 1
                if want.end_line is not None:
                    ends += 1
                    if hit[0].end_line == want.end_line:
                        ends_right += 1
                    else:
                        misses.append(f"{ex.id} [{ex.layout}] line {want.line}: ends at {hit[0].end_line}, "
                                      f"expected {want.end_line}")
            else:
                near = [(g.line, g.level, g.message[:60]) for g in got]
                misses.append(f"{ex.id} [{ex.layout}] line {want.line} {want.level} {want.message_starts!r}: "
                              f"found {near}")
        wanted = {w.line for w in ex.events}
        for g in got:
            if g.line not in wanted:
                extras.append(f"{ex.id} [{ex.layout}] line {g.line}-{g.end_line} {g.level} {g.message[:60]!r}")
    rate = found / expected if expected else 1.0
    end_rate = ends_right / ends if ends else 1.0
    print(f"\nlayouts corpus: {found}/{expected} expected error events found ({rate:.0%}); "
          f"{ends_right}/{ends} of those that give an end line end there ({end_rate:.0%})")
    for m in misses:
        print("  missed:", m)
    for x in extras:
        print("  extra: ", x)
    assert not extras, "error events where the texts have none:\n" + "\n".join(extras)
    assert rate >= MIN_FOUND, "missed:\n" + "\n".join(misses)
    assert end_rate >= MIN_FOUND, "missed:\n" + "\n".join(misses)


def test_structlog_record_inside_a_prefect_record_is_found() -> None:
    """The Prefect 1 excerpt (https://github.com/meltano/meltano/issues/7333): structlog's error record and the
    Rich traceback box under it, each line inside Prefect's own INFO record, are one ERROR event."""
    (ex,) = [e for e in load_layouts() if e.id == "structlog-meltano-rich-box-under-prefect"]
    assert ex.source == "https://github.com/meltano/meltano/issues/7333"
    (event,) = _errors(ex.text)
    assert (event.line, event.end_line, event.level, event.message) == (2, 8, "ERROR", "")
    assert event.traceback.startswith("╭") and "output_logger.py" in event.traceback
    assert event.timestamp is not None and event.timestamp.isoformat().startswith("2023-02-17T10:52:40.324374")


def test_triage_labels_the_events_users_see() -> None:
    """The events that carry a label: found exactly and classified as triage does, with an accepted label."""
    classify = EventClassifier(Classifier.default())
    labelled = right = 0
    misses: list[str] = []
    for ex in load_layouts():
        wants = [w for w in ex.events if w.label is not None]
        if not wants:
            continue
        got = _errors(ex.text)
        for want in wants:
            labelled += 1
            found = [g for g in got if _matches(want, g)]
            label = classify.event(found[0]).label if found else None
            if label in want.labels:
                right += 1
            else:
                misses.append(f"{ex.id} line {want.line}: expected {'/'.join(want.labels)}, got {label or 'no event'}")
    rate = right / labelled if labelled else 1.0
    print(f"\nlayouts corpus: {right}/{labelled} labelled events found with an accepted label ({rate:.0%})")
    for m in misses:
        print("  missed:", m)
    assert labelled >= 30
    assert rate >= MIN_LABELLED, "missed:\n" + "\n".join(misses)


@pytest.mark.parametrize("bad", [
    [{"id": "x", "layout": "log4j", "source": "https://e.org", "cut": False, "text": "a", "events": []}],
    [{"id": "x", "layout": "rich", "source": "https://e.org", "cut": False, "text": "a",
      "events": [{"line": 2, "level": "ERROR", "message_starts": ""}]}],
    [{"id": "x", "layout": "rich", "source": "https://e.org", "cut": "no", "text": "a", "events": []}],
    [{"id": "x", "layout": "heroku", "source": "https://e.org", "cut": False, "text": "a",
      "events": [{"line": 1, "level": "ERROR", "message_starts": "", "label": "pg auth"}]}],
    [{"id": "x", "layout": "heroku", "source": "https://e.org", "cut": False, "text": "a\nb\nc",
      "events": [{"line": 2, "end_line": 1, "level": "ERROR", "message_starts": ""}]}],
    [{"id": "x", "layout": "heroku", "source": "https://e.org", "cut": False, "text": "a",
      "events": [{"line": 1, "level": "ERROR", "message_starts": "", "label": "UNKNOWN_ERROR",
                  "alternatives": [{"label": "PG_AUTH_FAILED"}]}]}],
])
def test_shape_errors_are_caught(tmp_path: Path, bad: list[dict[str, Any]]) -> None:
    path = tmp_path / "layouts.yml"
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    with pytest.raises(AssertionError):
        load_layouts(path)
