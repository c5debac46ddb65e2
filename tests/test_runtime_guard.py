"""The schema guard and its dead letters (PostgreSQL and SQLite), and `mosaic-diag dlq`."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import psycopg2
import pytest
from pydantic import BaseModel, ConfigDict, field_validator

from mosaic_diag.errors import ConfigError, UnreachableError
from mosaic_diag.runtime import SchemaRejected, classify_exception, failover, llm_call, schema_guard
from mosaic_diag.runtime.guard import open_dead_letters
from tests.cli_inproc import run_cli

ROOT = Path(__file__).resolve().parent.parent


class Answer(BaseModel):
    answer: str
    question: str


def ask(llm) -> str:
    client = openai.OpenAI(api_key="sk-test-key", base_url=llm.openai_base_url, max_retries=0, timeout=5)
    return client.chat.completions.create(
        model="gpt-4o-mini", response_format={"type": "json_object"},
        messages=[{"role": "system", "content": "Reply in JSON"},
                  {"role": "user", "content": "mail me at jane.doe@example.com please"}]).choices[0].message.content


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    if "PYTHONPATH" in env:  # a validator imported from a path of its own: a new interpreter
        return subprocess.run([sys.executable, "-m", "mosaic_diag", *args], capture_output=True, text=True,
                              timeout=60, env={**os.environ, **env})
    return run_cli(args, env=env)  # (in this process: tests/cli_inproc.py)


def test_a_valid_answer_passes(llm, tmp_path):
    store = open_dead_letters(tmp_path / "dlq.sqlite")
    value = schema_guard(Answer, store=store)(ask(llm), provider="openai")
    assert isinstance(value, Answer) and value.question
    assert store.list() == []


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_a_malformed_answer_is_dead_lettered_and_typed(llm, backend, request, tmp_path):
    target = request.getfixturevalue("pg_db") if backend == "postgres" else str(tmp_path / "dlq.sqlite")
    store = open_dead_letters(target)
    llm.set_failure("openai", "malformed")
    text = ask(llm)
    with pytest.raises(SchemaRejected) as info:
        schema_guard(Answer, store=store, prompt_id="ps101-3")(text, provider="openai")
    rejected = info.value
    assert classify_exception(rejected).label == "MODEL_ANSWER_INVALID"
    assert rejected.dead_letter_id is not None
    [row] = store.list()
    assert (row.id, row.provider, row.prompt_id, row.label, row.model) == (
        rejected.dead_letter_id, "openai", "ps101-3", "MODEL_ANSWER_INVALID", "Answer")
    assert row.payload == text and "Invalid JSON" in row.error and "json_invalid" in row.error
    if backend == "postgres":
        with psycopg2.connect(target) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*), max(label) FROM mosaic_dead_letters")
            assert cur.fetchone() == (1, "MODEL_ANSWER_INVALID")
        conn.close()
    store.close()


def test_the_guard_reads_a_failover_result_and_its_provider(llm, tmp_path):
    llm.set_failure("openai", "server_error")
    llm.set_failure("anthropic", "malformed")
    import anthropic

    oc = openai.OpenAI(api_key="sk-test-key", base_url=llm.openai_base_url, max_retries=0, timeout=5)
    ac = anthropic.Anthropic(api_key="sk-ant-test", base_url=llm.anthropic_base_url, max_retries=0, timeout=5)

    @llm_call(provider="openai", sleep=lambda s: None)
    def ask_openai(p):
        return oc.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": p}])

    @llm_call(provider="anthropic", sleep=lambda s: None)
    def ask_claude(p):
        return ac.messages.create(model="claude-3-haiku-20240307", max_tokens=100, system="Reply in JSON",
                                  messages=[{"role": "user", "content": p}]).content[0].text

    store = open_dead_letters(tmp_path / "d.sqlite")
    with pytest.raises(SchemaRejected):
        schema_guard(Answer, store=store)(failover(ask_openai, ask_claude)("hello"))
    assert store.list()[0].provider == "anthropic"


def test_dlq_commands_list_show_replay_purge(llm, pg_db, tmp_path):
    store = open_dead_letters(pg_db)
    llm.set_failure("openai", "malformed")
    with pytest.raises(SchemaRejected):
        schema_guard(Answer, store=store, provider="openai")(ask(llm))
    # an answer the old schema rejected and a relaxed one accepts
    relaxed = '{"answer": "write to jane.doe@example.com", "api_key": "sk-proj-abcdefghijklmnop1234"}'
    with pytest.raises(SchemaRejected) as info:
        schema_guard(Answer, store=store, provider="anthropic")(relaxed)
    second = info.value.dead_letter_id
    store.close()

    r = run("dlq", "list", "--db", pg_db, "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["provider"] for row in rows] == ["anthropic", "openai"]
    assert all(row["label"] == "MODEL_ANSWER_INVALID" for row in rows)
    assert "payload" not in rows[0]

    r = run("dlq", "show", str(second), "--format", "json", DATABASE_URL=pg_db)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert "jane.doe@example.com" not in shown["payload"] and "[email]" in shown["payload"]
    assert "abcdefghijklmnop1234" not in r.stdout
    for fmt in ("table", "markdown"):
        r = run("dlq", "show", str(second), "--format", fmt, "--db", pg_db)
        assert r.returncode == 0 and "[email]" in r.stdout and "jane.doe" not in r.stdout

    (tmp_path / "relaxed_models.py").write_text(
        "from pydantic import BaseModel\n\nclass Relaxed(BaseModel):\n    answer: str\n")
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    r = run("dlq", "replay", str(second), "--validator", "relaxed_models:Relaxed", "--db", pg_db, "--format",
            "json", **env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["valid"] is True
    r = run("dlq", "replay", str(second), "--validator", "tests.test_runtime_guard:Answer", "--db", pg_db, **env)
    assert r.returncode == 1 and "still rejected" in r.stdout
    r = run("dlq", "list", "--db", pg_db, "--format", "json")
    assert [row["replayed_at"] is not None for row in json.loads(r.stdout)] == [True, False]

    r = run("dlq", "purge", "--older-than", "1d", "--db", pg_db, "--format", "json")
    assert json.loads(r.stdout)["deleted"] == 0
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("UPDATE mosaic_dead_letters SET created_at = now() - interval '10 days' WHERE id = %s",
                    (second,))
    conn.close()
    r = run("dlq", "purge", "--older-than", "7d", "--db", pg_db, "--format", "markdown", "--yes")
    assert r.returncode == 0 and "Purged **1**" in r.stdout
    r = run("dlq", "list", "--db", pg_db, "--format", "markdown")
    assert r.returncode == 0 and "| openai |" in r.stdout and "anthropic" not in r.stdout


def test_a_replay_still_rejected_shows_the_current_validators_error(tmp_path):
    """The error replay prints is the validator's now, not the one stored when the answer was rejected."""
    db = str(tmp_path / "d.sqlite")
    store = open_dead_letters(db)
    with pytest.raises(SchemaRejected) as info:  # rejected by an older schema: `question` was missing
        schema_guard(Answer, store=store)('{"answer": 42}')
    stored = store.get(info.value.dead_letter_id).error
    store.close()
    assert "question: Field required" in stored
    (tmp_path / "newer_models.py").write_text(
        "from pydantic import BaseModel\n\nclass Newer(BaseModel):\n    answer: str\n    score: int\n")
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    for fmt in ("table", "markdown", "json"):
        r = run("dlq", "replay", str(info.value.dead_letter_id), "--validator", "newer_models:Newer", "--db", db,
                "--format", fmt, **env)
        assert r.returncode == 1, r.stderr
        assert "score: Field required [type=missing]" in r.stdout, r.stdout
        assert "answer: Input should be a valid string [type=string_type]" in r.stdout, r.stdout
        assert "question" not in r.stdout, r.stdout  # the stored error is not shown


