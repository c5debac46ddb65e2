"""Circuit breakers: the taxonomy decides what counts; with PostgreSQL two real processes share one
breaker (one trips it, the other fails fast; half-open lets exactly one trial through)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openai
import psycopg2
import pytest

from mosaic_diag.runtime import breaker
from mosaic_diag.runtime.breakers import Breaker, BreakerOpen, SharedStorage, _Memory, _Postgres, forget_breakers
from tests.pgproxy import Proxy

ROOT = Path(__file__).resolve().parent.parent
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def fresh_registry():
    forget_breakers()
    yield
    forget_breakers()


def client(llm) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test-key", base_url=llm.openai_base_url, max_retries=0, timeout=10)


def worker(dsn: str, llm, action: str, arg: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.breaker_worker", dsn, llm.openai_base_url, action, arg],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def row(dsn: str) -> tuple:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT state, fail_counter, trial_owner FROM mosaic_breakers WHERE name = 'openai-shared'")
        found = cur.fetchone()
    conn.close()
    return found


def chat_requests(llm) -> int:
    return sum(1 for r in llm.requests if r.endpoint == "chat")


def test_memory_breaker_trips_on_provider_wide_labels_only(llm):
    c = client(llm)
    b = breaker("mem", fail_max=2)
    llm.set_failure("openai", "context_overflow")
    for _ in range(4):  # a request of ours that is too long: the provider is fine
        with pytest.raises(openai.BadRequestError):
            b.call(c.chat.completions.create, **CHAT)
    assert b.shared_state == "closed"
    llm.set_failure("openai", "server_error")
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            b.call(c.chat.completions.create, **CHAT)
    assert b.shared_state == "open"
    before = chat_requests(llm)
    with pytest.raises(BreakerOpen):
        b.call(c.chat.completions.create, **CHAT)
    assert chat_requests(llm) == before  # failed fast: no request made


def test_memory_half_open_lets_one_thread_try(llm):
    c = client(llm)
    b = breaker("mem-trial", fail_max=1, reset_timeout=60)
    llm.set_failure("openai", "server_error")
    with pytest.raises(openai.InternalServerError):
        b.call(c.chat.completions.create, **CHAT)
    assert b.shared_state == "open"
    with pytest.raises(BreakerOpen):
        b.call(c.chat.completions.create, **CHAT)
    b._state_storage.backend.set_opened_at(datetime.now(UTC) - timedelta(minutes=2))  # reset_timeout passed
    llm.set_failure("openai", None)
    inside, release = threading.Event(), threading.Event()

    def trial() -> str:
        inside.set()
        release.wait(30)
        return c.chat.completions.create(**CHAT).choices[0].message.content

    outcome: list[str] = []
    t = threading.Thread(target=lambda: outcome.append(b.call(trial)))
    t.start()
    assert inside.wait(30)
    assert b.shared_state == "half-open"
    with pytest.raises(BreakerOpen):  # another thread while the trial runs
        b.call(c.chat.completions.create, **CHAT)
    release.set()
    t.join(30)
    assert not t.is_alive()
    assert outcome and "Thanks" in outcome[0]
    assert b.shared_state == "closed"


def test_two_processes_share_one_breaker_through_postgres(pg_db, llm):
    llm.set_failure("openai", "server_error")
    tripped = result(worker(pg_db, llm, "calls", "3"))
    assert tripped["outcomes"] == ["OPENAI_SERVER_ERROR"] * 3
    assert row(pg_db)[0] == "open"
    before = chat_requests(llm)
    other = result(worker(pg_db, llm, "calls", "2"))
    assert other["outcomes"] == ["open", "open"]
    assert chat_requests(llm) == before  # the second process never called the provider


def test_bad_requests_do_not_open_the_shared_breaker(pg_db, llm):
    llm.set_failure("openai", "context_overflow")
    out = result(worker(pg_db, llm, "calls", "4"))
    assert out["outcomes"] == ["OPENAI_CONTEXT_OVERFLOW"] * 4
    assert row(pg_db)[:2] == ("closed", 0)


@pytest.mark.slow
def test_half_open_lets_one_trial_through_across_processes(pg_db, llm, tmp_path):
    llm.set_failure("openai", "server_error")
    result(worker(pg_db, llm, "calls", "3"))
    assert row(pg_db)[0] == "open"
    llm.set_failure("openai", None)
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:  # reset_timeout (60 s) has passed
        cur.execute("UPDATE mosaic_breakers SET opened_at = now() - interval '2 minutes'")
    conn.close()
    go = tmp_path / "go"
    trial = worker(pg_db, llm, "trial", str(go))
    deadline = time.monotonic() + 60
    while row(pg_db)[0] != "half-open":
        assert time.monotonic() < deadline, "the trial never claimed the half-open state"
        assert trial.poll() is None, trial.communicate()
        time.sleep(0.05)
    assert row(pg_db)[2]  # the trial's owner is recorded
    before = chat_requests(llm)
    assert result(worker(pg_db, llm, "calls", "1"))["outcomes"] == ["open"]
    assert chat_requests(llm) == before
    go.write_text("go")
    assert result(trial)["outcomes"] == ["ok"]
    assert row(pg_db)[0] == "closed"
    assert result(worker(pg_db, llm, "calls", "1"))["outcomes"] == ["ok"]


def test_an_unreachable_state_store_reads_closed(llm, caplog, refused_port):
    dsn = f"postgresql://mosaic:pw@127.0.0.1:{refused_port}/mosaic?connect_timeout=1"
    b = breaker("nowhere", storage=dsn, fail_max=1)
    assert b.shared_state == "closed"
    assert "Thanks" in b.call(lambda: client(llm).chat.completions.create(**CHAT).choices[0].message.content)
    assert any("state store unreachable" in r.getMessage() for r in caplog.records)


def test_a_state_store_down_costs_the_calls_nothing_and_is_used_again_when_back(pg, llm):
    """While the store is down the breaker is this process's own: the provider's failures open it (it read closed
    once, so a provider down beside the store was called by every request); back, the store's state is used."""
    name = f"proxied_{secrets.token_hex(3)}"
    direct = pg.create_database(name)
    proxy = Proxy(pg.port)
    proxy.up = False  # down from the start
    now = [0.0]
    try:
        b = breaker("proxied", storage=pg.dsn(name, port=proxy.port), fail_max=2, store_retry=30,
                    clock=lambda: now[0], register=False)
        c = client(llm)
        for _ in range(3):
            assert "Thanks" in b.call(lambda: c.chat.completions.create(**CHAT).choices[0].message.content)
        llm.set_failure("openai", "server_error")
        for _ in range(2):  # provider failures while the store is down: raised as they are, counted here
            with pytest.raises(openai.InternalServerError):
                b.call(c.chat.completions.create, **CHAT)
        asked = chat_requests(llm)
        with pytest.raises(BreakerOpen):  # open in this process: the provider is not called
            b.call(c.chat.completions.create, **CHAT)
        assert chat_requests(llm) == asked
        assert proxy.accepted <= 2  # one try when the store went down, none per call after it
        proxy.up = True
        now[0] += 31  # the store is tried again: its table and row are made, the failures are shared again
        assert _trips_open(b, c, direct, "proxied") == ("open", 2)
    finally:
        proxy.close()


