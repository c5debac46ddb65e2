"""Loading and validating playbooks: every problem as file:line, the shipped set, precedence."""

from __future__ import annotations

import json
import textwrap
from importlib import import_module
from pathlib import Path

import pytest

from mosaic_diag.classifier.taxonomy import load_taxonomy
from mosaic_diag.cli import main
from mosaic_diag.errors import ConfigError
from mosaic_diag.playbooks import PlaybookError, PlaybookStore, plan_for

GOOD = """\
- id: first
  match: {label: PG_CONNECTION_FAILED, stage: startup}
  remediate:
    - action: alert_ops
      when: "rate_5m > 1"
      message: "pg down"
- id: second
  match: {label: PG_CONNECTION_FAILED}
  remediate:
    - action: retry
- id: third
  match: {category: infrastructure}
  remediate:
    - action: advise
      message: "look"
"""

BAD = """\
- id: broken
  match:
    label: PG_NOT_A_LABEL
    stage: lunchtime
  severity: urgent
  colour: red
  gather:
    - postgres: true
    - crystal_ball: true
    - log_tail: -5
  diagnose:
    - check: "__import__('os')"
      fail_label: PG_AUTH_FAILED
    - check: "network.resolvable"
  remediate:
    - action: reboot_the_world
    - action: circuit_breaker
      when: "rate_5m >"
    - action: alert_ops
      when: "rate_5m > 1"
      params: {volume: 11}
      message: "rate {no_such_fact}"
- just a string
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yml", BAD)
    _, issues = PlaybookStore.validate([path])
    got = {(i.line, i.message.split(" (")[0]) for i in issues}
    assert all(i.path == str(path) for i in issues)
    expected = {
        (3, "unknown label 'PG_NOT_A_LABEL'"),
        (4, "unknown stage 'lunchtime'"),
        (5, "severity must be one of critical, high, medium, low"),
        (6, "unknown key 'colour' in a playbook"),
        (9, "unknown gatherer 'crystal_ball'"),
        (10, "gatherer log_tail takes true, a positive integer or a mapping"),
        (14, "network.resolvable comes from gatherer `network`, which this playbook does not gather"),
        (16, "unknown action 'reboot_the_world'"),
        (18, "bad condition 'rate_5m >': expected a value, a name or '(', found end of condition at column 10"),
        (17, "action circuit_breaker needs params.disable_feature"),
        (21, "unknown parameter 'volume' of action alert_ops"),
        (22, "unknown placeholder {no_such_fact} in `message`"),
        (23, "a playbook must be a mapping, got str"),
    }
    assert expected <= got, sorted(expected - got)
    bad_call = [i for i in issues if i.line == 12]
    assert bad_call and "calls are not part of the condition language" in bad_call[0].message


def test_store_load_refuses_a_directory_with_any_error(tmp_path: Path) -> None:
    write(tmp_path, "a_good.yml", GOOD)
    write(tmp_path, "b_bad.yml", BAD)
    with pytest.raises(PlaybookError) as info:
        PlaybookStore.load(tmp_path)
    assert len(info.value.issues) >= 13
    assert str(info.value).startswith(f"{tmp_path / 'b_bad.yml'}:3: unknown label")


@pytest.mark.parametrize(("text", "line", "reason"), [
    ("- id: x\n  match: {label: [unclosed\n", 3, "invalid YAML"),
    ("match: {label: PG_AUTH_FAILED}\nremediate:\n  action: retry\n", 2, "`remediate` must be a list"),
    ("- match: PG_AUTH_FAILED\n  remediate: [{action: retry}]\n", 1, "a playbook needs `match:` as a mapping"),
    ("- match: {label: PG_AUTH_FAILED}\n", 1, "needs `diagnose` checks or `remediate` steps"),
    ("- match: {stage: startup}\n  remediate: [{action: retry}]\n", 1, "match needs `label`, `labels` or `category`"),
    ("- match: {label: PG_AUTH_FAILED}\n  remediate: [{action: retry, when: 3}]\n", 2,
     "`when` must be a condition string"),
    ("- match: {label: PG_AUTH_FAILED}\n  match: {label: PG_AUTH_FAILED}\n", 2, "duplicate key 'match'"),
    ("", None, "empty playbook file"),
])
def test_malformed_files(tmp_path: Path, text: str, line: int | None, reason: str) -> None:
    path = write(tmp_path, "p.yml", text)
    _, issues = PlaybookStore.validate([path])
    assert any(i.line == line and reason in i.message for i in issues), [str(i) for i in issues]


def test_huge_file_and_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "huge.yml"
    path.write_text("# " + "x" * 600_000 + "\n", encoding="utf-8")
    _, issues = PlaybookStore.validate([path])
    assert [i.message.split(" (")[0] for i in issues] == ["file too large"]
    with pytest.raises(ConfigError, match="no such playbook file or directory"):
        PlaybookStore.load(tmp_path / "nope")


def test_aliases_are_accepted_and_resolved(tmp_path: Path) -> None:
    write(tmp_path, "p.yml", "- match: {label: RAILWAY_DB_EPHEMERAL}\n  remediate: [{action: fallback_sqlite}]\n")
    store = PlaybookStore.load(tmp_path)
    assert store.playbooks[0].match.labels == ("SQLITE_FALLBACK_ACTIVE",)
    assert store.match("railway_db_ephemeral") is store.playbooks[0]
    assert store.playbooks[0].id == "p"
    assert store.playbooks[0].severity == "critical"  # the label's, when the playbook names none


def test_precedence_stage_then_label_then_category(tmp_path: Path) -> None:
    write(tmp_path, "p.yml", GOOD)
    store = PlaybookStore.load(tmp_path)
    assert store.match("PG_CONNECTION_FAILED", stage="startup").id == "first"
    assert store.match("PG_CONNECTION_FAILED", stage="runtime").id == "second"
    assert store.match("PG_CONNECTION_FAILED").id == "second"
    assert store.match("PG_AUTH_FAILED").id == "third"  # category match
    assert store.match("OPENAI_RATE_LIMIT") is None
    assert [p.id for p in store.candidates("PG_CONNECTION_FAILED", stage="startup")] == ["first", "second", "third"]


def test_shipped_playbooks_validate_and_cover_every_label() -> None:
    store = PlaybookStore.load()
    tax = load_taxonomy()
    named = {label for pb in store for label in pb.match.labels}
    assert set(tax.labels) - named == set()
    assert len({pb.id for pb in store}) == len(store)
    for name in tax.labels:
        pb = store.match(name, stage="runtime")
        assert pb is not None and name in pb.match.labels, name
        assert pb.remediate, f"{pb.id} has no remediation"


@pytest.mark.parametrize(("label", "facts", "expect"), [
    ("PG_CONNECTION_FAILED", {"stage": "startup", "count_5m": 3, "count": 1},
     {"fallback_sqlite": True, "alert_ops": True, "circuit_breaker": False}),
    # the shipped thresholds are counts in 5 minutes: 3.2/min over 5 minutes is 16 errors, past 5
    ("PG_CONNECTION_FAILED", {"stage": "startup", "rate_5m": 3.2, "count": 1},
     {"alert_ops": True, "circuit_breaker": True}),
    ("OPENAI_QUOTA_EXCEEDED", {"stage": "runtime", "count_5m": 1}, {"failover": True, "alert_ops": True}),
    ("LINKEDIN_SCRAPE_BLOCKED", {"stage": "runtime", "count": 1}, {"circuit_breaker": True, "alert_ops": False}),
    ("SQLITE_FALLBACK_ACTIVE", {"stage": "runtime"}, {"alert_ops": True, "open_incident": True}),
])
def test_shipped_plans_for_mosaic(label: str, facts: dict, expect: dict) -> None:
    summary = plan_for(label, facts, PlaybookStore.load())
    assert summary is not None
    got = {a["action"]: a["would_run"] for a in summary.to_dict()["actions"]}
    assert {k: got[k] for k in expect} == expect
    if label == "SQLITE_FALLBACK_ACTIVE":
        assert summary.severity == "critical"
    if label == "LINKEDIN_SCRAPE_BLOCKED":
        breaker = next(a for a in summary.actions if a["action"] == "circuit_breaker")
        assert "job_source.linkedin" in breaker["description"]


def test_plan_for_explains_each_verdict() -> None:
    summary = plan_for("PG_CONNECTION_FAILED", {"stage": "startup", "count_5m": 3, "count": 1},
                       PlaybookStore.load())
    data = summary.to_dict()
    assert data["playbook"] == "pg-connection-failed-startup"
    reasons = {a["action"]: a["reason"] for a in data["actions"]}
    assert reasons["alert_ops"].startswith("count_5m 3 > 1")
    assert reasons["circuit_breaker"] == "not: count_5m 3 <= 5"
    assert reasons["open_incident"] == "not: count 1 < 3"


def test_rates_carry_their_unit(tmp_path: Path) -> None:
    """A triage group's counts and per-minute rates reach the playbook; an alert never calls a count "/min",
    and a playbook that does is refused."""
    from mosaic_diag.playbooks import incident_facts

    pb = PlaybookStore.load().match("PG_CONNECTION_FAILED", stage="runtime")
    facts = incident_facts(pb, {"count_1m": 3, "count_5m": 11})
    assert facts["rate_1m"] == 3 and facts["rate_5m"] == 2.2 and "rate_15m" not in facts
    plan = plan_for("PG_CONNECTION_FAILED", {"stage": "runtime", "count_1m": 3, "count_5m": 11},
                    PlaybookStore.load())
    alert = next(a for a in plan.actions if a["action"] == "alert_ops")
    assert "11 in 5 min" in alert["description"] and "/min" not in alert["description"]
    bad = GOOD.replace('message: "pg down"', 'message: "pg down {count_5m}/min"')
    assert bad != GOOD
    write(tmp_path, "units.yml", bad)
    _, problems = PlaybookStore.validate([tmp_path])
    assert any("{count_5m} is a count (errors in 5 minutes), not per minute" in p.message for p in problems)



TYPED = """\
- id: typed
  match: {label: OPENAI_TIMEOUT}
  gather:
    - env: [OPENAI_API_KEY]
  remediate:
    - action: alert_ops
      when: "count_5m > '5'"
      message: a
    - action: alert_ops
      when: "env.OPENAI_API_KEY.set == 'yes'"
      message: b
    - action: alert_ops
      when: "stage in ['deploy', 3]"
      message: c
    - action: alert_ops
      when: "5 < count or count >= 1.5 or stage == null or severity in ['high', 'critical']"
      message: fine
    - action: alert_ops
      when: "label startswith 5"
      message: d
    - action: alert_ops
      when: "count contains 'x'"
      message: e
