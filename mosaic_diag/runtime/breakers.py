"""Circuit breakers on pybreaker whose state every instance of the app shares.

    openai_breaker = breaker("openai", storage=os.environ["DATABASE_URL"])   # or storage="memory"

Which failures count is taxonomy data: only labels marked `provider_wide` (rate limit, overloaded,
5xx, timeout, connection, quota, a rejected key) count toward `fail_max`; any other exception (a
bad request of ours, a context overflow) passes through and counts as the provider answering.

With a PostgreSQL DSN the state lives in one row of `mosaic_breakers` (state, counters, opened_at, the half-open
trial's owner): counters change with `UPDATE ... SET n = n + 1`, and the move from open to half-open is one
conditional UPDATE, so after `reset_timeout` exactly one call of all the instances makes the trial while the others
keep failing fast (a trial whose owner died is taken over after another `reset_timeout`). If the database cannot be
reached the breaker goes on with this process's own state, as a memory breaker, from the last state it read (the
store never takes the app down, and the provider's failures still open the breaker), logs one warning and tries the
database again `store_retry` seconds later (no call of the app waits for a connection timeout meanwhile); once it is
back its state is the one used. Unlike pybreaker's own `call`, the breaker's lock is not held while the guarded call
runs, so concurrent requests are not serialised, and each call runs in the state it reads from the store as a caller
of its own (pybreaker's one cached state object, shared by all threads, let a thread take the trial owner's
half-open state or the owner see open).

Async calls (`call_async`, `calling_async`, `llm_call` on an `async def`) go through the same state and the same
two steps as sync calls (`Breaker._enter`, `Breaker._leave`), so listeners hear the same `before_call`,
`success`, `failure` and `state_change`; the PostgreSQL store's statements run on the store's own thread, not
the loop's. A call that does not finish (a stream its consumer closes early, a cancelled task, an interrupt)
counts as nothing, sync or async: neither an answer (it does not close a half-open breaker) nor a failure (it
does not open one); a half-open trial it held is given back (open, due at once for the next caller).
"""

from __future__ import annotations

import abc
import contextvars
import functools
import itertools
import logging
import os
import re
import threading
import time
import types
import uuid
from collections.abc import Awaitable, Callable, Generator, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import pybreaker

from mosaic_diag.runtime.verdict import classify_exception

if TYPE_CHECKING:
    from mosaic_diag.runtime.storethread import StoreThread

T = TypeVar("T")
logger = logging.getLogger("mosaic.runtime.breaker")
_CALLER: ContextVar[str | None] = ContextVar("mosaic_breaker_caller", default=None)
"""The async call a breaker operation is made for (set around each operation, never across an await):
tasks share the loop's thread, so a thread is no owner for them."""
_CALLS = itertools.count(1)

