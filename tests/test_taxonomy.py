"""The taxonomy file: complete against docs/taxonomy.md, valid, extensible, strict on errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.classifier.taxonomy import CATEGORIES, SEVERITIES, load_taxonomy
from mosaic_diag.errors import ConfigError

DOC = Path(__file__).resolve().parents[1] / "docs" / "taxonomy.md"


def doc_labels() -> set[str]:
    return set(re.findall(r"^\| `([A-Z0-9_]+)` \|", DOC.read_text(), re.MULTILINE))


def test_every_documented_label_is_in_the_rules_file_and_back():
    tax = load_taxonomy()
    documented = doc_labels()
    assert len(documented) > 50
    assert documented == set(tax.labels)


def test_every_label_has_category_severity_description_and_a_rule_or_derivation():
    tax = load_taxonomy()
    ruled = {rule.label for rule in tax.rules}
    for label in tax.labels.values():
        assert label.category in CATEGORIES
        assert label.severity in SEVERITIES
        assert label.description
    derived = {"UNKNOWN_ERROR", "RENDER_RESTART_LOOP"}
    assert set(tax.labels) - ruled == derived


def test_railway_aliases_resolve():
    tax = load_taxonomy()
    assert tax.resolve("RAILWAY_ENV_VAR_MISSING").name == "ENV_VAR_MISSING"
    assert tax.resolve("railway_db_ephemeral").name == "SQLITE_FALLBACK_ACTIVE"
    assert tax.resolve("RAILWAY_TIMEOUT").name == "RENDER_HEALTHCHECK_TIMEOUT"
    with pytest.raises(ConfigError, match="unknown label 'NOPE'"):
        tax.resolve("NOPE")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("rules:\n  - id: x\n    label: PG_AUTH_FAILED\n    match: {message: ['(unclosed']}\n", 4, "bad regex"),
        ("rules:\n  - id: x\n    label: NOT_A_LABEL\n    match: {message: ['a']}\n", 3, "unknown label"),
        ("rules:\n  - id: x\n    label: PG_AUTH_FAILED\n    match: {mesage: ['a']}\n", 4, "unknown match key"),
        ("labels:\n  NEW_ONE:\n    category: weather\n    severity: low\n", 3, "category must be"),
        ("rules: [\n", 2, "invalid YAML"),
        ("rules:\n  - id: x\n    label: PG_AUTH_FAILED\n    priority: high\n    match: {message: a}\n", 4,
         "priority must be an integer"),
        ("- just\n- a list\n", 1, "must be a mapping"),
    ],
)
def test_malformed_rules_file_is_one_clear_error(tmp_path, text, line, reason):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_taxonomy(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert reason in message
    assert "\n" not in message


def test_user_rules_add_labels_and_override_rules(tmp_path):
    import json

    path = _write(tmp_path, """
labels:
  BILLING_WEBHOOK_FAILED: {category: integration, severity: high, description: Stripe webhook failed.}
  PG_POOL_EXHAUSTED: {severity: critical}
rules:
  - id: billing.webhook
    label: BILLING_WEBHOOK_FAILED
    priority: 70
    match: {type: ['json.decoder.JSONDecodeError'], logger: ['billing']}
""")
    try:
        json.loads("{'not': json}")
    except json.JSONDecodeError as exc:
        error = exc
    clf = Classifier.default(path)
    assert clf.classify_exception(error, logger="api.billing").label == "BILLING_WEBHOOK_FAILED"
    assert clf.classify_exception(error, logger="api.storage").label == "TYPE_MISMATCH"
    assert clf.taxonomy.labels["PG_POOL_EXHAUSTED"].severity == "critical"
    assert clf.taxonomy.labels["PG_POOL_EXHAUSTED"].category == "infrastructure"
    assert Classifier.default().taxonomy.labels["PG_POOL_EXHAUSTED"].severity == "high"


def test_every_shipped_regex_is_valid_alone_and_joined():
    """The shipped file's regexes are compiled at first use, not at load: they are checked here,
    each alternative alone (so none can unbalance the joined pattern) and joined."""
    import yaml

    from mosaic_diag.classifier.taxonomy import SHIPPED_RULES

    raw = yaml.safe_load(SHIPPED_RULES.read_text())
    regex_keys = {"message", "frame", "host", "frames", "logger", "log", "text"}
    items = [item for rule in raw["rules"] for key in ("match", "unless")
             for cond in (rule.get(key) if isinstance(rule.get(key), list) else [rule.get(key) or {}])
             for k, v in cond.items() if k in regex_keys for item in (v if isinstance(v, list) else [v])]
    assert len(items) > 100
    for item in items:
        re.compile(item)
    regexes = [getattr(c, k) for r in load_taxonomy().rules for c in (*r.match, *r.unless) for k in regex_keys
               if getattr(c, k) is not None]
    assert len(regexes) > 50
    for rx in regexes:
        assert rx.compile().pattern == rx.pattern


def test_a_bad_regex_in_the_shipped_file_fails_at_first_use_with_its_line():
    from mosaic_diag.classifier.taxonomy import Regex

    rx = Regex("(?:(unclosed)", "mosaic_diag/classifier/rules/taxonomy.yml", 42)
    with pytest.raises(ConfigError, match=r"^mosaic_diag/classifier/rules/taxonomy.yml:42: bad regex"):
        rx.search("anything")


def test_a_conditions_type_globs_match_as_fnmatch_does() -> None:
    import fnmatch

    from mosaic_diag.classifier.classify import _TypeGlobs

    globs = {cond.type for rule in load_taxonomy().rules for cond in (*rule.match, *rule.unless) if cond.type}
    globs |= {("a.b", "c?d", "[xy]z", "k*"), ("re.escape(.)+",)}
    names = {name for patterns in globs for name in patterns} | {
        "httpx.ConnectError", "sqlite3.OperationalError", "OSError", "MemoryError", "asyncio.MemoryError",
        "keyerror", "KeyError ", "cxd", "c.d", "xz", "yz", "zz", "kettle", "re.escape(.)", "re.escape(x)+", ""}
    for patterns in globs:
        matcher = _TypeGlobs(patterns)
        for name in names:
            assert matcher.match(name) == any(fnmatch.fnmatchcase(name, p) for p in patterns), (patterns, name)
