"""Hostile files and hostile surroundings: alias bombs, deep nesting, unwritable output paths, a closed
stdout and config values of the wrong type each give one line naming the culprit and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from examples.loopback import QuietServer
from mosaic_diag.cli import main
from mosaic_diag.errors import ConfigError
from mosaic_diag.platform.yamlpos import MAX_ALIAS_NODES, load_yaml_text
from mosaic_diag.playbooks.conditions import ConditionError, parse
from tests.cli_inproc import run_cli
from tests.test_manifest_support import commit_all, set_git_env

# 530 bytes, 9**9 (387 million) strings once expanded
BOMB = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
               for p, c in zip(["", *"abcdefgh"], "abcdefghi", strict=True))
DEEP_FLOW = "x: " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_BLOCK = "a:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(300))


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def cli(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The CLI run in this process (tests/cli_inproc.py; `timeout` is pytest-timeout's there); the cases about
    the process itself (a closed stdout, the environment's numbers, a surrogate on stdout) run it whole."""
    return run_cli(args, cwd=cwd)


# -- YAML ------------------------------------------------------------------------------------------
def test_the_loader_refuses_an_alias_bomb_and_deep_nesting_with_file_and_line() -> None:
    assert len(BOMB.encode()) < 600
    with pytest.raises(ConfigError, match=r"^b\.yml:5: YAML aliases expand to more than \d+ nodes"):
        load_yaml_text(BOMB, "b.yml")
    with pytest.raises(ConfigError, match=r"^d\.yml:1: YAML nested deeper than 100 levels"):
        load_yaml_text(DEEP_FLOW, "d.yml")  # libyaml's composer would crash the process on this
    with pytest.raises(ConfigError, match=r"^d\.yml:101: YAML nested deeper than 100 levels"):
        load_yaml_text(DEEP_BLOCK, "d.yml")


def test_modest_anchors_and_aliases_still_load() -> None:
    data = load_yaml_text("base: &b {timeout: 5, tags: [x]}\ncases:\n  - *b\n  - *b\n", "ok.yml")
    assert data["cases"] == [{"timeout": 5, "tags": ["x"]}] * 2
    wide = "a: &a [" + ", ".join(["1"] * 100) + "]\nb: [" + ", ".join(["*a"] * (MAX_ALIAS_NODES // 101)) + "]\n"
    assert len(load_yaml_text(wide, "wide.yml")["b"]) == MAX_ALIAS_NODES // 101


@pytest.mark.parametrize("kind", ["playbook", "golden", "rules"])
@pytest.mark.parametrize("text", [BOMB, DEEP_FLOW], ids=["bomb", "deep"])
def test_every_yaml_loader_refuses_hostile_files(tmp_path: Path, kind: str, text: str) -> None:
    path = tmp_path / "hostile" / "x.yml"
    path.parent.mkdir()
    path.write_text(text)
    args = {"playbook": ["playbook", "validate", str(path.parent)], "golden": ["golden", "validate", str(path)],
            "rules": ["labels", "--rules", str(path)]}[kind]
    r = cli(*args, cwd=tmp_path, timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    said = r.stdout + r.stderr  # `validate` lists problems on stdout
    assert "hostile/x.yml:" in said and ("alias" in said or "nested deeper" in said), said
    assert "Traceback" not in said and "MemoryError" not in said


@pytest.mark.parametrize(("text", "line", "reason"), [
    ("- id: a\n  match: &m {labels: [*m]}\n", 2, "YAML alias *m inside the node it names"),
    ("&a [*a]\n", 1, "YAML alias *a inside the node it names"),
    ("- id: a\n  match:\n    <<: {label: X}\n", 3, "YAML merge keys (`<<`) are not supported"),
    ("- id: a\n  description: ok\n  when: 2024-13-01\n", 3, "invalid YAML value: month must be in 1..12"),
    ("- id: a\n  x: !!timestamp 2024-01-99\n", 2, "invalid YAML value: day is out of range for month"),
    ("- id: a\n  x: !custom 1\n", 2, "invalid YAML value: could not determine a constructor for the tag"),
], ids=["recursive", "recursive-top", "merge-key", "bad-date", "bad-timestamp", "unknown-tag"])
@pytest.mark.parametrize("kind", ["playbook", "golden", "rules"])
def test_a_recursive_alias_a_merge_key_or_a_bad_value_is_one_line_at_its_line(
        tmp_path: Path, kind: str, text: str, line: int, reason: str) -> None:
    path = tmp_path / "x.yml"
    path.write_text(text)
    args = {"playbook": ["playbook", "validate", str(path)], "golden": ["golden", "validate", str(path)],
            "rules": ["labels", "--rules", str(path)]}[kind]
    r = cli(*args, cwd=tmp_path, timeout=30)
    said = r.stdout + r.stderr
    assert r.returncode == 2 and "Traceback" not in said, said
    shown = [x for x in said.splitlines() if "x.yml:" in x]
    assert len(shown) == 1 and f"x.yml:{line}: {reason}" in shown[0], said


def test_a_set_named_many_times_is_one_line_not_gigabytes_of_regex(tmp_path: Path) -> None:
    """`%{name}` puts a set's alternatives in place: a 10 KB rules file naming a set of long entries a hundred times
    was a regex of a megabyte (100 KB: 20 MB, 5 GB of memory and minutes to compile); past 64 KiB with its sets in
    place a regex is one line at its line."""
    entries = ", ".join(f"'w{i}" + "a" * 500 + "'" for i in range(20))
    refs = "x".join(["%{big}"] * 100)
    path = tmp_path / "x.yml"
    path.write_text(f"version: 1\nsets:\n  big: [{entries}]\nrules:\n  - id: bomb\n    label: UNKNOWN_ERROR\n"
                    f"    match:\n      message: ['%{{big}}', '{refs}']\n")
    r = cli("labels", "--rules", str(path), cwd=tmp_path)
    assert r.returncode == 2
    assert one_error_line(r.stderr).endswith(
        "x.yml:8: `message` is 1,026,152 characters long with its sets in place (at most 65,536)"), r.stderr
    # a set named once, within the bound, is read
    path.write_text(path.read_text().replace(f", '{refs}'", ""))
    assert cli("labels", "--rules", str(path), cwd=tmp_path).returncode == 0


def test_a_users_set_in_a_shipped_rule_is_searched_with_a_time_limit(tmp_path: Path) -> None:
    """A user's rules file may add to a set the shipped rules name (a job board's host): the shipped regex then holds
    the user's regex, and is searched as the user's are (the `regex` engine, with time limits), not as the shipped
    rules' own (stdlib `re`, none): a pattern that backtracks exponentially held classify for hours on this host."""
    from mosaic_diag.classifier.classify import Classifier
    from mosaic_diag.classifier.taxonomy import load_taxonomy

    path = tmp_path / "x.yml"
    path.write_text("version: 1\nsets:\n  job_source_hosts: ['(a+)+b', teamtailor]\n")
    clf = Classifier(load_taxonomy(path))
    host = "a" * 40
    text = f"requests.exceptions.HTTPError: 500 Server Error for url: https://{host}.example.com/v1/jobs"
    assert clf.classify_text(text).label == "UNKNOWN_ERROR"
    assert clf.classify_text(text.replace(host, "api.teamtailor")).label == "JOB_SOURCE_ERROR"


@pytest.mark.parametrize("kind", ["golden", "rules"])
@pytest.mark.parametrize("special", ["device", "fifo"])
def test_a_yaml_file_that_is_no_regular_file_is_refused_not_read(tmp_path: Path, kind: str, special: str) -> None:
    """A rules or cases file that is a link to /dev/zero (size 0, read without end: all memory) or a FIFO (a
    read that never returns) is one line, exit 2."""
    import resource

    path = tmp_path / "x.yml"
    if special == "device":
        path.symlink_to("/dev/zero")
    else:
        os.mkfifo(path)
    args = {"golden": ["golden", "validate", str(path)], "rules": ["labels", "--rules", str(path)]}[kind]
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", *args], capture_output=True, text=True, cwd=tmp_path,
                       timeout=60, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)))
    assert r.returncode == 2, r.stdout + r.stderr
    said = one_error_line(r.stdout + r.stderr)
    assert said.endswith("x.yml: not a regular file (a device, a FIFO, a socket): not read"), said


def test_a_newline_in_a_file_name_cannot_forge_an_error_line(tmp_path: Path) -> None:
    """`Errors are one line`: a playbook file or a path named with a newline is shown `\\n`, in the errors
    of any command and in `playbook validate`'s list."""
    books = tmp_path / "books"
    books.mkdir()
    (books / "a\nfake.yml:1: all good.yml").write_text("- id: x\n  match: {label: NOPE}\n"
                                                     "  remediate: [{action: advise, message: hi}]\n")
    for args in (["playbook", "validate", str(books)], ["playbook", "list", "--playbooks", str(books)],
                 ["lint", str(tmp_path / "no\nsuch.py")], ["golden", "validate", str(tmp_path / "no\nsuch.yml")]):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2, r.stdout + r.stderr
        said = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
        assert not any(line.startswith(("fake.yml", "such.")) for line in said), said
        assert any("a\\nfake.yml:1: all good.yml:2: unknown label 'NOPE'" in line or "no\\nsuch." in line
                   for line in said), said


