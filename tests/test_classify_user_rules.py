"""A user rules file's regex that backtracks catastrophically does not hang `classify` or `triage`: it gives up,
is said once on stderr as FILE:LINE: rule ID, and its rule is skipped for the rest of the run (real commands in a
subprocess; the outcome and the message are asserted, never a duration)."""

from __future__ import annotations

import re
import subprocess
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from mosaic_diag.classifier import taxonomy
from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.classifier.taxonomy import Regex, UserRegex, load_taxonomy
from tests.cli_inproc import run_cli
from tests.test_classify_evidence import serving, urllib3_records

GUARD = 60  # a hang would otherwise hold the suite: the commands end long before this

RULES = """\
labels:
  MY_SLOW_LABEL:
    category: infrastructure
    severity: high
    description: never given, its pattern gives up
rules:
  - id: my-slow
    label: MY_SLOW_LABEL
    priority: 900
    match:
      text: '(x+x+)+y'
  - id: my-fine
    label: SQLITE_FALLBACK_ACTIVE
    priority: 800
    match:
      text: 'fine-marker-\\d+'
"""

XS = "x" * 3000


def _mosaic(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(args, cwd=cwd)  # (in this process: tests/cli_inproc.py)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "my-rules.yml"
    path.write_text(RULES)
    return path


def _gave_up_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "gave up" in line]


