"""Breakers on async calls: the real AsyncOpenAI / AsyncAnthropic clients against the loopback stand-in, the memory
and the real PostgreSQL store. Async and sync calls of one breaker are one circuit; among many tasks (and threads
with loops of their own) exactly one makes the half-open trial; a cancelled task counts as nothing and gives back
the trial it held; the PostgreSQL store's round trips never run on the event loop's thread. The interleavings are
made with events (no sleep decides an order); the waits carry liveness bounds only."""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from datetime import UTC, datetime, timedelta

import anthropic
import openai
import psycopg2
import pybreaker
import pytest

from mosaic_diag.runtime import RetryPolicy, breaker, classify_exception, llm_call
from mosaic_diag.runtime.breakers import Breaker, BreakerOpen, SharedStorage, _Postgres, forget_breakers
from mosaic_diag.runtime.retry import SDK_CLIENT_OPTIONS

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
MESSAGE = {"model": "claude-3-haiku-20240307", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}
LIVENESS = 60  # seconds: a bound for a wait that never decides an order
ONCE = RetryPolicy(attempts=1)
STORES = ["memory", "postgres"]


@pytest.fixture(autouse=True)
def fresh_registry():
    forget_breakers()
    yield
    forget_breakers()


def make(store: str, request, name: str, **kw) -> Breaker:
    storage = "memory" if store == "memory" else request.getfixturevalue("pg_db")
    return breaker(name, storage=storage, register=False, reset_timeout=60, **kw)


def due(b: Breaker) -> None:
    """reset_timeout (60 s) has passed since the breaker opened: the next caller may make the trial."""
    b._state_storage.backend.set_opened_at(datetime.now(UTC) - timedelta(minutes=2))


def chats(llm) -> int:
    return sum(1 for r in llm.requests if r.endpoint == "chat")


_CLIENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def async_client(llm, kind: type = openai.AsyncOpenAI) -> openai.AsyncOpenAI:
    """The running loop's client (an async client's connections belong to the loop that opened them)."""
    clients = _CLIENTS.setdefault(asyncio.get_running_loop(), {})
    if kind not in clients:
        key, url = (("sk-test-key", llm.openai_base_url) if kind is openai.AsyncOpenAI
                    else ("sk-ant-test", llm.anthropic_base_url))
        clients[kind] = kind(api_key=key, base_url=url, timeout=10, **SDK_CLIENT_OPTIONS)
    return clients[kind]


def sync_client(llm) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test-key", base_url=llm.openai_base_url, timeout=10, **SDK_CLIENT_OPTIONS)


def async_ask(llm, b: Breaker):
    """An app's `async def` call under llm_call + breaker; `inside` is set once the call runs, `gate` holds it."""
    @llm_call(provider="openai", breaker=b, policy=ONCE)
    async def ask(inside: asyncio.Event | None = None, gate: asyncio.Event | None = None) -> str:
        if inside is not None:
            inside.set()
        if gate is not None:
            await gate.wait()
        return (await async_client(llm).chat.completions.create(**CHAT)).choices[0].message.content or ""

    return ask


def sync_ask(llm, b: Breaker):
    client = sync_client(llm)

    @llm_call(provider="openai", breaker=b, policy=ONCE)
    def ask(inside: threading.Event | None = None, gate: threading.Event | None = None) -> str:
        if inside is not None:
            inside.set()
        if gate is not None:
            assert gate.wait(LIVENESS)
        return client.chat.completions.create(**CHAT).choices[0].message.content or ""

    return ask


async def outcome(call) -> str:
    try:
        await call
    except BreakerOpen:
        return "refused"
    return "ok"


async def all_but_one_ended(tasks: list[asyncio.Task]) -> asyncio.Task:
    pending = set(tasks)
    while len(pending) > 1:
        done, pending = await asyncio.wait(pending, timeout=LIVENESS, return_when=asyncio.FIRST_COMPLETED)
        assert done, f"{len(pending)} calls still running: more than one trial"
    return pending.pop()