def test_flags_yaml_of_the_manifest_is_refused_too() -> None:
    from mosaic_diag.manifest.generate import parse_flags

    with pytest.raises(ConfigError, match=r"^flags\.yml:5: YAML aliases"):
        parse_flags(BOMB.encode(), "flags.yml")


# -- conditions ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["x in " + "[" * 400 + "]" * 400, "x in [1, [2]]", "(" * 300 + "x" + ")" * 300,
                                  "not " * 200 + "x", "x in " + "[" * 5000])
def test_deeply_nested_conditions_are_one_line_errors(text: str) -> None:
    with pytest.raises(ConditionError) as info:
        parse(text, lambda name: name == "x")
    assert "\n" not in str(info.value)


# -- config ----------------------------------------------------------------------------------------
def test_a_config_value_of_the_wrong_type_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "mosaic-diag.toml").write_text('[predeploy]\ntimeout = "fast"\n')
    r = cli("predeploy", "--only", "settings", cwd=tmp_path)
    assert r.returncode == 2
    assert one_error_line(r.stderr) == \
        f"mosaic-diag: error: {tmp_path / 'mosaic-diag.toml'}:2: predeploy.timeout must be a number, got 'fast'"




SAMPLE = "2026-12-06T10:00:00Z ERROR api: boom\n"


@pytest.mark.parametrize(("config", "args", "message"), [
    ("[anomaly]\nwindow_minutes = 0\n", ["triage", "app.log"],
     ":2: anomaly.window_minutes must be a whole number from 1 to 1440, got 0"),
    ("[anomaly]\nwindow_minutes = 10_000_000_000\n", ["triage", "app.log"],
     ":2: anomaly.window_minutes must be a whole number from 1 to 1440, got 10000000000"),
    ("anomaly = {alpha = 7}\n", ["triage", "app.log"], ":1: anomaly.alpha must be a number > 0 and <= 1, got 7"),
    ("[anomaly]\nthreshold = nan\n", ["triage", "app.log"], ":2: anomaly.threshold must be a finite number, got nan"),
    ("anomaly.min_count = 1e400\n", ["triage", "app.log"], ":1: anomaly.min_count must be a finite number, got inf"),
    ("[anomaly]\nmin_count = 2.5\n", ["triage", "app.log"],
     ":2: anomaly.min_count must be a whole number >= 1, got 2.5"),
    ("[golden]\nconcurrency = 0\n", ["golden", "--url", "http://127.0.0.1:9"],
     ":2: golden.concurrency must be a whole number from 1 to 64, got 0"),
    ("[golden]\ntimeout = -1\n", ["golden", "--url", "http://127.0.0.1:9"],
     ":2: golden.timeout must be a number > 0, got -1"),
    ("[golden]\nglobal_timeout = 0\n", ["golden", "--url", "http://127.0.0.1:9"],
     ":2: golden.global_timeout must be a number > 0, got 0"),
    ("[predeploy]\ntimeout = -3\n", ["predeploy", "--only", "settings"],
     ":2: predeploy.timeout must be a number > 0, got -3"),
    ("[playbooks]\ncooldown = -60\n", ["triage", "app.log"], ":2: playbooks.cooldown must be a number >= 0, got -60"),
], ids=["window-0", "window-millennia", "alpha-inline-table", "threshold-nan", "min-count-inf", "min-count-fraction",
        "concurrency-0", "timeout-negative", "global-timeout-0", "predeploy-timeout", "cooldown-negative"])
def test_a_config_number_out_of_its_range_is_one_line_with_file_and_line(tmp_path: Path, config: str,
                                                                            args: list[str], message: str) -> None:
    """Out of range, not a number at all (nan, inf) or not whole: named where it is set, never a traceback, a
    silently truncated value, a run that reports every case as failed or a bound that can never be met."""
    (tmp_path / "mosaic-diag.toml").write_text(config)
    (tmp_path / "app.log").write_text(SAMPLE)
    (tmp_path / "golden").mkdir()
    (tmp_path / "golden" / "a.yml").write_text("cases:\n  - id: a\n    path: /x\n")
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert one_error_line(r.stderr) == f"mosaic-diag: error: {tmp_path / 'mosaic-diag.toml'}{message}"



@pytest.mark.parametrize(("config", "args", "message"), [
    ('[deploy]\nwatch = "5 minutes"\n', ["deploy", "--dry-run"],
     ":2: deploy.watch takes a duration such as 90s, 30m, 2h; got '5 minutes'"),
    ('[deploy]\nfail_severity = "urgent"\n', ["deploy", "--dry-run"],
     ":2: deploy.fail_severity must be one of critical, high, medium, low; got 'urgent'"),
    ('[deploy]\nrollback_strategy = "nuke"\n', ["deploy", "--dry-run"],
     ":2: deploy.rollback_strategy takes one of revert, reset, render-api; got 'nuke'"),
    ('[predeploy]\nfail_level = "fatal"\n', ["predeploy", "--only", "settings"],
     ":2: predeploy.fail_level must be one of info, warning, error, got 'fatal'"),
    ('[predeploy]\nsilence = ["MD-ENV001", 3]\n', ["predeploy", "--only", "settings"],
     ":2: predeploy.silence must be a list of check ids, got ['MD-ENV001', 3]"),
    ('[manifest]\nprompts = 5\n', ["manifest", "generate"],
     ":2: manifest.prompts must be a string or a list of strings, got 5"),
    ('[golden]\nprovider = "gpt"\n', ["golden", "--url", "http://127.0.0.1:9"],
     ":2: golden.provider must be openai, anthropic or all, got 'gpt'"),
], ids=["deploy-watch", "fail-severity", "strategy", "fail-level", "silence", "manifest-prompts", "provider"])
def test_a_config_value_a_command_refuses_is_named_with_its_file_and_line(tmp_path: Path, config: str,
                                                                          args: list[str], message: str) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=60)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q",
                    "--allow-empty", "-m", "init"], check=True, timeout=60)
    (tmp_path / "mosaic-diag.toml").write_text(config)
    (tmp_path / "golden").mkdir()
    (tmp_path / "golden" / "a.yml").write_text("cases:\n  - id: a\n    path: /x\n")
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert [line for line in r.stderr.splitlines() if line.startswith("mosaic-diag: error:")] == \
        [f"mosaic-diag: error: {tmp_path / 'mosaic-diag.toml'}{message}"], r.stderr
    assert "Traceback" not in r.stderr

def test_a_config_number_out_of_range_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text(SAMPLE)
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", "app.log"], capture_output=True, text=True,
                       cwd=tmp_path, timeout=60, env={**os.environ, "MOSAIC_DIAG_ANOMALY_THRESHOLD": "nan"})
    assert r.returncode == 2
    assert one_error_line(r.stderr) == \
        "mosaic-diag: error: MOSAIC_DIAG_ANOMALY_THRESHOLD must be a finite number, got 'nan'"


def test_a_deeply_nested_toml_config_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "mosaic-diag.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    r = cli("predeploy", "--only", "settings", cwd=tmp_path)
    assert r.returncode == 2 and "mosaic-diag.toml: invalid TOML" in one_error_line(r.stderr)


def test_a_value_where_a_table_is_read_is_one_line(tmp_path: Path) -> None:
    """`playbooks = "diag/playbooks"` (a careless operator's shortcut for `[playbooks] dir = …`) is not ignored."""
    (tmp_path / "mosaic-diag.toml").write_text('playbooks = "diag/playbooks"\n')
    (tmp_path / "app.log").write_text("2026-12-06T10:00:00Z ERROR api: boom\n")
    r = cli("triage", "app.log", cwd=tmp_path)
    assert r.returncode == 2
    assert one_error_line(r.stderr) == (f"mosaic-diag: error: {tmp_path / 'mosaic-diag.toml'}: playbooks must be a "
                                        "table (write [playbooks] and dir = … under it), got 'diag/playbooks'")


