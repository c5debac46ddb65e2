"""The one thread a store of the kit runs its statements on (the dead letters', a PostgreSQL breaker's async steps).

A daemon thread: a statement stuck on a database that stopped answering (a network dropping every packet: no
timeout of the server's ends it) must not keep the app from exiting. concurrent.futures' ThreadPoolExecutor, used
before, has the interpreter join its threads at exit: a script or worker that was done, uvicorn stopped by Ctrl-C,
hung there for as long as the database did. At exit the calls already handed to a store's thread (a letter whose
waiter gave up or was cancelled) are waited for at most `EXIT_WAIT` seconds in all, then given up.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")
EXIT_WAIT = 5.0
_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]
_RUNNING: weakref.WeakSet[StoreThread] = weakref.WeakSet()
_EXIT_LOCK = threading.Lock()
_exit_hooked = False


def _work(calls: queue.SimpleQueue[_Work | None], owner: weakref.ref[StoreThread]) -> None:
    """Run the calls given until told to end (None: a shutdown, or `owner` garbage)."""
    while (item := calls.get()) is not None:
        _run(*item)
        del item  # (nothing of a finished call kept alive while the thread waits)


def _run(future: Future[Any], fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # the waiter's to raise, as concurrent.futures does
        future.set_exception(exc)
    else:
        future.set_result(result)


class StoreThread(Executor):
    """An executor of one daemon thread named `name`, started at the first call; calls run in the order given. The
    thread ends at `shutdown()` or when the executor is garbage (see the module doc for the exit)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._calls: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name}: cannot schedule new calls after shutdown")
            if self._thread is None:
                calls = self._calls

                def garbage(_: Any) -> None:  # the thread ends after what it was given
                    calls.put(None)

                self._thread = threading.Thread(target=_work, args=(calls, weakref.ref(self, garbage)), name=self.name,
                                                daemon=True)
                self._thread.start()
                _hook_exit(self)
            self._calls.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more calls; the thread ends after those given (joined when `wait`)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if cancel_futures:
                while True:
                    try:
                        item = self._calls.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        item[0].cancel()
            self._calls.put(None)
            thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join()

    def drain(self, timeout: float) -> bool:
        """Whether the calls given so far finished within `timeout` seconds."""
        timeout = max(timeout, 0.0)
        done: Future[None] | None = None
        with self._lock:
            thread = self._thread
            if thread is None or not thread.is_alive():
                return True
            if not self._closed:  # (a closed one ends after the calls it was given)
                done = Future()
                self._calls.put((done, _nothing, (), {}))
        if done is None:
            thread.join(timeout)
            return not thread.is_alive()
        try:
            done.result(timeout=timeout)
        except TimeoutError:
            return False
        return True


def _nothing() -> None:
    return None


def _hook_exit(thread: StoreThread) -> None:
    global _exit_hooked
    with _EXIT_LOCK:
        _RUNNING.add(thread)
        if not _exit_hooked:
            atexit.register(_at_exit)
            _exit_hooked = True


def _at_exit() -> None:
    """The calls handed to the stores' threads finished, or `EXIT_WAIT` seconds passed."""
    deadline = time.monotonic() + EXIT_WAIT
    for thread in list(_RUNNING):
        thread.drain(deadline - time.monotonic())