def test_a_breaker_open_in_the_store_stays_open_when_the_store_goes_away(pg, llm, caplog):
    """Opened by the shared state, then the store goes down (the database the app shares it with is failing over):
    the process goes on from the last state it read, open, and the provider is not called (it read closed: every
    request went to the provider that had just opened the breaker)."""
    name = f"proxied_{secrets.token_hex(3)}"
    direct = pg.create_database(name)
    proxy = Proxy(pg.port)
    now = [0.0]
    try:
        b = breaker("gone", storage=pg.dsn(name, port=proxy.port), fail_max=2, store_retry=30,
                    clock=lambda: now[0], register=False)
        c = client(llm)
        llm.set_failure("openai", "server_error")
        assert _trips_open(b, c, direct, "gone") == ("open", 2)
        proxy.up = False  # no new connection, and the one the breaker holds is ended by the server
        with psycopg2.connect(direct) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        conn.close()
        asked = chat_requests(llm)
        for _ in range(3):
            with pytest.raises(BreakerOpen):
                b.call(c.chat.completions.create, **CHAT)
        assert chat_requests(llm) == asked
        assert any("state store unreachable, this process's own state used" in r.getMessage()
                   for r in caplog.records)
    finally:
        proxy.close()


def test_a_state_set_by_hand_to_an_unknown_word_reads_closed_and_the_calls_go_through(pg_db, llm, caplog):
    """An operator resets the shared breaker by hand with the wrong word (`SET state = 'OPEN'`), or anyone who may
    write the table puts one there: every call through the breaker raised pybreaker's ValueError ("Unknown state
    'OPEN'"), the app's LLM calls all failed. It reads closed, said once; the breaker trips again as it should."""
    b = breaker("by-hand", storage=pg_db, fail_max=2, register=False, clock=lambda: 0.0)
    c = client(llm)
    assert "Thanks" in b.call(lambda: c.chat.completions.create(**CHAT).choices[0].message.content)
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("UPDATE mosaic_breakers SET state = 'OPEN' WHERE name = 'by-hand'")
    conn.close()
    for _ in range(2):
        assert "Thanks" in b.call(lambda: c.chat.completions.create(**CHAT).choices[0].message.content)
    assert b.shared_state == "closed"
    assert sum("the stored state 'OPEN' is none of" in r.getMessage() for r in caplog.records) == 1
    llm.set_failure("openai", "server_error")
    assert _trips_open(b, c, pg_db, "by-hand")[0] == "open"


