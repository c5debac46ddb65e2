"""The check registry and runner, and the checks that need no server (settings, prompts, DSN, drift)."""

from __future__ import annotations

import json
import shutil
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mosaic_diag.checks.database import sanity
from mosaic_diag.checks.lint import CHECK as LINT_CHECK
from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message
from mosaic_diag.checks.predeploy import predeploy
from mosaic_diag.checks.prompts import check_csv, check_steps
from mosaic_diag.checks.registry import all_checks, select
from mosaic_diag.checks.report import as_junit, as_markdown
from mosaic_diag.checks.runner import run_checks
from mosaic_diag.checks.schema import drift
from mosaic_diag.config import load_config
from mosaic_diag.errors import UsageError
from mosaic_diag.lint.ddl import parse_ddl

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "examples" / "mosaic_app"


def ctx(root: Path, env: dict[str, str] | None = None, timeout: float = 5.0) -> CheckContext:
    return CheckContext(root, env or {}, load_config(root, env or {}), timeout)


def test_ids_are_unique_and_documented() -> None:
    ids = [i for c in all_checks() for i in c.ids]
    assert len({i.id for i in ids}) == len(ids)
    for i in ids:
        assert i.level in {"error", "warning", "info"} and i.title and i.id.startswith("MD-")
    assert {"MD-ENV001", "MD-DB001", "MD-SCHEMA002", "MD-PROMPT002", "MD-LLM001", "MD-GOLDEN001",
            "MD-LINT001"} <= {i.id for i in ids}


def test_selection_by_name_tag_and_id() -> None:
    checks = all_checks()
    assert [c.name for c in select(checks, ["db,prompts"]).checks] == ["database", "schema", "prompts"]
    sel = select(checks, ["MD-DB001"])
    assert [c.name for c in sel.checks] == ["database"] and sel.keeps(sel.checks[0], "MD-DB001")
    assert not sel.keeps(sel.checks[0], "MD-DB010")
    assert "lint" not in [c.name for c in select(checks, skip=["code"]).checks]
    with pytest.raises(UsageError, match="unknown check, tag or id 'nope'"):
        select(checks, ["nope"])


def test_settings_missing_values_never_printed(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "sk-verysecretvalue1234567890", "CLAUDE_API_KEY": " 'sk-ant-quoted' "}
    report = predeploy(tmp_path, env, only=["settings"])
    results = report.outcomes[0].results
    assert [(r.id, r.label) for r in results] == [("MD-ENV001", "ENV_VAR_MISSING"), ("MD-ENV002", None)]
    assert results[0].message == "DATABASE_URL is not set"
    text = json.dumps(report.to_dict())
    assert "verysecret" not in text and "quoted" not in text and report.exit_code == 1
    ok = predeploy(tmp_path, {"DATABASE_URL": "x", "OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"}, only=["env"])
    assert ok.exit_code == 0 and ok.outcomes[0].status == "passed"


def test_prompts_of_the_example_app_pass() -> None:
    assert list(check_steps(APP / "prompts" / "ps101_steps.json", "s.json")) == []
    assert list(check_csv(APP / "prompts" / "prompts.csv", "p.csv", 10_000)) == []


def test_broken_json_is_located_like_json_does(tmp_path: Path) -> None:
    bad = tmp_path / "steps.json"
    text = (APP / "prompts" / "ps101_steps.json").read_text().replace('"title": "Current', '"title" "Current', 1)
    bad.write_text(text)
    with pytest.raises(json.JSONDecodeError) as real:
        json.loads(text)
    [msg] = check_steps(bad, "steps.json")
    assert msg.id == "MD-PROMPT002" and msg.label == "PS101_STEP_MALFORMED"
    assert msg.location == f"steps.json:{real.value.lineno}:{real.value.colno}"


def test_step_shape_problems_point_at_the_step(tmp_path: Path) -> None:
    steps = json.loads((APP / "prompts" / "ps101_steps.json").read_text())
    del steps[3]  # 9 steps, and a gap from 3 to 5
    steps[0]["prompts"] = []
    path = tmp_path / "s.json"
    path.write_text("[\n" + ",\n".join(json.dumps(s) for s in steps) + "\n]\n")
    found = [(m.location, m.message) for m in check_steps(path, "s.json")]
    assert found[0] == ("s.json:1:1", "s.json: 9 steps, expected 10")
    assert ("s.json:2:1", "s.json: step #1: prompts must be a non-empty list of non-empty strings") in found
    assert ("s.json:5:1", "s.json: step #4: step number is 5, expected 4 (numbered 1..10 without gaps)") in found


