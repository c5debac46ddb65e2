"""Golden case files: the shipped set validates; every bad file is one file:line error, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mosaic_diag.cli import main
from mosaic_diag.errors import ConfigError
from mosaic_diag.golden import load_cases, validate

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "cases.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_golden_set_is_valid_and_covers_the_issue():
    cases = load_cases([ROOT / "golden"])
    ids = {c.id for c in cases}
    assert {"framework-stuck-in-career", "framework-find-a-job"} <= ids
    assert {f"ps101-step-{n}" for n in range(1, 11)} <= ids
    tags = {t for c in cases for t in c.tags}
    assert {"ps101", "jobs", "safety", "shape", "framework"} <= tags
    first = next(c for c in cases if c.id == "framework-stuck-in-career")
    # defaults merged into the case: path, method, status and the schema from the defaults block
    assert (first.method, first.path, first.json) == ("POST", "/wimd/ask",
                                                       {"prompt": "I feel stuck in my career..."})
    assert first.expect.status == (200,) and first.expect.json_schema["type"] == "object"
    assert first.file.endswith("wimd.yml") and first.line == 14


@pytest.mark.parametrize(("text", "line", "needle"), [
    ("cases:\n  - id: a\n    path: /x\n    expect: {status: 200\n", 5, "invalid YAML"),
    ("cases:\n  - id: a\n    path: /x\n    expect:\n      contians: [x]\n", 5,
     "unknown key 'contians' in expect (did you mean 'contains'?)"),
    ("cases:\n  - id: a\n    path: /x\n    expect:\n      regex: '(unclosed'\n", 5,
     "bad regular expression"),
    ("cases:\n  - id: a\n    path: /x\n    expect:\n      json_path:\n        $.a..b: {exists: true}\n",
     6, "bad JSON path"),
    ("cases:\n  - id: a\n    path: /x\n    expect:\n      json_path:\n        $.a: {equal: 1}\n",
     6, "takes exactly one of exists, equals, matches, not_matches, gt, gte, lt, lte"),
    ("cases:\n  - id: a\n    path: /x\n  - id: a\n    path: /y\n", 4, "duplicate case id 'a'"),
    ("cases:\n  - id: a\n    path: /x\n    expect:\n      json_schema: {type: 12}\n", 5,
     "invalid JSON schema"),
    ("cases:\n  - id: a\n    path: x\n", 3, "`path` starting with /"),
    ("cases:\n  - id: 'a b'\n    path: /x\n", 2, "case needs an `id`"),
    ("cases:\n  - id: a\n    path: /x\n    expect: {status: 999}\n", 4, "HTTP status"),
    ("cases:\n  - id: a\n    path: /x\n    expect: {latency_ms: {p99: 3}}\n", 4, "latency_ms takes"),
    ("defaults:\n  pth: /x\ncases:\n  - id: a\n    path: /x\n", 2, "did you mean 'path'"),
    ("- id: a\n", 1, "a case file is a mapping with `cases:`"),
    ("cases:\n  - id: a\n    path: /x\n    expect:\n      json_path:\n        $.n: {gt: '3'}\n", 6,
     "gt takes a number"),
    ("cases:\n  - id: a\n    path: /x\n    weight: -1\n", 4, "weight must be a number >= 0"),
    ("cases:\n  - id: a\n    path: /x\n    regex_timeout: 0\n", 4,
     "regex_timeout must be a positive number of seconds, got 0"),
    ("cases:\n  - id: a\n    path: /x\n    regex_timeout: 2s\n", 4,
     "regex_timeout must be a positive number of seconds, got '2s'"),
    ("defaults:\n  regex_timeout: -1\ncases:\n  - id: a\n    path: /x\n", 2,
     "regex_timeout must be a positive number of seconds, got -1"),
    ("cases:\n  - id: a\n    path: /x\n    regex_timeout: .inf\n", 4,
     "regex_timeout must be a positive number of seconds, got inf"),
    ("cases:\n  - id: a\n    path: /x\n    regex_timeout: true\n", 4,
     "regex_timeout must be a positive number of seconds, got True"),
    ("cases:\n  - id: a\n    path: /x\n    expect:\n      contains_json: {where: $.a}\n", 5,
     "contains_json takes true or"),
    ("cases:\n  - id: a\n    path: /x\n    expect:\n      contains_json: {schema: {type: 12}}\n", 5,
     "invalid JSON schema"),
])
def test_bad_case_files_name_file_and_line(tmp_path, capsys, text, line, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_cases([path])
    assert info.value.line == line and needle in str(info.value)
    assert main(["golden", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}: " in err and needle in err and "Traceback" not in err


def test_validate_reports_every_error_and_json(tmp_path, capsys):
    path = write(tmp_path, "cases:\n  - id: a\n    path: /x\n    expect: {bogus: 1}\n"
                           "  - id: b\n    path: /y\n    method: FETCH\n")
    assert main(["golden", "validate", str(path), "--format", "json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert [(e["line"], e["message"][:11]) for e in data["errors"]] == [
        (4, "unknown key"), (7, "method must")]


def test_run_with_bad_cases_exits_2_before_contacting_anything(tmp_path):
    path = write(tmp_path, "cases:\n  - id: a\n    path: /x\n    expect: {max_chars: -1}\n")
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "golden", "--url",
                        "http://127.0.0.1:9", "--cases", str(path)],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == f"mosaic-diag: error: {path}:4: max_chars must be a positive integer"


def test_missing_case_path_is_usage_error(tmp_path, capsys):
    assert main(["golden", "validate", str(tmp_path / "nope")]) == 2
    assert f"{tmp_path / 'nope'}: no such file or directory" in capsys.readouterr().err


def test_schema_file_reference_is_resolved_next_to_the_case_file(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({"type": "object", "required": ["a"]}))
    path = write(tmp_path, "cases:\n  - id: a\n    path: /x\n    expect: {json_schema: s.json}\n")
    (case,) = load_cases([path])
    assert case.expect.json_schema == {"type": "object", "required": ["a"]}
    path2 = write(tmp_path, "cases:\n  - id: b\n    path: /x\n    expect: {json_schema: t.json}\n",
                  "other.yml")
    _, errors = validate([path2])
    assert errors and errors[0].line == 4 and "cannot read JSON schema" in errors[0].message


def test_the_configured_cases_are_read_from_the_repository_top_from_a_subdirectory(tmp_path):
    """`golden validate` (and the run) in a subdirectory read `golden/` from the current directory: `golden: no
    such file or directory`; the configured cases are the repository's, named from where the command runs."""
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "golden").mkdir()
    (tmp_path / "golden" / "a.yml").write_text("cases:\n  - id: a\n    path: /a\n  - id: a\n    path: /b\n")
    (tmp_path / "api").mkdir()
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "golden", "validate"], cwd=tmp_path / "api",
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (2, ""), r.stderr
    assert r.stderr == "../golden/a.yml:4: duplicate case id 'a' (first at ../golden/a.yml:2)\n"