"""


def test_a_comparison_of_a_fact_with_a_value_of_another_type_is_a_load_error(tmp_path: Path) -> None:
    """`count_5m > '5'` loaded and then was skipped as 'unknown' on every run: it can never hold."""
    write(tmp_path, "typed.yml", TYPED)
    _, problems = PlaybookStore.validate([tmp_path])
    got = [(p.line, p.message) for p in problems]
    assert got == [
        (7, "bad condition \"count_5m > '5'\": count_5m is a number; '5' is a string: it never holds "
            "(write the value as a number)"),
        (10, "bad condition \"env.OPENAI_API_KEY.set == 'yes'\": env.OPENAI_API_KEY.set is true or false; "
             "'yes' is a string: it never holds (write the value as true or false)"),
        (13, "bad condition \"stage in ['deploy', 3]\": stage is a string; 3 is a number: it never holds "
             "(write the value as a string)"),
        (19, "bad condition 'label startswith 5': label is a string; 5 is a number: it never holds "
             "(write the value as a string)"),
        (22, "bad condition \"count contains 'x'\": count is a number: `contains` reads a string or a list"),
    ], got

def test_cli_validate_prints_every_error_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write(tmp_path, "a_good.yml", GOOD)
    bad = write(tmp_path, "b_bad.yml", BAD)
    assert main(["playbook", "validate", str(tmp_path)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert len(out) >= 13
    assert all(line.startswith(f"{bad}:") for line in out)
    assert f"{bad}:9: unknown gatherer 'crystal_ball'" in "\n".join(out)


def test_cli_validate_ok_and_missing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["playbook", "validate", "--all-labels"]) == 0
    assert "playbooks OK" in capsys.readouterr().out
    write(tmp_path, "p.yml", GOOD)
    assert main(["playbook", "validate", "--all-labels", str(tmp_path)]) == 2
    assert "no playbook names label OPENAI_RATE_LIMIT" in capsys.readouterr().out
    assert main(["playbook", "validate", str(tmp_path / "missing")]) == 2
    assert "no such playbook file or directory" in capsys.readouterr().out


def test_cli_run_with_a_broken_store_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write(tmp_path, "p.yml", "- match: {label: PG_AUTH_FAILED}\n  remediate:\n    - action: alert_ops\n"
                             "      when: \"__import__('os')\"\n")
    code = main(["playbook", "run", "PG_AUTH_FAILED", "--playbooks", str(tmp_path), "--execute", "--yes"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{tmp_path / 'p.yml'}:4: bad condition" in err


def test_cli_list_and_show(capsys: pytest.CaptureFixture) -> None:
    assert main(["playbook", "list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"pg-connection-failed-startup", "sqlite-fallback-active", "openai-quota-exceeded"} <= \
        {p["id"] for p in listed}
    assert main(["playbook", "show", "RAILWAY_DB_EPHEMERAL"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("sqlite-fallback-active  (playbooks/sqlite_fallback_active.yml:")
    assert "1. fallback_sqlite when auto" in shown
    assert main(["playbook", "show", "PG_CONNECTION_FAILED", "--stage", "startup", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == "pg-connection-failed-startup" and "postgres.reachable" in data["gathered_names"]["postgres"]
    assert main(["playbook", "show", "NOPE"]) == 2
    assert "neither a playbook id nor a label" in capsys.readouterr().err


def test_plan_lines_name_each_action_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`playbook run`, the incident note and predeploy prefix the action's name: no effect repeats it."""
    from datetime import UTC, datetime

    from mosaic_diag.checks.advice import plan_lines
    from mosaic_diag.playbooks.executors import incident_markdown

    write(tmp_path, "p.yml", "- match: {label: PG_AUTH_FAILED}\n  remediate:\n    - action: advise\n"
                             "      message: \"check the password\"\n    - action: retry\n")
    assert main(["playbook", "run", "PG_AUTH_FAILED", "--playbooks", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1. advise: would run (always)\n       check the password\n" in out
    assert "2. retry: would run (always)\n       retry with exponential backoff" in out
    plan = PlaybookStore.load(tmp_path).match("PG_AUTH_FAILED").plan({"label": "PG_AUTH_FAILED"})
    note = incident_markdown(plan, "t", datetime(2026, 1, 1, tzinfo=UTC))
    assert "- advise: runs (always) — check the password" in note
    assert "advise: advise" not in note and "advise: advise" not in out
    assert plan_lines(plan) == ("-> advise: check the password [always]",)


def test_a_set_validated_before_is_not_validated_again_until_a_file_changes(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from mosaic_diag.plans import playbook_planner
    from mosaic_diag.playbooks import SHIPPED_DIR
    from mosaic_diag.playbooks.files import known_valid, validation_key

    monkeypatch.setenv("MOSAIC_DIAG_CACHE_DIR", str(tmp_path / "cache"))
    books = tmp_path / "books"
    shutil.copytree(SHIPPED_DIR, books)
    facts = {"count": 3, "count_5m": 3, "stage": "runtime"}
    key = validation_key(books)
    assert key is not None and not known_valid(key)
    planner = playbook_planner(books)  # validated now, and remembered
    assert planner is not None and known_valid(key)
    assert planner("UPLOAD_PATH_MISSING", facts)[0] == "upload-path-missing"
    uploads = books / "uploads.yml"
    text = uploads.read_text(encoding="utf-8")
    uploads.write_text(text.replace("when: always", "when: \"count_5m >\"", 1), encoding="utf-8")
    assert validation_key(books) != key
    with pytest.raises(PlaybookError, match="uploads.yml:10"):  # the stale entry is not used: validated again
        playbook_planner(books)
    uploads.write_text(text.replace("id: upload-path-missing", "id: upload-path-gone"), encoding="utf-8")
    edited = playbook_planner(books)
    assert edited is not None and edited("UPLOAD_PATH_MISSING", facts)[0] == "upload-path-gone"
    assert known_valid(validation_key(books))  # type: ignore[arg-type]
    again = playbook_planner(books)  # remembered: loaded at the first plan, with the edit
    assert again is not None and again("UPLOAD_PATH_MISSING", facts)[0] == "upload-path-gone"


def test_a_run_with_a_set_validated_before_imports_no_loader_until_a_plan(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "MOSAIC_DIAG_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    code = ("import sys\nfrom mosaic_diag.plans import playbook_planner\nplanner = playbook_planner()\n"
            "loaded = 'mosaic_diag.playbooks.loader' in sys.modules\n"
            "print(loaded, planner('UPLOAD_PATH_MISSING', {'count': 1, 'stage': 'runtime'})[0])\n")
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                           check=True).stdout.split() for _ in range(2)]
    assert runs == [["True", "upload-path-missing"], ["False", "upload-path-missing"]]


def test_every_exported_name_resolves_on_first_use() -> None:
    import mosaic_diag.playbooks as playbooks

    assert set(playbooks.__all__) == set(playbooks._WHERE)
    for name in playbooks.__all__:
        assert getattr(playbooks, name) is getattr(import_module(f"mosaic_diag.playbooks.{playbooks._WHERE[name]}"),
                                                   name)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        playbooks.nothing  # noqa: B018


def test_playbook_list_in_markdown_shows_a_source_path_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture) -> None:
    """A playbooks directory named `a|b <img src=x>` split the table row at its `|` and put an image tag into the
    rendered report: the path is now escaped text, the id a code span."""
    import re
    import shutil

    from mosaic_diag.cli import main

    books = tmp_path / "a|b <img src=x>"
    books.mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "playbooks" / "anthropic.yml", books)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["playbook", "list", "--format", "markdown", "--playbooks", str(books)]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert rows and all(len(re.findall(r"(?<!\\)\|", row)) == 7 for row in rows), rows
    assert all(not re.search(r"(?<!\\)<", row) and "a\\|b \\<img src=x>" in row for row in rows), rows


