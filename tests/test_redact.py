"""Secret redaction: every pattern, with and without the quick pre-check's hints."""

from __future__ import annotations

import pytest

from mosaic_diag.platform.redact import presence, redact_dsn, redact_text

SECRET_TEXTS = [
    ("connect to postgresql://mosaic:hunter2secret@dpg-x-a.oregon-postgres.render.com/mosaic failed",
     "hunter2secret", "postgresql://mosaic:***@dpg-x-a"),
    ("dsn: host=db user=mosaic PASSWORD=hunter2secret dbname=mosaic", "hunter2secret", "PASSWORD=***"),
    ("pwd = 'hunter2 secret' rejected", "hunter2 secret", "pwd=***"),
    ("key sk-ant-api03-abcdefghijklmnop was refused", "abcdefghijklmnop", "sk-***"),
    ("OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123 invalid", "abcdefghijklmnopqrstuvwxyz0123", "sk-***"),
    ("render token rnd_abcdefghijklmnopqrst expired", "abcdefghijklmnopqrst", "rnd***"),
    ("push with ghp_abcdefghijklmnopqrstuvwxyz0123 denied", "abcdefghijklmnopqrstuvwxyz0123", "ghp***"),
    ("slack xoxb-1234567890-abcdefghij failed", "1234567890-abcdefghij", "xox***"),
    ("header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload sent", "eyJhbGciOiJIUzI1NiJ9", "Bearer ***"),
    ("x-api-key: abcdefghijklmnop rejected", "abcdefghijklmnop", "x-api-key: ***"),
]


@pytest.mark.parametrize(("text", "secret", "shown"), SECRET_TEXTS)
def test_each_kind_of_secret_is_masked(text: str, secret: str, shown: str) -> None:
    out = redact_text(text)
    assert secret not in out
    assert shown in out


def test_text_without_secrets_is_returned_unchanged() -> None:
    text = "psycopg2.errors.UndefinedTable: relation \"sessions\" does not exist\nLINE 1: SELECT 1 FROM sessions"
    assert redact_text(text) is text
    assert redact_text("") == ""


def test_dsn_password_is_masked_in_url_and_keyword_forms() -> None:
    assert redact_dsn("postgresql://mosaic:s3cr%40t@localhost:5433/mosaic?sslmode=require") == \
        "postgresql://mosaic:***@localhost:5433/mosaic?sslmode=require"
    assert "s3cret" not in redact_dsn("host=localhost password=s3cret dbname=mosaic")
    assert redact_dsn("postgresql://localhost/mosaic") == "postgresql://localhost/mosaic"
    assert presence("sk-anything") == "***SET***" and presence("") is None
