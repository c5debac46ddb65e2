"""`watch --file` across logrotate's two ways of rotating (rename + create; copytruncate), a traceback written
across the rotation: nothing lost or read twice, the traceback one event. The app's lines are formatted by the
real `logging` module with a real exception; the follow and the command are the real ones (a subprocess), polled
with generous deadlines, no durations asserted."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
from pathlib import Path

import pytest

from mosaic_diag.logs.follow import FollowStream
from tests.test_watch import Watch, _Following


def _record(name: str, msg: str, exc: BaseException | None = None) -> str:
    """A record as the app's FileHandler writes it (its time now)."""
    info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    rec = logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, info)
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s").format(rec) + "\n"


def _traceback_record() -> list[str]:
    try:
        json.loads("{'step': 1,}")
    except json.JSONDecodeError as exc:
        lines = _record("api.steps", "could not load prompts/ps101_steps.json", exc).splitlines(keepends=True)
        assert lines[1].startswith("Traceback") and lines[-1].startswith("json.decoder.JSONDecodeError")
        return lines
    raise AssertionError("json.loads took a malformed document")


class App:
    """An app's log file written through its own file descriptor (O_APPEND, as logging's FileHandler opens it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in reopen / close
        self.written: list[str] = []

    def write(self, *lines: str) -> None:
        self.fh.write("".join(lines))
        self.fh.flush()
        self.written += lines

    def reopen(self) -> None:
        """What the app does on logrotate's postrotate signal (or a WatchedFileHandler on its next record)."""
        self.fh.close()
        self.fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def close(self) -> None:
        self.fh.close()


def _rotate(mode: str, app: App, tb: list[str], wait: object) -> None:
    """Rotate `app`'s log the way logrotate does in `mode`, the traceback `tb` written across it; `wait()`
    gives the follower time to look at the files (a pause, no assertion: without it the race is only less
    likely)."""
    log = app.path
    app.write(*tb[:4])  # the record, its header and a frame
    wait()
    if mode == "rename and create":
        log.rename(log.with_name("app.log.1"))
        log.touch()  # logrotate's `create`: the new, empty file
        wait()  # (the follower sees the new file: empty, the app still writes the old one)
        app.write(*tb[4:7])  # the app writes the renamed file until it reopens its log
        wait()
        app.reopen()
        app.write(*tb[7:])
    else:
        shutil.copyfile(log, log.with_name("app.log.1"))
        os.truncate(log, 0)
        app.write(*tb[4:])  # (O_APPEND: from the start of the file cut, maybe past where it was read)


@pytest.mark.parametrize("mode", ["rename and create", "copytruncate"])
def test_follow_reads_every_byte_once_across_a_rotation(tmp_path: Path, mode: str) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    follow = _Following(log)
    app = App(log)
    try:
        app.write(*(_record("api.orders", f"order {i} failed") for i in range(3)))
        follow.wait_for(app.written[-1].encode())
        _rotate(mode, app, _traceback_record(), lambda: follow.stop.wait(0.3))
        app.write(*(_record("api.orders", f"order {i} failed") for i in range(3, 6)))
        follow.wait_for(app.written[-1].encode())
    finally:
        app.close()
        follow.close()
    assert follow.got.decode() == "".join(app.written)
    assert follow.stream.rotations == 1


def test_a_writer_without_append_after_copytruncate_is_read_on_past_the_hole(tmp_path: Path) -> None:
    """A writer that did not open its log with O_APPEND goes on at its offset after copytruncate: the file is a
    hole of NULs, then its new lines. Those are read; the hole is not."""
    log = tmp_path / "app.log"
    log.write_text("")
    follow = _Following(log)
    with open(log, "r+b", buffering=0) as fh:
        first = _record("api.orders", "order 0 failed").encode()
        fh.write(first)
        follow.wait_for(first)
        shutil.copyfile(log, tmp_path / "app.log.1")
        os.truncate(log, 0)
        follow.stop.wait(0.3)
        more = _record("api.orders", "order 1 failed").encode()
        fh.write(more)  # (at its offset: after a hole as long as what was cut)
        follow.wait_for(more)
    follow.close()
    assert log.read_bytes().startswith(b"\0" * len(first))
    assert follow.got == first + more