@pytest.mark.parametrize("stamp", ["now() + interval '1 hour'", "'infinity'"])
def test_an_opened_at_from_the_future_does_not_hold_the_breaker_open(pg_db, llm, caplog, stamp):
    """An instance whose clock ran an hour ahead opened the shared breaker (or this clock stepped back, or an operator
    set `opened_at = 'infinity'` by hand to hold it open): every instance refused every call for the hour (with
    'infinity' each call raised OverflowError, the app's LLM calls all failed). A stamp more than reset_timeout ahead
    is taken as due: the next call makes the trial, which closes the breaker; said once."""
    b = breaker("ahead", storage=pg_db, fail_max=2, reset_timeout=60, register=False, clock=lambda: 0.0)
    c = client(llm)
    assert "Thanks" in b.call(lambda: c.chat.completions.create(**CHAT).choices[0].message.content)
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute(f"UPDATE mosaic_breakers SET state = 'open', opened_at = {stamp} WHERE name = 'ahead'")
    conn.close()
    assert b.shared_state == "open"
    assert "Thanks" in b.call(lambda: c.chat.completions.create(**CHAT).choices[0].message.content)
    assert b.shared_state == "closed"
    assert sum("ahead of this clock" in r.getMessage() for r in caplog.records) == 1
    llm.set_failure("openai", "server_error")
    assert _trips_open(b, c, pg_db, "ahead")[0] == "open"  # a sound opening still holds for its reset_timeout
    with pytest.raises(BreakerOpen):
        b.call(lambda: c.chat.completions.create(**CHAT))


