"""`mosaic-diag triage` end to end, every log shape, through the real CLI in a subprocess.

The tracebacks are made in the test by raising real exceptions (sqlite3, json, csv, psycopg2
against a closed loopback port); the logs are rendered with examples/logshapes.py.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import sqlite3
import subprocess
import sys
import traceback

import pytest

from tests.cli_inproc import run_cli
from tests.test_logs_support import Rec, pg_refused, render


def _tb(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def real_tracebacks() -> dict[str, str]:
    out = {}
    try:
        sqlite3.connect(":memory:").execute("SELECT id FROM sessions")
    except sqlite3.OperationalError as exc:
        out["SQLITE_FALLBACK_ACTIVE"] = _tb(exc)
    try:
        list(csv.reader(io.StringIO('prompt,response\n"unterminated'), strict=True))
    except csv.Error as exc:
        out["PROMPT_CSV_CORRUPT"] = _tb(exc)
    out["PG_CONNECTION_FAILED"] = _tb(pg_refused())
    try:
        try:
            json.loads("{'step': 1,}")
        except json.JSONDecodeError as exc:
            raise RuntimeError("could not load prompts/ps101_steps.json") from exc
    except RuntimeError as exc:
        out["PS101_STEP_MALFORMED"] = _tb(exc)
    return out


TRACEBACKS = real_tracebacks()


def records() -> list[Rec]:
    recs = [Rec("INFO", "uvicorn.error", "Started server process [7]")]
    for label, tb in TRACEBACKS.items():
        recs.append(Rec("INFO", "uvicorn.access", '10.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK'))
        recs.append(Rec("ERROR", "api.storage", f"request failed ({label.lower()})", exc=tb))
    recs.append(Rec("WARNING", "api.ai", "retrying in 2s"))
    recs.append(Rec("ERROR", "api.auth", "password hash mismatch for user 42"))
    return recs


def triage(path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """`mosaic-diag triage` run in this process (tests/cli_inproc.py); whole processes below where it matters."""
    return run_cli(["triage", str(path), *args], stdin=stdin, text=False)


@pytest.mark.parametrize("shape", ["render-text", "plain", "uvicorn", "json", "render-api", "syslog"])
def test_every_shape_end_to_end(tmp_path, shape):
    data, spans = render(shape, records(), interleave=shape in ("render-api", "syslog"))
    log = tmp_path / f"{shape}.log"
    log.write_bytes(data)
    r = triage(log, "--format", "json")
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    events = sorted(report["events"], key=lambda e: e["line"])
    errors = [s for s in spans if s.rec.level == "ERROR"]
    assert [(e["line"], e["end_line"]) for e in events] == [(s.line, s.end_line) for s in errors]
    expected = [*TRACEBACKS, "AUTH_INVALID_CREDENTIALS"]
    assert [e["label"] for e in events] == expected
    by_label = {e["label"]: e for e in events}
    assert by_label["PROMPT_CSV_CORRUPT"]["exception_type"] == "_csv.Error"
    assert by_label["PG_CONNECTION_FAILED"]["exception_type"] == "psycopg2.OperationalError"
    if shape != "uvicorn":
        assert all(e["timestamp"] for e in events)
    assert report["summary"]["events"] == len(expected)
    assert {g["label"] for g in report["groups"]} == set(expected)
    from mosaic_diag.playbooks import PlaybookStore

    store = PlaybookStore.load(None)
    for group in report["groups"]:
        assert {"label", "fingerprint", "count", "first_seen", "last_seen", "sample_line", "playbook"} <= set(group)
        assert group["playbook"] == store.match(group["label"], stage="runtime").id
        assert group["plan"]["playbook"] == group["playbook"] and group["plan"]["actions"]
        for step in group["plan"]["actions"]:
            assert isinstance(step["would_run"], bool) and step["reason"]


def test_gzip_and_stdin_give_the_same_report(tmp_path):
    data, _ = render("render-text", records())
    plain = tmp_path / "a.log"
    plain.write_bytes(data)
    gz = tmp_path / "a.log.gz"
    gz.write_bytes(gzip.compress(data))
    first = json.loads(triage(plain, "--format", "json").stdout)
    second = json.loads(triage(gz, "--format", "json").stdout)
    third = json.loads(triage("-", "--format", "json", stdin=gzip.compress(data)).stdout)
    assert first["events"] == second["events"] == third["events"]
    assert third["summary"]["input"] == "<stdin>"


def test_table_and_markdown(tmp_path):
    data, _ = render("render-text", records())
    log = tmp_path / "a.log"
    log.write_bytes(data)
    table = triage(log)
    assert table.returncode == 1
    out = table.stdout.decode()
    assert "SQLITE_FALLBACK_ACTIVE" in out and "Error groups" in out
    md = triage(log, "--format", "markdown").stdout.decode()
    assert md.startswith("# Triage: ") and "| critical | `SQLITE_FALLBACK_ACTIVE` | 1 |" in md


def test_filters_through_the_cli(tmp_path):
    data, _ = render("render-text", records())
    log = tmp_path / "a.log"
    log.write_bytes(data)
    only = json.loads(triage(log, "--format", "json", "--label", "RAILWAY_DB_EPHEMERAL").stdout)
    assert [e["label"] for e in only["events"]] == ["SQLITE_FALLBACK_ACTIVE"]
    cat = json.loads(triage(log, "--format", "json", "--category", "prompt").stdout)
    assert {e["label"] for e in cat["events"]} == {"PROMPT_CSV_CORRUPT", "PS101_STEP_MALFORMED"}
    later = json.loads(triage(log, "--format", "json", "--since", "2026-11-27T14:03:16Z").stdout)
    assert later["events"] and all(e["timestamp"] >= "2026-11-27T14:03:16" for e in later["events"])
    none = triage(log, "--label", "OPENAI_RATE_LIMIT")
    assert none.returncode == 0


def test_unknown_events_are_candidates_with_a_template(tmp_path):
    log = tmp_path / "u.log"
    log.write_text("ERROR:api.billing:Invoice 12345 for ann@example.com could not be rendered\n"
                   "ERROR:api.billing:Invoice 99 for bob@example.org could not be rendered\n")
    report = json.loads(triage(log, "--format", "json").stdout)
    assert [g["count"] for g in report["groups"]] == [2]
    group = report["groups"][0]
    assert group["label"] == "UNKNOWN_ERROR" and group["candidate_new_kind"] is True
    assert group["template"] == "Invoice <n> for <email> could not be rendered"


_GZ = gzip.compress("".join(f"ERROR:api.jobs:job {i * 7919 % 10007} failed\n" for i in range(5000)).encode())
TRUNCATED_GZ = _GZ[: len(_GZ) // 2]


@pytest.mark.parametrize(
    ("setup", "code", "needle"),
    [
        (lambda p: None, 2, "no such file"),
        (lambda p: p.mkdir(), 2, "directory"),
        (lambda p: p.write_bytes(b""), 0, None),
        (lambda p: p.write_bytes(TRUNCATED_GZ), 1, None),
        (lambda p: p.write_bytes(bytes(range(256)) * 64 + b"\nERROR:api.storage:boom\n"), 1, None),
    ],
    ids=["missing", "directory", "empty", "truncated-gzip", "binary-garbage"],
)
def test_bad_input(tmp_path, setup, code, needle):
    path = tmp_path / "input.log"
    setup(path)
    r = triage(path, "--format", "json")
    assert b"Traceback" not in r.stderr
    if code is not None:
        assert r.returncode == code, r.stderr
    if code == 2:
        line = r.stderr.decode().strip()
        assert line.count("\n") == 0 and str(path) in line and needle in line
        return
    report = json.loads(r.stdout)
    if path.read_bytes()[:2] == b"\x1f\x8b":
        assert any("truncated" in w for w in report["summary"]["warnings"])
    if path.read_bytes()[:2] == b"\x1f\x8b":
        assert 0 < report["summary"]["events"] < 5000
    elif code == 1:
        assert report["summary"]["corrupt_lines"] >= 1
        assert report["events"][-1]["message"] == "boom"


def test_secrets_are_redacted_in_every_format(tmp_path):
    log = tmp_path / "s.log"
    log.write_text("ERROR:api.storage:connect failed for postgresql://mosaic:hunter2secret@dpg-x-a/mosaic "
                   "with key sk-proj-abcdefghijklmnopqrstuvwxyz012345\n")
    for fmt in ("json", "table", "markdown", "html"):
        out = triage(log, "--format", fmt).stdout.decode()
        assert "hunter2secret" not in out and "abcdefghijklmnopqrstuvwxyz012345" not in out
    assert "postgresql://mosaic:***@dpg-x-a/mosaic" in triage(log, "--format", "json").stdout.decode()


def test_render_api_multiline_exception_message_is_one_event(tmp_path):
    import httpx

    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="bad gateway"))
    try:
        with httpx.Client(transport=transport) as client:
            client.get("https://boards-api.greenhouse.io/v1/boards/mosaic/jobs").raise_for_status()
    except httpx.HTTPStatusError as exc:
        tb = _tb(exc)
    assert "\nFor more information check: " in tb  # httpx's message has a second line
    recs = [Rec("ERROR", "api.job_sources", "Job source request failed", exc=tb, instance="srv-a-1"),
            Rec("INFO", "api.jobs", "serving cached results", instance="srv-a-2")]
    data, spans = render("render-api", recs, interleave=True)
    log = tmp_path / "api.jsonl"
    log.write_bytes(data)
    report = json.loads(triage(log, "--format", "json").stdout)
    assert [e["label"] for e in report["events"]] == ["GREENHOUSE_API_DOWN"]
    assert report["events"][0]["end_line"] == max(s.end_line for s in spans if s.rec.level == "ERROR")


SAMPLE_LOG = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples" / "logs" / "render-sample.log"


def _table_rows(out: str, label: str) -> list[dict[str, str]]:
    """The rows naming `label`, as {header: cell} without the cells' one-space padding (not
    stripped: a timeline's blanks are its positions)."""
    rows, header = [], []
    for line in out.splitlines():
        if line.startswith("┃"):
            header = [c.strip() for c in line.split("┃")[1:-1]]
        elif line.startswith("│") and f" {label} " in line:
            rows.append(dict(zip(header, [c[1:-1] for c in line.split("│")[1:-1]], strict=True)))
    return rows