CLOSED, OPEN, HALF_OPEN = pybreaker.STATE_CLOSED, pybreaker.STATE_OPEN, pybreaker.STATE_HALF_OPEN
TABLE = "mosaic_breakers"
_DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    name text PRIMARY KEY,
    state text NOT NULL DEFAULT 'closed',
    fail_counter integer NOT NULL DEFAULT 0,
    success_counter integer NOT NULL DEFAULT 0,
    opened_at timestamptz,
    trial_owner text,
    trial_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
)"""


class BreakerOpen(pybreaker.CircuitBreakerError):
    """The breaker is open (or another call makes the half-open trial): the call was not made."""


_DOWN: Any = object()  # what a statement the store could not run returns


@dataclass(frozen=True)
class Row:
    state: str = CLOSED
    fail_counter: int = 0
    success_counter: int = 0
    opened_at: datetime | None = None
    trial_owner: str | None = None
    trial_at: datetime | None = None


class _Backend(abc.ABC):
    @abc.abstractmethod
    def get(self) -> Row: ...
    @abc.abstractmethod
    def set_state(self, state: str) -> None: ...
    @abc.abstractmethod
    def add(self, field: str, delta: int | None) -> None: ...  # delta None: reset to 0
    @abc.abstractmethod
    def set_opened_at(self, when: datetime) -> None: ...
    @abc.abstractmethod
    def claim(self, owner: str, now: datetime, timeout: float) -> bool: ...
    @abc.abstractmethod
    def release(self, owner: str) -> None: ...  # a trial given back unfinished: open again, due at once

    def executor(self) -> StoreThread | None:
        """The one thread this store's operations run on for async calls; None: on the caller's (the event
        loop's) thread, as a store without I/O runs them."""
        return None


class _Memory(_Backend):
    """One process's state (threads share it). Its lock is held only to build a new row (no I/O, no call
    out): an async call runs its operations on the event loop's thread."""

    def __init__(self) -> None:
        self.row = Row()
        self.lock = threading.Lock()

    def get(self) -> Row:
        return self.row

    def _update(self, **changes: Any) -> None:
        with self.lock:
            self.row = Row(**{**self.row.__dict__, **changes})

    def set_state(self, state: str) -> None:
        self._update(state=state, trial_owner=None, trial_at=None)

    def add(self, field: str, delta: int | None) -> None:
        with self.lock:
            value = 0 if delta is None else getattr(self.row, field) + delta
            self.row = Row(**{**self.row.__dict__, field: value})

    def set_opened_at(self, when: datetime) -> None:
        self._update(opened_at=when)

    def claim(self, owner: str, now: datetime, timeout: float) -> bool:
        with self.lock:
            if not _claimable(self.row, now, timeout):
                return False
            self.row = Row(HALF_OPEN, self.row.fail_counter, 0, self.row.opened_at, owner, now)
            return True

    def release(self, owner: str) -> None:
        with self.lock:
            if self.row.state == HALF_OPEN and self.row.trial_owner == owner:
                self.row = Row(OPEN, self.row.fail_counter, 0, self.row.opened_at, None, None)


def _claimable(row: Row, now: datetime, timeout: float) -> bool:
    if row.state == OPEN:
        return due(row.opened_at, now, timeout)
    return row.state == HALF_OPEN and due(row.trial_at, now, timeout)


def _shifted(now: datetime, seconds: float) -> datetime:
    """`now` moved by `seconds`, held to the years datetime can hold (a reset_timeout of ages)."""
    try:
        return now + timedelta(seconds=seconds)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC) if seconds > 0 else datetime.min.replace(tzinfo=UTC)


def due(stamp: datetime | None, now: datetime, timeout: float) -> bool:
    """Whether a breaker opened (a trial claimed) at `stamp` is due for a trial at `now`: `timeout` seconds have
    passed, or `stamp` lies more than `timeout` seconds ahead of `now`: a stamp no clock of a sound instance could
    have written (an instance whose clock ran ahead, this clock stepped back, an `opened_at = 'infinity'` set by
    hand) held every instance's breaker open until the wall clock caught up with it (with 'infinity' each call
    raised OverflowError); it is taken as due, so the next call makes the trial as after any opening."""
    return stamp is None or _utc(stamp) <= _shifted(now, -timeout) or ahead(stamp, now, timeout)


def ahead(stamp: datetime, now: datetime, timeout: float) -> bool:
    """Whether `stamp` lies more than `timeout` seconds ahead of `now` (see `due`)."""
    return _utc(stamp) > _shifted(now, timeout)


def _utc(stamp: datetime) -> datetime:
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp  # ('infinity': the naive datetime.max)