def test_a_path_holding_a_nul_is_one_line(tmp_path: Path) -> None:
    """TOML may spell a NUL (`"\\u0000"`), which no path can hold: os.stat raised ValueError, a traceback."""
    (tmp_path / "mosaic-diag.toml").write_text('rules = "rules\\u0000.yml"\n')
    (tmp_path / "app.log").write_text("2026-12-06T10:00:00Z ERROR api: boom\n")
    r = cli("triage", "app.log", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert one_error_line(r.stderr) == (f"mosaic-diag: error: {tmp_path / 'mosaic-diag.toml'}:1: rules must be a path, "
                                        "got 'rules\\x00.yml'")


def test_a_bugs_traceback_goes_through_the_redactor_and_the_terminal_filter(tmp_path: Path) -> None:
    """An exception no command expected is a traceback still, but written through the guarded stderr: a
    value in it (a DSN, a log line's controls) is redacted and escaped like any output; Python's exit code 1."""
    code = ("from mosaic_diag.commands.guard import guarded\n"
            "def boom():\n"
            "    raise RuntimeError('postgresql://app:S3cretPw9@db.internal/app \\x1b]52;c;cm0gLXJm\\x07 bad')\n"
            "raise SystemExit(guarded(boom))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 1
    assert "Traceback" in r.stderr and "RuntimeError: postgresql://app:***@db.internal/app" in r.stderr, r.stderr
    assert "S3cretPw9" not in r.stderr and "\x1b" not in r.stderr and "\\u001b]52" in r.stderr


def test_a_directory_named_like_the_config_is_one_line_not_skipped(tmp_path: Path) -> None:
    """A `mosaic-diag.toml` that is a directory is no config to skip for pyproject.toml's (which may say less)."""
    (tmp_path / "mosaic-diag.toml").mkdir()
    (tmp_path / "pyproject.toml").write_text('[tool.mosaic-diag.predeploy]\ntimeout = 5\n')
    r = cli("predeploy", "--only", "settings", cwd=tmp_path)
    assert r.returncode == 2
    assert one_error_line(r.stderr) == f"mosaic-diag: error: {tmp_path / 'mosaic-diag.toml'}: is not a file"



@pytest.mark.parametrize(("name", "content", "args", "reason"), [
    ("golden-last-run.json", b"\xf8\xa1 not text", ["golden", "bless", "--state-dir", "st"],
     "st/golden-last-run.json: last golden run (run `mosaic-diag golden` first) is not UTF-8 text"),
    ("golden-last-run.json", b'{"cases": [1]}', ["golden", "bless", "--state-dir", "st"],
     "st/golden-last-run.json: not a golden run report (case 1 is not a mapping with an id, outcome, ok, "
     "passes and runs)"),
    ("golden-last-run.json", b'{"cases": [{"id": "a"}]}', ["golden", "bless", "--state-dir", "st"],
     "st/golden-last-run.json: not a golden run report (case 1 is not a mapping with an id, outcome, ok, "
     "passes and runs)"),
    ("golden-last-run.json", b'{"cases": [{"id": "a"}]}',
     ["golden", "--url", "http://127.0.0.1:9", "--only-failed", "--state-dir", "st"],
     "st/golden-last-run.json: not a golden run report (case 1 is not a mapping with an id, outcome, ok, "
     "passes and runs)"),
    ("base.json", b'{"version": 1, "cases": {"a": 5}}',
     ["golden", "--url", "http://127.0.0.1:9", "--baseline", "st/base.json", "--state-dir", "st"],
     "st/base.json: not a golden baseline (version 1): case 'a' is not a mapping"),
], ids=["last-run-binary", "last-run-case-not-a-mapping", "last-run-case-without-fields", "only-failed",
        "baseline-case-not-a-mapping"])
def test_a_corrupt_golden_state_file_is_one_line(tmp_path: Path, name: str, content: bytes, args: list[str],
                                                 reason: str) -> None:
    """A last run or baseline hand-edited, cut or overwritten: an AttributeError / KeyError / UnicodeDecodeError
    traceback before."""
    (tmp_path / "st").mkdir()
    (tmp_path / "st" / name).write_bytes(content)
    (tmp_path / "golden").mkdir()
    (tmp_path / "golden" / "a.yml").write_text("cases:\n  - id: a\n    path: /x\n")
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert one_error_line(r.stderr) == f"mosaic-diag: error: {reason}"


def test_a_hand_edited_manifest_with_odd_types_is_recorded_without_a_traceback(tmp_path: Path) -> None:
    """`git.dirty_paths: [1]` was a TypeError traceback in `manifest record` (joining the paths)."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=60)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q",
                    "--allow-empty", "-m", "init"], check=True, timeout=60)
    r = cli("manifest", "generate", "--out", "m.json", cwd=tmp_path)
    assert r.returncode in (0, 1), r.stderr
    manifest = json.loads((tmp_path / "m.json").read_text())
    manifest["git"]["dirty"], manifest["git"]["dirty_paths"] = True, [1, "a.py"]
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    r = cli("manifest", "record", "--manifest", "m.json", cwd=tmp_path)
    assert "Traceback" not in r.stderr and r.returncode == 0, r.stderr
    assert "dirty tree: 2 uncommitted change(s) (1, a.py)" in r.stderr


@pytest.mark.parametrize(("record", "reason"), [
    ({"commit": 5}, "commit is not text"),
    ({"commit": None}, "commit is not text"),
    ({"commit": "main~1"}, "commit 'main~1' is not a full commit id (40 or 64 hex digits)"),
    ({"note": ["x"]}, "note is not text"),
    ({"manifest": [1]}, "manifest is not a mapping"),
    ({"id": None}, "id 'None' is not a whole number"),
    ([1], "not a JSON object"),
], ids=["commit", "commit-null", "commit-ref", "note", "manifest", "id", "array"])
def test_a_hand_edited_deploy_store_record_is_one_line(tmp_path: Path, record: object, reason: str) -> None:
    """`manifest history` over a record of the wrong types: a TypeError traceback (`'int' object is not
    subscriptable`) before."""
    good = {"id": 1, "recorded_at": "2026-12-06T10:00:00+00:00", "commit": "a" * 40, "branch": "main",
            "status": "deployed", "note": None, "manifest": {}}
    line = {**good, **record} if isinstance(record, dict) else record
    (tmp_path / ".mosaic-diag").mkdir()
    (tmp_path / ".mosaic-diag" / "deploys.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(line) + "\n")
    r = cli("manifest", "history", cwd=tmp_path)
    assert r.returncode == 2
    assert one_error_line(r.stderr) == \
        f"mosaic-diag: error: {tmp_path / '.mosaic-diag' / 'deploys.jsonl'}:2: bad deploy record: {reason}"


@pytest.mark.parametrize(("args", "message"), [
    (["triage", "app.log", "--since", "9999999d"], "--since '9999999d' reaches before year 1"),
    (["triage", "app.log", "--format", "json", "--until", "99999999999999d"],
     "--until '99999999999999d' reaches before year 1"),
    (["dlq", "purge", "--older-than", "100000000w", "--db", "dlq.db"],
     "--older-than '100000000w' reaches before year 1"),
    (["watch", "--file", "app.log", "--cooldown", "99999999999d"],
     "--cooldown '99999999999d' is longer than 100 years"),
    (["rollback", "--auto", "--log", "app.log", "--window", "99999999999d"],
     "--window '99999999999d' is longer than 100 years"),
], ids=["since", "until", "older-than", "cooldown", "window"])
def test_a_huge_duration_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    """`--since 9999999d` (a finger on the 9): an OverflowError traceback from the date arithmetic before."""
    (tmp_path / "app.log").write_text(SAMPLE)
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert one_error_line(r.stderr) == f"mosaic-diag: error: {message}"


@pytest.mark.parametrize(("args", "env", "message"), [
    (["golden", "--url", "http://[::1", "--cases", "cases.yml"], {},
     "--url 'http://[::1' is not a valid URL (Invalid port: ':1')"),
    (["golden", "--url", "http://host:99999", "--cases", "cases.yml"], {},
     "--url 'http://host:99999' is not a valid URL (port 99999 out of range)"),
    (["rollback", "--auto", "--health-url", "http://[::1"], {},
     "the health URL 'http://[::1' is not a valid URL (Invalid port: ':1')"),
    (["triage", "--render", "--render-service", "srv-abc"],
     {"MOSAIC_DIAG_RENDER_API_URL": "http://[::1", "RENDER_API_KEY": "rnd_x"},
     "the Render API URL (render.api_url / MOSAIC_DIAG_RENDER_API_URL) 'http://[::1' is not a valid URL "
     "(Invalid port: ':1')"),
], ids=["golden-bracket", "golden-port", "health-url", "render-api-url"])
def test_a_malformed_url_is_one_line(tmp_path: Path, args: list[str], env: dict[str, str], message: str) -> None:
    """httpx.InvalidURL is no httpx.HTTPError: a half-typed `http://[::1` was a traceback (exit 1)."""
    (tmp_path / "cases.yml").write_text("cases:\n  - id: a\n    path: /x\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=60)
    r = run_cli(args, cwd=tmp_path, env=env)
    assert r.returncode == 2, r.stderr
    assert one_error_line(r.stderr) == f"mosaic-diag: error: {message}"


@pytest.mark.parametrize(("args", "message"), [
    (["--syslog", "[::1"], "--syslog takes HOST:PORT, got '[::1'"),
    (["--syslog", "::1:6514"], "--syslog takes HOST:PORT (an IPv6 address in brackets: [::1]:6514), got '::1:6514'"),
    (["--syslog", "127.0.0.1:0", "--tls-cert", "bad.pem", "--tls-key", "bad.pem"],
     "bad.pem: cannot use the TLS certificate or key: [SSL] PEM lib"),
    (["--syslog", "127.0.0.1:0", "--tls-cert", "cert.pem", "--tls-key", "missing.pem"],
     "missing.pem: no such key file"),
    (["--syslog", "127.0.0.1:0", "--tls-key", "cert.pem"],
     "--tls-key goes with --tls-cert (the certificate): without it the stream would be served in plain TCP"),
], ids=["bracket", "bare-ipv6", "not-pem", "missing-key", "key-without-cert"])
def test_a_bad_syslog_address_or_certificate_is_one_line_naming_it(tmp_path: Path, args: list[str],
                                                                   message: str) -> None:
    """`[::1` was bound as host ':' port 1 ('Name or service not known'), a certificate that is no PEM said only
    '[SSL] PEM lib' (an OSError, read as 'cannot listen'), a missing key was not checked before, a key given without
    its certificate was left unused: the watch listened in plain TCP (a Render stream, TLS only, never connected)."""
    (tmp_path / "bad.pem").write_bytes(b"\x9b not a certificate\n")
    (tmp_path / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    r = cli("watch", *args, cwd=tmp_path, timeout=30)
    assert r.returncode == 2, r.stderr
    assert one_error_line(r.stderr).startswith(f"mosaic-diag: error: {message}"), r.stderr


@pytest.mark.parametrize("args", [
    ["lint", "-"], ["lint", "--no-cache", "-"], ["golden", "validate", "-"], ["classify", "boom", "--rules", "-"],
    ["playbook", "run", "OPENAI_TIMEOUT", "--context", "-"], ["watch", "--file", "-"],
    ["rollback", "--auto", "--log", "-"], ["dlq", "list", "--db", "-"],
], ids=["lint", "lint-no-cache", "golden-validate", "rules", "context", "watch", "rollback-log", "dlq-db"])
def test_dash_where_only_files_are_read_says_so(tmp_path: Path, args: list[str]) -> None:
    """`-` (stdin) where a command reads files only said `-: no such file`, as if `-` were a file's name."""
    r = run_cli(args, cwd=tmp_path, stdin="KeyError: 'x'\n")
    assert r.returncode == 2, r.stderr
    line = one_error_line(r.stderr)
    assert line.startswith("mosaic-diag: error: -: stdin is not read here: give a "), line

# -- output ----------------------------------------------------------------------------------------
class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        data = json.dumps({"a": 1}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def app() -> QuietServer:
    server = QuietServer.start_on_loopback(_Ok)
    yield server
    server.stop()


def test_unwritable_output_paths_are_one_line(app: QuietServer, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    cases = tmp_path / "cases.yml"
    cases.write_text("cases:\n  - {id: ok, path: /ok, expect: {json_path: {$.a: {equals: 1}}}}\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    common = ["golden", "--url", app.url, "--cases", str(cases)]
    assert main([*common, "--state-dir", str(tmp_path / "state"), "--junit", str(blocker / "junit.xml")]) == 2
    assert one_error_line(capsys.readouterr().err).startswith(
        f"mosaic-diag: error: {blocker / 'junit.xml'}: cannot write (")
    assert main([*common, "--state-dir", str(blocker / "state")]) == 2
    assert f"{blocker / 'state'}" in one_error_line(capsys.readouterr().err)
    assert main([*common, "--state-dir", str(tmp_path / "state")]) == 0
    capsys.readouterr()
    assert main(["golden", "bless", "--state-dir", str(tmp_path / "state"), "--baseline",
                 str(blocker / "base.json")]) == 2
    assert one_error_line(capsys.readouterr().err).startswith(f"mosaic-diag: error: {blocker / 'base.json'}: ")
    assert main(["predeploy", "--only", "settings", "--junit", str(blocker / "p.xml")]) in (2,)
    assert "p.xml: cannot write" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_closed_stdout_is_one_line(tmp_path: Path, fmt: str) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "labels", "--format", fmt],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    proc.stdout.close()  # the reader went away before the first byte (`| head -0`)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 2
    assert one_error_line(err) == "mosaic-diag: error: output closed early (broken pipe)"



SAMPLE_LOG = Path(__file__).resolve().parents[1] / "examples" / "logs" / "render-sample.log"
SWALLOWS = "def f(conn):\n    try:\n        conn.execute('SELECT 1')\n    except Exception:\n        pass\n"


@pytest.mark.parametrize("args", [["labels"], ["triage", str(SAMPLE_LOG)], ["lint", "--no-cache", "bad.py"]],
                         ids=["typer", "triage-fast-path", "lint-fast-path"])
def test_stdout_closed_before_the_start_is_one_line(tmp_path: Path, args: list[str]) -> None:
    """`cmd >&-`: Python starts with no sys.stdout at all (None), not a broken pipe."""
    (tmp_path / "bad.py").write_text(SWALLOWS)
    command = " ".join([sys.executable, "-m", "mosaic_diag", *(f"'{a}'" for a in args)]) + " >&-"
    r = subprocess.run(["sh", "-c", command], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2, r.stderr
    assert [line for line in r.stderr.splitlines() if line.startswith("mosaic-diag: error:")] == [
        "mosaic-diag: error: output closed early (broken pipe)"], r.stderr
    assert "Traceback" not in r.stderr


def test_lint_into_a_closed_pipe_says_so_as_every_command(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(SWALLOWS)
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "lint", "--no-cache", "bad.py"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    proc.stdout.close()  # `| head -0`
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 2
    assert [line for line in err.splitlines() if line.startswith("mosaic-diag: error:")] == [
        "mosaic-diag: error: output closed early (broken pipe)"], err
    assert "Traceback" not in err


# -- rules' patterns on pathological lines (held-out round 13) -------------------------------------
# A 500 KB line built against each pattern family round 13 added is classified in one pass (linear: the
# suite's timeout is the bound, no test measures time), and the label is still read where it belongs.
HALF_MB = 500_000


@pytest.mark.parametrize(("text", "label"), [
    # python-decouple's wordings after a half-megabyte name, and repeated without their ending
    ("x" * HALF_MB + " not found. Declare it as envvar or define a default value.", "ENV_VAR_MISSING"),
    ("ERROR " + "CIS_TABLE option not found and default value " * (HALF_MB // 45 + 1), "UNKNOWN_ERROR"),
    # LinkedIn and an anti-bot status on one line: a run of statuses before the name, names before a status,
    # and a name with a half-megabyte digit run that holds no status
    ("ERROR " + "403 Client Error " * (HALF_MB // 17) + "linkedin", "LINKEDIN_SCRAPE_BLOCKED"),
    ("ERROR 429 Client Error " + "linkedin " * (HALF_MB // 9), "LINKEDIN_SCRAPE_BLOCKED"),
    ("ERROR linkedin " + "4" * HALF_MB, "UNKNOWN_ERROR"),
    # pgvector's dimension check: a half-megabyte number, and the wording repeated
    ("ValueError: expected " + "1" * HALF_MB + " dimensions, not 3", "UNKNOWN_ERROR"),
    ("ValueError: " + "expected 1536 dimensions, not " * (HALF_MB // 30) + "3072", "TYPE_MISMATCH"),
], ids=["decouple-name", "decouple-repeated", "statuses-then-linkedin", "linkedin-repeated", "linkedin-digits",
        "pgvector-number", "pgvector-repeated"])
def test_round_13_patterns_read_a_half_megabyte_line_in_one_pass(text: str, label: str) -> None:
    from mosaic_diag.classifier.classify import Classifier

    assert len(text) >= HALF_MB - 100
    assert Classifier.default().classify_text(text).label == label


# -- round 16's patterns ----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "label"), [
    # Node's ENOENT: many before the uploads path, and one before a half-megabyte path with no closing quote
    ("Error: " + "ENOENT, open 'a' " * (HALF_MB // 16) + "ENOENT, open 'uploads/x.png'", "UPLOAD_PATH_MISSING"),
    ("Error: ENOENT, open '" + "a" * HALF_MB, "UNKNOWN_ERROR"),
    # a Hub download: hosts repeated before a cross-encoder's path, and a half-megabyte path segment
    ("ProxyError: " + "huggingface.co/" * (HALF_MB // 15) + "cross-encoder/m/resolve/main/config.json",
     "RERANKER_UNAVAILABLE"),
    ("ProxyError: huggingface.co/" + "a" * HALF_MB, "UNKNOWN_ERROR"),
    ("ValueError: " + "Unrecognized model in " * (HALF_MB // 22) + "/m/cross-encoder/x", "RERANKER_UNAVAILABLE"),
    # the content-filter wording across a 3 KB wrap (the rules read a line's first and last 16 KiB: a half-megabyte
    # run after it), and PostgreSQL's privilege wording repeated
    ("API Error: 400 Output" + " " * 3_000 + "blocked by content filtering policy " + "x" * HALF_MB,
     "ANTHROPIC_CONTENT_FILTERED"),
    ("ERROR:  " + "permission denied for " * (HALF_MB // 22) + "table docs", "PG_ACCESS_DENIED"),
], ids=["enoent-repeated", "enoent-open-quote", "hub-hosts-repeated", "hub-long-segment", "unrecognized-repeated",
        "content-filter-wrap", "privilege-repeated"])
def test_round_16_patterns_read_a_half_megabyte_line_in_one_pass(text: str, label: str) -> None:
    from mosaic_diag.classifier.classify import Classifier

    assert len(text) >= HALF_MB - 100
    assert Classifier.default().classify_text(text).label == label


# -- round 19's patterns ----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "label"), [
    # a migration's not-null wording: quoted names repeated before it, and a half-megabyte name with no closing quote
    ('ERROR:  ' + 'column "a" ' * (HALF_MB // 11) + 'column "b" contains null values', "TYPE_MISMATCH"),
    ('ERROR:  column "' + "a" * HALF_MB, "UNKNOWN_ERROR"),
    # Anthropic's older rate-limit wording repeated without its end, and then whole (its docs' host attributes it)
    ("https://docs.anthropic.com/en/api/rate-limits " + "Number of request tokens has " * (HALF_MB // 29)
     + "exceeded your per-minute rate limit", "ANTHROPIC_RATE_LIMIT"),
    ("https://docs.anthropic.com " + "Number of " + "x " * (HALF_MB // 2), "UNKNOWN_ERROR"),
], ids=["not-null-names-repeated", "not-null-open-quote", "anthropic-older-repeated", "anthropic-older-long-gap"])
def test_round_19_patterns_read_a_half_megabyte_line_in_one_pass(text: str, label: str) -> None:
    from mosaic_diag.classifier.classify import Classifier

    assert len(text) >= HALF_MB - 100
    assert Classifier.default().classify_text(text).label == label


# -- round 20's patterns ----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "label"), [
    # libpq's syntax-error token repeated before the quoted query holding MySQL's AUTO_INCREMENT, and a half-megabyte
    # quoted query that holds no MySQL- or SQLite-only syntax
    ('ERROR:  ' + 'syntax error at or near "(" ' * (HALF_MB // 28) + 'LINE 1: id int(11) NOT NULL AUTO_INCREMENT,',
     "SQL_DIALECT_ERROR"),
    ('ERROR:  syntax error at or near "(" LINE 1: ' + "id int(11) " * (HALF_MB // 11), "UNKNOWN_ERROR"),
], ids=["syntax-error-repeated", "quoted-query-long"])
def test_round_20_patterns_read_a_half_megabyte_line_in_one_pass(text: str, label: str) -> None:
    from mosaic_diag.classifier.classify import Classifier

    assert len(text) >= HALF_MB - 100
    assert Classifier.default().classify_text(text).label == label


# -- round 22's patterns ----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "label"), [
    # `linkedin` inside host names: a half-megabyte run of another API's host names before its status, one host
    # label of half a megabyte (no DNS label is longer than 63), and LinkedIn named by the record many times
    ("ERROR " + "linkedin-api8.p.rapidapi.com " * (HALF_MB // 29) + "403 Forbidden", "UNKNOWN_ERROR"),
    ("ERROR linkedin-" + "a" * HALF_MB + ".p.rapidapi.com 403 Forbidden", "UNKNOWN_ERROR"),
    ("ERROR " + "linkedin_get_error " * (HALF_MB // 19) + "403 Client Error", "LINKEDIN_SCRAPE_BLOCKED"),
    # a social login's endpoint after a run of linkedin.com paths, before the status
    ("ERROR " + "linkedin.com/" * (HALF_MB // 13) + "v2/me 403 Forbidden", "UNKNOWN_ERROR"),
    # nginx's too-large-body wording repeated without its end, then whole; 413's phrases run together
    ("[error] " + "client intended to send too large " * (HALF_MB // 34) + "body: 9 bytes", "UPLOAD_SIZE_EXCEEDED"),
    ("[error] " + "Payload Too " * (HALF_MB // 12), "UNKNOWN_ERROR"),
], ids=["linkedin-hosts-repeated", "linkedin-long-label", "linkedin-named-repeated", "linkedin-paths-then-login",
        "nginx-body-repeated", "payload-too-repeated"])
def test_round_22_patterns_read_a_half_megabyte_line_in_one_pass(text: str, label: str) -> None:
    from mosaic_diag.classifier.classify import Classifier

    assert len(text) >= HALF_MB - 100
    assert Classifier.default().classify_text(text).label == label


# -- round 25's patterns ----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "label"), [
    # a reranker's id refused by transformers: the word repeated before the refusal, and an id too long between them
    ("OSError: " + "rerank" * (HALF_MB // 6) + " is not a local folder and is not a valid model identifier",
     "RERANKER_UNAVAILABLE"),
    ("OSError: rerank" + "a" * HALF_MB + " is not a local folder and is not a valid model identifier", "UNKNOWN_ERROR"),
    # libpq's option checks: the option's name repeated before its value, a half-megabyte value before `invalid when`
    ("OperationalError: " + "invalid channel_binding " * (HALF_MB // 24) + 'value: "x"', "PG_URL_MALFORMED"),
    ('OperationalError: sslmode value "' + "a" * HALF_MB + '" invalid when SSL support is not compiled in',
     "UNKNOWN_ERROR"),
    # Azure's filter sentence and the Anthropic SDKs' guard repeated without their ends, then whole
    ("Error code: 400 - " + "filtered due to the prompt triggering Azure OpenAI's " * (HALF_MB // 53)
     + "content management policy", "OPENAI_CONTENT_FILTERED"),
    ("ValueError: " + "Streaming is required for operations that may take longer than 10 " * (HALF_MB // 66)
     + "minutes", "ANTHROPIC_ERROR"),
], ids=["reranker-id-repeated", "reranker-id-long", "libpq-option-repeated", "libpq-value-long",
        "azure-filter-repeated", "anthropic-guard-repeated"])
def test_round_25_patterns_read_a_half_megabyte_line_in_one_pass(text: str, label: str) -> None:
    from mosaic_diag.classifier.classify import Classifier

    assert len(text) >= HALF_MB - 100
    assert Classifier.default().classify_text(text).label == label


# -- round 26's patterns ----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "label"), [
    # OpenAI's TPM sentence and its organization check repeated without their ends, then whole; a model's name half
    # a megabyte long
    ("RateLimitError: " + "Request too large for gpt-4o " * (HALF_MB // 29) + "on tokens per min (TPM)",
     "OPENAI_RATE_LIMIT"),
    ("Request too large for gpt-4o" + "a" * HALF_MB + " in organization org-x on tokens per min", "UNKNOWN_ERROR"),
    ("400 " + "Your organization must be verified to " * (HALF_MB // 38) + "stream. https://platform.openai.com/x",
     "OPENAI_ERROR"),
    # langchain's missing-key wording repeated before its variable, and a key's name half a megabyte long (a line that
    # long is read at its start and end: the model's and the key's names are cut, so their sentences are not read)
    ("ValueError: " + "Did not find anthropic_api_key, please add an environment variable " * (HALF_MB // 60)
     + "`ANTHROPIC_API_KEY`", "ENV_VAR_MISSING"),
    ("ValueError: Did not find " + "a" * HALF_MB + ", please add an environment variable `X_KEY`", "UNKNOWN_ERROR"),
    # the CrossEncoder's constructor named over and over before its complaint
    ("TypeError: " + "CrossEncoder.__init__() " * (HALF_MB // 24) + "got an unexpected keyword argument 'x'",
     "RERANKER_UNAVAILABLE"),
], ids=["tpm-repeated", "tpm-model-long", "org-verify-repeated", "langchain-key-repeated", "langchain-key-long",
        "crossencoder-repeated"])
def test_round_26_patterns_read_a_half_megabyte_line_in_one_pass(text: str, label: str) -> None:
    from mosaic_diag.classifier.classify import Classifier

    assert len(text) >= HALF_MB - 100
    assert Classifier.default().classify_text(text).label == label



_R27_ERR = "requests.exceptions.HTTPError: 404 Client Error: Not Found for url: https://api.example.org/boards/x\n"


@pytest.mark.parametrize("text, label", [
    # the job-board module's name is read in a frame's file only: a call's source line holding `_board_` over and
    # over, and a file path half a megabyte long of near misses (`xboard_`), each read in one pass
    ('Traceback (most recent call last):\n  File "/srv/app/client.py", line 3, in get_board_sections\n    '
     + "x._board_(" * (HALF_MB // 10) + "\n" + _R27_ERR, "UNKNOWN_ERROR"),
    ('Traceback (most recent call last):\n  File "/srv/app/' + "xboard_" * (HALF_MB // 7) + '", line 3, in f\n'
     "    requests.get(url)\n" + _R27_ERR, "UNKNOWN_ERROR"),
], ids=["board-call-repeated", "board-path-long"])
def test_round_27_patterns_read_a_half_megabyte_line_in_one_pass(text: str, label: str) -> None:
    from mosaic_diag.classifier.classify import Classifier

    assert len(text) >= HALF_MB - 100
    assert Classifier.default().classify_text(text).label == label

# -- round 28's patterns ----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "label"), [
    # docker's flag at false over and over, then set (the lookahead past `OOMKilled` is four characters at most)
    ('"OOMKilled": false, ' * (HALF_MB // 20) + '"OOMKilled": true', "RENDER_OUT_OF_MEMORY"),
    ('"OOMKilled": false, ' * (HALF_MB // 20), "UNKNOWN_ERROR"),
    # transformers' offline refusal: a reranker's id repeated before it, and an id too long between them
    ("OSError: " + "rerank" * (HALF_MB // 6) + " is not the path to a directory containing a file named config.json",
     "RERANKER_UNAVAILABLE"),
    ("OSError: rerank" + "a" * HALF_MB + " is not the path to a directory containing a file named config.json",
     "UNKNOWN_ERROR"),
], ids=["oomkilled-false-repeated-then-true", "oomkilled-false-repeated", "reranker-offline-id-repeated",
        "reranker-offline-id-long"])
def test_round_28_patterns_read_a_half_megabyte_line_in_one_pass(text: str, label: str) -> None:
    from mosaic_diag.classifier.classify import Classifier

    assert len(text) >= HALF_MB - 100
    assert Classifier.default().classify_text(text).label == label

# -- round 29's patterns ----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "label"), [
    # an edge's numeric 5xx code over and over in openai<1.0's error
    ("openai.error.APIError: " + '"code": 502, ' * (HALF_MB // 13), "OPENAI_SERVER_ERROR"),
    # Claude Code's model wording with its words' gaps repeated (a near miss: the model's id attributes it only)
    ("There's an issue " + "with " * (HALF_MB // 5) + "the selected model (claude-x). It may not exist",
     "ANTHROPIC_ERROR"),
], ids=["numeric-code-repeated", "model-wording-gaps-repeated"])
def test_round_29_patterns_read_a_half_megabyte_line_in_one_pass(text: str, label: str) -> None:
    from mosaic_diag.classifier.classify import Classifier

    assert len(text) >= HALF_MB - 100
    assert Classifier.default().classify_text(text, level="ERROR").label == label

# -- round 31's patterns ----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "label"), [
    # aiohttp's host with its port repeated (each `:443` a place to try the port and ` ssl:` after it), with and
    # without the ` ssl:` (a line's middle past its first and last 16 KiB is not read: OpenAI's host, no wording)
    ("Cannot connect to host api.openai.com" + ":443" * (HALF_MB // 4) + " ssl:default", "OPENAI_ERROR"),
    ("Cannot connect to host api.openai.com" + ":443" * (HALF_MB // 4), "OPENAI_ERROR"),
    # requests' read timeout of a job board with a host's quote never closed
    ("HTTPSConnectionPool(host='api.ashbyhq.com" + "a" * HALF_MB + ", port=443): Read timed out.", "UNKNOWN_ERROR"),
], ids=["aiohttp-port-repeated", "aiohttp-port-repeated-no-ssl", "pool-host-unclosed"])
def test_round_31_patterns_read_a_half_megabyte_line_in_one_pass(text: str, label: str) -> None:
    from mosaic_diag.classifier.classify import Classifier

    assert len(text) >= HALF_MB - 100
    assert Classifier.default().classify_text(text, level="ERROR").label == label

# -- terminal controls ----------------------------------------------------------------------------

# a reset (RIS), a DCS string, a C1 CSI (clear screen), a status report the terminal would type back, an OSC 52
# clipboard write, backspaces that hide text, a bell, DEL, a bidi override
HOSTILE = ("could not connect A\x1bcB \x1bP1;2qD\x1b\\ \u009b2J \x1b[6n \x1b]52;c;cm0gLXJm\x07 x\x08\x08y "
           "\x7f \u202eevil")
_RAW_CONTROLS = ("\x1bc", "\x1bP", "\u009b", "\x1b[6n", "\x1b]", "\x07", "\x08", "\x7f", "\u202e")


def _no_raw_controls(text: str) -> None:
    assert not [c for c in _RAW_CONTROLS if c in text], repr(text)


@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])
def test_hostile_log_lines_cannot_drive_the_terminal(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                     fmt: str) -> None:
    log = tmp_path / "hostile.log"
    log.write_text(f"2026-12-06T10:00:00Z ERROR psycopg2.OperationalError: {HOSTILE}\n", encoding="utf-8")
    code = main(["triage", str(log), "--format", fmt])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    _no_raw_controls(out + err)
    assert "could not connect A" in out  # the line is still shown, its controls as escapes
    if fmt == "json":
        shown = json.dumps(json.loads(out), ensure_ascii=False)  # valid JSON, the controls in its strings kept
        assert "\u009b2J" in shown and "\u202eevil" in shown
    else:
        assert "\\u001bc" in out and "\\u009b2J" in out


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_a_hostile_file_name_cannot_drive_the_terminal_through_lint(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                   fmt: str) -> None:
    """A repository's own text reaches lint's output (a file name, a finding's SQL): through the same filter as
    every command's, so a file named with controls cannot drive the terminal of whoever lints the checkout."""
    from mosaic_diag.entry import main as entry_main

    name = "m\x1b]0;pwned\x07\x1b[2J\u202e.py"
    (tmp_path / name).write_text("def f():\n    try:\n        pass\n    except Exception:\n        pass\n")
    code = entry_main(["lint", str(tmp_path), "--no-cache", "--format", fmt])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "MD006" in out
    _no_raw_controls(out + err)
    if fmt == "json":
        json.loads(out)


def test_only_the_sequences_rich_writes_pass() -> None:
    from mosaic_diag.platform.terminal import neutralize_controls

    kept = "\x1b[1;31mred\x1b[0m\r\x1b[2K\x1b[1A\x1b[?25l\x1b[?25h\tok\n"
    assert neutralize_controls(kept) == kept
    assert neutralize_controls(HOSTILE + kept).endswith(kept)
    _no_raw_controls(neutralize_controls(HOSTILE + kept))
    assert neutralize_controls("café – naïve 日本") == "café – naïve 日本"


@pytest.mark.parametrize("fmt", ["table", "markdown", "json", "html", "html-o"])
def test_a_lone_surrogate_escaped_in_a_json_record_is_shown_not_fatal(tmp_path: Path, fmt: str) -> None:
    """A JSON log record may spell a lone surrogate (`"\\ud800"`): json.loads gives a str UTF-8 cannot encode.
    Every format (and -o) shows it as its escape; no traceback, the JSON output stays JSON; -o's file
    goes through the same net as stdout (a raw ESC of the line is an escape in the file too)."""
    log = tmp_path / "app.log"
    log.write_text('{"timestamp": "2026-12-06T10:00:00Z", "level": "error", "message": '
                   '"bad \\ud800 high \\udc00 low \\u001b]0;title\\u0007 ok"}\n', encoding="utf-8")
    out_file = tmp_path / "r.html"
    args = ["--format", "html", "-o", str(out_file)] if fmt == "html-o" else ["--format", fmt]
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", str(log), *args, "--no-playbooks"],
                       capture_output=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 1 and b"Traceback" not in r.stderr, r.stderr.decode(errors="replace")
    out = (out_file.read_bytes() if fmt == "html-o" else r.stdout).decode("utf-8")  # valid UTF-8
    assert "\\ud800" in out and "\\udc00" in out and "\x1b" not in out and "\x07" not in out
    if fmt == "json":
        assert "bad \ud800 high" in json.loads(out)["events"][0]["message"]


@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])
def test_a_stored_answer_cannot_move_the_cursor_up_and_erase_what_was_printed(tmp_path: Path, fmt: str) -> None:
    """A dead letter is a model's answer (a prompt can shape it): its cursor-up and erase-line sequences were
    kept as Rich's own, so `dlq show` on a terminal could erase the lines above and print others there. Only a
    renderer of ours (a live view's redraw) may move the cursor; colours stay."""
    from mosaic_diag.runtime.guard import open_dead_letters

    db = tmp_path / "d.sqlite"
    store = open_dead_letters(db)
    store.add(payload='{"answer": "ok"}\x1b[1A\x1b[2K\x1b[1A\x1b[K\x1b[2Ksafe to deploy', error="bad \x1b[3D\x1b[H x",
              label="MODEL_ANSWER_INVALID", model="m", provider="openai")
    store.close()
    r = cli("dlq", "show", "1", "--db", str(db), "--format", fmt, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "safe to deploy" in r.stdout
    for move in ("\x1b[1A", "\x1b[2K", "\x1b[K", "\x1b[3D", "\x1b[H"):
        assert move not in r.stdout + r.stderr, repr(r.stdout)


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_a_stored_answers_carriage_return_cannot_write_over_its_line(tmp_path: Path, fmt: str) -> None:
    """A carriage return of its own goes back to the line's start: `dlq show --format markdown` wrote the
    letter's as it was, so `{"answer": "bad"}\\r{"answer": "ok"}` showed the second answer alone on a
    terminal. It is an escape outside a renderer's own redraw; a CRLF stays a line end."""
    from mosaic_diag.platform.terminal import neutralize_controls
    from mosaic_diag.runtime.guard import open_dead_letters

    db = tmp_path / "d.sqlite"
    store = open_dead_letters(db)
    store.add(payload='{"answer": "bad"}\r{"answer": "ok"}      \r\nnext', error="schema: bad\rok        ",
              label="MODEL_ANSWER_INVALID", model="m", provider="openai")
    store.close()
    r = run_cli(["dlq", "show", "1", "--db", str(db), "--format", fmt], cwd=tmp_path, text=False)
    out = r.stdout.decode("utf-8")  # (bytes: text=True would read a CR as a line end)
    assert r.returncode == 0, r.stderr
    assert '{"answer": "bad"}' in out and "schema: bad" in out
    assert "\r" not in out.replace("\r\n", "\n"), repr(out)
    assert neutralize_controls("a\rb\r\n", moves=False) == "a\\u000db\r\n"
    assert neutralize_controls("a\rb\r\n", keep_csi=False) == "a\\u000db\r\n"


@pytest.mark.parametrize("args", [["show", "99999999999999999999999"], ["show", "9223372036854775808"],
                                  ["replay", "99999999999999999999999", "--validator", "pydantic:BaseModel"]])
def test_a_dead_letter_id_past_64_bits_is_none_not_a_traceback(tmp_path: Path, args: list[str]) -> None:
    """An id no SQLite integer can hold is no letter there (one line, exit 2): sqlite3 raised OverflowError."""
    from mosaic_diag.runtime.guard import open_dead_letters

    db = tmp_path / "d.sqlite"
    store = open_dead_letters(db)
    store.add(payload="{}", error="bad", label="MODEL_ANSWER_INVALID", model="m", provider="openai")
    assert store.get(2**63) is None and store.get(-2**63 - 1) is None and store.get(1) is not None
    store.close()
    r = cli("dlq", *args, "--db", str(db), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr == f"mosaic-diag: error: no dead letter {args[1]} in {db}\n"


def test_a_value_cannot_start_a_header_line_of_a_stacked_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A table too wide for the terminal is printed as `Header: value` lines; a value's own line break (a committed
    file's name, in predeploy's lint finding) or a line it wrapped onto started at the left edge, where it read as
    a field of its own (`Status: ok`). The lines after a value's first are indented under it."""
    set_git_env(monkeypatch)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "m\nStatus: ok\nID: MD-OK.py").write_text(
        "def f():\n    try:\n        pass\n    except Exception:\n        pass\n")
    commit_all(tmp_path, "add")
    r = run_cli(["predeploy", "--only", "lint"], cwd=tmp_path, env={"COLUMNS": "40"})
    lines = r.stdout.splitlines()
    assert r.returncode == 1 and "Status: error" in lines and "ID: MD-LINT001" in lines, r.stdout
    assert "Status: ok" not in lines and not [line for line in lines if line.startswith("ID: MD-OK")], r.stdout
    assert "  Status: ok" in lines and all(len(line) <= 40 for line in lines), r.stdout


def test_rich_keeps_its_own_moves_and_escapes_the_texts() -> None:
    """A live view's redraw (cursor up, erase line) passes the guard; a control inside the text it lays out
    does not."""
    import io

    from rich.control import Control

    from mosaic_diag.commands.guard import GuardedStdout
    from mosaic_diag.render.console import SafeConsole

    buf = io.StringIO()
    console = SafeConsole(file=GuardedStdout(buf), force_terminal=True, width=80,  # type: ignore[arg-type]
                          highlight=False)
    console.control(Control.move(0, -1))
    console.print("[bold]ok[/] \x1b[2K\x1b]0;t x")
    out = buf.getvalue()
    assert out.startswith("\x1b[1A") and "\x1b[1m" in out
    assert "\\u001b[2K\\u001b]0;t x" in out and "\x1b]" not in out and "\x1b[2K" not in out


def test_ctrl_c_in_a_typer_command_says_interrupted(tmp_path: Path) -> None:
    """Typer turns a KeyboardInterrupt into a silent Exit(130): `golden` (any command but the fast paths) exited
    130 with nothing said. The app here answers the start's probe of /health, then accepts the case's request and
    never answers: the run is surely under way (the probe left hanging, as before, timed out on a busy machine
    before the signal came: exit 3)."""
    import signal
    import socket

    (tmp_path / "cases.yml").write_text("cases:\n  - id: a\n    path: /x\n    timeout: 600\n")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(120)
        port = server.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "golden", "--url", f"http://127.0.0.1:{port}",
                                 "--cases", "cases.yml", "--junit", "junit.xml", "--state-dir", "st",
                                 "--timeout", "600"],  # (the start's probe too: a busy machine is slow)
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        while True:  # answer every probe of /health; the first other request is the case's
            conn, _ = server.accept()
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                assert chunk, request
                request += chunk
            if not request.startswith(b"GET /health "):
                break
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            conn.close()
        with conn:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert one_error_line(err) == "mosaic-diag: error: interrupted"
    assert not (tmp_path / "junit.xml").exists()


# -- round 21: PostgreSQL's messages in other languages (the catalog's translations) ---------------------------------
@pytest.mark.parametrize(("text", "label"), [
    # a translation's word repeated before the message, and after an opening quote a half-megabyte name (a
    # translation's regex runs on windows around its word's first and last sights, its arguments bounded)
    ("FEHLER:  " + "Relation »x« existiert " * (HALF_MB // 22) + "Relation »users« existiert nicht", "MISSING_TABLE"),
    ("FEHLER:  Relation »" + "a" * HALF_MB, "UNKNOWN_ERROR"),
    ('错误:  ' + '关系 "x 不存在 ' * (HALF_MB // 10) + '关系 "users" 不存在', "MISSING_TABLE"),
    ("FATAL:  " + "Authentifizierung " * (HALF_MB // 18) + "Passwort-Authentifizierung für Benutzer »app« "
     "fehlgeschlagen", "PG_AUTH_FAILED"),
], ids=["de-repeated", "de-open-quote", "zh-repeated", "de-auth-word-repeated"])
def test_round_21_translations_read_a_half_megabyte_line_in_one_pass(text: str, label: str) -> None:
    from mosaic_diag.classifier.classify import Classifier

    assert len(text) >= HALF_MB - 100
    assert Classifier.default().classify_text(text).label == label


def test_no_unanchored_url_scheme_pattern_is_unbounded() -> None:
    """`\\b[a-z][a-z0-9+.-]*://` tried at every word start of `-a-a-a…` runs to the line's end and back before it
    fails: half a megabyte of it took 2.2 s to classify (hosts, the URL blanking) and the redactor the same. A
    URL scheme is short: every unanchored scheme pattern bounds it (`{0,39}`), so the work is linear."""
    import re

    root = Path(__file__).resolve().parents[1] / "mosaic_diag"
    unbounded = re.compile(r"(?<!\^)\[a-zA-Z\]\[a-zA-Z0-9\+\.-\]\*://|(?<!\^)\[a-z\]\[a-z0-9\+\.-\]\*://")
    found = [f"{path.relative_to(root)}:{n}" for path in sorted(root.rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if unbounded.search(line)]
    assert found == []


# -- a prefix every traceback line carries (uvicorn's `ERROR:    `), peeled before the traceback is read --------------
@pytest.mark.parametrize(("text", "label"), [
    # a half-megabyte line of frame openings behind the prefix, and as many frames each behind it
    ("ERROR:      " + 'File "' * (HALF_MB // 6), "UNKNOWN_ERROR"),
    ('ERROR:      File "embedding.py", line 1, in embed\n' * (HALF_MB // 50) + "ERROR:    RuntimeError: boom",
     "EMBEDDING_GENERATION_FAILED"),
    # headers repeated on one line, and a frame wrapped after its file with a half-megabyte name
    ("ERROR:    " + "Traceback (most recent call last):" * (HALF_MB // 34), "UNKNOWN_ERROR"),
    ('ERROR:      File "' + "a" * HALF_MB + '",\nERROR:    RuntimeError: boom', "UNKNOWN_ERROR"),
], ids=["frame-openings", "many-frames", "headers", "wrapped-frame"])
def test_a_common_prefix_is_found_in_one_pass_on_half_a_megabyte(text: str, label: str) -> None:
    from mosaic_diag.classifier.classify import Classifier

    assert len(text) >= HALF_MB - 100
    assert Classifier.default().classify_text(text).label == label


_STATE_RUNS = {  # state file under the repository -> (the command that reads it, exit code, what it says)
    ".mosaic-diag/watch-state.json": (["watch", "--file", "app.log", "--from-start", "--format", "json"], 2,
                                      "cannot read the watch state: not a regular file"),
    ".mosaic-diag/deploys.jsonl": (["manifest", "history"], 2, "cannot read the deploy history: not a regular file"),
    "st/golden-last-run.json": (["golden", "--cases", "cases.yml", "--url", "http://127.0.0.1:9", "--only-failed",
                                 "--state-dir", "st"], 2, "cannot read last golden run"),
    ".mosaic-diag/actions.json": (["playbook", "run", "PG_CONNECTION_FAILED", "--context", "incident.json",
                                   "--playbooks", "books", "--execute"], 1,
                                  "unreadable action state (not a regular file"),
    ".mosaic-diag/flags.json": (["playbook", "run", "PG_CONNECTION_FAILED", "--context", "incident.json",
                                 "--playbooks", "books", "--execute"], 1,
                                "cannot read the flags file (not a regular file"),
}


@pytest.mark.parametrize("special", ["device", "fifo"])
@pytest.mark.parametrize("state", sorted(_STATE_RUNS))
def test_a_state_file_that_is_no_regular_file_is_refused_not_read(tmp_path: Path, state: str, special: str) -> None:
    """The toolkit's own state files (the watch state, the deploy history, golden's last run, the playbooks' action
    state and flags file), committed as a link to /dev/zero, were read without end (all memory: the kernel killed
    the watch), and as a FIFO waited for a writer for ever; now each is refused as that file's problem, one line
    (or, for the action state and the flags file, the run goes on and says so)."""
    import resource

    from tests.test_actions import PLAYBOOK

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "app.log").write_text("2026-01-01 12:00:00,000 ERROR api: boom\n")
    (tmp_path / "cases.yml").write_text("cases:\n  - {id: a, path: /x}\n")
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "pg.yml").write_text(PLAYBOOK)
    (tmp_path / "incident.json").write_text(json.dumps({"stage": "runtime", "rate_5m": 6.5, "count": 4}))
    path = tmp_path / state
    path.parent.mkdir(exist_ok=True)
    if special == "device":
        path.symlink_to("/dev/zero")
    else:
        os.mkfifo(path)
    args, code, says = _STATE_RUNS[state]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_DIAG_")}
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", *args], capture_output=True, text=True, cwd=tmp_path,
                       input="y\n", env=env, timeout=60,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)))
    assert r.returncode == code, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and says in r.stdout + r.stderr, r.stdout + r.stderr
    if code == 2:
        said = one_error_line(r.stderr)
        assert state in said and said.endswith("not a regular file (a device, a FIFO, a socket): not read"), said


def test_a_watch_lock_committed_as_a_link_is_refused_and_its_target_never_made(tmp_path: Path) -> None:
    """The watch's lock file was opened with `open(..., "a+")`, which follows a link: a committed, dangling
    `.mosaic-diag/watch-state.json.lock -> <anywhere>` had the watch create the file it points at. Now the lock is
    refused as that file's problem, one line, exit 2, and nothing is made."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "app.log").write_text("2026-01-01 12:00:00,000 ERROR api: boom\n")
    planted = tmp_path / "outside" / "made-by-the-watch"
    planted.parent.mkdir()
    lock = tmp_path / ".mosaic-diag" / "watch-state.json.lock"
    lock.parent.mkdir()
    lock.symlink_to(planted)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_DIAG_")}
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "watch", "--file", "app.log", "--from-start", "--format",
                        "json"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stdout + r.stderr
    said = one_error_line(r.stderr)
    assert "watch-state.json.lock" in said and "is a symlink" in said, said
    assert not planted.exists()


_DEEP_JSON = "[" * 100_000 + "]" * 100_000
_DEEP_RECORD = json.dumps({"id": 1, "recorded_at": "2026-01-01T00:00:00+00:00", "commit": "a" * 40, "branch": "main",
                           "status": "deployed", "note": None, "manifest": _DEEP_JSON})


@pytest.mark.parametrize(("place", "text", "args", "says"), [
    (".mosaic-diag/watch-state.json", _DEEP_JSON, ["watch", "--file", "app.log", "--from-start"],
     ".mosaic-diag/watch-state.json: corrupt watch state (JSON nested too deeply); move it away to start afresh"),
    (".mosaic-diag/deploys.jsonl", _DEEP_JSON + "\n", ["manifest", "history"],
     ".mosaic-diag/deploys.jsonl:1: bad deploy record: JSON nested too deeply"),
    (".mosaic-diag/deploys.jsonl", _DEEP_RECORD + "\n", ["manifest", "history"],
     ".mosaic-diag/deploys.jsonl:1: bad deploy record: manifest is JSON nested too deeply"),
    ("deep.json", _DEEP_JSON, ["manifest", "diff", "deep.json", "deep.json"],
     "deep.json: invalid JSON: nested too deeply"),
    ("deep.json", _DEEP_JSON, ["manifest", "record", "--manifest", "deep.json"],
     "deep.json: invalid JSON: nested too deeply"),
], ids=["watch-state", "deploy-record", "deploy-record-manifest", "manifest-diff", "manifest-record"])
def test_json_nested_past_the_decoder_is_that_files_error(tmp_path: Path, place: str, text: str, args: list[str],
                                                          says: str) -> None:
    """The watch state, a deploy record (or the manifest text in one) and a manifest file nested past the decoder
    were `mosaic-diag: error: input nested too deeply`: no file, no line, the operator left to guess which."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "app.log").write_text("2026-01-01 12:00:00,000 ERROR api: boom\n")
    (tmp_path / place).parent.mkdir(exist_ok=True)
    (tmp_path / place).write_text(text)
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert one_error_line(r.stderr).endswith(says), r.stderr


def test_a_context_that_is_a_device_is_refused_at_the_limit_and_one_from_a_pipe_is_read(tmp_path: Path) -> None:
    """`playbook run --context` checked the file's size before reading it whole: /dev/zero (or a link to it) reports
    none, and the run read it until the memory ran out. It is read to the limit, whatever it is; a context given
    through a pipe (`--context <(...)`, size none either) is read as before."""
    import resource

    link = tmp_path / "incident.json"
    link.symlink_to("/dev/zero")
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "playbook", "run", "OPENAI_RATE_LIMIT", "--context",
                        str(link), "--dry-run", "--no-gather"], capture_output=True, text=True, cwd=tmp_path,
                       timeout=60, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)))
    assert r.returncode == 2, r.stdout + r.stderr
    assert one_error_line(r.stderr) == f"mosaic-diag: error: {link}: context file larger than 2000000 bytes"
    read, write = os.pipe()
    os.write(write, b'{"label": "OPENAI_RATE_LIMIT", "count_5m": 9}')
    os.close(write)
    try:
        r = cli("playbook", "run", "OPENAI_RATE_LIMIT", "--context", f"/dev/fd/{read}", "--dry-run", "--no-gather",
                "--format", "json", cwd=tmp_path)
    finally:
        os.close(read)
    assert r.returncode == 0 and json.loads(r.stdout)["label"] == "OPENAI_RATE_LIMIT", r.stdout + r.stderr


@pytest.mark.parametrize(("context", "says"), [
    ('"stage": "Deploy"', "stage takes one of startup, deploy, runtime, predeploy, golden; got 'Deploy'"),
    ('"stage": 5', "stage must be a string, got 5"),
    ('"severity": "urgent"', "severity takes one of critical, high, medium, low; got 'urgent'"),
    ('"count_5m": NaN', "invalid JSON: NaN is no JSON number (a number is finite)"),
    ('"count_5m": 1e400', "count_5m must be a number, got inf"),
    ('"context": {"log.lines": -Infinity}', "invalid JSON: -Infinity is no JSON number (a number is finite)"),
    ('"context": {"log.lines": -1e999}', "context fact 'log.lines' must be a finite number, got -inf"),
], ids=["stage-word", "stage-type", "severity", "nan", "inf", "context-infinity", "context-inf"])
def test_a_context_whose_facts_a_condition_cannot_read_is_refused(tmp_path: Path, context: str, says: str) -> None:
    """A context file's `stage` was taken as written, though `--stage` takes only the five words: `"stage": "Deploy"`
    made `stage == 'deploy'` false, and SQL_DIALECT_ERROR's rollback (and every deploy-stage action) was skipped
    without a word; NaN and infinities (Python's reader takes them) made a condition and its negation both false.
    Each is the file's one-line error, exit 2; the words as `--stage` takes them are read."""
    incident = tmp_path / "incident.json"
    incident.write_text('{"label": "SQL_DIALECT_ERROR", "count_5m": 9, ' + context + "}")
    r = cli("playbook", "run", "--context", str(incident), "--dry-run", "--no-gather", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert one_error_line(r.stderr) == f"mosaic-diag: error: {incident}: {says}"
    incident.write_text('{"label": "SQL_DIALECT_ERROR", "count_5m": 9, "stage": "deploy", "severity": "high"}')
    r = cli("playbook", "run", "--context", str(incident), "--dry-run", "--no-gather", "--format", "json", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [a["would_run"] for a in json.loads(r.stdout)["actions"] if a["action"] == "rollback"] == [True]


@pytest.mark.parametrize(("depth", "says"), [
    (100_000, "HEAD:feature_flags.json:2: JSON nested deeper than 100 levels"),  # past the decoder
    (900, "HEAD:feature_flags.json:2: JSON nested deeper than 100 levels"),  # within it, past the walks after it
])
def test_committed_feature_flags_nested_too_deep_are_that_files_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     depth: int, says: str) -> None:
    """A committed feature_flags.json nested past the decoder (or just short of it: the redaction and the manifest's
    JSON recursed past Python's limit after it) ended `manifest generate` / `record` as `input nested too deeply`,
    naming no file; a YAML flags file was already held to 100 levels at its line, and now JSON is too."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "feature_flags.json").write_text('{"beta": true,\n "deep": ' + "[" * depth + "]" * depth + "}\n")
    set_git_env(monkeypatch)
    commit_all(tmp_path, "flags")
    for args in (["manifest", "generate"], ["manifest", "record"]):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2, r.stdout + r.stderr
        assert one_error_line(r.stderr).endswith(says), r.stderr
    assert not (tmp_path / ".mosaic-diag" / "deploys.jsonl").exists()


@pytest.mark.parametrize(("schema", "says"), [
    ("device", "cannot read JSON schema 's.json': not a regular file (a device, a FIFO, a socket): not read"),
    ("past-the-decoder", "cannot read JSON schema 's.json': nested too deeply"),
    ("past-the-walk", "invalid JSON schema: nested too deeply"),
])
def test_a_cases_json_schema_file_that_is_endless_or_too_deep_is_the_cases_error(tmp_path: Path, schema: str,
                                                                                 says: str) -> None:
    """`json_schema: s.json` in a cases file: the schema committed as a link to /dev/zero was read until MemoryError
    (a traceback), one nested past the decoder or past a walk of it (400 levels) ended `golden validate` (and a
    golden run, which loads the cases the same way) as `input nested too deeply`, naming no file; now each is that
    case's error at its line, exit 2."""
    import resource

    path = tmp_path / "s.json"
    if schema == "device":
        path.symlink_to("/dev/zero")
    elif schema == "past-the-decoder":
        path.write_text("[" * 100_000 + "]" * 100_000)
    else:
        path.write_text('{"items": ' * 400 + "{}" + "}" * 400)
    (tmp_path / "c.yml").write_text("cases:\n  - {id: a, path: /x, expect: {json_schema: s.json}}\n")
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "golden", "validate", "c.yml"], capture_output=True,
                       text=True, cwd=tmp_path, timeout=60,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and f"c.yml:2: {says}" in r.stdout + r.stderr, r.stdout + r.stderr