@pytest.mark.parametrize("store", STORES)
def test_async_calls_open_refuse_then_one_task_of_many_makes_the_trial(store, request, llm):
    b = make(store, request, "async-trip", fail_max=2)
    ask = async_ask(llm, b)

    async def main() -> None:
        llm.set_failure("openai", "server_error")
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                await ask()
        assert b.shared_state == "open"
        before = chats(llm)
        with pytest.raises(BreakerOpen) as refused:
            await ask()
        assert chats(llm) == before  # failed fast: no request made
        with pytest.raises(BreakerOpen) as sync_refused:
            b.call(lambda: None)
        assert str(refused.value) == str(sync_refused.value)
        assert classify_exception(refused.value).label == classify_exception(sync_refused.value).label
        due(b)
        llm.set_failure("openai", None)
        inside, gate = asyncio.Event(), asyncio.Event()
        tasks = [asyncio.create_task(outcome(ask(inside, gate))) for _ in range(8)]
        trial = await all_but_one_ended(tasks)
        await asyncio.wait_for(inside.wait(), LIVENESS)
        assert sorted(t.result() for t in tasks if t is not trial) == ["refused"] * 7
        assert b.shared_state == "half-open" and chats(llm) == before
        gate.set()
        assert await trial == "ok"
        assert b.shared_state == "closed" and chats(llm) == before + 1

    asyncio.run(main())


@pytest.mark.parametrize("store", STORES)
def test_one_trial_across_loops_in_other_threads_and_sync_calls(store, request, llm):
    """The trial is held by a task of a loop in another thread: this loop's tasks and a sync call are refused."""
    b = make(store, request, "async-loops", fail_max=1)
    ask, ask_sync = async_ask(llm, b), sync_ask(llm, b)
    llm.set_failure("openai", "server_error")
    with pytest.raises(openai.InternalServerError):
        ask_sync()
    assert b.shared_state == "open"
    due(b)
    llm.set_failure("openai", None)
    held, release = threading.Event(), threading.Event()
    other: list[str] = []

    def hold() -> None:
        held.set()
        assert release.wait(LIVENESS)

    @llm_call(provider="openai", breaker=b, policy=ONCE)
    async def held_call() -> str:
        await asyncio.to_thread(hold)
        return (await async_client(llm).chat.completions.create(**CHAT)).choices[0].message.content or ""

    thread = threading.Thread(target=lambda: other.append(asyncio.run(outcome(held_call()))), daemon=True)
    thread.start()
    assert held.wait(LIVENESS)
    assert b.shared_state == "half-open"

    async def here() -> list[str]:
        return list(await asyncio.gather(*(outcome(ask()) for _ in range(4))))

    assert asyncio.run(here()) == ["refused"] * 4
    with pytest.raises(BreakerOpen):
        ask_sync()
    release.set()
    thread.join(LIVENESS)
    assert other == ["ok"] and b.shared_state == "closed"