class _Postgres(_Backend):
    """The state in one row of `mosaic_breakers`; every change is one statement.

    The table and the row are made on each new connection (a store down at start-up works once it is
    back). A store that cannot be reached is not tried again for `retry_after` seconds: meanwhile every
    operation goes to `local`, this process's own state (from the last row read), at once, instead of each
    call of the app waiting for connection timeouts, one thread after another. A statement that waits longer than
    `statement_timeout_ms` (a lock held on the row), and any other database error (a read-only
    database, a missing privilege), is given up the same way. A connection made before a fork is
    left to the parent. An async call runs the statements on the store's own thread (`executor`)."""

    def __init__(self, name: str, dsn: str, connect_timeout: int = 3, *, retry_after: float = 5.0,
                 statement_timeout_ms: int = 2000, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self.retry_after = retry_after
        self.statement_timeout_ms = statement_timeout_ms
        self.clock = clock
        self.lock = threading.Lock()
        self.conn: Any = None
        self.pid = os.getpid()
        self.down_until: float | None = None
        self.connects = 0
        self.fallback = Row()  # a row deleted by hand: closed until the next connection makes it again
        self.local = _Memory()  # the state while the store cannot be used: this process's, from the last row read
        self._unknown: Any = None  # the stored state last warned of as none of the three
        self._executor: StoreThread | None = None
        self._executor_pid = 0
        self._executor_lock = threading.Lock()  # not `lock`: that one is held during round trips
        self._execute("SELECT 1")

    def _connection(self) -> Any:
        import psycopg2

        if self.pid != os.getpid():  # a forked child: the parent's socket is not ours to use (nor to close)
            self.conn, self.pid = None, os.getpid()
        if self.conn is None or self.conn.closed:
            self.connects += 1
            conn = psycopg2.connect(self.dsn, connect_timeout=self.connect_timeout)  # mosaic-diag: ignore[MD001]
            # (the store's one connection, kept in self.conn: closed below when it cannot be set up)
            try:
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("SELECT set_config('statement_timeout', %s, false)",
                                (str(int(self.statement_timeout_ms)),))
                    cur.execute(_DDL)
                    cur.execute(f"INSERT INTO {TABLE} (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
                                (self.name,))
            except BaseException:
                conn.close()
                raise
            self.conn = conn
        return self.conn

    def _execute(self, sql: str, params: tuple[Any, ...] = (), fetch: bool = False) -> Any:
        import psycopg2

        with self.lock:
            if self.down_until is not None and self.clock() < self.down_until:
                return _DOWN  # unreachable a moment ago: not tried again yet
            for attempt in (1, 2):
                try:
                    with self._connection().cursor() as cur:
                        cur.execute(sql, params)
                        found = cur.fetchone() if fetch else None
                    if self.down_until is not None:
                        logger.warning("breaker %s: state store reachable again", self.name)
                        self.down_until = None
                    return found
                except psycopg2.Error as exc:  # any failure of the store: this process's state, never fail the call
                    if self.conn is not None and self.pid == os.getpid():
                        try:
                            self.conn.close()
                        except psycopg2.Error as closing:  # a connection already broken: nothing left to release
                            logger.debug("breaker %s: closing the store's connection: %s", self.name, closing)
                    self.conn = None
                    lost = isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError)
                    if attempt == 2 or not lost or isinstance(exc, psycopg2.errors.QueryCanceled):
                        self.down_until = self.clock() + self.retry_after
                        logger.warning("breaker %s: state store unreachable, this process's own state used for "
                                       "%.0f s: %s", self.name, self.retry_after, classify_exception(exc).label)
                        return _DOWN
        return _DOWN

    def get(self) -> Row:
        found = self._execute(f"SELECT state, fail_counter, success_counter, opened_at, trial_owner, trial_at "
                              f"FROM {TABLE} WHERE name = %s", (self.name,), fetch=True)
        if found is _DOWN:
            return self.local.get()
        if not found:
            return self.fallback
        row = Row(*found)
        if row.state not in (CLOSED, OPEN, HALF_OPEN):
            # a row set by hand (`UPDATE … SET state = 'OPEN'`, 'reset') or by anyone else who may write the table:
            # pybreaker raised ValueError on every call through the breaker; it reads closed (the store never takes
            # the app down), said once per stored word, and the next change of state writes a known one
            if self._unknown != row.state:
                self._unknown = row.state
                logger.warning("breaker %s: the stored state %r is none of %s, %s, %s: read as %s", self.name,
                               row.state[:40] if isinstance(row.state, str) else row.state, CLOSED, OPEN, HALF_OPEN,
                               CLOSED)
            row = Row(CLOSED, row.fail_counter, row.success_counter, row.opened_at)
        self.local.row = row  # where this process goes on from if the store goes away
        return row

    def set_state(self, state: str) -> None:
        if self._execute(f"UPDATE {TABLE} SET state = %s, trial_owner = NULL, trial_at = NULL, updated_at = now() "
                         "WHERE name = %s", (state, self.name)) is _DOWN:
            self.local.set_state(state)

    def add(self, field: str, delta: int | None) -> None:
        assert field in ("fail_counter", "success_counter")
        expr = "0" if delta is None else f"{field} + {int(delta)}"
        sql = f"UPDATE {TABLE} SET {field} = {expr}, updated_at = now() WHERE name = %s"  # one of two columns, an int
        if self._execute(sql, (self.name,)) is _DOWN:  # mosaic-diag: ignore[MD005] - the assert above, and int()
            self.local.add(field, delta)

    def set_opened_at(self, when: datetime) -> None:
        if self._execute(f"UPDATE {TABLE} SET opened_at = %s, updated_at = now() WHERE name = %s",
                         (when, self.name)) is _DOWN:
            self.local.set_opened_at(when)

    def claim(self, owner: str, now: datetime, timeout: float) -> bool:
        limit, ahead = _shifted(now, -timeout), _shifted(now, timeout)  # (see `due`)
        found = self._execute(
            f"UPDATE {TABLE} SET state = %s, success_counter = 0, trial_owner = %s, trial_at = %s, updated_at = now() "
            "WHERE name = %s AND ((state = %s AND (opened_at IS NULL OR opened_at <= %s OR opened_at > %s)) "
            "OR (state = %s AND (trial_at IS NULL OR trial_at <= %s OR trial_at > %s))) RETURNING name",
            (HALF_OPEN, owner, now, self.name, OPEN, limit, ahead, HALF_OPEN, limit, ahead), fetch=True)
        if found is _DOWN:
            return self.local.claim(owner, now, timeout)
        return found is not None

    def release(self, owner: str) -> None:
        if self._execute(f"UPDATE {TABLE} SET state = %s, trial_owner = NULL, trial_at = NULL, updated_at = now() "
                         "WHERE name = %s AND state = %s AND trial_owner = %s",
                         (OPEN, self.name, HALF_OPEN, owner)) is _DOWN:
            self.local.release(owner)

    def executor(self) -> StoreThread:
        """The one thread that runs this store's statements for async calls (they queue on `lock` anyway);
        made again in a forked child, whose copy of the parent's thread does not run."""
        with self._executor_lock:
            if self._executor is None or self._executor_pid != os.getpid():
                from mosaic_diag.runtime.storethread import StoreThread

                self._executor = StoreThread(f"mosaic-breaker-{self.name}")  # (a daemon: see its module doc)
                self._executor_pid = os.getpid()
            return self._executor


class SharedStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker's storage interface over a backend; the half-open state belongs to the one call
    (process and thread) that claimed the trial: every other caller reads it as open."""

    def __init__(self, backend: _Backend, name: str) -> None:
        super().__init__(name)
        self.backend = backend
        self.instance = uuid.uuid4().hex[:12]
        self.reset_timeout = 60.0

    def owner(self) -> str:
        """Who holds a trial: the async call being served (`_CALLER`), else this process's thread."""
        return _CALLER.get() or f"{self.instance}:{os.getpid()}:{threading.get_ident()}"

    @property
    def state(self) -> str:
        row = self.backend.get()
        if row.state == HALF_OPEN and row.trial_owner != self.owner():
            return OPEN
        return row.state

    @state.setter
    def state(self, state: str) -> None:
        if state == HALF_OPEN:  # reached only through Breaker.half_open, which claims first
            return
        self.backend.set_state(state)

    @property
    def shared_state(self) -> str:
        """The stored state as every instance sees it (half-open while a trial runs)."""
        return self.backend.get().state

    def claim_trial(self) -> bool:
        return self.backend.claim(self.owner(), datetime.now(UTC), self.reset_timeout)

    def increment_counter(self) -> None:
        self.backend.add("fail_counter", 1)

    def reset_counter(self) -> None:
        if self.backend.get().fail_counter:  # a success after successes writes nothing
            self.backend.add("fail_counter", None)

    def increment_success_counter(self) -> None:
        self.backend.add("success_counter", 1)

    def reset_success_counter(self) -> None:
        """A no-op: claiming a trial zeroes the success counter in the same statement (a reset from an
        instance that merely noticed a state change must not erase the trial's success)."""

    @property
    def counter(self) -> int:
        return self.backend.get().fail_counter

    @property
    def success_counter(self) -> int:
        return self.backend.get().success_counter

    @property
    def opened_at(self) -> datetime | None:
        return self.backend.get().opened_at

    @opened_at.setter
    def opened_at(self, when: datetime) -> None:
        self.backend.set_opened_at(when)