@pytest.mark.parametrize("columns", [80, 120])
def test_timelines_fit_and_share_one_scale(columns):
    """Sparklines per group, anomaly windows and deploy markers on one scale, within the width."""
    import os

    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", str(SAMPLE_LOG), "--no-playbooks"],
                       capture_output=True, timeout=120, env={**os.environ, "COLUMNS": str(columns)})
    assert r.returncode == 1
    out = r.stdout.decode()
    table_lines = [ln for ln in out.splitlines() if ln[:1] in "┏┃┡│├└"]
    assert table_lines and max(len(ln) for ln in table_lines) <= columns
    # the log: deploys at 14:00 and 14:30, restarts after the second; the rate limit burst 14:20-14:25
    [deploys, again] = _table_rows(out, "deploys")
    track = deploys["Timeline"]
    assert again["Timeline"] == track and track.count("▼") == 2 and "↻" in track and track.startswith("▼")
    [anomaly] = [row for row in _table_rows(out, "OPENAI_RATE_LIMIT") if row.get("Window", "").strip() == "14:20–14:25"]
    window = anomaly["Timeline"]
    assert set(window) == {"·", "█"} and len(window) == len(track)
    sparks = [row["Timeline"] for row in _table_rows(out, "OPENAI_RATE_LIMIT") if row.get("Severity", "").strip()]
    first_group = sparks[0]  # 9 events 14:20:09-14:25:35: the cells of the window, not before
    lit = [i for i, c in enumerate(first_group) if c.strip()]
    marked = [i for i, c in enumerate(window) if c == "█"]
    assert lit and lit[0] == marked[0] and set(lit) <= set(marked) | {marked[-1] + 1}
    failed = [row for row in _table_rows(out, "RENDER_DEPLOY_FAILED") if row.get("Severity")][0]["Timeline"]
    second_deploy = track.index("▼", 1)
    assert failed.index(next(c for c in failed if c.strip())) == second_deploy  # the failure follows the deploy
    assert "Timeline 14:00–" in out and "per cell; ▼ deploy, ↻ process start" in out