def test_a_replayed_value_whose_numbers_a_detector_masks_is_still_json(tmp_path):
    """A fixed model's value holding a number the personal-data filter masks (an order id of ten digits or more reads
    as a phone number, a card's digits as a card): masked in the dumped text it was no JSON (`"order_id": [phone]`),
    and replay ended in a JSONDecodeError traceback, the letter already marked replayed. Now the number is shown as
    its mask, in a string, in every format, and the letter marked replayed only once its replay is reported."""
    db = str(tmp_path / "d.sqlite")
    store = open_dead_letters(db)
    with pytest.raises(SchemaRejected) as info:
        schema_guard(Answer, store=store)('{"answer": "shipped, mail jane.doe@example.com", "order_id": 5551234567, '
                                          '"card": 4111111111111111, "ratio": -12.3456789012, "items": 3}')
    store.close()
    (tmp_path / "order_models.py").write_text("from pydantic import BaseModel\n\nclass Order(BaseModel):\n"
                                              "    answer: str\n    order_id: int\n    card: int\n    ratio: float\n"
                                              "    items: int\n")
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    letter = str(info.value.dead_letter_id)
    r = run("dlq", "replay", letter, "--validator", "order_models:Order", "--db", db, "--format", "json", **env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert json.loads(r.stdout)["value"] == {"answer": "shipped, mail [email]", "order_id": "[phone]", "card": "[card]",
                                             "ratio": "-12.[phone]", "items": 3}
    for fmt in ("table", "markdown"):
        r = run("dlq", "replay", letter, "--validator", "order_models:Order", "--db", db, "--format", fmt, **env)
        assert r.returncode == 0 and '"order_id": "[phone]"' in r.stdout and "5551234567" not in r.stdout, r.stderr
    store = open_dead_letters(db)
    assert store.get(info.value.dead_letter_id).replayed_at is not None
    store.close()


@pytest.mark.parametrize("how", ["password", "tls", "pg_hba"])
def test_dlq_a_server_that_refuses_the_connection_is_a_setting_to_change_not_the_network(pg, how: str) -> None:
    """A wrong password, a TLS-only database asked in plain TCP, a host/database pg_hba.conf rejects: the server
    answered and refused, which was said as 'unreachable' (exit 3) and sent the operator to the network. Exit 2,
    the label (taxonomy) and the server's words, the password masked; the app's store raises it the same (a
    ConfigError)."""
    from examples.pgtemp import DENIED_DB, SSL_DB

    dsn = {"password": pg.dsn(password="not-the-password"), "tls": pg.dsn(SSL_DB, sslmode="disable"),
           "pg_hba": pg.dsn(DENIED_DB, sslmode="require")}[how]
    want = {"password": "PG_AUTH_FAILED", "tls": "PG_SSL_REQUIRED", "pg_hba": "PG_ACCESS_DENIED"}[how]
    r = run("dlq", "list", "--db", dsn)
    assert r.returncode == 2 and "refused the connection" in r.stderr and f"({want}:" in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and "not-the-password" not in r.stderr and pg.password not in r.stderr, r.stderr
    store = open_dead_letters(dsn)
    try:
        with pytest.raises(ConfigError):
            store.add(payload="{}", error="e", label="MODEL_ANSWER_INVALID", model="Answer")
    finally:
        store.close()


def test_dlq_bad_input_is_one_clear_line(tmp_path, pg, refused_port):
    env = {"DATABASE_URL": "", "MOSAIC_DLQ": ""}
    r = run("dlq", "list", **env)
    assert r.returncode == 2 and "no dead-letter database" in r.stderr and "Traceback" not in r.stderr
    r = run("dlq", "list", "--db", str(tmp_path / "missing.sqlite"))
    assert r.returncode == 2 and "missing.sqlite" in r.stderr and r.stderr.count("\n") == 1
    dsn = f"postgresql://mosaic:s3cret-pw@127.0.0.1:{refused_port}/x?connect_timeout=1"
    r = run("dlq", "list", "--db", dsn)
    assert r.returncode == 3 and "unreachable" in r.stderr and "s3cret-pw" not in r.stderr
    # libpq's two lines ("…: Connection refused" and its hint) were one line with `\n\t` written in it
    assert r.stderr.count("\n") == 1 and "Connection refused" in r.stderr and "\\n" not in r.stderr, r.stderr
    store = open_dead_letters(tmp_path / "d.sqlite")
    store.add(payload="{}", error="e", label="MODEL_ANSWER_INVALID", model="Answer")
    store.close()
    r = run("dlq", "replay", "1", "--validator", "nope", "--db", str(tmp_path / "d.sqlite"))
    assert r.returncode == 2 and "module:Model" in r.stderr
    r = run("dlq", "replay", "1", "--validator", "json:loads", "--db", str(tmp_path / "d.sqlite"))
    assert r.returncode == 2 and "not a Pydantic model" in r.stderr
    r = run("dlq", "show", "99", "--db", str(tmp_path / "d.sqlite"))
    assert r.returncode == 2 and "no dead letter 99" in r.stderr
    r = run("dlq", "purge", "--older-than", "soon", "--db", str(tmp_path / "d.sqlite"))
    assert r.returncode == 2 and "--older-than" in r.stderr


def test_purge_asks_first_refuses_a_future_time_and_counts_on_a_dry_run(tmp_path):
    """A careless purge: a time in the future (it would delete everything) is refused; with no answer to its
    question (stdin ended), nothing is deleted unless --yes; --dry-run only counts."""
    db = str(tmp_path / "d.sqlite")
    store = open_dead_letters(db)
    for n in range(3):  # three answers (the same one thrice would be one letter seen three times)
        store.add(payload=f'{{"n": {n}}}', error="e", label="MODEL_ANSWER_INVALID", model="Answer")
    store.close()

    def left() -> int:
        return len(json.loads(run("dlq", "list", "--db", db, "--format", "json").stdout))

    r = run("dlq", "purge", "--older-than", "2999-01-01", "--db", db, "--yes")
    assert r.returncode == 2 and "in the future" in r.stderr and left() == 3
    r = run("dlq", "purge", "--older-than", "0s", "--db", db)  # stdin at its end: asked, no answer (2)
    assert r.returncode == 2 and "delete 3 dead letter(s)" in r.stderr and "--yes" in r.stderr and left() == 3
    assert r.stderr.count("\n") == 2 and "Traceback" not in r.stderr
    r = run("dlq", "purge", "--older-than", "0s", "--db", db, "--dry-run", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout) == {**json.loads(r.stdout), "deleted": 0, "would_delete": 3}
    assert left() == 3
    r = run("dlq", "purge", "--older-than", "7d", "--db", db)  # nothing that old: nothing to ask about
    assert r.returncode == 0 and "purged 0" in r.stdout
    r = run("dlq", "purge", "--older-than", "0s", "--db", db, "--yes", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["deleted"] == 3 and left() == 0


def _purge_at_a_terminal(db: str, typed: bytes) -> subprocess.CompletedProcess[str]:
    """`dlq purge --older-than 0s` with stdin on a pseudo-terminal where `typed` is typed (stdout, stderr: pipes)."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "dlq", "purge", "--older-than", "0s", "--db", db],
                            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(slave)
    os.write(master, typed)  # (held by the terminal's line discipline until the question reads it)
    out, err = proc.communicate(timeout=60)
    os.close(master)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_purge_at_a_terminal_no_is_1_and_no_answer_is_2_as_from_a_pipe(tmp_path):
    """An answered "n" declines (exit 1); Ctrl-D at the question is no answer: --yes was needed, exit 2, as an
    ended pipe (tests/test_confirmations.py: the same for rollback and playbook run --execute)."""
    db = str(tmp_path / "d.sqlite")
    store = open_dead_letters(db)
    store.add(payload="{}", error="e", label="MODEL_ANSWER_INVALID", model="Answer")
    store.close()
    r = _purge_at_a_terminal(db, b"n\n")
    assert r.returncode == 1 and r.stderr.endswith("mosaic-diag: not confirmed: nothing deleted\n"), r.stderr
    r = _purge_at_a_terminal(db, b"\x04")
    assert r.returncode == 2, r.stderr
    assert r.stderr.endswith("mosaic-diag: not confirmed: no answer (stdin ended): nothing deleted; add --yes to "
                             "delete them without asking\n"), r.stderr
    assert len(json.loads(run("dlq", "list", "--db", db, "--format", "json").stdout)) == 1
    r = _purge_at_a_terminal(db, b"y\n")
    assert r.returncode == 0 and "purged 1" in r.stdout, r.stderr


def test_a_file_that_is_not_sqlite_is_one_clear_line(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a database at all\n" * 50)
    r = run("dlq", "list", "--db", str(bad))
    assert r.returncode == 2 and "notes.txt" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1


def test_a_dsn_of_any_spelling_goes_to_postgresql_never_to_a_local_file(pg_db, tmp_path, monkeypatch):
    from urllib.parse import urlsplit

    monkeypatch.chdir(tmp_path)
    url = urlsplit(pg_db)
    keywords = (f"host={url.hostname} port={url.port} user={url.username} password={url.password} "
                f"dbname={url.path.lstrip('/')} sslmode=disable")
    for n, target in enumerate((pg_db.replace("postgresql://", "postgresql+psycopg2://", 1), keywords,
                                keywords.replace(f" dbname={url.path.lstrip('/')}", ""))):  # default dbname: the user's
        store = open_dead_letters(target)
        try:
            store.add(payload=f'{{"n": {n}}}', error="e", label="MODEL_ANSWER_INVALID", model="Answer")
        except Exception as exc:  # noqa: BLE001 - a database error is fine; a local file is not
            assert url.password not in str(exc), exc
        finally:
            store.close()
    assert list(tmp_path.iterdir()) == []  # no SQLite file named after the DSN (and its password)
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM mosaic_dead_letters")
        assert cur.fetchone() == (2,)
    conn.close()
    with pytest.raises(Exception, match="not a PostgreSQL URL or a SQLite file path") as caught:
        open_dead_letters("mysql://app:S3cretPw0rd@db/app")
    assert "S3cretPw0rd" not in str(caught.value)


def test_a_sqlite_dead_letter_file_is_readable_by_its_owner_only(tmp_path):
    store = open_dead_letters(tmp_path / "dead.sqlite")
    store.add(payload='{"email": "jane.doe@example.com"}', error="e", label="MODEL_ANSWER_INVALID", model="Answer")
    store.close()
    assert (tmp_path / "dead.sqlite").stat().st_mode & 0o077 == 0


def test_a_sqlite_dead_letter_file_other_users_may_write_is_not_used(tmp_path, caplog):
    """A file other users may write put where the app's dead letters go (a `/tmp` path another user took first, one
    made `chmod 666`): the answers, user data, were written into it, theirs to read and its letters theirs to forge.
    The guard stores nothing there (the caller still gets the rejection, a warning says why), `dlq` refuses it in one
    line, exit 2; nothing was written into it."""
    import logging

    path = tmp_path / "dlq.sqlite"
    path.touch()
    path.chmod(0o666)
    caplog.set_level(logging.WARNING, logger="mosaic.runtime.guard")
    guard = schema_guard(Answer, store=str(path))
    with pytest.raises(SchemaRejected) as caught:
        guard('{"answer": 1, "email": "jane.doe@example.com"}')
    assert caught.value.dead_letter_id is None
    assert "other users may write this dead-letter file (mode 0666)" in caplog.text
    assert path.stat().st_size == 0
    r = run("dlq", "list", "--db", str(path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "chmod 600" in r.stderr, r.stderr
    path.chmod(0o600)  # the owner's alone: used
    with pytest.raises(SchemaRejected) as caught:
        guard('{"answer": 1}')
    assert caught.value.dead_letter_id == 1
    guard.store.close()  # (its writer thread ended: left running until a garbage collection, into the next test)


def test_dlq_list_and_show_keep_a_field_on_its_line(tmp_path):
    """A prompt id or provider the app passed on from a request (`prompt_id=request.headers[…]`) holding a line
    break: `dlq list` and `dlq show` (table) wrote it as is, and where the listing is `name: value` lines the
    second line forged a field of its own (`label: ALL_CLEAR`)."""
    db = str(tmp_path / "d.sqlite")
    store = open_dead_letters(db)
    store.add(payload="{}", error="e", label="MODEL_ANSWER_INVALID", model="Answer",
              provider="openai\r\nlabel: ALL_CLEAR", prompt_id="ps101-3\nlabel: ALL_CLEAR")
    store.close()
    for args in (("list",), ("show", "1")):
        r = run("dlq", *args, "--db", db)
        assert r.returncode == 0, r.stderr
        assert not any(line.strip().startswith("label: ALL_CLEAR") for line in r.stdout.splitlines()), r.stdout
        assert "ps101-3\\nlabel: ALL_CLEAR" in r.stdout.replace("\n", ""), r.stdout


@pytest.mark.slow
def test_dlq_show_redacts_and_bounds_the_stored_error_and_answer(pg_db):
    """A stored error holding a DSN password and an API key, and a huge stored answer with keys at its start, across
    the cut and past it: every format shows them redacted, the answer cut with a note (`--max-chars 0`: whole)."""
    key = "sk-proj-" + "Q7w9" * 10
    straddling = "sk-proj-" + "Zx8v" * 10  # starts just before the cut at 4,000 characters
    payload = ('{"answer": "' + key + " " + "x" * (4000 - 12 - len(key) - 2 - 10) + " " + straddling + " "
               + "lorem ipsum " * 200_000 + 'postgres://app:tail-secret-pw@db.internal/app"}')
    error = (f"answer: Field required [type=missing] (stored by an older guard: postgresql://mosaic:Hunter2-pw@"
             f"dpg-x-a.oregon-postgres.render.com/mosaic, OPENAI_API_KEY={key})")
    store = open_dead_letters(pg_db)
    row = store.add(payload=payload, error=error, label="MODEL_ANSWER_INVALID", model="Answer", provider="openai")
    store.close()
    secrets = ("Q7w9Q7w9", "Zx8vZx8v", "Hunter2-pw", "tail-secret-pw")

    r = run("dlq", "show", str(row), "--db", pg_db, "--format", "json")
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert not any(s in r.stdout for s in secrets)
    assert "postgresql://mosaic:***@dpg-x-a.oregon-postgres.render.com/mosaic" in shown["error"]
    assert "error_chars" not in shown  # a short error is whole
    head, note = shown["payload"].rsplit("\n", 1)
    assert head.startswith('{"answer": "sk-*** xxx') and "x sk-*** lorem" in head  # both keys masked, then cut
    assert len(head) == 4000 and shown["payload_chars"] == len(payload)  # (the stored length)
    assert note == f"[… the first 4,000 characters shown, {len(payload):,} stored: --max-chars 0 shows everything …]"
    for fmt in ("table", "markdown"):
        r = run("dlq", "show", str(row), "--db", pg_db, "--format", fmt)
        assert r.returncode == 0, r.stderr
        assert not any(s in r.stdout for s in secrets) and "mosaic:***@dpg-x-a" in r.stdout
        assert f"characters shown, {len(payload):,} stored" in r.stdout and len(r.stdout) < 20_000
    r = run("dlq", "list", "--db", pg_db, "--format", "json", "--max-chars", "40")
    [listed] = json.loads(r.stdout)
    assert listed["error"].startswith(error[:40]) and listed["error_chars"] > 40 and "Hunter2" not in r.stdout

    r = run("dlq", "show", str(row), "--db", pg_db, "--format", "json", "--max-chars", "0")
    whole = json.loads(r.stdout)
    assert not any(s in r.stdout for s in secrets) and "payload_chars" not in whole
    assert whole["payload"] == payload.replace(key, "sk-***").replace(straddling, "sk-***").replace("tail-secret-pw",
                                                                                                  "***")
    assert whole["payload"].endswith('app:***@db.internal/app"}')


def test_dlq_show_redacts_the_whole_answer_when_its_window_is_mostly_masked(tmp_path):
    """`show` redacts a long answer only some way past the cut (`REDACT_AHEAD`), unless the window's redacted text is
    short (a private key block runs to the window's end when its END line is past it): then the whole answer is
    redacted, the block masked to its END line and the text after it shown."""
    from mosaic_diag.commands.dlq import REDACT_AHEAD

    block = "-----BEGIN PRIVATE KEY-----\n" + ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" * 2 + "\n") * (REDACT_AHEAD // 64) \
        + "-----END PRIVATE KEY-----\n"
    payload = block + "after the key " * 40_000
    store = open_dead_letters(tmp_path / "d.sqlite")
    row = store.add(payload=payload, error="answer: Field required", label="MODEL_ANSWER_INVALID", model="Answer")
    store.close()
    r = run("dlq", "show", str(row), "--db", str(tmp_path / "d.sqlite"), "--format", "json")
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    head, note = shown["payload"].rsplit("\n", 1)
    assert "MIIEvQ" not in head and head.count("after the key ") > 200 and len(head) == 4000
    assert shown["payload_chars"] == len(payload) and note.startswith("[… the first 4,000 characters shown, ")


def dead_letter_count(dsn: str) -> int:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM mosaic_dead_letters")
        found = cur.fetchone()[0]
    conn.close()
    return found


def test_a_store_whose_connection_the_server_closed_reconnects(llm, pg_db):
    """A database restart or an idle-connection reaper closes the store's connection: the next rejected answer is
    still dead-lettered (once), not an UnreachableError for ever after."""
    store = open_dead_letters(pg_db)
    guard = schema_guard(Answer, store=store)
    with pytest.raises(SchemaRejected) as first:
        guard('{"answer": "no question"}', provider="openai")
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        assert cur.fetchone()[0] == 1  # the store's connection
    conn.close()
    with pytest.raises(SchemaRejected) as second:
        guard('{"answer": "still no question"}', provider="openai")
    assert second.value.dead_letter_id is not None and second.value.dead_letter_id != first.value.dead_letter_id
    assert dead_letter_count(pg_db) == 2
    store.close()


def test_a_store_that_cannot_be_reached_does_not_hide_the_rejection(refused_port, caplog):
    store = open_dead_letters(f"postgresql://mosaic:pw@127.0.0.1:{refused_port}/mosaic")
    with pytest.raises(SchemaRejected) as info:
        schema_guard(Answer, store=store)('{"answer": 1}', provider="openai")
    assert info.value.dead_letter_id is None
    assert any("not dead-lettered" in r.getMessage() for r in caplog.records if r.name == "mosaic.runtime.guard")


def test_the_stored_answer_has_its_secrets_masked_and_is_bounded(pg_db):
    from mosaic_diag.runtime.guard import MAX_PAYLOAD_CHARS

    key = "sk-proj-" + "Q7w9" * 10
    answer = json.dumps({"answer": f"use {key} with postgresql://app:Hunter2-pw@db.internal/app",
                         "notes": "lorem ipsum " * 50_000})
    store = open_dead_letters(pg_db)
    with pytest.raises(SchemaRejected) as info:
        schema_guard(Answer, store=store)(answer, provider="openai")
    stored = store.get(info.value.dead_letter_id).payload
    store.close()
    masked = not any(secret in stored for secret in ("Q7w9Q7w9", "Hunter2-pw")) and "app:***@db.internal" in stored
    assert masked  # (a bool: pytest would diff the whole answer)
    assert len(stored) < MAX_PAYLOAD_CHARS + 200, len(stored)
    assert stored.endswith("in all) …]"), stored[-200:]


def test_an_invalid_answer_inside_llm_call_and_failover_is_dead_lettered_once(llm, pg_db):
    """SchemaRejected is neither retried nor failed over: one provider request, one dead letter."""
    llm.set_failure("openai", "malformed")
    store = open_dead_letters(pg_db)
    guard = schema_guard(Answer, store=store)

    @llm_call(provider="openai", sleep=lambda s: None)
    def ask_openai() -> Answer:
        return guard(ask(llm), provider="openai")

    @llm_call(provider="anthropic", sleep=lambda s: None)
    def ask_other() -> Answer:
        raise AssertionError("not asked: the other provider would get the same prompt")

    with pytest.raises(SchemaRejected):
        failover(ask_openai, ask_other)()
    assert sum(1 for r in llm.requests if r.provider == "openai") == 1
    assert dead_letter_count(pg_db) == 1
    store.close()


class Other(BaseModel):
    verdict: str


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_the_same_answer_rejected_again_is_one_letter_with_a_count(llm, backend, request, tmp_path):
    """The app asks again and the model answers the same invalid text: one letter, seen three times, last seen at the
    third; another site (prompt id) or another schema is a letter of its own."""
    target = request.getfixturevalue("pg_db") if backend == "postgres" else str(tmp_path / "dlq.sqlite")
    store = open_dead_letters(target)
    llm.set_failure("openai", "malformed")
    text = ask(llm)
    ids = []
    for _ in range(3):
        with pytest.raises(SchemaRejected) as info:
            schema_guard(Answer, store=store, prompt_id="ps101-3")(text, provider="openai")
        ids.append(info.value.dead_letter_id)
    assert len(set(ids)) == 1
    [letter] = store.list()
    assert (letter.id, letter.count) == (ids[0], 3) and letter.last_seen_at > letter.created_at
    for guard in (schema_guard(Answer, store=store, prompt_id="other-site"), schema_guard(Other, store=store)):
        with pytest.raises(SchemaRejected):
            guard(text, provider="openai")
    assert sorted(letter.count for letter in store.list()) == [1, 1, 3]
    store.close()
    r = run("dlq", "list", "--db", target, "--format", "json")
    assert r.returncode == 0, r.stderr
    assert [row["count"] for row in json.loads(r.stdout) if row["id"] == ids[0]] == [3]
    r = run("dlq", "list", "--db", target, "--format", "markdown")
    assert "| count |" in r.stdout and f"| {ids[0]} | 3 |" in r.stdout
    r = run("dlq", "show", str(ids[0]), "--db", target)
    assert r.returncode == 0 and "rejected 3 times, last at" in r.stdout
    r = run("dlq", "show", str(ids[0]), "--db", target, "--format", "markdown")
    assert "- **count**: 3" in r.stdout


def test_instances_rejecting_the_same_answer_at_once_make_one_letter(pg_db):
    """Eight instances (a store each) reject the same answer at the same moment: one row seen eight times."""
    import threading

    barrier = threading.Barrier(8)
    ids: list[int | None] = []

    def instance() -> None:
        store = open_dead_letters(pg_db)
        store.list()  # connected (and the table made) before the race
        barrier.wait(30)
        with pytest.raises(SchemaRejected) as info:
            schema_guard(Answer, store=store)('{"answer": 1}', provider="openai")
        ids.append(info.value.dead_letter_id)
        store.close()

    threads = [threading.Thread(target=instance) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(ids) == 8 and len(set(ids)) == 1 and None not in ids
    assert dead_letter_count(pg_db) == 1
    store = open_dead_letters(pg_db)
    assert store.get(ids[0]).count == 8
    store.close()


_OLD_PG_DDL = """CREATE TABLE mosaic_dead_letters (id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    provider text, prompt_id text, label text NOT NULL, model text NOT NULL, error text NOT NULL, payload text NOT NULL,
    replayed_at timestamptz)"""
_OLD_SQLITE_DDL = """CREATE TABLE mosaic_dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL,
    provider TEXT, prompt_id TEXT, label TEXT NOT NULL, model TEXT NOT NULL, error TEXT NOT NULL, payload TEXT NOT NULL,
    replayed_at TEXT)"""
_OLD_ROW = ("openai", "ps101-3", "MODEL_ANSWER_INVALID", "Answer", "answer: Field required [type=missing]", '{"a": 1}')


def _old_format(backend: str, target: str) -> None:
    """A dead-letter table as the guard made it before de-duplication, with two letters of the same answer."""
    if backend == "postgres":
        with psycopg2.connect(target) as conn, conn.cursor() as cur:
            cur.execute(_OLD_PG_DDL)
            for _ in range(2):
                cur.execute("INSERT INTO mosaic_dead_letters (provider, prompt_id, label, model, error, payload) "
                            "VALUES (%s, %s, %s, %s, %s, %s)", _OLD_ROW)
        conn.close()
        return
    import sqlite3

    conn = sqlite3.connect(target)
    with conn:
        conn.execute(_OLD_SQLITE_DDL)
        for _ in range(2):
            conn.execute("INSERT INTO mosaic_dead_letters (created_at, provider, prompt_id, label, model, error, "
                         "payload) VALUES ('2026-12-01T10:00:00+00:00', ?, ?, ?, ?, ?, ?)", _OLD_ROW)
    conn.close()


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_letters_stored_in_the_older_format_still_read_and_the_table_is_upgraded(backend, request, tmp_path):
    target = request.getfixturevalue("pg_db") if backend == "postgres" else str(tmp_path / "old.sqlite")
    _old_format(backend, target)
    r = run("dlq", "list", "--db", target, "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(row["count"], row["last_seen_at"] == row["created_at"]) for row in rows] == [(1, True), (1, True)]
    store = open_dead_letters(target)
    first = store.add(payload='{"a": 1}', error="e", label="MODEL_ANSWER_INVALID", model="Answer", prompt_id="ps101-3")
    again = store.add(payload='{"a": 1}', error="e", label="MODEL_ANSWER_INVALID", model="Answer", prompt_id="ps101-3")
    assert first == again and store.get(first).count == 2  # the upgraded table de-duplicates from now on
    assert sorted(letter.count for letter in store.list()) == [1, 1, 2]
    store.close()


def test_an_older_table_that_cannot_be_upgraded_is_still_read(pg_db, caplog):
    """A read-only database (a replica, the CLI on a read-only role): the older table is read as it is."""
    _old_format("postgres", pg_db)
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute("SELECT current_database()")
        cur.execute(f'ALTER DATABASE "{cur.fetchone()[0]}" SET default_transaction_read_only = on')
    conn.close()
    store = open_dead_letters(pg_db)
    letters = store.list()
    assert [(letter.count, letter.last_seen_at) for letter in letters] == [(1, letters[0].created_at),
                                                                          (1, letters[1].created_at)]
    assert store.get(letters[0].id).payload == '{"a": 1}'
    assert any("cannot be made or upgraded" in r.getMessage() for r in caplog.records)
    store.close()
    r = run("dlq", "show", str(letters[0].id), "--db", pg_db)
    assert r.returncode == 0 and "rejected once" in r.stdout


class Scored(BaseModel):
    answer: str
    scores: dict[str, int]


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_answers_the_store_cannot_take_as_they_are_are_still_rejected_and_stored(backend, request, tmp_path):
    """A lone surrogate (a decoded `\\ud83d` of a cut emoji), a NUL, an object json cannot write (a tuple key): the
    caller still gets SchemaRejected, and each is a letter whose text says what was there."""
    target = request.getfixturevalue("pg_db") if backend == "postgres" else str(tmp_path / "dlq.sqlite")
    store = open_dead_letters(target)
    guard = schema_guard(Scored, store=store, provider="openai")
    answers = [json.loads('{"answer": "cut emoji \\ud83d", "scores": {"a": "x"}}')["answer"],
               '{"answer": "a\x00b"}', {("a", "b"): 1}, {"answer": "x", "scores": {"k\x00\ud800": "y"}}]
    ids = []
    for answer in answers:
        with pytest.raises(SchemaRejected) as info:
            guard(answer)
        assert info.value.dead_letter_id is not None, answer
        ids.append(info.value.dead_letter_id)
    rows = [store.get(i) for i in ids]
    assert "cut emoji \\ud83d" in rows[0].payload and "a\\u0000b" in rows[1].payload
    assert "('a', 'b')" in rows[2].payload and "scores.k\\u0000" in rows[3].error
    store.close()


class Checked(BaseModel):
    answer: str
    scores: list[int]
    tags: dict[str, int] = {}

    @field_validator("answer")
    @classmethod
    def no_placeholder(cls, value: str) -> str:  # an app's validator that quotes the value in its message
        if "TODO" in value:
            raise ValueError(f"answer is a placeholder: {value[:200]}")
        return value


def test_the_stored_error_is_bounded_and_masked_however_many_errors_the_answer_makes(pg_db):
    """An answer of 50,000 wrong items and a key of a megabyte (each error a line, each location the key) and a
    validator that quotes a key: the stored error stays small, says how many errors it left out, and holds no key."""
    from mosaic_diag.runtime.guard import MAX_ERROR_CHARS

    key = "sk-proj-" + "Q7w9" * 10
    answer = json.dumps({"answer": f"TODO use {key}", "scores": ["x"] * 50_000, "tags": {"k" * 1_000_000: "y"}})
    store = open_dead_letters(pg_db)
    with pytest.raises(SchemaRejected) as info:
        schema_guard(Checked, store=store)(answer, provider="openai")
    error = store.get(info.value.dead_letter_id).error
    store.close()
    assert len(error) <= MAX_ERROR_CHARS + 200, len(error)
    assert "Q7w9Q7w9" not in error and "answer: Value error, answer is a placeholder: TODO use sk-***" in error
    assert "scores.0: Input should be a valid integer" in error
    assert error.endswith("[… 49,962 more errors not stored (50,002 in all) …]"), error[-300:]


def test_a_careless_wiring_fails_at_once_or_works_never_at_the_first_rejected_answer(pg_db):
    """A DSN given where the store was meant is that store (it was an AttributeError at the first rejected answer,
    a 500); a model that is not Pydantic's or a store that is no store is a TypeError when the guard is made; an
    un-awaited call (a coroutine) is a TypeError saying so, not an answer dead-lettered as invalid."""
    guard = schema_guard(Answer, store=pg_db)
    with pytest.raises(SchemaRejected) as info:
        guard('{"answer": 1}', provider="openai")
    assert info.value.dead_letter_id is not None
    with pytest.raises(TypeError, match="not a Pydantic model"):
        schema_guard(dict)
    with pytest.raises(TypeError, match="not a dead-letter store"):
        schema_guard(Answer, store=42)

    async def ask() -> str:
        return '{"answer": "a", "question": "q"}'

    with pytest.raises(TypeError, match="await"):
        guard(ask())
    assert dead_letter_count(pg_db) == 1
    guard.store.close()


def test_a_dead_letter_database_down_is_tried_again_later_not_at_every_rejected_answer(pg):
    """PostgreSQL down while answers are rejected: one connection attempt, then none for `retry_after` seconds (each
    attempt can wait its connect timeout, with every other rejection queued behind the store's lock); the rejections
    are still raised; once it is back, the next one is stored."""
    import secrets

    from tests.pgproxy import Proxy

    name = f"dl_{secrets.token_hex(3)}"
    pg.create_database(name)
    proxy = Proxy(pg.port)
    proxy.up = False
    now = [0.0]
    try:
        store = open_dead_letters(pg.dsn(name, port=proxy.port), retry_after=30, clock=lambda: now[0])
        guard = schema_guard(Answer, store=store)
        for n in range(20):
            with pytest.raises(SchemaRejected) as info:
                guard(f'{{"answer": {n}}}', provider="openai")
            assert info.value.dead_letter_id is None
        assert proxy.accepted == 1
        proxy.up = True
        now[0] += 31
        with pytest.raises(SchemaRejected) as info:
            guard('{"answer": "back"}', provider="openai")
        assert info.value.dead_letter_id is not None and dead_letter_count(pg.dsn(name)) == 1
        store.close()
    finally:
        proxy.close()


def _rejected_in_thread(guard, answer: str) -> tuple[threading.Thread, list]:
    """`guard(answer)` on a thread of its own; the list gets the SchemaRejected (or any other exception) it raised."""
    outcome: list = []

    def run_guard() -> None:
        try:
            guard(answer, provider="openai")
        except BaseException as exc:  # what the test reads
            outcome.append(exc)

    thread = threading.Thread(target=run_guard, daemon=True)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("lock", ["row", "table"])
def test_a_letter_written_while_another_connection_holds_a_lock_times_out_and_the_rejection_still_reaches_the_caller(
        pg_db, caplog, lock):
    """A long `dlq purge` holding the letter's row, another instance upgrading the table (ACCESS EXCLUSIVE): the
    letter waits at most the store's statement timeout, the caller still gets the rejection, a warning says why,
    and the store is not tried again for `retry_after` (each rejection meanwhile would wait as long); after it the
    letters are stored again."""
    now = [0.0]
    store = open_dead_letters(pg_db, statement_timeout=0.3, retry_after=30, clock=lambda: now[0])
    guard = schema_guard(Answer, store=store)
    with pytest.raises(SchemaRejected) as first:
        guard('{"answer": "held"}', provider="openai")
    holder = psycopg2.connect(pg_db)
    try:
        with holder.cursor() as cur:
            if lock == "row":  # the same answer again: its upsert waits for the row
                cur.execute("SELECT id FROM mosaic_dead_letters WHERE id = %s FOR UPDATE",
                            (first.value.dead_letter_id,))
            else:
                cur.execute("LOCK TABLE mosaic_dead_letters IN ACCESS EXCLUSIVE MODE")
        thread, outcome = _rejected_in_thread(guard, '{"answer": "held"}')
        thread.join(30)  # (a liveness bound: without a timeout the letter waits for the lock for ever)
        assert not thread.is_alive(), "the dead letter waited for the lock with no limit"
        assert isinstance(outcome[0], SchemaRejected) and outcome[0].dead_letter_id is None
        warned = [r.getMessage() for r in caplog.records if r.name == "mosaic.runtime.guard"]
        assert any("not dead-lettered" in m and "timeout" in m for m in warned), warned
        with pytest.raises(SchemaRejected) as meanwhile:  # not tried again: answered at once, lock or not
            guard('{"answer": "meanwhile"}', provider="openai")
        assert meanwhile.value.dead_letter_id is None
        assert "not tried again" in caplog.records[-1].getMessage()
    finally:
        holder.rollback()
        holder.close()
    now[0] += 31
    with pytest.raises(SchemaRejected) as after:
        guard('{"answer": "held"}', provider="openai")
    assert after.value.dead_letter_id == first.value.dead_letter_id
    assert store.get(first.value.dead_letter_id).count == 2 and dead_letter_count(pg_db) == 1
    store.close()


@pytest.mark.parametrize("form", ["sync", "async"])
def test_a_dead_letter_database_that_stops_answering_is_waited_for_within_the_store_timeout(pg, caplog, form):
    """A network that drops every packet (the relay frozen): the caller gets the rejection after `store_timeout`
    (the write goes on on the store's thread), and while that write is still stuck the next rejections do not queue
    behind it; once the database answers, letters are stored again."""
    import asyncio
    import secrets

    from tests.pgproxy import Proxy

    name = f"dl_{secrets.token_hex(3)}"
    pg.create_database(name)
    proxy = Proxy(pg.port)
    store = open_dead_letters(pg.dsn(name, port=proxy.port))
    guard = schema_guard(Answer, store=store, store_timeout=0.5)

    def rejected(answer: str) -> SchemaRejected:
        with pytest.raises(SchemaRejected) as info:
            if form == "sync":
                guard(answer, provider="openai")
            else:
                asyncio.run(guard.call_async(answer, provider="openai"))
        return info.value

    try:
        assert rejected('{"answer": "before"}').dead_letter_id is not None
        proxy.freeze()
        assert rejected('{"answer": "frozen"}').dead_letter_id is None
        warned = [r.getMessage() for r in caplog.records if r.name == "mosaic.runtime.guard"]
        assert any("did not answer within 0.5 s" in m for m in warned), warned
        rejected('{"answer": "queued"}')  # (stuck or waited for: either way not stored)
        assert rejected('{"answer": "stuck"}').dead_letter_id is None
        assert "stuck for" in caplog.records[-1].getMessage()
        proxy.thaw()
        deadline = time.monotonic() + 30  # (a liveness bound: the stuck write ends once the relay flows)
        while store.writing_since is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rejected('{"answer": "after"}').dead_letter_id is not None
    finally:
        proxy.close()
        store.close()
    assert dead_letter_count(pg.dsn(name)) >= 3  # before, after and the frozen one once it got through


def test_a_sync_guard_on_the_event_loop_warns_once_and_call_async_does_not(tmp_path, caplog):
    import asyncio

    guard = schema_guard(Answer, store=str(tmp_path / "dlq.sqlite"))

    async def endpoint(use_async: bool) -> int | None:
        try:
            if use_async:
                await guard.call_async('{"answer": "a"}', provider="openai")
            else:
                guard('{"answer": "s"}', provider="openai")
        except SchemaRejected as exc:
            return exc.dead_letter_id
        return None

    assert asyncio.run(endpoint(True)) is not None
    assert not [r for r in caplog.records if "event loop" in r.getMessage()]
    assert asyncio.run(endpoint(False)) is not None and asyncio.run(endpoint(False)) is not None
    warned = [r.getMessage() for r in caplog.records if "event loop" in r.getMessage()]
    assert len(warned) == 1 and "call_async" in warned[0]
    assert guard.store is not None and [letter.count for letter in guard.store.list()] == [2, 1]
    guard.store.close()


def _wait_for(found: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + 30  # (a liveness bound, not a measured time)
    while not (value := found()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert value, f"never saw {what}"
    return value


def test_instances_upgrading_an_older_postgres_table_at_once_take_turns(pg_db, caplog):
    """Another instance is upgrading the older table (its transaction holds the upgrade's advisory lock and has
    altered the table, not committed yet): this one waits for that lock, not in the table's lock queue behind it
    (where its own ALTER would stop every reader and writer of the table), then finds the table upgraded."""
    from mosaic_diag.runtime.guard import _PG_UPGRADE, UPGRADE_LOCK

    _old_format("postgres", pg_db)
    other = psycopg2.connect(pg_db)
    watcher = psycopg2.connect(pg_db)
    watcher.autocommit = True
    store = open_dead_letters(pg_db, statement_timeout=60)
    try:
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (UPGRADE_LOCK,))
            cur.execute(_PG_UPGRADE)
        thread, outcome = _rejected_in_thread(schema_guard(Answer, store=store), '{"answer": "during"}')

        def waiting() -> list[str]:
            with watcher.cursor() as cur:
                cur.execute("SELECT l.locktype FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                            "WHERE NOT l.granted AND a.datname = current_database()")
                return [row[0] for row in cur.fetchall()]

        assert _wait_for(waiting, "the store waiting for the other instance") == ["advisory"]
        other.commit()
        thread.join(30)  # (a liveness bound)
        assert not thread.is_alive() and isinstance(outcome[0], SchemaRejected)
        assert outcome[0].dead_letter_id is not None and store.deduplicates
        assert not any("cannot be made or upgraded" in r.getMessage() for r in caplog.records)
    finally:
        other.close()
        watcher.close()
        store.close()


def test_processes_upgrading_an_older_sqlite_table_at_once_take_turns(tmp_path, caplog, monkeypatch):
    """Another process is upgrading the older SQLite table (its write transaction has added the columns, not
    committed yet) when this one connects: it waits for the write lock and reads the columns again under it; it
    used to ALTER after the other committed, a "duplicate column name", and wrote letters without de-duplication
    until it reconnected."""
    import sqlite3

    target = str(tmp_path / "old.sqlite")
    _old_format("sqlite", target)
    other = sqlite3.connect(target, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    for name, kind in (("fingerprint", "TEXT"), ("seen_count", "INTEGER NOT NULL DEFAULT 1"), ("last_seen_at", "TEXT")):
        other.execute(f"ALTER TABLE mosaic_dead_letters ADD COLUMN {name} {kind}")
    traced: list[str] = []  # the statements the store's connection began (sqlite3's trace callback)
    real_connect = sqlite3.connect

    def traced_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)
        conn.set_trace_callback(traced.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced_connect)
    store = open_dead_letters(target, statement_timeout=60)
    try:
        thread, outcome = _rejected_in_thread(schema_guard(Answer, store=store), '{"answer": "during"}')
        _wait_for(lambda: [s for s in traced if s.startswith(("ALTER", "BEGIN IMMEDIATE"))],
                  "the store's first write to the table (it waits there for the other process)")
        other.execute("COMMIT")
        thread.join(30)  # (a liveness bound)
        assert not thread.is_alive() and isinstance(outcome[0], SchemaRejected)
        assert outcome[0].dead_letter_id is not None
        assert not any("cannot be made or upgraded" in r.getMessage() for r in caplog.records)
        assert store.deduplicates
    finally:
        other.close()
        store.close()


def test_a_flood_of_rejections_against_a_stuck_store_holds_a_bounded_number_of_letters(caplog) -> None:
    """An app's own store whose writes hang (a database that stopped answering): each rejected answer used to
    start one more thread holding its answer, without end. At most MAX_WAITING_LETTERS wait; the rest are said,
    not stored, and the caller still gets each rejection at once; once the store answers, letters are kept again."""
    from mosaic_diag.runtime.guard import MAX_WAITING_LETTERS

    release = threading.Event()
    kept: list[str] = []

    class HangingStore:
        def add(self, **letter: Any) -> int:
            release.wait(60)
            kept.append(letter["payload"])
            return len(kept)

    guard = schema_guard(Answer, store=HangingStore(), store_timeout=0.01)
    caplog.set_level("WARNING", logger="mosaic.runtime.guard")
    try:
        for i in range(MAX_WAITING_LETTERS + 40):
            with pytest.raises(SchemaRejected) as rejected:
                guard(json.dumps({"answer": f"a{i}"}))  # no `question`: rejected
            assert rejected.value.dead_letter_id is None
        letters = [t for t in threading.enumerate() if t.name == "mosaic-dead-letter"]
        assert len(letters) <= MAX_WAITING_LETTERS
        refused = [r for r in caplog.records if "dead letters already wait for the store" in r.getMessage()]
        assert len(refused) == 40, [r.getMessage() for r in caplog.records][-3:]
    finally:
        release.set()
    for thread in letters:
        thread.join(60)
    assert len(kept) == MAX_WAITING_LETTERS
    guard.store_timeout = 30  # (the store answers again: the caller may wait for its letter)
    with pytest.raises(SchemaRejected) as rejected:  # nothing waits any more: the letter is kept
        guard(json.dumps({"answer": "late"}))
    assert rejected.value.dead_letter_id == MAX_WAITING_LETTERS + 1


# ---------------------------------------------------------------- the table's bound
def _letter(store, n: int) -> int:
    return store.add(payload=f'{{"n": {n}}}', error="e", label="MODEL_ANSWER_INVALID", model="Answer")


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_past_its_bound_a_new_letter_evicts_the_oldest_counted_and_said(backend, request, tmp_path, monkeypatch):
    """Dead letters were kept without number (only `dlq purge` removed any): an app rejecting new answers for weeks
    filled its database. Past the bound (MOSAIC_DLQ_MAX_LETTERS here) a new letter evicts the one seen longest ago
    (a letter seen again is young again), each eviction counted where `dlq stats`, `dlq list` and /health say it."""
    from mosaic_diag.runtime.health import health_payload

    target = request.getfixturevalue("pg_db") if backend == "postgres" else str(tmp_path / "dlq.sqlite")
    monkeypatch.setenv("MOSAIC_DLQ_MAX_LETTERS", "3")
    store = open_dead_letters(target)
    a, b, c = (_letter(store, n) for n in range(3))
    assert _letter(store, 0) == a  # seen again: now the letter seen last
    d, e = _letter(store, 3), _letter(store, 4)  # each evicts the oldest: b, then c
    assert [letter.id for letter in store.list()] == [e, d, a]
    _, body = health_payload(database_check={"ok": True}, dead_letters=store)
    store.close()
    assert {k: body["dead_letters"][k] for k in ("letters", "max_letters", "evicted")} == {
        "letters": 3, "max_letters": 3, "evicted": 2}
    assert body["dead_letters"]["last_evicted_at"] and body["status"] == "ok"
    monkeypatch.delenv("MOSAIC_DLQ_MAX_LETTERS")  # (the CLI reads the bound the writers recorded)
    r = run("dlq", "stats", "--db", target, "--format", "json")
    assert r.returncode == 0, r.stderr
    assert {k: v for k, v in json.loads(r.stdout).items() if k not in ("database", "last_evicted_at")} == {
        "table": True, "letters": 3, "max_letters": 3, "evicted": 2}
    for fmt in ("table", "markdown"):
        r = run("dlq", "list", "--db", target, "--format", fmt)
        said = " ".join(r.stdout.split())  # (the table's title folded at the terminal's width)
        assert r.returncode == 0 and "3 kept (at most 3), 2 evicted, the oldest first, last at" in said, r.stdout
    r = run("dlq", "stats", "--db", target)
    assert r.returncode == 0 and "3 kept (at most 3), 2 evicted" in r.stdout


def test_instances_evicting_at_once_keep_the_bound_exactly_and_count_each_eviction(pg_db):
    """Eight instances (a store each) write new letters at the same moment past the bound: the table ends at the
    bound, every letter written is kept or counted evicted, none twice."""
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def instance(k: int) -> None:
        store = open_dead_letters(pg_db, max_letters=5, statement_timeout=30)
        try:
            store.list()  # connected (the tables made) before the race
            barrier.wait(30)
            for n in range(5):
                _letter(store, k * 100 + n)
        except BaseException as exc:  # (the test's to see)
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=instance, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    store = open_dead_letters(pg_db, max_letters=5)
    stats = store.stats()
    store.close()
    assert (stats.letters, stats.evicted, dead_letter_count(pg_db)) == (5, 40 - 5, 5)


def test_a_table_far_past_its_bound_is_brought_under_it_write_by_write_or_at_once_by_dlq_trim(tmp_path, monkeypatch):
    """A table that grew before the bound: a write evicts at most EVICT_AT_ONCE (each write within its statement
    timeout), `dlq trim --max-letters N` the rest at once, asking first; both counted. A bound that is no whole number
    above 0, given or in MOSAIC_DLQ_MAX_LETTERS, is one line, exit 2."""
    from mosaic_diag.errors import UsageError
    from mosaic_diag.runtime import guard

    db = str(tmp_path / "d.sqlite")
    store = open_dead_letters(db, max_letters=1000)
    for n in range(10):
        _letter(store, n)
    store.close()
    monkeypatch.setattr(guard, "EVICT_AT_ONCE", 2)
    store = open_dead_letters(db, max_letters=4)
    _letter(store, 10)
    assert (store.stats().letters, store.stats().evicted) == (11 - 2, 2)
    store.close()
    r = run("dlq", "trim", "--max-letters", "4", "--db", db)  # stdin at its end: asked, no answer
    assert r.returncode == 2 and "evict 5 dead letter(s)" in r.stderr and "--yes" in r.stderr
    r = run("dlq", "trim", "--max-letters", "4", "--db", db, "--dry-run", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["would_evict"] == 5 and json.loads(r.stdout)["evicted"] == 0
    r = run("dlq", "trim", "--max-letters", "4", "--db", db, "--yes", "--format", "json")
    assert r.returncode == 0, r.stderr
    done = json.loads(r.stdout)
    assert done["evicted"] == 5 and {k: done["stats"][k] for k in ("letters", "evicted", "max_letters")} == {
        "letters": 4, "evicted": 7, "max_letters": 4}  # (the writers' bound as they recorded it)
    store = open_dead_letters(db)
    assert sorted(json.loads(letter.payload)["n"] for letter in store.list()) == [7, 8, 9, 10]
    store.close()
    for bad in ("0", "-3", "ten"):
        r = run("dlq", "trim", "--max-letters", bad, "--db", db, "--yes")
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--max-letters" in r.stderr, r.stderr
        r = run("dlq", "stats", "--db", db, MOSAIC_DLQ_MAX_LETTERS=bad)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "MOSAIC_DLQ_MAX_LETTERS" in r.stderr, r.stderr
    for value in (0, -1, "x", True):
        with pytest.raises(UsageError, match="max_letters takes"):
            open_dead_letters(db, max_letters=value)


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_a_bound_of_other_digits_or_past_postgresqls_integer_is_one_line_exit_2(backend, request, tmp_path):
    """str.isdigit takes '²' (int() then raised: a traceback) and '١٢٣' (read as 123); a bound past 2,147,483,647
    was taken, then every letter PostgreSQL was given failed ('integer out of range' in the evictions table: the
    letters lost, said as the database unreachable) and SQLite's past 2**63 raised OverflowError. The bound, given,
    in MOSAIC_DLQ_MAX_LETTERS or to `dlq trim`, is ASCII digits up to PostgreSQL's integer."""
    from mosaic_diag.errors import UsageError
    from mosaic_diag.runtime.guard import MAX_LETTERS_CAP

    target = request.getfixturevalue("pg_db") if backend == "postgres" else str(tmp_path / "d.sqlite")
    store = open_dead_letters(target, max_letters=MAX_LETTERS_CAP)  # the largest: letters stored
    assert _letter(store, 1) and store.stats().max_letters == MAX_LETTERS_CAP
    store.close()
    for bad in ("\u00b2", "\u0661\u0662\u0663", str(MAX_LETTERS_CAP + 1), str(2**63), "9" * 5000, "1e3", "1,,0"):
        with pytest.raises(UsageError, match="max_letters takes"):
            open_dead_letters(target, max_letters=bad)
        r = run("dlq", "trim", "--max-letters", bad, "--db", target, "--yes")
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--max-letters takes" in r.stderr, r.stderr
        assert len(r.stderr) < 300
        r = run("dlq", "stats", "--db", target, MOSAIC_DLQ_MAX_LETTERS=bad)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "MOSAIC_DLQ_MAX_LETTERS takes" in r.stderr, r.stderr
    with pytest.raises(UsageError, match="max_letters takes"):
        open_dead_letters(target, max_letters=MAX_LETTERS_CAP + 1)
    for good, bound in (("10_000", 10_000), ("10,000", 10_000), (" 7 ", 7)):
        r = run("dlq", "trim", "--max-letters", good, "--db", target, "--dry-run", "--format", "json")
        assert r.returncode == 0 and json.loads(r.stdout)["max_letters"] == bound, r.stderr


@pytest.mark.parametrize("grants", [
    "SELECT, INSERT, UPDATE ON mosaic_dead_letters; GRANT SELECT ON mosaic_dead_letters_evictions",
    "SELECT, INSERT, UPDATE ON mosaic_dead_letters; GRANT SELECT, INSERT, UPDATE ON mosaic_dead_letters_evictions",
], ids=["evictions-read-only", "no-delete"])
def test_a_role_that_may_not_evict_still_stores_its_letters(pg, pg_db, grants, caplog):
    """The app's role may write letters but not the evictions table (made by the owner, read-only to it) or not
    delete letters: the eviction failed inside the letter's transaction and took the letter with it, every one
    ('permission denied', said as the database unreachable). The eviction is undone alone: the letter is kept,
    the store is unbounded from then on, warned once."""
    import secrets

    owner = open_dead_letters(pg_db, max_letters=2)
    owner.stats()  # (both tables made by their owner)
    dbname = pg_db.rsplit("/", 1)[1].split("?")[0]
    role = f"dlq_writer_{secrets.token_hex(3)}"
    admin = psycopg2.connect(pg.superuser_dsn(dbname), connect_timeout=10)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'writer-pw'")
            cur.execute(f"GRANT {grants.replace('; GRANT', f' TO {role}; GRANT')} TO {role}")
            cur.execute(f"GRANT USAGE ON SEQUENCE mosaic_dead_letters_id_seq TO {role}")
        writer = open_dead_letters(pg_db.replace(f"mosaic:{pg.password}@", f"{role}:writer-pw@"), max_letters=2)
        caplog.set_level("WARNING", logger="mosaic.runtime.guard")
        ids = [_letter(writer, n) for n in range(4)]
        assert len(set(ids)) == 4 and [owner.get(i) is not None for i in ids] == [True] * 4
        assert writer.stats().to_dict() == {"letters": 4, "max_letters": None, "evicted": None,
                                            "last_evicted_at": None}
        said = [r.getMessage() for r in caplog.records if "the bound cannot be kept" in r.getMessage()]
        assert len(said) == 1 and "permission denied" in said[0] and "writer-pw" not in said[0], said
        writer.close()
    finally:
        owner.close()
        with admin.cursor() as cur:
            cur.execute(f"DROP OWNED BY {role}")
            cur.execute(f"DROP ROLE {role}")
        admin.close()



@contextlib.contextmanager
def _role(pg, pg_db: str, *grants: str) -> Iterator[str]:
    """A login role of the test's own holding only `grants` (`{role}` in them is its name) and no CREATE on the
    database's schema (PostgreSQL 15's default, made sure of): its DSN (password `role-pw`); dropped afterwards."""
    import secrets

    dbname = pg_db.rsplit("/", 1)[1].split("?")[0]
    role = f"dlq_role_{secrets.token_hex(3)}"
    admin = psycopg2.connect(pg.superuser_dsn(dbname), connect_timeout=10)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'role-pw'")
            cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            for grant in grants:
                cur.execute(grant.format(role=role))
        yield pg_db.replace(f"mosaic:{pg.password}@", f"{role}:role-pw@")
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP OWNED BY {role}")
            cur.execute(f"DROP ROLE {role}")
        admin.close()


def _one_line_exit_2(r: subprocess.CompletedProcess[str], *said: str) -> None:
    """A `dlq` command refused by the database: exit 2, one line saying `said`, never "unreachable", no password."""
    assert r.returncode == 2 and r.stderr.count("\n") == 1, (r.returncode, r.stderr)
    assert "unreachable" not in r.stderr and "role-pw" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    for text in said:
        assert text in r.stderr, (text, r.stderr)


def test_dlq_refused_by_a_grant_or_a_read_only_database_is_exit_2_naming_it_never_unreachable(pg, pg_db):
    """A role that may read the letters but not delete them (`dlq purge`, `dlq trim`), one that may not even read
    them, a role that may not make the table where there is none, a read-only database: each was said as "the
    dead-letter database unreachable", exit 3, sending the operator to the network. Each is exit 2, one line
    naming the grant missing (the privilege, the table, the role) or what else is wrong; only a connection that
    failed or a statement that timed out stays exit 3."""
    owner = open_dead_letters(pg_db)
    first, second = _letter(owner, 0), _letter(owner, 1)
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("UPDATE mosaic_dead_letters SET created_at = now() - interval '30 days'")
    conn.close()
    with _role(pg, pg_db, "GRANT SELECT ON mosaic_dead_letters, mosaic_dead_letters_evictions TO {role}") as reader:
        role = reader.split("://", 1)[1].split(":", 1)[0]
        r = run("dlq", "list", "--db", reader, "--format", "json")
        assert r.returncode == 0 and {row["id"] for row in json.loads(r.stdout)} == {first, second}, r.stderr
        r = run("dlq", "purge", "--older-than", "7d", "--yes", "--db", reader)
        _one_line_exit_2(r, "permission denied for table mosaic_dead_letters",
                         f"GRANT DELETE ON mosaic_dead_letters TO {role}")
        r = run("dlq", "trim", "--max-letters", "1", "--yes", "--db", reader)
        _one_line_exit_2(r, f"GRANT DELETE, UPDATE ON mosaic_dead_letters TO {role}")
        assert owner.stats().letters == 2
    with _role(pg, pg_db) as stranger:
        role = stranger.split("://", 1)[1].split(":", 1)[0]
        r = run("dlq", "list", "--db", stranger)
        _one_line_exit_2(r, f"GRANT SELECT ON mosaic_dead_letters TO {role}")
    with _role(pg, pg_db, "GRANT SELECT, INSERT, UPDATE ON mosaic_dead_letters TO {role}") as writer:
        role = writer.split("://", 1)[1].split(":", 1)[0]
        store = open_dead_letters(writer)  # (the sequence of the ids not granted)
        with pytest.raises(ConfigError) as refused:
            _letter(store, 2)
        store.close()
        assert refused.value.exit_code == 2 and "\n" not in str(refused.value), refused.value
        assert f"GRANT USAGE ON SEQUENCE mosaic_dead_letters_id_seq TO {role}" in str(refused.value)
    owner.close()
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute("SELECT current_database()")
        cur.execute(f'ALTER DATABASE "{cur.fetchone()[0]}" SET default_transaction_read_only = on')
    conn.close()
    r = run("dlq", "purge", "--older-than", "7d", "--yes", "--db", pg_db)
    _one_line_exit_2(r, "cannot execute DELETE in a read-only transaction", "read-only")


def test_dlq_on_a_database_without_the_table_and_a_role_that_may_not_make_it(pg, pg_db, caplog):
    """No dead-letter table (a wrong database, or the app never connected as its owner) and a role that may not
    make it: `dlq list` makes nothing and says there is no table (exit 0); the store, which writes, warns and
    reads as it can: a ConfigError naming the table."""
    with _role(pg, pg_db) as stranger:
        r = run("dlq", "list", "--db", stranger)
        assert r.returncode == 0 and "no dead-letter table there" in " ".join(r.stdout.split()), (r.stdout, r.stderr)
        caplog.set_level("WARNING", logger="mosaic.runtime.guard")
        store = open_dead_letters(stranger)
        with pytest.raises(ConfigError):
            store.list()
        store.close()
        assert any("cannot be made or upgraded" in r.getMessage() for r in caplog.records)


def _tables(dsn: str) -> list[str]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relname LIKE 'mosaic_dead%' ORDER BY 1")
        found = [row[0] for row in cur.fetchall()]
    conn.close()
    return found


def test_the_reading_dlq_commands_make_nothing_in_the_database_they_read(pg_db, tmp_path):
    """`dlq list`, `stats` and `show` read DATABASE_URL by default: against a database without the tables (the app
    never stored a letter, or another database) each made `mosaic_dead_letters` and its evictions table there, and
    wrote them into another program's SQLite file. They make and write nothing now, and say there is no table."""
    for args in (("list",), ("stats",), ("stats", "--format", "json"), ("show", "1")):
        r = run("dlq", *args, "--db", pg_db)
        if args[0] == "show":
            assert r.returncode == 2 and "no dead letter 1" in r.stderr, r.stderr
        elif "json" in args:
            assert r.returncode == 0 and json.loads(r.stdout)["table"] is False, (r.stdout, r.stderr)
            assert json.loads(r.stdout)["letters"] == 0
        else:
            assert r.returncode == 0 and "no dead-letter table there" in " ".join(r.stdout.split()), r.stderr
    assert _tables(pg_db) == []
    other = tmp_path / "other-app.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.close()
    before = other.read_bytes()
    for args in (("list",), ("stats",), ("show", "1")):
        r = run("dlq", *args, "--db", str(other))
        assert r.returncode in (0, 2) and "Traceback" not in r.stderr, r.stderr
    assert other.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["other-app.sqlite"]
    owner = open_dead_letters(pg_db)  # (the app's store makes the tables at its first letter, as before)
    first = _letter(owner, 0)
    owner.close()
    r = run("dlq", "list", "--db", pg_db, "--format", "json")
    assert r.returncode == 0 and [row["id"] for row in json.loads(r.stdout)] == [first], r.stderr
    assert {"mosaic_dead_letters", "mosaic_dead_letters_evictions"} <= set(_tables(pg_db))


def test_a_dlq_statement_that_times_out_on_a_lock_is_still_unreachable_exit_3(pg_db):
    owner = open_dead_letters(pg_db)
    _letter(owner, 0)
    store = open_dead_letters(pg_db, statement_timeout=0.3)
    store.stats()  # (connected: the lock below is met by the statement, not by the connection's preparing)
    holder = psycopg2.connect(pg_db)
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE mosaic_dead_letters IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(UnreachableError) as timed_out:
            store.list()
        assert timed_out.value.exit_code == 3 and "timeout" in str(timed_out.value)
    finally:
        holder.rollback()
        holder.close()
        store.close()
        owner.close()


def test_a_least_privilege_role_keeps_deduplication_and_the_bound_on_tables_their_owner_made(pg, pg_db, caplog):
    """`CREATE TABLE IF NOT EXISTS` (and `CREATE UNIQUE INDEX IF NOT EXISTS`) are refused to a role without CREATE on
    the schema (or not owning the table) even when the object is there: an app's role with only SELECT, INSERT,
    UPDATE, DELETE on the tables its owner made lost de-duplication ("cannot be made or upgraded") for good. The
    objects are looked up first, only the missing ones made; a role that finds the index missing and may not make
    it still falls back, warned."""
    owner = open_dead_letters(pg_db, max_letters=2)
    owner.stats()  # (both tables, and the index, made by their owner)
    grants = ("GRANT SELECT, INSERT, UPDATE, DELETE ON mosaic_dead_letters, mosaic_dead_letters_evictions TO {role}",
              "GRANT USAGE ON SEQUENCE mosaic_dead_letters_id_seq TO {role}")
    caplog.set_level("WARNING", logger="mosaic.runtime.guard")
    with _role(pg, pg_db, *grants) as app_dsn:
        app = open_dead_letters(app_dsn, max_letters=2)
        first = _letter(app, 0)
        assert _letter(app, 0) == first and app.get(first).count == 2
        assert (app.deduplicates, app.bounded) == (True, True)
        ids = [_letter(app, n) for n in range(1, 4)]
        assert [letter.id for letter in app.list()] == ids[::-1][:2]
        assert {k: v for k, v in app.stats().to_dict().items() if k != "last_evicted_at"} == {
            "letters": 2, "max_letters": 2, "evicted": 2}
        app.close()
        assert not [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
            cur.execute("DROP INDEX mosaic_dead_letters_fingerprint")
        conn.close()
        app = open_dead_letters(app_dsn, max_letters=2)
        assert _letter(app, 5) != _letter(app, 5) and not app.deduplicates
        app.close()
        said = [r.getMessage() for r in caplog.records if "cannot be made or upgraded" in r.getMessage()]
        assert len(said) == 1 and "must be owner of table mosaic_dead_letters" in said[0], said
    owner.close()

def test_a_sqlite_file_locked_while_the_store_connects_is_bounded_once_it_is_free(tmp_path):
    """A file of the release before the bound (no evictions table), locked by another connection (a `dlq purge`, a
    second process writing) while the app's store connected: the table could not be made ('database is locked'),
    and the store stayed unbounded for its whole life, as if the database refused it. A lock is no refusal: that
    statement fails (one line: locked, try again) and the next one connects again, bounded."""
    import sqlite3

    from mosaic_diag.errors import UsageError
    from mosaic_diag.runtime import guard

    path = tmp_path / "d.sqlite"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute(guard._SQLITE_DDL)
    other.execute(guard._INDEX)
    path.chmod(0o600)
    other.execute("BEGIN IMMEDIATE")  # held, as a long purge holds it
    store = open_dead_letters(path, statement_timeout=0.2, max_letters=2)
    with pytest.raises(UsageError, match="stayed locked by another connection") as locked:
        store.stats()
    assert "try again" in str(locked.value) and "\n" not in str(locked.value)
    other.execute("COMMIT")
    other.close()
    ids = [_letter(store, n) for n in range(4)]
    assert _letter(store, 3) == ids[3]  # (still de-duplicated)
    assert (store.stats().letters, store.stats().evicted, store.bounded) == (2, 2, True)
    store.close()


def test_health_says_a_dead_letter_store_it_cannot_read_and_is_degraded(refused_port):
    from mosaic_diag.runtime.health import health_payload

    store = open_dead_letters(f"postgresql://mosaic:pw@127.0.0.1:{refused_port}/mosaic")
    code, body = health_payload(database_check={"ok": True}, dead_letters=store)
    assert (code, body["status"], body["dead_letters"]) == (200, "degraded", {"error": {"type": "UnreachableError"}})
    assert "dead_letters() failed: UnreachableError" in body["reasons"]


class _QuotesItsValue(BaseModel):
    """An app's validator that quotes the value it refuses, after a long explanation."""

    url: str

    @field_validator("url")
    @classmethod
    def _refuse(cls, value: str) -> str:
        from mosaic_diag.runtime.guard import MAX_ERROR_LINE

        raise ValueError("x" * (MAX_ERROR_LINE - 60) + f" cannot use {value}")


def test_a_secret_across_the_cut_of_a_stored_validation_error_is_masked_whole(tmp_path: Path) -> None:
    """Each validation error is kept to MAX_ERROR_LINE characters in the `error` column: cut before the redactor saw
    it, a DSN the app's validator quoted lost its `@` and the first part of its password was stored (and carried
    by the SchemaRejected the app logs)."""
    password = "DlqPw-" + "Zq81xAbCdEfGhIjK" * 3
    path = tmp_path / "letters.sqlite"
    guard = schema_guard(_QuotesItsValue, store=open_dead_letters(path), prompt_id="p1")
    with pytest.raises(SchemaRejected) as info:
        guard({"url": f"postgresql://mosaic:{password}@db.example.com/mosaic"})
    with contextlib.closing(sqlite3.connect(path)) as db:
        error, payload = db.execute("SELECT error, payload FROM mosaic_dead_letters").fetchone()
    assert "cannot use postgresql://mosaic:***@db." in error and "more characters]" in error, error
    assert [where for where, text in (("error", error), ("payload", payload), ("exception", str(info.value)))
            if password[:10] in text] == []
    assert oct(path.stat().st_mode & 0o777) == "0o600"


class StrictAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: str
    scores: dict[str, int] = {}


@pytest.mark.parametrize("injected", [
    {"answer": "ok", "openai.RateLimitError: Error code: 429 - {'error': {'code': 'rate_limit_exceeded'}}": 1},
    {"answer": "ok", "scores": {"psycopg2.OperationalError: connection to server at \"db\" (10.0.0.7), port 5432 "
                                "failed: Connection refused": "x"}},
])
def test_a_model_answer_cannot_pass_its_rejection_off_as_a_provider_failure(llm, tmp_path, injected):
    """A model answer is the prompt's to steer (a prompt injection: "reply with exactly …"). The rejection's message
    carried the answer's own key as the location of its first error: a key `openai.RateLimitError: Error code: 429`
    was read by the classifier as that error: the rejection labelled OPENAI_RATE_LIMIT (retryable, provider-wide),
    retried, counted by the breaker, which any user could open for everyone, and triage read the app's traceback so.
    The message names the error's type and a location of plain names only; the letter keeps the whole error."""
    from mosaic_diag.classifier import Classifier
    from mosaic_diag.runtime import RetryPolicy, breaker

    client = openai.OpenAI(api_key="sk-test-key", base_url=llm.openai_base_url, max_retries=0, timeout=5)
    shared = breaker("obeyed", fail_max=2, register=False)
    store = open_dead_letters(tmp_path / "dlq.sqlite")
    guard = schema_guard(StrictAnswer, store=store)

    @llm_call("openai", breaker=shared, policy=RetryPolicy(attempts=3, base=0), sleep=lambda _: None)
    def coach(prompt: str) -> StrictAnswer:
        text = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]).choices[0].message.content
        return guard(text, provider="openai")

    llm.set_failure("openai", "obey")
    for _ in range(2):
        with pytest.raises(SchemaRejected) as caught:
            coach(json.dumps(injected))
        assert caught.value.label == "MODEL_ANSWER_INVALID"
    assert sum(1 for r in llm.requests if r.endpoint == "chat") == 2  # not retried
    assert shared.shared_state == "closed"  # not counted as the provider failing
    rejected = caught.value
    assert "Error" not in str(rejected) and " at " in str(rejected), str(rejected)
    logged = "".join(traceback.format_exception(rejected))
    assert Classifier.default().classify_text(logged).label == "MODEL_ANSWER_INVALID"
    letter = store.get(rejected.dead_letter_id)
    assert letter is not None and "Error" in letter.error  # the whole error is the letter's


def test_a_model_answer_of_dotted_runs_is_filtered_and_shown_in_linear_time(llm, tmp_path):
    """The output filter's e-mail detector could start its local part at every `.`, `+` or `-` of a run of them, and
    each start read the run to its end looking for an `@`: an answer of "a.a.a.…" (a prompt injection asks for it)
    cost the square of its length: 64,000 characters 6 s of CPU in `safe_output` (the example app's filter of every
    answer), a 256,000-character dead letter minutes in `dlq show`. Under a CPU limit of 20 s: both done, the
    address in it still masked."""
    import resource

    client = openai.OpenAI(api_key="sk-test-key", base_url=llm.openai_base_url, max_retries=0, timeout=30)
    llm.set_failure("openai", "obey")
    prompt = "a." * 127_000 + " mail jane.doe@example.com"  # (within the 256,000 characters a letter keeps)
    text = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]).choices[0].message.content
    store = open_dead_letters(tmp_path / "dlq.sqlite")
    with pytest.raises(SchemaRejected) as caught:
        schema_guard(Answer, store=store)(text, provider="openai")
    store.close()
    limited = {"preexec_fn": lambda: resource.setrlimit(resource.RLIMIT_CPU, (20, 20)), "capture_output": True,
               "text": True, "timeout": 600, "env": {**os.environ, "PYTHONPATH": str(ROOT)}}
    filtered = subprocess.run([sys.executable, "-c", "import sys\nfrom mosaic_diag.runtime.text import safe_output\n"
                               "print(safe_output(sys.stdin.read()).removed)"], input=text, **limited)
    assert filtered.returncode == 0 and filtered.stdout.strip() == "{'email': 1}", filtered.returncode
    shown = subprocess.run([sys.executable, "-m", "mosaic_diag", "dlq", "show", str(caught.value.dead_letter_id),
                            "--db", str(tmp_path / "dlq.sqlite"), "--format", "json", "--max-chars", "0"], **limited)
    assert shown.returncode == 0, (shown.returncode, shown.stderr[-2000:])
    payload = json.loads(shown.stdout)["payload"]
    assert payload.startswith("a.a.a.") and "[email]" in payload and "jane.doe" not in payload