def is_breaker_failure(exc: BaseException) -> bool:
    """Whether an exception counts toward a breaker: its label is `provider_wide` in the taxonomy."""
    return classify_exception(exc).provider_wide


class Breaker(pybreaker.CircuitBreaker):
    """A pybreaker circuit breaker over a `SharedStorage` (see the module doc)."""

    _state_storage: SharedStorage

    def __init__(self, name: str, storage: SharedStorage, *, fail_max: int = 5, reset_timeout: float = 30.0,
                 counts: Callable[[BaseException], bool] = is_breaker_failure,
                 listeners: Iterable[pybreaker.CircuitBreakerListener] = ()) -> None:
        storage.reset_timeout = reset_timeout
        super().__init__(fail_max=fail_max, reset_timeout=reset_timeout, exclude=[lambda exc: not counts(exc)],
                         listeners=list(listeners), state_storage=storage, name=name,
                         throw_new_error_on_trip=False)
        # One state object per state name, made without notifying: the object a call runs in is picked from
        # what its own thread reads in the store, never from the one object pybreaker caches for all threads.
        self._views: dict[str, Any] = {name: self._create_new_state(name) for name in (CLOSED, OPEN, HALF_OPEN)}
        self._ahead: datetime | None = None  # the stamp from the future last warned of (see `due`)

    @property
    def state(self) -> Any:
        """The state object of this caller's view: half-open only for the trial's owner (pybreaker returns its
        one cached object, which another thread may swap between the check and the call: two trials at once,
        or the owner refused its own). The cache is still updated, under the lock, for listeners' notifications;
        a trial running elsewhere (half-open cached, open read) is no change."""
        name = self.current_state
        cached = self._state.name
        if name != cached and not (name == OPEN and cached == HALF_OPEN):
            with self._lock:
                cached = self._state.name
                if name != cached and not (name == OPEN and cached == HALF_OPEN):
                    self._state = self._create_new_state(name, prev_state=self._state, notify=True)
        return self._views[name]

    @state.setter
    def state(self, state_str: str) -> None:
        pybreaker.CircuitBreaker.state.fset(self, state_str)  # type: ignore[attr-defined]

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call through the breaker without holding its lock during `func` (pybreaker holds it). The call is a
        caller of its own (see `calling_async`) and counts as an async call does (`_enter`, `_leave`): a generator
        `func` returns is one call from its opening to its end, whose consumer closing it early counts as nothing."""
        caller = f"{self._state_storage.instance}:{os.getpid()}:sync-{next(_CALLS)}"
        state = _as_caller(caller, self._enter, func, args, kwargs)
        try:
            ret = func(*args, **kwargs)
        except BaseException as exc:
            _as_caller(caller, self._leave, state, exc)
            raise
        if isinstance(ret, types.GeneratorType):
            return self._stream(caller, state, ret)  # type: ignore[return-value]
        _as_caller(caller, self._leave, state, None)
        return ret

    def _stream(self, caller: str, state: Any, items: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
        """`items` through the breaker: counted when it ends, fails, or is closed (nothing) by its consumer."""
        try:
            result = yield from items
        except BaseException as exc:
            _as_caller(caller, self._leave, state, exc)
            raise
        _as_caller(caller, self._leave, state, None)
        return result

    def half_open(self) -> None:
        if not self._state_storage.claim_trial():
            raise BreakerOpen(f"breaker {self.name} is open (another call makes the half-open trial)")
        with self._lock:
            self.state = HALF_OPEN

    @property
    def shared_state(self) -> str:
        """closed | open | half-open, as stored (what /health reports)."""
        return self._state_storage.shared_state

    async def call_async(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Await `func(*args, **kwargs)` through the breaker (see `calling_async`); replaces pybreaker's
        Tornado-only `call_async`."""
        async with self.calling_async(func, *args, **kwargs):
            return await func(*args, **kwargs)

    def calling_async(self, func: Callable[..., Any] | None = None, /, *args: Any, **kwargs: Any) -> _AsyncCall:
        """`async with breaker.calling_async():` guards the block as `call` guards a sync call, in the same
        stored state (a sync and an async call of one name are one circuit). The block is one caller of its
        own (a task, not the loop's thread, may hold the half-open trial). It counts as `call` does: a block that
        did not finish, cancelled (`asyncio.CancelledError`: a client that hung up), closed (an async stream's
        `aclose`) or interrupted, counts as nothing: a half-open trial it held is given back (open, due at once for
        the next caller). Listeners hear what they hear from `call`; their `before_call` is given `func` and its
        arguments when given (the block's own stand-in `_block` when not). The PostgreSQL store's statements
        run on its own thread, never on the event loop's (listeners run there too, in the caller's context)."""
        return _AsyncCall(self, f"{self._state_storage.instance}:{os.getpid()}:async-{next(_CALLS)}",
                          _block if func is None else func, args, kwargs)

    def _enter(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The state object the caller (`_CALLER`) runs in: a due open breaker claims the trial first. Then the
        listeners' `before_call`, as pybreaker calls it (not for a refused call); one that raises gives back the
        trial the call claimed."""
        state = self.state
        if state.name == OPEN:
            opened_at, now = self._state_storage.opened_at, datetime.now(UTC)
            if not due(opened_at, now, self.reset_timeout):
                raise BreakerOpen(f"breaker {self.name} is open: Timeout not elapsed yet, circuit breaker still open")
            if opened_at is not None and ahead(opened_at, now, self.reset_timeout) and opened_at != self._ahead:
                self._ahead = opened_at  # said once per stamp
                logger.warning("breaker %s: opened at %s, ahead of this clock (%s) by more than reset_timeout (%g s): "
                               "a clock that ran ahead or stepped back, or a stamp set by hand; taken as due",
                               self.name, opened_at.isoformat(), now.isoformat(timespec="seconds"), self.reset_timeout)
            self.half_open()
            state = self.state
            if state.name == OPEN:
                raise BreakerOpen(f"breaker {self.name} is open (another call makes the half-open trial)")
        try:
            for listener in self.listeners:
                listener.before_call(self, func, *args, **kwargs)
        except BaseException:
            if state.name == HALF_OPEN:
                self._give_back()
            raise
        return state

    def _leave(self, state: Any, exc: BaseException | None) -> None:
        """Count the outcome of a call made in `state`, as pybreaker's `call` does (listeners' `success` and
        `failure` included); an unfinished call (no `Exception`: closed early, cancelled, interrupted) counts as
        nothing, no listener hears of it, and it gives back the trial it held."""
        if exc is None:
            state._handle_success()
        elif not isinstance(exc, Exception):  # closed early, cancelled, interrupted: no answer, no failure
            if state.name == HALF_OPEN:
                self._give_back()
        else:
            try:
                state._handle_error(exc, reraise=False)
            except BaseException as raised:  # the states raise `exc` again when they open the breaker
                if raised is not exc:
                    raise

    def _give_back(self) -> None:
        """Give back the caller's half-open trial (open, due at once); listeners hear half-open -> open."""
        storage = self._state_storage
        storage.backend.release(storage.owner())
        if storage.shared_state == OPEN:
            with self._lock:
                if self._state.name == HALF_OPEN:
                    self.state = OPEN

    def _abandoned(self, caller: str, entered: Any) -> None:
        """The claim of a caller cancelled while its `_enter` ran on the store's thread: given back."""
        if entered.cancelled() or entered.exception() is not None or entered.result().name != HALF_OPEN:
            return
        pool = self._state_storage.backend.executor()
        if pool is not None:  # (always: only an offloaded call is abandoned on the store's thread)
            pool.submit(_as_caller, caller, self._give_back)