@pytest.mark.parametrize("columns", [80, 110])
def test_a_wrapped_sample_or_plan_step_stays_indented_under_its_group(columns):
    """A sample or a plan step longer than the terminal went on at the left edge, where a group's label starts
    (`does not ask for it'  [count_5m 3 > 1; …` under `PG_SSL_REQUIRED →`): the plans read as one run of text. A
    line it wraps onto is indented under its own line (a sample 2 cells in, a step 6: under its text)."""
    r = run_cli(["triage", str(SAMPLE_LOG)], env={"COLUMNS": str(columns), "NO_COLOR": "1"})
    assert r.returncode == 1, r.stderr
    lines = [ln.rstrip() for ln in r.stdout.splitlines()]
    block = lines[lines.index("Samples and playbook plans (dry run)") + 1:lines.index("Anomalous rates")]
    labels = {g["label"] for g in json.loads(run_cli(["triage", str(SAMPLE_LOG), "--format", "json"]).stdout)["groups"]}
    heads = [ln for ln in block if ln.split(" → ")[0] in labels]
    steps = [ln for ln in block if ln.startswith(("    → ", "    · "))]
    assert len(heads) == 19 and steps
    assert all(len(ln) <= columns for ln in block)
    rest = [ln for ln in block if ln not in heads and ln not in steps]
    hung = [ln for ln in rest if ln.startswith("  ") and not ln.startswith("    ") or ln.startswith("      ")]
    assert rest and hung == rest, rest
    at = block.index(next(ln for ln in heads if ln.startswith("PG_SSL_REQUIRED")))
    step = next(i for i in range(at, len(block)) if block[i].startswith("    → alert_ops: post to the ops webhook"))
    assert block[step + 1].startswith("      ") and "[count_5m 3 > 1; cannot run: no webhook" in block[step + 1]