def test_triage_skips_a_backtracking_user_rule_once_and_goes_on(tmp_path: Path, rules: Path) -> None:
    lines = [f"2026-01-01 10:00:0{i} ERROR app: boom {XS}" for i in range(4)]
    lines.append(f"2026-01-01 10:00:05 ERROR app: fine-marker-7 {XS}")
    log = tmp_path / "app.log"
    log.write_text("\n".join(lines) + "\n")
    r = _mosaic("triage", str(log), "--rules", str(rules), "--no-playbooks", "--format", "json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr  # errors found: the run went on to the end
    assert _gave_up_lines(r.stderr) == [
        f"{rules}:11: rule my-slow: pattern gave up after 0.5s on a 3,005-char text; rule skipped"]
    import json

    report = json.loads(r.stdout)
    labels = {g["label"]: g["count"] for g in report["groups"]}
    assert labels.get("SQLITE_FALLBACK_ACTIVE") == 1  # the other user rule still labels
    assert "MY_SLOW_LABEL" not in labels
    assert sum(labels.values()) == 5


def test_the_config_rules_setting_is_guarded_too(tmp_path: Path, rules: Path) -> None:
    (tmp_path / "mosaic-diag.toml").write_text(f'rules = "{rules.name}"\n')
    (tmp_path / ".git").mkdir()  # the repository root the config is read from
    log = tmp_path / "app.log"
    log.write_text(f"2026-01-01 10:00:00 ERROR app: boom {XS}\n2026-01-01 10:00:01 ERROR app: boom {XS}y\n")
    r = _mosaic("triage", str(log), "--no-playbooks", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert len(_gave_up_lines(r.stderr)) == 1
    assert "rule my-slow" in r.stderr
    assert "MY_SLOW_LABEL" not in r.stdout  # skipped for the rest of the run: the line ending in y is not it


def test_classify_gives_up_and_answers_by_the_other_rules(tmp_path: Path, rules: Path) -> None:
    r = _mosaic("classify", f"boom {XS}", "--rules", str(rules), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("UNKNOWN_ERROR")
    assert _gave_up_lines(r.stderr) == [
        f"{rules}:11: rule my-slow: pattern gave up after 0.5s on a 3,005-char text; rule skipped"]
    fine = _mosaic("classify", "fine-marker-3 boom", "--rules", str(rules), cwd=tmp_path)
    assert fine.stdout.startswith("SQLITE_FALLBACK_ACTIVE"), fine.stderr
    assert fine.stderr == ""  # my-slow is searched first (priority 900): quick on a text without a run of x


def test_a_fast_user_pattern_matches_as_before(tmp_path: Path, rules: Path) -> None:
    tax = load_taxonomy(rules)
    fine = next(r for r in tax.rules if r.id == "my-fine")
    assert isinstance(fine.match[0].text, UserRegex)
    assert Classifier(tax).classify_text("ERROR FINE-MARKER-12 here").label == "SQLITE_FALLBACK_ACTIVE"


def test_shipped_rules_keep_the_stdlib_engine(rules: Path) -> None:
    shipped = [getattr(c, k) for r in load_taxonomy(rules).rules if r.source.startswith("mosaic_diag/")
               for c in (*r.match, *r.unless) for k in ("message", "text", "log", "frames", "host", "logger", "frame")
               if getattr(c, k) is not None]
    assert shipped and all(type(rx) is Regex for rx in shipped)


def test_a_pattern_slow_on_every_text_gives_up_on_its_budget(rules: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setattr(taxonomy, "USER_PATTERN_BUDGET", 0.0)  # a budget of nothing: spent at the first search
    notes: list[str] = []
    clf = Classifier(load_taxonomy(rules), on_skip=notes.append)
    for i in range(3):
        assert clf.classify_text(f"fine-marker-{i} boom").label in {"UNKNOWN_ERROR", "SQLITE_FALLBACK_ACTIVE"}
    assert len(notes) == 2  # each user rule once, then skipped
    assert all(re.fullmatch(r".*my-rules\.yml:\d+: rule my-\w+: pattern gave up after 0s of slow searches in all; "
                            r"rule skipped", n) for n in notes)
    assert {r.id for r in clf.rules} & {"my-slow", "my-fine"} == set()


def test_a_user_regex_the_engine_rejects_is_a_load_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("rules:\n  - id: x\n    label: PG_AUTH_FAILED\n    match: {text: ['(unclosed']}\n")
    r = _mosaic("classify", "boom", "--rules", str(path), cwd=tmp_path)
    assert r.returncode == 2
    assert f"{path}:4" in r.stderr and "bad regex" in r.stderr


NUMBERS_RULES = """\
labels:
  MY_RETRIES_SPENT:
    category: integration
    severity: high
    description: the last retry failed
rules:
  - id: my-retries
    label: MY_RETRIES_SPENT
    priority: 900
    match:
      message: ['attempt (?P<attempt>\\d+) of (?P<attempts>\\d+) failed']
      numbers: ['attempt >= attempts']
"""


def test_a_user_rule_compares_captured_numbers(tmp_path: Path) -> None:
    """`numbers` compares the whole numbers `message` captured (two digits against one: a regex could not)."""
    path = tmp_path / "numbers.yml"
    path.write_text(NUMBERS_RULES)
    clf = Classifier(load_taxonomy(path))
    assert clf.classify_text("RuntimeError: attempt 10 of 10 failed").label == "MY_RETRIES_SPENT"
    assert clf.classify_text("RuntimeError: attempt 12 of 10 failed").label == "MY_RETRIES_SPENT"
    assert clf.classify_text("RuntimeError: attempt 9 of 10 failed").label != "MY_RETRIES_SPENT"


STATUS_RULES = """\
labels:
  MY_UPSTREAM_5XX:
    category: integration
    severity: high
    description: an upstream answered 5xx
rules:
  - id: my-upstream-5xx
    label: MY_UPSTREAM_5XX
    priority: 900
    match:
      message: ['\\b(?P<code>\\d{3,5})\\b']
      numbers: ['code >= 500', 'code <= 599']
"""


class _Unavailable(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_error(503)

    def log_message(self, *args: object) -> None:
        pass


def test_numbers_are_compared_in_every_match_not_only_the_first(tmp_path: Path) -> None:
    """The number that decides may come after others the same regex takes: requests' retries spent on a real 503 of a
    loopback server name the port first (`port=NNNNN): Max retries … too many 503 error responses`), and so does
    urllib3's own debug line (`http://localhost:NNNNN "GET /jobs HTTP/1.1" 503`); the first match alone (the port)
    would make no comparison hold. A text whose numbers never hold is not taken, and the hits show the match used."""

    requests = pytest.importorskip("requests")
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    path = tmp_path / "status.yml"
    path.write_text(STATUS_RULES)
    clf = Classifier(load_taxonomy(path))
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=Retry(total=1, status_forcelist=[503], backoff_factor=0)))
    with serving(_Unavailable) as url, urllib3_records(lambda r: f"{r.levelname}:{r.name}:{r.getMessage()}") as records:
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(requests.exceptions.RetryError) as info:
            session.get(f"{url}/jobs", timeout=5)
    text = str(info.value)
    assert f"port={port}" in text and "too many 503 error responses" in text
    assert text.index(str(port)) < text.index("503")
    got = clf.classify_text(text)
    assert got.label == "MY_UPSTREAM_5XX"
    assert ("numbers", "code 503 >= 500") in [(h.key, h.text) for h in got.hits]
    debug = next(r for r in records if '"GET /jobs HTTP/1.1" 503' in r)
    assert debug.index(str(port)) < debug.index(" 503")
    assert clf.classify_text(debug, logger="urllib3.connectionpool", level="DEBUG").label == "MY_UPSTREAM_5XX"
    # the same line with a 404: no number in it holds both comparisons
    assert clf.classify_text(debug.replace(" 503 ", " 404 ")).label != "MY_UPSTREAM_5XX"


@pytest.mark.parametrize(("match", "said"), [
    ("numbers: ['a < b']", "`numbers` compares the numbers `message` captures"),
    ("message: ['(?P<a>\\d+) of (?P<b>\\d+)']\n      numbers: ['a < c']",
     "`numbers` names 'c', which `message` does not capture (its named groups: a, b)"),
    ("message: ['(?P<a>\\d+) of (?P<b>\\d+)']\n      numbers: ['a << b']", "bad comparison in `numbers`: 'a << b'"),
    ("message: ['(?P<a>\\d+) of (?P<b>\\d+)']\n      numbers: ['1 < 2']", "`numbers` compares two numbers"),
    ("message: ['(?P<a>\\d+) of', '(?P<a>\\d+) in']\n      numbers: ['a > 1']",
     "`message` names the group 'a' twice"),
])
def test_a_bad_numbers_condition_is_a_load_error_naming_file_and_line(tmp_path: Path, match: str, said: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(f"rules:\n  - id: x\n    label: PG_AUTH_FAILED\n    match:\n      {match}\n")
    r = _mosaic("classify", "boom", "--rules", str(path), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert re.search(rf"{re.escape(str(path))}:[56]: ", r.stderr) and said in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1


def _marker_rules(label: str) -> str:
    return (f"rules:\n  - id: my-marker\n    label: {label}\n    priority: 900\n"
            "    match:\n      type: '*JSONDecodeError'\n")


def test_a_rules_file_is_known_by_where_it_is_and_what_it_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    """`Classifier.default(Path("rules.yml"))` in two working directories reads two files, and a file edited
    since is read again (the classifier and the taxonomy were cached under the name as given: the first file
    loaded answered for the rest of the process)."""
    import json

    try:
        json.loads("{not json")
    except json.JSONDecodeError as exc:
        error = exc
    for name, label in (("a", "SQLITE_FALLBACK_ACTIVE"), ("b", "ENV_VAR_MISSING")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "rules.yml").write_text(_marker_rules(label))
    monkeypatch.chdir(tmp_path / "a")
    assert Classifier.default(Path("rules.yml")).classify_exception(error).label == "SQLITE_FALLBACK_ACTIVE"
    monkeypatch.chdir(tmp_path / "b")
    assert Classifier.default(Path("rules.yml")).classify_exception(error).label == "ENV_VAR_MISSING"
    assert load_taxonomy(Path("rules.yml")).rules[0].label == "ENV_VAR_MISSING"
    (tmp_path / "b" / "rules.yml").write_text(_marker_rules("PG_CONNECTION_FAILED"))
    assert Classifier.default(Path("rules.yml")).classify_exception(error).label == "PG_CONNECTION_FAILED"