def _block() -> None:
    """What listeners' `before_call` is given for an `async with breaker.calling_async():` block (pybreaker's
    `calling()` gives its own stand-in the same way)."""


def _as_caller(caller: str, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` with `caller` as the owner the store reads and claims for."""
    token = _CALLER.set(caller)
    try:
        return fn(*args)
    finally:
        _CALLER.reset(token)


class _AsyncCall:
    """One async call through a breaker (`Breaker.calling_async`)."""

    __slots__ = ("args", "breaker", "caller", "func", "kwargs", "state")

    def __init__(self, breaker: Breaker, caller: str, func: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
        self.breaker, self.caller = breaker, caller
        self.state: Any = None  # the breaker's state object the call entered in (`Breaker._enter`)
        self.func, self.args, self.kwargs = func, args, kwargs

    async def _step(self, fn: Callable[..., T], *args: Any) -> T:
        """One breaker step: on the loop's thread for the memory store (no I/O, a lock held for a row's
        copy), else on the store's thread, in a copy of the caller's context (listeners see it as in a sync
        call). A step under way when the task is cancelled still ends there (shielded): its count is made,
        and a trial it claimed is given back."""
        pool = self.breaker._state_storage.backend.executor()
        if pool is None:
            return _as_caller(self.caller, fn, *args)
        import asyncio

        done = asyncio.get_running_loop().run_in_executor(
            pool, contextvars.copy_context().run, _as_caller, self.caller, fn, *args)
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            if fn == self.breaker._enter:
                done.add_done_callback(functools.partial(self.breaker._abandoned, self.caller))
            raise

    async def __aenter__(self) -> _AsyncCall:
        self.state = await self._step(self.breaker._enter, self.func, self.args, self.kwargs)
        return self

    async def __aexit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        await self._step(self.breaker._leave, self.state, exc)


_REGISTRY: dict[str, Breaker] = {}
_REGISTRY_LOCK = threading.Lock()


_PG_DRIVER = re.compile(r"^(postgres(?:ql)?)\+[A-Za-z0-9_]+://")


def postgres_dsn(name: str, storage: str) -> str:
    """`storage` as libpq reads it (SQLAlchemy's `postgresql+psycopg2://` is `postgresql://`); a ValueError,
    its password masked, when it is no DSN at all (a typo of "memory" must not read closed for ever)."""
    import psycopg2.extensions

    dsn = _PG_DRIVER.sub(r"\1://", storage.strip(), count=1)
    try:
        psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        from mosaic_diag.platform.redact import redact_dsn

        raise ValueError(f"breaker {name}: storage is neither \"memory\" nor a PostgreSQL DSN: "
                         f"{redact_dsn(storage)}") from None
    return dsn


def breaker(name: str, *, storage: str = "memory", fail_max: int = 5, reset_timeout: float = 30.0,
            counts: Callable[[BaseException], bool] = is_breaker_failure, register: bool = True,
            store_retry: float = 5.0, clock: Callable[[], float] = time.monotonic) -> Breaker:
    """The breaker `name` of this process (made on first use): `storage` is "memory" or a PostgreSQL
    DSN (state shared by every process that uses the same database and name). With `register=False`
    a new breaker is made each time and left out of `breaker_states()` (an app object that owns its
    breakers reports them itself). An unreachable PostgreSQL store is tried again after `store_retry`
    seconds of `clock` (a test clock in tests)."""
    with _REGISTRY_LOCK:
        found = _REGISTRY.get(name) if register else None
        if found is not None:
            return found
        backend: _Backend = _Memory() if storage == "memory" else _Postgres(name, postgres_dsn(name, storage),
                                                                             retry_after=store_retry, clock=clock)
        made = Breaker(name, SharedStorage(backend, name), fail_max=fail_max, reset_timeout=reset_timeout,
                       counts=counts)
        if register:
            _REGISTRY[name] = made
        return made


def breaker_states() -> dict[str, str]:
    """Every registered breaker's stored state, by name."""
    with _REGISTRY_LOCK:
        breakers = list(_REGISTRY.values())
    return {b.name or "": b.shared_state for b in breakers}


def forget_breakers() -> None:
    """Drop the registry (tests; a new `breaker(name)` is made fresh)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