def test_an_anomalys_score_says_its_unit_in_every_format():
    """The anomalies' Score was a bare number (`11.0`); at 80 columns, where the baseline and observed rates are
    left out, nothing said what it counted. It is on a scale of standard deviations: `4.6σ` in the
    table, `Score (σ)` in the markdown and HTML headers (JSON keeps its `score` number)."""
    data = json.loads(run_cli(["triage", str(SAMPLE_LOG), "--format", "json"]).stdout)
    [anomaly] = [a for a in data["anomalies"] if a["label"] == "OPENAI_RATE_LIMIT"]
    table = run_cli(["triage", str(SAMPLE_LOG)], env={"COLUMNS": "80", "NO_COLOR": "1"}).stdout
    rows = [row for row in _table_rows(table, "OPENAI_RATE_LIMIT") if row.get("Window", "").strip()]
    assert [row["Score"].strip() for row in rows] == [f"{anomaly['score']:.1f}σ"], rows
    markdown = run_cli(["triage", str(SAMPLE_LOG), "--format", "markdown"]).stdout
    assert "| Observed /min | Score (σ) |" in markdown
    page = run_cli(["triage", str(SAMPLE_LOG), "--format", "html"]).stdout
    assert ">Score (σ)</th>" in page


def test_sparkline_and_tracks():
    from datetime import UTC, datetime

    from mosaic_diag.render.triage import marker_track, sparkline, window_track
    from mosaic_diag.triage.model import Marker, Timeline

    assert sparkline([0, 1, 4, 8]) == " ▁▄█"
    assert sparkline([0, 0]) == "  " and sparkline([1, 1000])[0] == "▁"  # any error shows
    t0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    first = int(t0.timestamp() // 60)
    tl = Timeline(first, first + 59, {}, {}, (Marker("start", t0.replace(minute=30), 5, "x"),
                                              Marker("deploy", t0.replace(minute=31), 4, "y"),
                                              Marker("start", t0.replace(minute=59), 6, "z")))
    assert tl.cell_minutes(20) == 3 and tl.cells(20) == 20 and tl.cells(16) == 15
    assert marker_track(tl, 20) == " " * 10 + "▼" + " " * 8 + "↻"  # a deploy wins its cell
    assert tl.buckets({first: 2, first + 2: 1, first + 3: 5, first + 59: 1}, 20) == [3, 5] + [0] * 17 + [1]
    assert window_track(tl, t0.replace(minute=20), t0.replace(minute=25), 20) == "······███···········"  # 18-27


_TYPER = "import sys; from mosaic_diag.cli import main; raise SystemExit(main(sys.argv[1:]))"


def _typer_triage(*args: str) -> subprocess.CompletedProcess[bytes]:
    """The same command through the Typer app (`cli.main`), bypassing the console script's fast path."""
    return subprocess.run([sys.executable, "-c", _TYPER, "triage", *args], capture_output=True, timeout=120)


@pytest.mark.parametrize("args", [
    ("--format", "json"), (), ("-f", "JSON", "--no-playbooks"), ("--format=table", "-q"), ("--format", "json", "-q"),
])
def test_fast_path_answers_as_the_typer_app(tmp_path, args):
    """`mosaic-diag triage FILE [--format json|table] ...` skips Typer: same output, stderr and exit code."""
    data, _ = render("render-text", records())
    log = tmp_path / "a.log"
    log.write_bytes(data + b"2026-11-27T15:00:00Z ERROR:api.storage:connect failed for "
                           b"postgresql://mosaic:hunter2secret@dpg-x-a/mosaic\n")
    fast, slow = triage(log, *args), _typer_triage(str(log), *args)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    assert fast.returncode == 1 and b"hunter2secret" not in fast.stdout and b"Traceback" not in fast.stderr


@pytest.mark.parametrize("setup", [lambda p: None, lambda p: p.mkdir(), lambda p: p.write_bytes(b"")],
                         ids=["missing", "directory", "empty"])
def test_fast_path_errors_as_the_typer_app(tmp_path, setup):
    path = tmp_path / "input.log"
    setup(path)
    fast, slow = triage(path, "--format", "json"), _typer_triage(str(path), "--format", "json")
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)