@pytest.mark.parametrize("mode", ["rename and create", "copytruncate"])
def test_watch_reads_a_traceback_written_across_a_rotation_as_one_event(tmp_path: Path, mode: str) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    w = Watch(["--file", str(log), "--no-playbooks", "--state-file", str(tmp_path / "state.json"),
               "--flush-after", "0.5"], tmp_path)
    w.next_where(lambda i: i["type"] == "status", "status")
    app = App(log)
    try:
        app.write(*(_record("api.orders", f"order {i} failed") for i in range(3)))
        w.next_where(lambda i: i["type"] == "event" and i["message"] == "order 2 failed", "the third order")
        _rotate(mode, app, _traceback_record(), lambda: _pause(0.6))
        app.write(*(_record("api.orders", f"order {i} failed") for i in range(3, 6)))
        w.next_where(lambda i: i["type"] == "event" and i["message"] == "order 5 failed", "the last order")
    finally:
        app.close()
    code, err = w.stop()
    assert code == 0, err
    events = [i for i in w.seen if i["type"] == "event"]
    assert [e["message"] for e in events] == [
        "order 0 failed", "order 1 failed", "order 2 failed",
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        "order 3 failed", "order 4 failed", "order 5 failed"]
    tb = events[3]
    assert tb["exception_type"] == "json.decoder.JSONDecodeError" and tb["label"] == "PS101_STEP_MALFORMED"
    assert tb["end_line"] - tb["line"] + 1 == len(_traceback_record())
    summary = next(i for i in w.seen if i["type"] == "summary")
    assert summary["lines"] == len(app.written) == events[-1]["line"]


def _pause(seconds: float) -> None:
    import threading

    threading.Event().wait(seconds)


class _Clock:
    """A monotonic clock the test moves on."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _until(cond: object, what: str, stop: object) -> None:
    for _ in range(2000):
        if cond():  # type: ignore[operator]
            return
        stop.wait(0.01)  # type: ignore[attr-defined]
    raise AssertionError(f"never: {what}")


def test_rename_and_create_with_several_writers_reads_the_renamed_file_until_it_is_quiet(tmp_path: Path) -> None:
    """gunicorn's workers reopen the new log one by one: a worker still appends to the renamed file after another
    wrote the new one. Both are read, whole lines each (a line half written to the old file is not cut by the new
    file's), until the old one has been quiet for the grace period; then it is let go."""
    log = tmp_path / "app.log"
    log.write_text("")
    clock = _Clock()
    follow = _Following(log, clock=clock, grace=30.0)
    a, b = App(log), App(log)
    try:
        a.write("a0 started\n")
        b.write("b0 started\n")
        follow.wait_for(b"b0 started\n")
        log.rename(tmp_path / "app.log.1")
        log.touch()
        a.reopen()
        a.write("a1 in the new file\n")
        follow.wait_for(b"a1 in the new file\n")  # (the follower reads the new file now)
        b.write("b1 still in the renamed file\n")
        follow.wait_for(b"b1 still in the renamed file\n")
        b.write("b2 half a line ")
        _until(lambda: follow.stream.held() == len("b2 half a line "), "the half line read", follow.stop)
        a.write("a2 whole\n")
        follow.wait_for(b"a2 whole\n")
        b.write("written in two parts\n")
        follow.wait_for(b"b2 half a line written in two parts\n")
        clock.now += 29.0  # not quiet long enough: still read
        b.write("b3 late\n")
        follow.wait_for(b"b3 late\n")
        clock.now += 31.0
        _until(lambda: follow.stream.draining == 0, "the renamed file let go", follow.stop)
        b.write("b4 after the grace\n")  # (a worker that never reopens its log: not followed for ever)
        b.reopen()
        b.write("b5 in the new file\n")
        follow.wait_for(b"b5 in the new file\n")
    finally:
        a.close()
        b.close()
        follow.close()
    lines = follow.got.decode().splitlines(keepends=True)
    assert sorted(lines) == sorted({*a.written, "b0 started\n", "b1 still in the renamed file\n",
                                    "b2 half a line written in two parts\n", "b3 late\n", "b5 in the new file\n"})
    assert lines.index("a1 in the new file\n") < lines.index("b1 still in the renamed file\n")
    assert follow.stream.rotations == 1


@pytest.mark.parametrize("past_the_bound", [False, True])
def test_a_line_left_half_written_in_the_renamed_file_goes_on_first_within_a_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, past_the_bound: bool) -> None:
    """A worker's line half written (and read) in the old file when another's first line comes to the new one: the
    new line waits for the old one's end, not cutting it. What waits is bounded (HOLD_CAP): past it, it is handed
    on (the half line then goes on after it)."""
    from mosaic_diag.logs import follow as follow_module

    monkeypatch.setattr(follow_module, "HOLD_CAP", 64)
    log = tmp_path / "app.log"
    log.write_text("")
    stream = FollowStream(log, threading.Event(), poll=0.01, clock=_Clock())
    a, b = App(log), App(log)
    try:
        b.write("b half ")
        assert _read_all(stream) == b"b half "
        log.rename(tmp_path / "app.log.1")
        log.touch()
        a.reopen()
        a.write("a1 new\n")
        assert _read_all(stream) == b""  # (waits for b's line)
        assert stream.held() == len("a1 new\n")
        if past_the_bound:
            a.write("y" * 100 + "\n")
            assert _read_all(stream) == b"a1 new\n" + b"y" * 100 + b"\n"
            b.write("line\n")
            assert _read_all(stream) == b"line\n"
        else:
            b.write("line\n")
            assert _read_all(stream) == b"line\na1 new\n"
        assert stream.held() == 0
    finally:
        a.close()
        b.close()
        stream.close()