def test_a_state_table_made_by_hand_with_timestamps_without_time_zone_is_read(pg_db, llm):
    """An operator made `mosaic_breakers` by a migration of their own with `timestamp` columns, not `timestamptz`
    (CREATE TABLE IF NOT EXISTS keeps it): psycopg2 reads them naive, and once the breaker opened every call through
    it raised TypeError (a naive and an aware datetime compared): the app's LLM calls all failed. Read as UTC."""
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE mosaic_breakers (name text PRIMARY KEY, state text NOT NULL DEFAULT 'closed', "
                    "fail_counter integer NOT NULL DEFAULT 0, success_counter integer NOT NULL DEFAULT 0, "
                    "opened_at timestamp, trial_owner text, trial_at timestamp, updated_at timestamp DEFAULT now())")
    conn.close()
    b = breaker("naive", storage=pg_db, fail_max=2, reset_timeout=60, register=False, clock=lambda: 0.0)
    c = client(llm)
    llm.set_failure("openai", "server_error")
    assert _trips_open(b, c, pg_db, "naive")[0] == "open"  # refused while open: BreakerOpen, no TypeError
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("UPDATE mosaic_breakers SET opened_at = opened_at - interval '2 minutes' WHERE name = 'naive'")
    conn.close()
    llm.set_failure("openai", None)
    assert "Thanks" in b.call(lambda: c.chat.completions.create(**CHAT).choices[0].message.content)
    assert b.shared_state == "closed"


def test_a_memory_breaker_opened_before_the_clock_stepped_back_is_due(llm):
    """The wall clock stepped back a day (an NTP correction, a VM resumed) after the breaker opened: it stayed open the
    day; the stamp a day ahead is taken as due."""
    b = breaker("stepped", fail_max=1, reset_timeout=30, register=False)
    c = client(llm)
    b._state_storage.backend.set_state("open")
    b._state_storage.backend.set_opened_at(datetime.now(UTC) + timedelta(days=1))
    assert "Thanks" in b.call(lambda: c.chat.completions.create(**CHAT).choices[0].message.content)
    assert b.shared_state == "closed"


def test_a_state_row_locked_by_someone_else_does_not_hang_the_calls(pg_db, llm):
    """A migration or a stuck transaction holds the breaker's row: recording a failure gives up after the store's
    statement timeout (the breaker reads closed meanwhile) instead of waiting with every call behind it."""
    b = breaker("locked", storage=pg_db, fail_max=5, register=False, clock=lambda: 0.0)
    c = client(llm)
    assert "Thanks" in b.call(lambda: c.chat.completions.create(**CHAT).choices[0].message.content)
    holder = psycopg2.connect(pg_db)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT * FROM mosaic_breakers WHERE name = 'locked' FOR UPDATE")
        llm.set_failure("openai", "server_error")
        outcome: list[str] = []

        def call() -> None:
            try:
                b.call(c.chat.completions.create, **CHAT)
            except openai.InternalServerError:
                outcome.append("provider error")

        t = threading.Thread(target=call, daemon=True)
        t.start()
        t.join(60)  # (a liveness bound, not a measured time)
        assert not t.is_alive(), "the call waits on the breaker's row lock"
        assert outcome == ["provider error"]
    finally:
        holder.rollback()
        holder.close()


def test_a_read_only_state_store_does_not_fail_the_calls(pg_db, llm, caplog):
    """The database turns read-only (a failover to a replica, a full disk): the store's writes fail with a
    database error that is no connection error; the calls never fail with the store's error, and the provider's
    failures still open the breaker, in this process's own state."""
    b = breaker("read-only", storage=pg_db, fail_max=2, register=False, clock=lambda: 0.0)
    c = client(llm)
    assert "Thanks" in b.call(lambda: c.chat.completions.create(**CHAT).choices[0].message.content)
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute("SELECT current_database()")
        cur.execute(f'ALTER DATABASE "{cur.fetchone()[0]}" SET default_transaction_read_only = on')
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    conn.close()
    llm.set_failure("openai", "server_error")
    for _ in range(2):  # the provider's own error, never the store's
        with pytest.raises(openai.InternalServerError):
            b.call(c.chat.completions.create, **CHAT)
    asked = chat_requests(llm)
    with pytest.raises(BreakerOpen):
        b.call(c.chat.completions.create, **CHAT)
    assert chat_requests(llm) == asked
    assert any("state store unreachable, this process's own state used" in r.getMessage() for r in caplog.records)