def test_fast_path_leaves_other_arguments_to_typer():
    from mosaic_diag.commands.triage_run import TriageArgs, parse_fast

    assert parse_fast(["a.log", "-f", "Json", "--no-playbooks"]) == TriageArgs(("a.log",), "json", no_playbooks=True)
    assert parse_fast(["-", "--format=table", "-q"]) == TriageArgs(("-",), "table", quiet=True)
    assert parse_fast(["a.log.1", "-f", "json", "a.log", "-"]) == TriageArgs(("a.log.1", "a.log", "-"), "json")
    for argv in (["a.log", "--label", "X"], ["a.log", "--format", "markdown"], ["a.log", "b.log", "--top", "3"], [],
                 ["--help"], ["a.log", "--format"], ["--", "a.log"], ["-x.log"]):
        assert parse_fast(argv) is None, argv


def test_fast_path_broken_pipe(tmp_path):
    """A reader that goes away: one message on stderr, exit 2, as through the Typer app."""
    data, _ = render("render-text", records() * 200)
    log = tmp_path / "big.log"
    log.write_bytes(data)
    for cmd in ([sys.executable, "-m", "mosaic_diag", "triage", str(log), "--format", "json"],
                [sys.executable, "-c", _TYPER, "triage", str(log), "--format", "json"]):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(10)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 2
        assert err == "mosaic-diag: error: output closed early (broken pipe)\n"


def test_event_lines_are_what_json_dumps_writes():
    """The JSON report's event lines (strings encoded once) are byte for byte json.dumps of the event."""
    import random
    from datetime import UTC, datetime, timedelta, timezone

    from mosaic_diag.render.triage import EventLines
    from mosaic_diag.triage.model import ErrorEvent

    rnd = random.Random(5)
    texts = ["", "a", 'q"uote', "back\\slash", "nl\nx", "tab\t", "ctl\x01\x1f", "ünïcødé", "emoji 😀", "\u2028",
             "sk-...852", "x" * 300]
    times = [None, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 3, 4, 5, 123456,
                                                                 tzinfo=timezone(timedelta(hours=5))),
             datetime(2026, 1, 1)]
    lines = EventLines(limit=7)  # the cache of encoded strings is emptied now and then too
    for _ in range(3000):
        maybe = [None, *texts]
        event = ErrorEvent(rnd.randint(0, 10**7), rnd.randint(0, 10**7), rnd.choice(texts), rnd.choice(texts),
                           rnd.choice(texts), rnd.choice(times), rnd.choice(maybe), rnd.choice(texts),
                           rnd.choice(texts), rnd.choice(maybe), rnd.choice(maybe), rnd.choice(maybe),
                           rnd.choice(maybe))
        assert lines.line(event) == json.dumps(event.to_dict(), ensure_ascii=False)
    odd = ErrorEvent(True, 2, "L", "c", "s", None, 5, "m", "f")  # type: ignore[arg-type]  # not what the fields say
    assert lines.line(odd) == json.dumps(odd.to_dict(), ensure_ascii=False)