def test_copytruncate_reads_from_the_rotated_copy_what_was_not_read_before_the_cut(tmp_path: Path) -> None:
    """Lines written before logrotate's copy but not read yet are in the copy (app.log.1): read from there, once,
    before the file cut; nothing is said to be lost."""
    log = tmp_path / "app.log"
    log.write_text("")
    notes: list[str] = []
    stop = threading.Event()
    stream = FollowStream(log, stop, poll=0.01, on_note=notes.append)
    app = App(log)
    try:
        app.write("one\n")
        assert _read_all(stream) == b"one\n"
        app.write("two\n", "three\n")  # not read before the rotation
        shutil.copyfile(log, tmp_path / "app.log.1")
        os.truncate(log, 0)
        app.write("four\n")
        assert _read_all(stream) == b"two\nthree\nfour\n"
    finally:
        app.close()
        stream.close()
    assert notes == []


@pytest.mark.parametrize("copy", ["app.log.1.gz", None])
def test_copytruncate_says_how_many_bytes_it_lost(tmp_path: Path, copy: str | None) -> None:
    """What was not read before the cut and is in no rotated copy the follower can read is said lost, with its
    size (here: known because the follower had seen the file that long); a gzipped copy is read."""
    import gzip

    log = tmp_path / "app.log"
    log.write_text("")
    notes: list[str] = []
    stop = threading.Event()
    stream = FollowStream(log, stop, poll=0.01, on_note=notes.append)
    app = App(log)
    try:
        app.write("0123456789\n" * 3)
        assert stream.read_some(11, 0) == b"0123456789\n"  # (a reader's chunk: the rest seen, not read)
        if copy is not None:
            with gzip.open(tmp_path / copy, "wb") as gz:
                gz.write(log.read_bytes())
        os.truncate(log, 0)
        app.write("after\n")
        got = _read_all(stream)
    finally:
        app.close()
        stream.close()
    if copy is not None:
        assert (got, notes) == (b"0123456789\n" * 2 + b"after\n", [])
    else:
        assert got == b"after\n"
        assert len(notes) == 1 and "22 bytes" in notes[0] and str(log) in notes[0], notes