def test_csv_problems_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('prompt,response\na,b\n,\nc,"unterminated\n')
    found = [(m.id, m.location) for m in check_csv(path, "p.csv", 100)]
    assert ("MD-PROMPT006", "p.csv:3:1") in found
    assert found[-1][0] == "MD-PROMPT004"
    path.write_text('prompt,response\na,"b"x\n')
    [msg] = check_csv(path, "p.csv", 100)
    assert msg.id == "MD-PROMPT004" and msg.location == "p.csv:2:1" and msg.label == "PROMPT_CSV_CORRUPT"
    path.write_text("question,answer\na,b\n")
    assert [m.id for m in check_csv(path, "p.csv", 100)] == ["MD-PROMPT005"]
    path.write_text("prompt,completion\na," + "x" * 101 + "\n")
    assert [(m.id, m.location) for m in check_csv(path, "p.csv", 100)] == [("MD-PROMPT007", "p.csv:2:1")]


@pytest.mark.parametrize(("dsn", "expect"), [
    ("postgresql://u:p@dpg-abc123-a.oregon-postgres.render.com/db", [("MD-DB003", "error"), ("MD-DB004", None)]),
    ("postgresql://u:p@dpg-abc123-a.oregon-postgres.render.com/db?sslmode=require", [("MD-DB004", None)]),
    ("postgresql://u:p@dpg-abc123-a/db", [("MD-DB005", None)]),
    ("postgres://u:p@db.example.com:6543/db", [("MD-DB003", None)]),
    ("postgresql://u:p@127.0.0.1:5432/db", []),
    ("mysql://u:p@h/db", [("MD-DB002", None)]),
    ("postgresql://u:p@h:70000/db", [("MD-DB002", None)]),
    ("host=127.0.0.1 dbname=x sslmode=bogus", [("MD-DB002", None)]),
])
def test_dsn_sanity(dsn: str, expect: list[tuple[str, str | None]]) -> None:
    found = list(sanity(dsn))
    assert [(m.id, m.level) for m in found] == expect
    assert all("p@" not in m.message and ":p@" not in m.message for m in found)


def test_malformed_keyword_dsn_keeps_the_libpq_message() -> None:
    [msg] = sanity("host=127.0.0.1 dbname")
    assert msg.exc is not None and str(msg.exc).strip() in msg.message and msg.label == "PG_URL_MALFORMED"


def test_schema_drift_kinds() -> None:
    tables = parse_ddl((APP / "schema.sql").read_text())
    live = {"users": {"id": "text", "email": "text", "password_hash": "text", "created_at": "timestamp with time zone"},
            "sessions": {"id": "text", "user_id": "text", "created_at": "text", "expires_at": "text"},
            "ps101_progress": {"user_id": "text", "step": "integer", "answers": "text", "updated_at": "text"}}
    found = [(m.id, m.label, m.location) for m in drift(tables, live, "schema.sql")]
    assert found == [
        ("MD-SCHEMA001", "MISSING_TABLE", "schema.sql:26:1"),
        ("MD-SCHEMA002", "MISSING_COLUMN", "schema.sql:14:1"),
        ("MD-SCHEMA003", "TYPE_MISMATCH", "schema.sql:8:1"),
    ]


_RELEASE_SLOW = threading.Event()  # set at the end of the test that abandons the slow check


def _slow(_: CheckContext) -> list[Message]:
    _RELEASE_SLOW.wait(120)
    return []


def _warn(_: CheckContext) -> list[Message]:
    return [Message("MD-T002", "a warning"), Message("MD-T003", "an error")]


def _crash(_: CheckContext) -> list[Message]:
    return [Message("MD-T004", "x")] if int("not a number") else []


TEST_CHECKS = (
    Check("slow", ("t",), (CheckId("MD-T001", "error", "slow"),), _slow),
    Check("warn", ("t",), (CheckId("MD-T002", "warning", "w"), CheckId("MD-T003", "error", "e")), _warn),
    Check("crash", ("t",), (CheckId("MD-T004", "error", "c"),), _crash),
)