def test_filters_that_leave_nothing_say_so_in_every_format_not_all_clear(tmp_path) -> None:
    """`--since 2h` on an older log: the events it hides are counted and named, not reported as 'No error events.'"""
    data = json.loads(triage(SAMPLE_LOG, "--since", "2h", "--format", "json").stdout)
    hidden = data["summary"]["filtered_out"]
    assert data["events"] == [] and hidden > 0
    said = f"No error events match the filters ({hidden} filtered out by --since"
    table = triage(SAMPLE_LOG, "--since", "2h")
    assert table.returncode == 0
    text = b" ".join(table.stdout.split()).decode()
    assert f"{hidden} filtered out" in text and said in text and "No error events." not in text
    assert said in triage(SAMPLE_LOG, "--since", "2h", "--format", "markdown").stdout.decode()
    out = tmp_path / "r.html"
    triage(SAMPLE_LOG, "--since", "2h", "--format", "html", "-o", str(out))
    assert said in out.read_text()
    whole = b" ".join(triage(SAMPLE_LOG).stdout.split()).decode()
    assert "filtered out" not in whole  # (no filter: nothing said)


def test_a_report_is_not_written_over_the_log_it_reads(tmp_path) -> None:
    """`triage app.log -f html -o app.log` (a careless -o) replaced the log with its report, and through a link to it
    too (`triage current.log -o app.log`); a second run had nothing to read. Refused before anything is read, exit 2,
    the log as it was; a report over a link (the link is replaced, not followed) or another file is written."""
    log = tmp_path / "app.log"
    log.write_bytes(SAMPLE_LOG.read_bytes())
    (tmp_path / "current.log").symlink_to("app.log")
    for given, shown in ((log, ""), (tmp_path / "current.log", f" ({tmp_path / 'current.log'})")):
        r = triage(given, "--format", "html", "-o", str(log))
        assert r.returncode == 2, r.stderr
        assert r.stderr.decode().strip() == (f"mosaic-diag: error: {log}: is an input of this run{shown}: the report "
                                             "would replace it; write it elsewhere")
        assert log.read_bytes() == SAMPLE_LOG.read_bytes()
    r = triage(log, "--format", "html", "-o", str(tmp_path / "current.log"))
    assert r.returncode == 1 and (tmp_path / "current.log").read_text().startswith("<!doctype html>"), r.stderr
    assert not (tmp_path / "current.log").is_symlink() and log.read_bytes() == SAMPLE_LOG.read_bytes()


def test_plan_lines_name_the_action_once() -> None:
    """A step that would run shows `→ action: what it does`, as a skipped one shows `· action skipped`."""
    out = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", str(SAMPLE_LOG), "--format", "markdown"],
                         capture_output=True, timeout=120).stdout.decode()
    run = [line.strip() for line in out.splitlines() if line.lstrip().startswith(("→", "- →"))]
    assert any("→ advise: read the build log" in line for line in run), out
    assert any("→ alert_ops: post to the ops webhook" in line for line in run), out
    assert not any(" advise: advise:" in line for line in run)


def test_a_files_name_is_text_in_the_table_never_rich_markup(tmp_path) -> None:
    """A log's name (`[red]a[link=…]b.log`, a file someone else named) is shown as it is in the table's lines,
    samples and corrupt lines: Rich read it as markup, showing `ab.log`, another file's name."""
    data, _ = render("render-text", records())
    name = "[red]a[link=https:evil.example]b.log"
    (tmp_path / name).write_bytes(data + b'{"level": "error", "msg": "cut\n')
    (tmp_path / "c.log").write_bytes(data)
    proc = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", name, "c.log"], cwd=tmp_path,
                          capture_output=True, timeout=120, env={**os.environ, "COLUMNS": "250"})
    out = proc.stdout.decode()
    assert proc.returncode == 1, proc.stderr
    assert f"line {name}:" in out and f"corrupt line {name}:" in out and f"│ {name}:" in out, out
    assert "ab.log" not in out


def test_a_report_the_device_cannot_take_says_why_once() -> None:
    """`-o /dev/full`: one line saying the disk is full; it said `cannot write: cannot write (…)`."""
    r = triage(SAMPLE_LOG, "--format", "html", "-o", "/dev/full")
    assert r.returncode == 2
    assert r.stderr.decode().strip() == "mosaic-diag: error: /dev/full: cannot write (No space left on device)"