@pytest.mark.parametrize("store", STORES)
def test_sync_and_async_calls_share_one_circuit(store, request, llm):
    b = make(store, request, "shared-circuit", fail_max=2)
    ask, ask_sync = async_ask(llm, b), sync_ask(llm, b)
    llm.set_failure("openai", "server_error")
    with pytest.raises(openai.InternalServerError):
        ask_sync()
    with pytest.raises(openai.InternalServerError):
        asyncio.run(ask())
    assert b.shared_state == "open"  # one sync and one async failure: fail_max=2
    with pytest.raises(BreakerOpen):
        asyncio.run(ask())
    due(b)
    llm.set_failure("openai", None)

    async def async_trial_refuses_a_sync_call() -> str:
        inside, gate = asyncio.Event(), asyncio.Event()
        trial = asyncio.create_task(ask(inside, gate))
        await asyncio.wait_for(inside.wait(), LIVENESS)
        with pytest.raises(BreakerOpen):
            await asyncio.to_thread(ask_sync)  # a sync call in the thread pool, meanwhile
        with pytest.raises(BreakerOpen):
            ask_sync()  # and one made on the loop's own thread
        gate.set()
        return await trial

    assert asyncio.run(async_trial_refuses_a_sync_call())
    assert b.shared_state == "closed"
    llm.set_failure("openai", "server_error")
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            asyncio.run(ask())
    assert b.shared_state == "open"
    due(b)
    llm.set_failure("openai", None)
    inside, gate = threading.Event(), threading.Event()
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(ask_sync(inside, gate)), daemon=True)
    thread.start()
    assert inside.wait(LIVENESS)
    with pytest.raises(BreakerOpen):  # the sync trial runs in its thread: an async call is refused
        asyncio.run(ask())
    gate.set()
    thread.join(LIVENESS)
    assert result and b.shared_state == "closed"


def stored(b: Breaker) -> tuple[str, int, str | None]:
    row = b._state_storage.backend.get()
    return row.state, row.fail_counter, row.trial_owner


@pytest.mark.parametrize("store", STORES)
def test_a_cancelled_task_is_no_failure_and_gives_back_its_trial(store, request, llm):
    b = make(store, request, "async-cancel", fail_max=1)
    ask = async_ask(llm, b)

    async def cancelled() -> None:
        inside, gate = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(ask(inside, gate))
        await asyncio.wait_for(inside.wait(), LIVENESS)
        task.cancel()  # the client hung up
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled())
    assert stored(b) == ("closed", 0, None)  # fail_max=1: a failure would have opened it
    llm.set_failure("openai", "server_error")
    with pytest.raises(openai.InternalServerError):
        asyncio.run(ask())
    assert stored(b)[:2] == ("open", 1)
    due(b)
    llm.set_failure("openai", None)
    asyncio.run(cancelled())  # the cancelled task held the trial
    assert stored(b) == ("open", 1, None)  # given back: not closed (no answer), not re-opened (no failure)
    assert asyncio.run(ask())  # due at once: the next call makes the trial
    assert stored(b) == ("closed", 0, None)


def test_a_task_cancelled_while_its_claim_runs_on_the_store_thread_gives_the_trial_back(pg_db, llm):
    """The claim is a round trip on the store's thread; the task is cancelled before it returns. The claim still
    lands (it cannot be taken back from the database) and is given back at once, not left to reset_timeout."""
    b = breaker("claim-cancel", storage=pg_db, register=False, fail_max=1, reset_timeout=60)
    ask = async_ask(llm, b)
    llm.set_failure("openai", "server_error")
    with pytest.raises(openai.InternalServerError):
        asyncio.run(ask())
    due(b)
    llm.set_failure("openai", None)
    backend = b._state_storage.backend
    busy, free = threading.Event(), threading.Event()

    def occupy() -> None:
        busy.set()
        assert free.wait(LIVENESS)

    def changed() -> datetime:
        with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
            cur.execute("SELECT updated_at FROM mosaic_breakers WHERE name = 'claim-cancel'")
            found = cur.fetchone()[0]
        conn.close()
        return found

    async def main() -> None:
        backend.executor().submit(occupy)  # the store's thread is busy: the claim waits behind it
        assert await asyncio.to_thread(busy.wait, LIVENESS)
        task = asyncio.create_task(ask())
        await asyncio.sleep(0)  # the task runs to its first suspension: the claim queued on the store's thread
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        before = changed()
        assert b.shared_state == "open"
        free.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LIVENESS
        while changed() == before or stored(b)[0] != "open":  # the claim lands, then is given back
            assert loop.time() < deadline, f"the abandoned trial was not given back: {stored(b)}"
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert stored(b) == ("open", 1, None)
    assert asyncio.run(ask()) and stored(b) == ("closed", 0, None)