def test_runner_parallel_timeout_silence_fail_level_and_crash(tmp_path: Path) -> None:
    sel = select(TEST_CHECKS)
    t0 = time.monotonic()
    try:
        report = run_checks(sel, ctx(tmp_path, timeout=0.5), silence=["MD-T003"], fail_level="error")
    finally:
        _RELEASE_SLOW.set()
    assert time.monotonic() - t0 < 60  # the waiting check is abandoned at its timeout (a liveness bound: not 120 s)
    by = {o.check: o for o in report.outcomes}
    [timed_out] = by["slow"].results  # its own id, naming the check: not the check's first id
    assert by["slow"].status == "timeout" and timed_out.id == "MD-TIMEOUT" and "the slow check" in timed_out.message
    assert by["warn"].status == "warning" and [r.silenced for r in by["warn"].results] == [False, True]
    crash = by["crash"].results[0]
    assert by["crash"].status == "failed" and "ValueError" in crash.message and crash.label
    assert report.exit_code == 1 and {r.id for r in report.failing} == {"MD-TIMEOUT", "MD-T004"}
    suite = ET.fromstring(as_junit(report)).find("testsuite")
    assert suite is not None and (suite.get("errors"), suite.get("failures")) == ("1", "1")
    assert suite.find("testcase[@name='slow']/error") is not None
    only_warn = run_checks(select(TEST_CHECKS, ["warn"]), ctx(tmp_path), silence=["MD-T003"], fail_level="error")
    assert only_warn.exit_code == 0
    assert run_checks(select(TEST_CHECKS, ["warn"]), ctx(tmp_path), silence=["MD-T003"],
                      fail_level="warning").exit_code == 1


def test_junit_and_markdown(tmp_path: Path) -> None:
    report = run_checks(select(TEST_CHECKS, ["warn", "crash"]), ctx(tmp_path), fail_level="error")
    suite = ET.fromstring(as_junit(report)).find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "2"
    failure = suite.find("testcase[@name='warn']/failure")
    assert failure is not None and failure.get("message") == "MD-T003 an error"
    assert "MD-T002 [warning] a warning" in (suite.find("testcase[@name='warn']/system-out").text or "")
    md = as_markdown(report)
    assert "| warn | failed | MD-T002 | warning | a warning |" in md and "**FAILED**" in md


def test_lint_check_over_a_repo(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "storage.py").write_text("conn = get_conn()\n")
    [msg] = LINT_CHECK.run(ctx(tmp_path))
    assert msg.location == "api/storage.py:1:8" and msg.label == "CONN_MISUSE" and msg.message.startswith("MD001")


def test_example_app_offline_checks_pass(tmp_path: Path) -> None:
    repo = tmp_path / "app"
    shutil.copytree(APP, repo, ignore=shutil.ignore_patterns("__pycache__"))
    report = predeploy(repo, {}, only=["prompts", "lint"])
    assert report.exit_code == 0, report.to_dict()


PLAYBOOK = """\
- id: predeploy-env
  match:
    label: ENV_VAR_MISSING
    stage: predeploy
  gather:
    - env: [DATABASE_URL, OPENAI_API_KEY]
  diagnose:
    - name: db-url
      check: "env.DATABASE_URL.set"
      fail_label: ENV_VAR_MISSING
      recommendation: "Link the database."
    - name: openai
      check: "env.OPENAI_API_KEY.set"
      fail_label: ENV_VAR_MISSING
      recommendation: "Set the OpenAI key."
  remediate:
    - action: advise
      when: "stage == 'predeploy' and severity == 'critical'"
      message: "fix the environment before {stage}"
    - action: alert_ops
      when: "stage == 'startup'"
"""


def test_failures_carry_the_configured_playbooks_advice_and_plan(tmp_path: Path) -> None:
    (tmp_path / "pb").mkdir()
    (tmp_path / "pb" / "env.yml").write_text(PLAYBOOK)
    (tmp_path / "mosaic-diag.toml").write_text('[playbooks]\ndir = "pb"\n')
    env = {"DATABASE_URL": "postgresql://u:p@127.0.0.1/db", "ANTHROPIC_API_KEY": "sk-ant-x"}
    report = predeploy(tmp_path, env, only=["settings"])
    [missing] = report.outcomes[0].results
    assert (missing.id, missing.label, missing.playbook) == ("MD-ENV001", "ENV_VAR_MISSING", "predeploy-env")
    assert missing.recommendation == "Set the OpenAI key."  # only the check that fails on the facts given
    assert missing.plan == ("-> advise: fix the environment before predeploy "
                            "[stage 'predeploy' == 'predeploy' and severity 'critical' == 'critical']",)
    # (alert_ops `when: stage == 'startup'` does not hold before a deploy: not shown)
    assert "plan -> advise" in as_markdown(report)


