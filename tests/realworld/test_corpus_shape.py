"""The real-world corpus loads and has the documented shape and coverage."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.realworld.corpus import FAMILIES, CorpusError, Entry, load_corpus

# The label tables of the taxonomy specification (spec "Labels" section).
SPEC_LABELS = frozenset(
    [
        "PG_AUTH_FAILED",
        "PG_SSL_REQUIRED",
        "PG_ACCESS_DENIED",
        "PG_NETWORK_UNREACHABLE",
        "PG_CONNECTION_FAILED",
        "PG_URL_MALFORMED",
        "PG_POOL_EXHAUSTED",
        "SQLITE_FALLBACK_ACTIVE",
        "ENV_VAR_MISSING",
        "RENDER_DEPLOY_FAILED",
        "RENDER_HEALTHCHECK_TIMEOUT",
        "RENDER_OUT_OF_MEMORY",
        "APP_TIMEOUT",
        "RENDER_RESTART_LOOP",
        "MISSING_COLUMN",
        "MISSING_TABLE",
        "TYPE_MISMATCH",
        "SESSION_ORPHANED",
        "DUPLICATE_KEY",
        "SQL_DIALECT_ERROR",
        "CONN_MISUSE",
        "SESSION_DATA_CORRUPT",
        "USER_DATA_NULL",
        "PS101_STATE_CORRUPT",
        "SESSION_EXPIRED",
        "UPLOAD_PATH_MISSING",
        "UPLOAD_SIZE_EXCEEDED",
        "OPENAI_INVALID_KEY",
        "OPENAI_RATE_LIMIT",
        "OPENAI_QUOTA_EXCEEDED",
        "OPENAI_MODEL_NOT_FOUND",
        "OPENAI_CONTEXT_OVERFLOW",
        "OPENAI_TIMEOUT",
        "OPENAI_CONNECTION_ERROR",
        "OPENAI_SERVER_ERROR",
        "OPENAI_CONTENT_FILTERED",
        "OPENAI_ERROR",
        "ANTHROPIC_INVALID_KEY",
        "ANTHROPIC_RATE_LIMIT",
        "ANTHROPIC_CREDIT_EXHAUSTED",
        "ANTHROPIC_OVERLOADED",
        "ANTHROPIC_MODEL_NOT_FOUND",
        "ANTHROPIC_CONTEXT_OVERFLOW",
        "ANTHROPIC_TIMEOUT",
        "ANTHROPIC_CONNECTION_ERROR",
        "ANTHROPIC_SERVER_ERROR",
        "ANTHROPIC_CONTENT_FILTERED",
        "ANTHROPIC_ERROR",
        "EMBEDDING_GENERATION_FAILED",
        "PROMPT_SELECTOR_FAIL",
        "RERANKER_UNAVAILABLE",
        "MODEL_ANSWER_INVALID",
        "PS101_STEP_MALFORMED",
        "PROMPT_CSV_CORRUPT",
        "GREENHOUSE_API_DOWN",
        "LINKEDIN_SCRAPE_BLOCKED",
        "JOB_SOURCE_ERROR",
        "AUTH_INVALID_CREDENTIALS",
        "AUTH_USER_NOT_FOUND",
        "AUTH_SESSION_INVALID",
        "UNKNOWN_ERROR",
    ]
)


@pytest.fixture(scope="module")
def corpus() -> list[Entry]:
    return load_corpus()


def test_loads_at_least_150_entries(corpus: list[Entry]) -> None:
    assert len(corpus) >= 150


def test_at_least_25_negatives(corpus: list[Entry]) -> None:
    negatives = [e for e in corpus if e.family == "negative"]
    assert len(negatives) >= 25
    assert all(e.expected == "UNKNOWN_ERROR" for e in negatives)
    assert all(e.family == "negative" for e in corpus if e.expected == "UNKNOWN_ERROR")


def test_every_source_is_an_http_url(corpus: list[Entry]) -> None:
    assert all(e.source.startswith(("https://", "http://")) for e in corpus)


def test_ids_are_unique(corpus: list[Entry]) -> None:
    counts = Counter(e.id for e in corpus)
    assert [i for i, n in counts.items() if n > 1] == []


def test_texts_are_unique(corpus: list[Entry]) -> None:
    counts = Counter(e.text.strip() for e in corpus)
    assert [t[:60] for t, n in counts.items() if n > 1] == []


def test_every_family_is_represented(corpus: list[Entry]) -> None:
    assert {e.family for e in corpus} == set(FAMILIES)


def test_every_label_is_a_spec_label(corpus: list[Entry]) -> None:
    unknown = {(e.id, label) for e in corpus for label in e.labels if label not in SPEC_LABELS}
    assert unknown == set()


def test_alternatives_carry_reasons(corpus: list[Entry]) -> None:
    for entry in corpus:
        for alt in entry.alternatives:
            assert alt.reason.strip(), entry.id
            assert alt.label != entry.expected, entry.id


def test_entries_are_frozen(corpus: list[Entry]) -> None:
    with pytest.raises(AttributeError):
        corpus[0].expected = "UNKNOWN_ERROR"  # type: ignore[misc]


def test_loader_rejects_a_bad_corpus(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "- id: a\n  family: postgres\n  expected: PG_AUTH_FAILED\n  cut: 'no'\n  source: https://x\n  text: t\n",
        encoding="utf-8",
    )
    with pytest.raises(CorpusError, match="cut"):
        load_corpus(bad)
    dup = tmp_path / "dup.yml"
    one = "- id: a\n  family: postgres\n  expected: PG_AUTH_FAILED\n  cut: false\n  source: https://x\n  text: t\n"
    dup.write_text(one + one.replace("text: t", "text: u"), encoding="utf-8")
    with pytest.raises(CorpusError, match="duplicate id"):
        load_corpus(dup)
