"""Message templates and fingerprints."""

from __future__ import annotations

import uuid

from mosaic_diag.triage.fingerprint import fingerprint, template


def test_template_replaces_variable_parts():
    a = template(f'duplicate key value violates unique constraint "users_email_key" for {uuid.uuid4()} '
                 "user ann@example.com id 1234 at 0xdeadbeef from 10.0.0.12:5432")
    b = template(f'duplicate key value violates unique constraint "sessions_pkey" for {uuid.uuid4()} '
                 "user bob@example.org id 99 at 0xfeedface from 10.1.2.3:6543")
    assert a == b
    assert "<uuid>" in a and "<email>" in a and "<n>" in a and "<hex>" in a and "<ip>" in a


def test_fingerprint_separates_labels_types_and_frames():
    base = fingerprint("MISSING_COLUMN", "psycopg2.errors.UndefinedColumn", 'column "x" does not exist', "a.py:f")
    assert base == fingerprint("MISSING_COLUMN", "psycopg2.errors.UndefinedColumn", 'column "y" does not exist',
                               "a.py:f")
    assert base != fingerprint("MISSING_COLUMN", "psycopg2.errors.UndefinedColumn", 'column "x" does not exist',
                               "b.py:g")
    assert base != fingerprint("UNKNOWN_ERROR", "psycopg2.errors.UndefinedColumn", 'column "x" does not exist',
                               "a.py:f")
