"""In the runtime kit the core never prints: a user rule whose pattern gives up is reported through `logging`
(WARNING of `mosaic_diag.classifier`, the CLI's one-line text), and the app's stderr stays untouched."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mosaic_diag.classifier.classify import LOGGER, Classifier
from mosaic_diag.classifier.taxonomy import load_taxonomy
from mosaic_diag.runtime.verdict import VerdictCache
from tests.test_classify_user_rules import RULES  # (a rule whose pattern gives up, and a sound one)


def test_a_user_rule_that_gives_up_in_the_runtime_is_logged_not_printed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "my-rules.yml"
    rules.write_text(RULES)
    cache = VerdictCache(loader=lambda: Classifier(load_taxonomy(rules)))  # the runtime's path, user rules in
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        verdict = cache.classify(RuntimeError("boom " + "x" * 3000))
        cache.classify(RuntimeError("boom " + "x" * 3001 + " y"))  # the rule is skipped: not said again
    assert verdict.label != "MY_SLOW_LABEL"
    notes = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert notes == [(LOGGER, logging.WARNING,
                      f"{rules}:11: rule my-slow: pattern gave up after 0.5s on a 3,005-char text; rule skipped")]
    out, err = capsys.readouterr()
    assert (out, err) == ("", "")


def test_a_cli_run_says_it_on_stderr_and_leaves_no_handler_behind(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mosaic_diag.commands.guard import guarded

    rules = tmp_path / "my-rules.yml"
    rules.write_text(RULES)
    clf = Classifier(load_taxonomy(rules))
    before = list(logging.getLogger(LOGGER).handlers)
    assert guarded(lambda: 0 if clf.classify_text("boom " + "x" * 3000).label != "MY_SLOW_LABEL" else 1) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"{rules}:11: rule my-slow: pattern gave up after 0.5s on a 3,005-char text; rule skipped"]
    assert logging.getLogger(LOGGER).handlers == before
