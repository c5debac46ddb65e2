"""The real-error corpus: every scenario raises the exception it is meant to (so the corpus cannot
silently degrade), and the classifier labels each one as taxonomy.md prescribes, from the live
exception, from its printed traceback, and from the one-line message an app would log."""

from __future__ import annotations

import re

import pytest

from examples.realerrors import APP_LOG_EXAMPLES, SCENARIOS, RealError, collect, expected, qualified_type

KEYS = [sc.key for sc in SCENARIOS]


@pytest.fixture(scope="module")
def corpus(pg, standin, tmp_path_factory) -> dict[str, RealError]:
    errors = collect(pg, standin, tmp_path_factory.mktemp("realerrors"))
    return {e.key: e for e in errors}


@pytest.mark.slow  # (its module's corpus raises every scenario for real: 10 s and more)
def test_every_scenario_raised(corpus):
    assert sorted(corpus) == sorted(KEYS)
    assert len(KEYS) == len(set(KEYS))


@pytest.mark.parametrize("key", KEYS)
def test_scenario_raised_the_intended_exception(corpus, key):
    error, sc = corpus[key], expected(key)
    assert qualified_type(error.exc) == sc.expect_type
    assert re.search(sc.expect_message, str(error.exc)), str(error.exc)
    assert error.label == sc.label and error.logger == sc.logger
    assert error.text.startswith("Traceback (most recent call last):")
    assert f"\n{sc.expect_type}: " in error.text or error.text.rstrip().endswith(f"\n{sc.expect_type}")
    assert "examples/realerrors_api/" in error.text or "examples/realerrors.py" in error.text
    assert error.log_message.strip() and error.log_message == error.log_message.rstrip()


def test_corpus_covers_every_exception_label_of_the_taxonomy(corpus):
    from mosaic_diag.classifier.taxonomy import load_taxonomy

    labels = set(load_taxonomy().labels)
    derived_or_log_only = {"RENDER_DEPLOY_FAILED", "RENDER_HEALTHCHECK_TIMEOUT", "RENDER_RESTART_LOOP",
                           "AUTH_INVALID_CREDENTIALS", "AUTH_USER_NOT_FOUND", "AUTH_SESSION_INVALID",
                           "SESSION_EXPIRED", "UPLOAD_SIZE_EXCEEDED", "PROMPT_SELECTOR_FAIL",
                           "RERANKER_UNAVAILABLE", "UNKNOWN_ERROR"}
    covered = {e.label for e in corpus.values()}
    assert covered <= labels
    assert labels - derived_or_log_only - covered == set()
    assert {label for label, *_ in APP_LOG_EXAMPLES} >= derived_or_log_only - {"RENDER_RESTART_LOOP", "UNKNOWN_ERROR"}


def test_chained_exceptions_are_kept(corpus):
    text = corpus["session_missing_field"].text
    assert "KeyError: 'user_id'" in text
    assert "The above exception was the direct cause of the following exception" in text


@pytest.mark.parametrize("key", KEYS)
def test_classifier_labels_the_live_exception(corpus, key):
    from mosaic_diag.classifier.classify import Classifier

    error = corpus[key]
    assert Classifier.default().classify_exception(error.exc).label == error.label


@pytest.mark.parametrize("key", KEYS)
def test_classifier_labels_the_traceback_text(corpus, key):
    from mosaic_diag.classifier.classify import Classifier

    error = corpus[key]
    assert Classifier.default().classify_text(error.text).label == error.label


@pytest.mark.parametrize("key", KEYS)
def test_classifier_labels_the_log_message(corpus, key):
    from mosaic_diag.classifier.classify import Classifier

    error = corpus[key]
    # a log record without traceback: its message, logger and level (taxonomy.md rule 4)
    got = Classifier.default().classify_text(error.log_message, logger=error.logger, level="ERROR")
    assert got.label == error.label


@pytest.mark.parametrize(("label", "logger", "level", "message"), APP_LOG_EXAMPLES,
                         ids=[f"{i}-{e[0]}" for i, e in enumerate(APP_LOG_EXAMPLES)])
def test_classifier_labels_app_log_examples(label, logger, level, message):
    from mosaic_diag.classifier.classify import Classifier

    assert Classifier.default().classify_text(message, logger=logger, level=level).label == label


def test_sample_logs_are_deterministic_and_tell_the_incident(corpus, tmp_path):
    from datetime import datetime

    from examples.make_sample_logs import write_samples

    errors = list(corpus.values())
    first = write_samples(errors, tmp_path / "a")
    write_samples(errors, tmp_path / "b")
    names = ["render-sample.log", "uvicorn.log", "app-json.log", "render-api.jsonl", "syslog.log", "mixed.log.gz"]
    assert sorted(first) == sorted(names)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    lines = (tmp_path / "a" / "render-sample.log").read_text().splitlines()
    assert 1200 <= len(lines) <= 2000
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z ", line) for line in lines)
    starts = [datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00"))
              for line in lines if "Started server process" in line]
    assert any((starts[i + 2] - starts[i]).total_seconds() <= 600 for i in range(len(starts) - 2))
    rate_limits = [line for line in lines if "openai.RateLimitError: Error code: 429" in line]
    assert len(rate_limits) >= 10
    tracebacks = sum("Traceback (most recent call last):" in line for line in lines)
    assert 20 <= tracebacks <= 45
    assert sum(" WARNING:" in line for line in lines) >= 5
    assert not list((tmp_path / "a").glob("*.tmp"))