def test_a_case_path_that_is_no_file_says_what_it_is(tmp_path, capsys):
    """A symlink loop, a dangling link and /dev/null were each `no such file or directory`."""
    (tmp_path / "loop1.yml").symlink_to(tmp_path / "loop2.yml")
    (tmp_path / "loop2.yml").symlink_to(tmp_path / "loop1.yml")
    (tmp_path / "dangling.yml").symlink_to(tmp_path / "gone.yml")
    for path, says in ((tmp_path / "loop1.yml", "is a symlink that leads nowhere (dangling, or a loop)"),
                       (tmp_path / "dangling.yml", "is a symlink that leads nowhere (dangling, or a loop)"),
                       (Path("/dev/null"), "not a regular file (a device, a FIFO, a socket): not read"),
                       (tmp_path / "gone.yml", "no such file or directory")):
        assert main(["golden", "validate", str(path)]) == 2
        assert capsys.readouterr().err == f"mosaic-diag: error: {path}: {says}\n"


# values YAML reads as types of its own (a date, a timestamp, binary), numbers JSON has not, keys that are no strings,
# headers and paths HTTP does not carry as written: each was valid to `golden validate`, and the run sent (or
# compared) it, the case then an error of the harness's own (`TypeError: Object of type date is not JSON
# serializable`, `UnicodeEncodeError`, `InvalidURL`) reported as the app's UNKNOWN_ERROR
@pytest.mark.parametrize(("body", "line", "needle"), [
    ("    json: {when: 2024-01-01}\n", 4, "json: a date (2024-01-01) at $.when is no JSON value"),
    ("    json: {at: 2001-12-14t21:59:43.10-05:00}\n", 4,
     "json: a timestamp (2001-12-14T21:59:43.100000-05:00) at $.at"),
    ("    json: !!binary aGVsbG8=\n", 4, "json: binary data (b'hello') at $ is no JSON value"),
    ("    json: [1, {b: [.nan]}]\n", 4, "json: nan at $[1].b[0] is no JSON number"),
    ("    json: {1: one}\n", 4, "json: the key 1 at $ is no string"),
    ("    expect:\n      json_path:\n        $.day: {equals: 2024-01-01}\n", 6, "equals: a date (2024-01-01) at $"),
    ("    expect:\n      json_path:\n        $.n: {gt: .nan}\n", 6, "gt takes a number, finite"),
    ("    expect:\n      json_path:\n        $.n: {lt: 1" + "0" * 400 + "}\n", 6, "lt takes a number, finite"),
    ("    expect:\n      json_schema: {properties: {day: {const: 2024-01-01}}}\n", 5,
     "json_schema: a date (2024-01-01) at $.properties.day.const"),
    ("    expect:\n      contains_json: {schema: {enum: [.inf]}}\n", 5, "schema: inf at $.enum[0]"),
    ("    headers: {X-Note: \"caf\\u00e9\"}\n", 4, "header 'X-Note': its value holds a line break, a control or a "
                                                  "non-ASCII character"),
    ("    headers: {X-Note: \"a\\r\\nX-Admin: yes\"}\n", 4, "header 'X-Note': its value holds a line break"),
    ("    headers: {X Note: a}\n", 4, "header name 'X Note' is no HTTP token"),
], ids=["date", "timestamp", "binary", "nan", "int-key", "equals-date", "gt-nan", "lt-huge-int", "schema-date",
        "contains-json-inf", "header-non-ascii", "header-line-break", "header-name"])