def test_a_sqlalchemy_url_is_the_same_store_and_a_bad_storage_is_refused_at_once(pg_db, llm):
    """Apps often hold `postgresql+psycopg2://` in DATABASE_URL: the breaker uses it as `postgresql://`. A storage
    that is neither "memory" nor a DSN is a ValueError when the breaker is made, its password masked."""
    b = breaker("sqlalchemy-url", storage=pg_db.replace("postgresql://", "postgresql+psycopg2://", 1), fail_max=1,
                register=False)
    llm.set_failure("openai", "server_error")
    with pytest.raises(openai.InternalServerError):
        b.call(client(llm).chat.completions.create, **CHAT)
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT state FROM mosaic_breakers WHERE name = 'sqlalchemy-url'")
        assert cur.fetchone() == ("open",)
    conn.close()
    for storage in ("memroy", "mysql+pymysql://app:Hunter2-pw@db/app"):
        with pytest.raises(ValueError, match="neither") as info:
            breaker("typo", storage=storage, register=False)
        assert "Hunter2" not in str(info.value)


class _ProviderDown(Exception):
    """The guarded call's failure in the race tests (counted by the breaker through `counts`)."""


class _SteppedBreaker(Breaker):
    """A real Breaker whose shared cached state object (pybreaker's `_state`, one for all threads) is a scheduling
    point: a thread that `pause_at_read` names stops right after its next read of it until its `resume` event is set
    (`pause_after_write`: at its first read after its next write). The half-open race lies between a thread's read
    of that object and its use; the tests put the other thread there, every time (no luck of the scheduler)."""

    def __init__(self, *args, **kwargs) -> None:
        self.pause_at_read: dict[int, tuple[threading.Event, threading.Event]] = {}
        self.pause_after_write: dict[int, tuple[threading.Event, threading.Event]] = {}  # at the read after
        super().__init__(*args, **kwargs)

    @property
    def _state(self):
        value = self.__dict__["_cached_state"]
        step = self.pause_at_read.pop(threading.get_ident(), None)
        if step is not None:
            paused, resume = step
            paused.set()
            assert resume.wait(30), "the paused thread was never resumed"
        return value

    @_state.setter
    def _state(self, value) -> None:
        self.__dict__["_cached_state"] = value
        step = self.pause_after_write.pop(threading.get_ident(), None)
        if step is not None:
            self.pause_at_read[threading.get_ident()] = step


class _Race:
    """Two threads ("A", "B") calling one breaker that is open and due for its trial, stepped by the test: each runs
    `b.call(guarded)`; `guarded` records the calls that reach it, the first one waiting for `release`."""

    def __init__(self, b: _SteppedBreaker) -> None:
        self.b = b
        self.entered: list[str] = []
        self.outcomes: dict[str, str] = {}
        self.inside = threading.Event()
        self.moved = threading.Event()  # a call entered `guarded` or ended
        self.release = threading.Event()
        self.threads: dict[str, threading.Thread] = {}

    def guarded(self) -> None:
        self.entered.append(threading.current_thread().name)
        self.moved.set()
        if len(self.entered) == 1:  # the trial waits for the test; a second call (the race) fails at once
            self.inside.set()
            self.release.wait(30)
        raise _ProviderDown("down")

    def start(self, name: str, *, pause: threading.Event | None = None,
              resume: threading.Event | None = None) -> threading.Thread:
        """Start `name`'s call; with `pause`/`resume` it stops after its first read of the cached state."""
        def run() -> None:
            if pause is not None and resume is not None:
                self.b.pause_at_read[threading.get_ident()] = (pause, resume)
            try:
                self.b.call(self.guarded)
                self.outcomes[name] = "ok"
            except BreakerOpen:
                self.outcomes[name] = "refused"
            except _ProviderDown:
                self.outcomes[name] = "tried"
            finally:
                self.moved.set()

        t = threading.Thread(target=run, name=name, daemon=True)
        self.threads[name] = t
        t.start()
        return t

    def join(self) -> None:
        for t in self.threads.values():
            t.join(30)
        assert not any(t.is_alive() for t in self.threads.values())