def test_no_shipped_text_is_mangled_by_the_redactor():
    """Every output is redacted: `OpenAI rejects OPENAI_API_KEY: rotate it …` read as an assignment and printed
    `OPENAI_API_KEY: *** it in the Render environment`. A shipped text reads the same redacted (a DSN's
    `user:password@` placeholder may show as `user:***@`)."""
    import yaml

    from mosaic_diag.platform.redact import redact_text

    def texts(node: object):
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from texts(value)
        elif isinstance(node, list):
            for value in node:
                yield from texts(value)

    root = Path(__file__).resolve().parents[1]
    files = sorted((root / "playbooks").rglob("*.yml")) + sorted(
        f for f in (root / "mosaic_diag").rglob("*.yml")
        if f.name not in {"pg_l10n.yml", "pg_severities.yml"})  # (PostgreSQL's message catalogs: data, not advice)
    assert len(files) > 10
    mangled = [(f.name, text) for f in files for text in texts(yaml.safe_load(f.read_text()))
               if redact_text(text).replace(":***@", ":password@") != text]
    assert mangled == []


def test_run_names_the_stage_only_when_there_is_one(capsys: pytest.CaptureFixture) -> None:
    """`playbook run OPENAI_RATE_LIMIT` said `stage -, severity high`: a stage not given is left out."""
    assert main(["playbook", "run", "OPENAI_RATE_LIMIT", "--no-gather"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert head.endswith("for OPENAI_RATE_LIMIT: severity high") and "stage" not in head, head
    assert main(["playbook", "run", "OPENAI_RATE_LIMIT", "--no-gather", "--stage", "runtime"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(": stage runtime, severity high")