def test_the_postgres_store_never_blocks_the_event_loop(pg_db, llm, caplog):
    """Another connection holds the breaker's row (a migration): recording a failure waits on that lock. If the
    store's statement ran on the loop's thread, the loop could not run the coroutine that lets the lock go, the
    statement would hit its timeout and the store would read closed, unreachable. Off the loop, the failure is
    counted once the lock is let go."""
    backend = _Postgres("locked-async", pg_db, statement_timeout_ms=120_000)
    b = Breaker("locked-async", SharedStorage(backend, "locked-async"), fail_max=1, reset_timeout=60)
    ask = async_ask(llm, b)
    assert asyncio.run(ask())
    holder = psycopg2.connect(pg_db)
    watcher = psycopg2.connect(pg_db)
    watcher.autocommit = True

    def waiting_on_the_lock() -> bool:
        with watcher.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()")
            return cur.fetchone()[0] > 0

    async def main() -> None:
        with holder.cursor() as cur:
            cur.execute("SELECT * FROM mosaic_breakers WHERE name = 'locked-async' FOR UPDATE")
        llm.set_failure("openai", "server_error")
        call = asyncio.create_task(ask())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LIVENESS
        while not waiting_on_the_lock():  # this loop runs while the store's statement waits
            assert loop.time() < deadline, "the store's statement never waited on the row lock"
            await asyncio.sleep(0.01)
        holder.rollback()
        with pytest.raises(openai.InternalServerError):
            await call

    try:
        asyncio.run(main())
    finally:
        holder.close()
        watcher.close()
    assert not any("state store unreachable" in r.getMessage() for r in caplog.records)
    assert stored(b)[:2] == ("open", 1)


# --- async streams ---------------------------------------------------------------------------------------------

def async_words(llm, provider: str, b: Breaker):
    """An app's async streaming call; with `after_first` it waits on that event after its first piece (the next
    chunk is slow to come), with `waiting` set meanwhile."""
    if provider == "openai":
        @llm_call(provider="openai", breaker=b, policy=ONCE)
        async def words(waiting: asyncio.Event | None = None, after_first: asyncio.Event | None = None):
            async for chunk in await async_client(llm).chat.completions.create(**CHAT, stream=True):
                yield chunk.choices[0].delta.content or ""
    else:
        @llm_call(provider="anthropic", breaker=b, policy=ONCE)
        async def words(waiting: asyncio.Event | None = None, after_first: asyncio.Event | None = None):
            client = async_client(llm, anthropic.AsyncAnthropic)
            async for event in await client.messages.create(**MESSAGE, stream=True):
                if event.type == "content_block_delta":
                    yield event.delta.text
                    if waiting is not None and after_first is not None:
                        waiting.set()
                        await after_first.wait()

    return words


@pytest.mark.parametrize(("provider", "error"), [("openai", openai.APIError), ("anthropic", anthropic.APIStatusError)])
def test_an_async_stream_broken_mid_way_counts_once_and_opens_the_breaker(llm, caplog, provider, error):
    caplog.set_level(logging.WARNING, logger="mosaic.runtime.retry")
    b = breaker(f"astream-{provider}", fail_max=2, register=False)
    words = async_words(llm, provider, b)

    async def read() -> list[str]:
        got: list[str] = []
        with pytest.raises(error):
            async for word in words():
                got.append(word)
        return got

    assert asyncio.run(_collect(words())).startswith("Thanks for sharing")
    llm.set_failure(provider, "stream_error")
    assert asyncio.run(read())  # the first chunks reached the caller, then the failure
    assert (b.shared_state, b._state_storage.counter) == ("closed", 1)  # counted once
    asyncio.run(read())
    assert b.shared_state == "open"
    before = len(llm.requests)
    with pytest.raises(BreakerOpen):
        asyncio.run(_collect(words()))
    assert len(llm.requests) == before