def _due_stepped_breaker(store: str, request) -> _SteppedBreaker:
    storage = "memory" if store == "memory" else request.getfixturevalue("pg_db")
    backend = _Memory() if store == "memory" else _Postgres("race", storage)
    b = _SteppedBreaker("race", SharedStorage(backend, "race"), fail_max=1, reset_timeout=60,
                        counts=lambda exc: isinstance(exc, _ProviderDown))
    backend.set_state("open")
    backend.set_opened_at(datetime.now(UTC) - timedelta(minutes=2))  # reset_timeout (60 s) has passed
    assert b.state.name == "open"  # the cached object is the open one, as after the trip
    return b


@pytest.mark.parametrize("store", ["memory", "postgres"])
def test_a_thread_that_read_open_never_runs_in_the_trial_owners_half_open_state(store, request):
    """B reads the breaker open and is stopped there; A claims the trial (the cached state becomes half-open) and
    is inside the guarded call; B goes on. With pybreaker's one cached object B ran in A's half-open state: two
    trials at once. Each call runs in its own view: B is refused, A's trial is the only call made."""
    b = _due_stepped_breaker(store, request)
    race = _Race(b)
    paused, resume = threading.Event(), threading.Event()
    race.start("B", pause=paused, resume=resume)
    assert paused.wait(30)
    race.start("A")
    assert race.inside.wait(30), f"A made no trial: {race.outcomes}"
    assert b.shared_state == "half-open"
    resume.set()
    race.threads["B"].join(30)
    assert race.outcomes.get("B") == "refused", race.entered
    race.release.set()
    race.join()
    assert race.entered == ["A"] and race.outcomes == {"A": "tried", "B": "refused"}
    assert b.shared_state == "open"  # the trial failed: open again


@pytest.mark.parametrize("store", ["memory", "postgres"])
def test_the_trial_owner_is_not_refused_its_own_trial(store, request):
    """A claims the trial and is stopped at its next read of the cached (half-open) state; B reads open and swaps
    the cached object to open, and is refused; A goes on. With pybreaker's one cached object A then ran in the open
    state, tried to claim its own trial again and was refused: no trial at all. A makes it."""
    b = _due_stepped_breaker(store, request)
    race = _Race(b)
    paused, resume = threading.Event(), threading.Event()
    claimed = threading.Event()
    backend = b._state_storage.backend
    claim = backend.claim

    def claim_then_pause(owner, now, timeout):  # A stops at its first read of the cached state after it set it
        won = claim(owner, now, timeout)
        if won:
            b.pause_after_write[threading.get_ident()] = (paused, resume)
            claimed.set()
        return won

    backend.claim = claim_then_pause
    race.start("A")
    assert paused.wait(30) and claimed.is_set()
    backend.claim = claim
    race.start("B")
    race.threads["B"].join(30)
    assert race.outcomes.get("B") == "refused"
    race.moved.clear()
    resume.set()
    assert race.moved.wait(30)
    assert race.inside.is_set(), f"the trial owner was refused its trial: {race.outcomes}"
    race.release.set()
    race.join()
    assert race.entered == ["A"] and race.outcomes == {"A": "tried", "B": "refused"}
    assert b.shared_state == "open"


def _trips_open(b: Any, c: Any, dsn: str, name: str) -> tuple[str, int]:
    """Two failed calls through `b` (the provider failing), then a third refused (BreakerOpen): the shared row's
    (state, fail_counter) after them."""
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            b.call(c.chat.completions.create, **CHAT)
    with pytest.raises(BreakerOpen):
        b.call(c.chat.completions.create, **CHAT)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT state, fail_counter FROM mosaic_breakers WHERE name = %s", (name,))
        row = cur.fetchone()
    conn.close()
    return row