def test_an_invalid_configured_playbook_set_is_a_located_config_error(tmp_path: Path) -> None:
    from mosaic_diag.errors import ConfigError

    (tmp_path / "pb").mkdir()
    (tmp_path / "pb" / "bad.yml").write_text(PLAYBOOK.replace("env.OPENAI_API_KEY.set", "env.OPENAI_API_KEY.sett"))
    (tmp_path / "mosaic-diag.toml").write_text('[playbooks]\ndir = "pb"\n')
    with pytest.raises(ConfigError) as caught:
        predeploy(tmp_path, {}, only=["settings"])
    assert caught.value.path and caught.value.path.endswith("bad.yml") and caught.value.line == 13


def test_every_command_warns_of_unknown_config_keys_once_on_stderr(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "mosaic-diag.toml").write_text('[lint]\nschemaa = "db.sql"\n')
    (tmp_path / "ok.py").write_text("X = 1\n")
    (tmp_path / "app.log").write_text("INFO:app:started\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_DIAG_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    want = (f"mosaic-diag: warning: {tmp_path / 'mosaic-diag.toml'}:2: unknown configuration key 'lint.schemaa' "
            "(did you mean 'lint.schema'?): ignored\n")
    for args in (["lint", "--no-cache", "ok.py"], ["triage", "app.log"], ["triage", "app.log", "--label", "X"]):
        r = subprocess.run([sys.executable, "-m", "mosaic_diag", *args], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode in (0, 2), (args, r.stderr)
        assert r.stderr.count(want) == 1, (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_unknown_keys_are_located_in_their_table_dotted_or_not(tmp_path: Path) -> None:
    """The line of an unknown key is the line that assigns it: a dotted key (`anomaly.windw = 3` at the
    top), a key under `[tool.mosaic-diag.predeploy]`, never a same-named key of another table; and the
    commands that read the config only to find the deploy store or the hook's lint settings say so too."""
    import os
    import subprocess
    import sys

    (tmp_path / "pyproject.toml").write_text(
        '[tool.other]\ntimout = 1\n\n[tool.mosaic-diag]\nanomaly.windw_minutes = 3\n'
        '\n[tool.mosaic-diag.predeploy]\ntimeout = 5\n"timout" = 3\n')
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOSAIC_DIAG_", "DATABASE_URL"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    cfg = tmp_path / "pyproject.toml"
    want = [f"mosaic-diag: warning: {cfg}:5: unknown configuration key 'anomaly.windw_minutes' (did you mean "
            "'anomaly.window_minutes'?): ignored",
            f"mosaic-diag: warning: {cfg}:9: unknown configuration key 'predeploy.timout' (did you mean "
            "'predeploy.timeout'?): ignored"]
    for args in (["manifest", "history"], ["hook", "run"]):
        r = subprocess.run([sys.executable, "-m", "mosaic_diag", *args], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0 and r.stderr.splitlines() == want, (args, r.stderr)


def test_unknown_config_keys_are_warned_with_the_nearest_known_key(tmp_path: Path) -> None:
    (tmp_path / "mosaic-diag.toml").write_text('[predeploy]\ntimeout = 5\ntimout = 3\n\n[golden]\nconcurency = 2\n'
                                               'zzz = 1\n[manifest.models]\nchat = "gpt-4o-mini"\n')
    report = run_checks(select(all_checks(), ["config"]), ctx(tmp_path), fail_level="warning")
    found = [(r.id, r.level, r.message, r.location) for o in report.outcomes for r in o.results]
    assert found == [
        ("MD-CONFIG001", "warning", "unknown configuration key 'predeploy.timout': did you mean 'predeploy.timeout'?",
         "mosaic-diag.toml:3:1"),
        ("MD-CONFIG001", "warning", "unknown configuration key 'golden.concurency': did you mean "
                                    "'golden.concurrency'?", "mosaic-diag.toml:6:1"),
        ("MD-CONFIG001", "warning", "unknown configuration key 'golden.zzz'", "mosaic-diag.toml:7:1"),
    ]
    assert report.exit_code == 1


def test_a_config_of_many_unknown_keys_names_twenty_and_counts_the_rest(tmp_path: Path) -> None:
    """A config of thousands of unknown keys (a generated or pasted file): each key searched for the nearest known key
    and its line by a scan of every line was minutes (2 million keys: 509 s) and as many warning lines. The first 20
    are named with their lines, the rest counted in one line, in the warnings and in predeploy's config check alike."""
    from mosaic_diag.config import unknown_key_warnings

    (tmp_path / "mosaic-diag.toml").write_text("[golden]\nconcurency = 2\n" + "".join(
        f"key_{n} = {n}\n" for n in range(3_000)))
    warnings = unknown_key_warnings(load_config(tmp_path))
    cfg = tmp_path / "mosaic-diag.toml"
    assert len(warnings) == 21 and warnings[0] == (f"{cfg}:2: unknown configuration key 'golden.concurency' (did you "
                                                   "mean 'golden.concurrency'?): ignored")
    assert warnings[19] == f"{cfg}:21: unknown configuration key 'golden.key_18': ignored"
    assert warnings[20] == f"{cfg}: 2,981 more unknown configuration keys: ignored"
    report = run_checks(select(all_checks(), ["config"]), ctx(tmp_path), fail_level="warning")
    found = [(r.message, r.location) for o in report.outcomes for r in o.results]
    assert len(found) == 21 and found[-1] == ("2,981 more unknown configuration keys", "mosaic-diag.toml")
    assert found[1] == ("unknown configuration key 'golden.key_0'", "mosaic-diag.toml:3:1")


def test_a_config_file_past_its_bound_is_refused_naming_it(tmp_path: Path) -> None:
    from mosaic_diag.config import CONFIG_BYTES
    from mosaic_diag.errors import ConfigError

    cfg = tmp_path / "pyproject.toml"
    cfg.write_text("[tool.other]\n" + "# padding\n" * (CONFIG_BYTES // 10 + 1))
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert "larger than 4 MiB" in str(info.value) and str(cfg) in str(info.value)


def test_every_config_key_the_code_reads_is_known() -> None:
    import re

    from mosaic_diag.config import KNOWN_KEYS

    read = set()
    # (config.get / cfg.number / config.error, and the manifest's _strings(config, key, …))
    key = re.compile(r"""(?:(?:config|cfg|get)\.?(?:get|number|error)\(|_strings\(config,)\s*["']"""
                     r"""([a-z_]+\.[a-z_]+|rules|audit_log|deploy_store)["']""")
    for path in (ROOT / "mosaic_diag").rglob("*.py"):
        read |= set(key.findall(path.read_text()))
    read |= set(re.findall(r'get\("(anomaly\.[a-z_]+)"', (ROOT / "mosaic_diag/triage/run.py").read_text()))
    assert len(read) > 40 and read - KNOWN_KEYS == set()


def test_every_documented_config_key_is_known() -> None:
    import re

    from mosaic_diag.config import KNOWN_KEYS

    text = (ROOT / "README.md").read_text()
    table = text[text.index("## Configuration"):]
    rows = re.findall(r"^\| (`[^|]+`) \|", table, re.MULTILINE)
    documented = {k for row in rows for k in re.findall(r"`([a-z_]+(?:\.[a-z_]+)?)`", row)
                  if "." in k or k in ("rules", "deploy_store", "audit_log")}
    assert len(documented) > 40 and documented - KNOWN_KEYS == set()


def test_every_known_config_key_is_documented() -> None:
    """The README's Configuration table names every key the commands read (`a.b` / `c`: `a.c`)."""
    import re

    from mosaic_diag.config import KNOWN_KEYS

    text = (ROOT / "README.md").read_text()
    table = text[text.index("## Configuration"):]
    documented: set[str] = set()
    for row in re.findall(r"^\| (`[^|]+`) \|", table, re.MULTILINE):
        table_name = None
        for key in re.findall(r"`([a-z_0-9]+(?:\.[a-z_0-9]+)?)`", row):
            if "." in key:
                table_name = key.split(".")[0]
                documented.add(key)
            elif table_name is not None:
                documented.add(f"{table_name}.{key}")
            else:
                documented.add(key)
    assert KNOWN_KEYS - documented == set()