async def _collect(stream) -> str:
    return "".join([word async for word in stream])


@pytest.mark.parametrize("store", STORES)
def test_an_async_stream_cancelled_or_closed_early_counts_as_nothing_and_gives_back_the_trial(store, request, llm):
    b = make(store, request, "astream-trial", fail_max=1)
    words = async_words(llm, "anthropic", b)
    llm.set_failure("anthropic", "overloaded", times=1)
    with pytest.raises(anthropic.APIStatusError):
        asyncio.run(_collect(words()))
    assert b.shared_state == "open"
    due(b)

    async def cancelled_mid_stream() -> None:
        waiting = asyncio.Event()

        async def read() -> None:
            async for _ in words(waiting, asyncio.Event()):
                pass

        task = asyncio.create_task(read())
        await asyncio.wait_for(waiting.wait(), LIVENESS)  # the stream waits for its next chunk
        assert b.shared_state == "half-open"
        task.cancel()  # the client hung up
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled_mid_stream())
    assert stored(b) == ("open", 1, None)  # no answer, no failure: the trial given back

    async def closed_early() -> None:
        stream = words()
        assert await stream.__anext__() and await stream.__anext__()
        assert b.shared_state == "half-open"  # the trial runs while the stream is read
        await stream.aclose()  # the app's client went away

    asyncio.run(closed_early())
    assert stored(b) == ("open", 1, None)  # no answer either: the trial given back, due at once
    assert asyncio.run(_collect(words())).startswith("Thanks for sharing")  # the next stream makes it
    assert stored(b) == ("closed", 0, None)