def test_what_http_or_json_cannot_carry_is_a_case_files_error(tmp_path, capsys, body, line, needle):
    path = write(tmp_path, "cases:\n  - id: a\n    path: /x\n" + body)
    assert main(["golden", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}: {needle}" in err and "Traceback" not in err


@pytest.mark.parametrize(("path", "shown"), [
    ('"/health\\r\\nX-Admin: yes"', "'/health\\r\\nX-Admin: yes'"),
    ("//evil.example/health", "'//evil.example/health'")])
def test_a_path_an_http_client_reads_as_a_host_or_cannot_send_is_a_case_files_error(tmp_path, capsys, path, shown):
    """`//evil.example/health` is a URL's host to httpx (it asked the app for /health), a line break no URL's."""
    cases = write(tmp_path, f"cases:\n  - id: a\n    path: {path}\n")
    assert main(["golden", "validate", str(cases)]) == 2
    assert f"{cases}:3: path {shown} must start with one / and hold no control character" in capsys.readouterr().err


def test_a_case_with_a_date_in_its_body_is_refused_before_the_app_is_run(tmp_path):
    """The run against the example app: before, exit 1 with the case an ERROR of `TypeError: Object of type date is
    not JSON serializable` labelled UNKNOWN_ERROR, as if the app had failed; now exit 2 naming the file and line."""
    path = write(tmp_path, "cases:\n  - id: a\n    path: /wimd/ask\n    json: {prompt: hi, asked: 2024-01-01}\n")
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "golden", "--app", "examples.mosaic_app.main:app",
                        "--cases", str(path), "--state-dir", str(tmp_path / "st"), "-q"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip() == (f"mosaic-diag: error: {path}:4: json: a date (2024-01-01) at $.asked is no JSON "
                                "value (quote it to send or compare text)")