def test_a_file_deleted_while_followed_is_said_once_and_read_on_until_a_new_one_comes(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    notes: list[str] = []
    stream = FollowStream(log, threading.Event(), poll=0.01, on_note=notes.append)
    app = App(log)
    try:
        log.unlink()
        app.write("still written\n")
        assert _read_all(stream) == b"still written\n"
        assert _read_all(stream) == b""
        assert notes == [f"{log} was deleted: what is still written to it is read (by its open descriptor) until a "
                         "new file takes its name"]
        log.write_text("new file\n")
        assert _read_all(stream) == b"new file\n"
    finally:
        app.close()
        stream.close()
    assert len(notes) == 1


def _read_all(stream: FollowStream) -> bytes:
    """What the stream has now (read until it has nothing within a short wait: the file is written already)."""
    out = b""
    while (data := stream.read_some(-1, 0.05)) is not None:
        out += data
    return out


def _within(read: object, seconds: float = 30.0) -> bytes:
    """`read()` on a thread of its own, waited for at most `seconds` (an open that blocks for ever fails the test
    instead of hanging it)."""
    box: list[bytes] = []
    thread = threading.Thread(target=lambda: box.append(read()), daemon=True)  # type: ignore[operator]
    thread.start()
    thread.join(seconds)
    assert box, f"the read did not return within {seconds:g} s"
    return box[0]


@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_a_name_taken_by_a_fifo_or_a_link_after_a_rotation_is_not_read(tmp_path: Path, kind: str) -> None:
    """After a rename, the new file at the name is opened: a FIFO put there blocked that open for ever (the watch
    read nothing more, a SIGTERM did not stop it), a symbolic link at a file's name had the watch read the file it
    points to (another user's file, /etc/shadow for a watch run as root). Said once; the renamed file is read on;
    a regular file that takes the name later is read."""
    log, secret = tmp_path / "app.log", tmp_path / "secret.txt"
    secret.write_text("root:$6$salt$hash:19000:0:99999:7:::\n")
    log.write_text("")
    notes: list[str] = []
    stream = FollowStream(log, threading.Event(), poll=0.01, on_note=notes.append)
    app = App(log)
    try:
        app.write("before\n")
        log.rename(tmp_path / "app.log.1")
        if kind == "fifo":
            os.mkfifo(log)
        else:
            log.symlink_to(secret)
        app.write("after the rename\n")
        assert _within(lambda: _read_all(stream)) == b"before\nafter the rename\n"
        assert _within(lambda: _read_all(stream)) == b""
        what = "not a regular file (a FIFO, a device, a socket)" if kind == "fifo" else \
            "a symbolic link, put where the file was"
        assert notes == [f"{log} was replaced by {what}: not read; the file it replaced is read on (by its open "
                         "descriptor) until a regular file takes its name"]
        log.unlink()
        log.write_text("new file\n")
        assert _within(lambda: _read_all(stream)) == b"new file\n"
    finally:
        if kind == "fifo" and log.is_fifo():  # (an open blocked on the FIFO let go: a writer opens it)
            with contextlib.suppress(OSError):
                os.close(os.open(log, os.O_WRONLY | os.O_NONBLOCK))
        app.close()
        stream.close()
    assert len(notes) == 1


def test_a_name_given_as_a_link_is_followed_when_the_link_is_pointed_at_a_new_file(tmp_path: Path) -> None:
    """A `current` link a logger points at each new file (multilog, cronolog) is followed through its links."""
    first, second, current = tmp_path / "app-1.log", tmp_path / "app-2.log", tmp_path / "current"
    first.write_text("")
    current.symlink_to(first)
    notes: list[str] = []
    stream = FollowStream(current, threading.Event(), poll=0.01, on_note=notes.append)
    try:
        with first.open("a") as fh:
            fh.write("in the first\n")
        assert _read_all(stream) == b"in the first\n"
        second.write_text("in the second\n")
        current.unlink()
        current.symlink_to(second)
        assert _read_all(stream) == b"in the second\n"
    finally:
        stream.close()
    assert notes == []


def test_a_pipe_stream_closed_twice_leaves_the_descriptor_that_took_its_number_open(tmp_path: Path) -> None:
    """`PipeStream.close()` closes its FIFO's descriptor once: a second close (a watch's cleanup after the stream's own)
    closed whatever descriptor the process had opened since under that number (another thread's socket or file)."""
    from mosaic_diag.logs.follow import follow_path

    fifo = tmp_path / "live.fifo"
    os.mkfifo(fifo)
    stream = follow_path(fifo, threading.Event())
    stream.close()
    other = os.open(os.devnull, os.O_RDONLY)  # (the lowest free number: the one the stream just gave back)
    try:
        stream.close()
        os.fstat(other)  # (EBADF when the second close took it)
    finally:
        os.close(other)