class Heard(pybreaker.CircuitBreakerListener):
    """A real pybreaker listener: what it hears, in order (the thread it hears it on left out)."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def before_call(self, cb, func, *args, **kwargs) -> None:
        self.events.append(("before_call", cb.name, func.__name__, args, tuple(sorted(kwargs))))

    def success(self, cb) -> None:
        self.events.append(("success", cb.name))

    def failure(self, cb, exc) -> None:
        self.events.append(("failure", cb.name, type(exc).__name__))

    def state_change(self, cb, old_state, new_state) -> None:
        self.events.append(("state_change", cb.name, old_state.name if old_state else None, new_state.name))


def _listened_calls(llm, b: Breaker, kind: str) -> None:
    """One scenario, through sync or async calls of the app: an answer, our bad request (not counted), two
    provider failures (fail_max=2: open), a refused call, a trial closed early (given back), a trial answered."""
    if kind == "sync":
        ask = sync_ask(llm, b)
        client = sync_client(llm)

        @llm_call(provider="openai", breaker=b, policy=ONCE)
        def words(n: int):
            for chunk in client.chat.completions.create(**CHAT, stream=True):
                yield chunk.choices[0].delta.content or ""

        def run(call):
            return call()

        def close_early() -> None:
            stream = words(2)
            next(stream)
            stream.close()
    else:
        ask = async_ask(llm, b)

        @llm_call(provider="openai", breaker=b, policy=ONCE)
        async def words(n: int):
            async for chunk in await async_client(llm).chat.completions.create(**CHAT, stream=True):
                yield chunk.choices[0].delta.content or ""

        def run(call):
            async def main():
                return await call()
            return asyncio.run(main())

        def close_early() -> None:
            async def main() -> None:
                stream = words(2)
                await stream.__anext__()
                await stream.aclose()
            asyncio.run(main())

    assert run(lambda: ask())
    llm.set_failure("openai", "context_overflow", times=1)
    with pytest.raises(openai.BadRequestError):
        run(lambda: ask())
    llm.set_failure("openai", "server_error", times=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            run(lambda: ask())
    with pytest.raises(BreakerOpen):
        run(lambda: ask())
    due(b)
    close_early()
    assert run(lambda: ask())


@pytest.mark.parametrize("store", STORES)
def test_listeners_hear_the_same_from_async_calls_as_from_sync_calls(store, request, llm):
    """A pybreaker listener hears before_call, success, failure and state_change alike from sync and async calls,
    in the memory and the PostgreSQL store: pybreaker's own order for counted calls, and a stream closed early
    heard by before_call only, then half-open -> open as its trial is given back."""
    heard: dict[str, list[tuple]] = {}
    for kind in ("sync", "async"):
        b = make(store, request, f"listened-{store}", fail_max=2)
        listener = Heard()
        b.add_listener(listener)
        _listened_calls(llm, b, kind)
        heard[kind] = listener.events
    name = f"listened-{store}"
    before, before_stream = ("before_call", name, "ask", (), ()), ("before_call", name, "words", (2,), ())
    assert heard["sync"] == [
        before, ("success", name),
        before, ("success", name),  # our bad request: the provider answered (pybreaker's excluded error)
        before, ("failure", name, "InternalServerError"),
        before, ("failure", name, "InternalServerError"), ("state_change", name, "closed", "open"),
        ("state_change", name, "open", "half-open"), before_stream, ("state_change", name, "half-open", "open"),
        ("state_change", name, "open", "half-open"), before,
        ("state_change", name, "half-open", "closed"), ("success", name)]  # pybreaker's order: closed, then heard
    assert heard["async"] == heard["sync"]


def test_an_open_async_breaker_fails_over_and_call_async_guards_any_coroutine(llm):
    """failover moves on from an async call its breaker refused (label BREAKER_OPEN), no request made; a coroutine
    awaited through `call_async` counts in the same circuit."""
    from mosaic_diag.runtime import failover

    b = breaker("async-failover", fail_max=1, register=False)
    ask = async_ask(llm, b)

    @llm_call(provider="anthropic", policy=ONCE)
    async def ask_claude() -> str:
        return (await async_client(llm, anthropic.AsyncAnthropic).messages.create(**MESSAGE)).content[0].text

    async def raw() -> str:
        return (await async_client(llm).chat.completions.create(**CHAT)).choices[0].message.content or ""

    async def main():
        llm.set_failure("openai", "server_error")
        with pytest.raises(openai.InternalServerError):
            await b.call_async(raw)
        assert b.shared_state == "open"
        before = chats(llm)
        answered = await failover(ask, ask_claude)()
        return answered, chats(llm) - before

    answered, asked = asyncio.run(main())
    assert answered.provider == "anthropic" and [f.label for f in answered.failures] == ["BREAKER_OPEN"]
    assert asked == 0


def test_a_breaker_without_async_support_is_refused_when_decorating():
    """pybreaker's own CircuitBreaker (Tornado's call_async only) cannot guard an asyncio call: said at once."""
    import pybreaker

    async def ask() -> None: ...

    with pytest.raises(TypeError, match="calling_async"):
        llm_call(provider="openai", breaker=pybreaker.CircuitBreaker())(ask)


class _Refusing(pybreaker.CircuitBreakerListener):
    """A listener whose before_call raises (an app's quota guard, say): the call is not made."""

    def before_call(self, cb, func, *args, **kwargs) -> None:
        raise PermissionError("not now")


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_listener_refusing_a_trial_in_before_call_gives_the_trial_back(kind, llm):
    b = breaker(f"refusing-{kind}", fail_max=1, reset_timeout=60, register=False)
    b._state_storage.backend.set_state("open")
    due(b)
    b.add_listener(_Refusing())
    before = chats(llm)
    with pytest.raises(PermissionError):
        if kind == "sync":
            sync_ask(llm, b)()
        else:
            asyncio.run(async_ask(llm, b)())
    assert chats(llm) == before and stored(b) == ("open", 0, None)  # no call made; the trial due again at once
    b.remove_listener(b.listeners[0])
    assert (sync_ask(llm, b)() if kind == "sync" else asyncio.run(async_ask(llm, b)()))
    assert stored(b) == ("closed", 0, None)
