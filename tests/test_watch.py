"""`watch`: live sources (followed file, syslog over TCP/TLS), incremental anomalies, alerts and actions
once per cool-down, state kept across restarts, clean stop on SIGTERM. Real sockets, real processes."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mosaic_diag.errors import ConfigError, UsageError
from mosaic_diag.logs import ReadStats, read_events
from mosaic_diag.logs.follow import FollowStream
from mosaic_diag.logs.syslog_listener import FrameParser, SyslogListener, split_message
from mosaic_diag.triage.anomaly import AnomalySettings, RateSeries
from mosaic_diag.watch.live import LiveRates
from mosaic_diag.watch.state import WatchState
from tests.cli_inproc import run_cli

ROOT = Path(__file__).resolve().parent.parent
SYSLOG_SAMPLE = ROOT / "examples" / "logs" / "syslog.log"
T0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


# ---------------------------------------------------------------- incremental anomalies = batch anomalies
@pytest.mark.parametrize("seed", range(6))
def test_live_rates_flag_the_windows_the_batch_detector_flags(seed: int) -> None:
    import random

    rnd = random.Random(seed)
    settings = AnomalySettings()
    times: list[tuple[str, datetime]] = []
    for minute in range(0, 240):
        for label in ("A", "B"):
            base = 1 if rnd.random() < 0.3 else 0
            burst = rnd.randint(10, 30) if rnd.random() < 0.03 else 0
            times += [(label, T0 + timedelta(minutes=minute, seconds=rnd.randint(0, 59)))] * (base + burst)
        if minute == 100:
            times += [("C", T0 + timedelta(minutes=minute))] * 12  # a label first seen late, in a burst
    times.sort(key=lambda t: t[1])
    batch = RateSeries()
    live = LiveRates(settings)
    flagged = set()
    for label, when in times:
        batch.add(label, when)
        anomaly = live.add(label, when)
        if anomaly:
            flagged.add((label, anomaly.window_start))
    assert flagged == {(a.label, a.window_start) for a in batch.detect(settings)}
    assert ("C", T0 + timedelta(minutes=100)) in flagged  # (the late label's burst)


@pytest.mark.parametrize("seed", range(3))
def test_live_and_batch_agree_at_the_edge_of_the_threshold(seed: int) -> None:
    """Busy labels (4 and 30 errors a window) with single-window bursts of every size around the count that alarms
    and sustained rises (3 to 8 windows at 2 to 3 times the rate): the live trigger (computed once per window,
    over the one-window and the sustained tests) and the batch tests of the closed windows find the same spans,
    each alerted once (at its first alarming window: its start is the batch's)."""
    import random

    rnd = random.Random(100 + seed)
    settings = AnomalySettings()
    times: list[tuple[str, datetime]] = []
    rise = {"A": 0, "B": 0}
    for window in range(600):
        for label, rate, extra in (("A", 4, (8, 30)), ("B", 30, (15, 60))):
            n = sum(1 for _ in range(rate * 4) if rnd.random() < 0.25)  # binomial, mean `rate`
            if rnd.random() < 0.01:
                n += rnd.randint(*extra)
            if not rise[label] and rnd.random() < 0.005:
                rise[label] = rnd.randint(3, 8)
            if rise[label]:
                n += sum(1 for _ in range(rate * 4) if rnd.random() < rnd.uniform(0.25, 0.5))
                rise[label] -= 1
            times += [(label, T0 + timedelta(minutes=5 * window, seconds=rnd.uniform(0, 299))) for _ in range(n)]
    times.sort(key=lambda t: t[1])
    batch = RateSeries()
    live = LiveRates(settings)
    alerts = []
    for label, when in times:
        batch.add(label, when)
        if anomaly := live.add(label, when):
            alerts.append((anomaly.label, anomaly.window_start))  # (at its trigger count: the batch's score is later)
    found = batch.detect(settings)
    assert sorted(alerts) == sorted((a.label, a.window_start) for a in found)  # once per span, the same starts
    assert {label for label, _ in alerts} == {"A", "B"}
    assert any(a.windows > 1 for a in found)  # (sustained spans among them)


def test_a_quiet_decade_costs_nothing() -> None:
    live = LiveRates()
    for years in range(0, 50, 5):
        live.add("A", T0 + timedelta(days=365 * years))
    assert live.labels["A"].track.seen > 1_000_000  # windows stepped over, not walked


# ---------------------------------------------------------------- syslog framing
def test_frames_octet_counted_newline_framed_mixed_and_split() -> None:
    msgs = [b"<134>1 2026-11-27T14:00:00Z h app 1 - - one", b"<134>1 2026-11-27T14:00:01Z h app 1 - - two words",
            "<134>1 2026-11-27T14:00:02Z h app 1 - - ünïcode".encode()]
    wire = b"".join(b"%d %s" % (len(m), m) for m in msgs[:2]) + msgs[2] + b"\n"
    for cut in range(1, len(wire)):
        p = FrameParser()
        assert p.feed(wire[:cut]) + p.feed(wire[cut:]) == msgs


def test_a_bad_length_is_skipped_to_the_next_line() -> None:
    """A count past MAX_FRAME is skipped with its line; one of 8 digits or more is no count: a line read whole.
    (This test's assertion ended `or p.bad >= 0`, true whatever the parser did.)"""
    p = FrameParser()
    assert p.feed(b"9999999 junk\n12 <134>1 x y z\n") == [b"<134>1 x y z"] and p.bad == 1
    p = FrameParser()
    assert p.feed(b"99999999 junk\n12 <134>1 x y z\n") == [b"99999999 junk", b"<134>1 x y z"] and p.bad == 0


def test_a_line_is_cut_at_max_frame_whether_or_not_its_newline_came_with_it() -> None:
    """A line longer than MAX_FRAME is cut there when its newline arrives in the same reads too (it was handed on
    whole: up to twice the bound the module documents, a read of 64 KiB on top of a buffer just under it)."""
    from mosaic_diag.logs.syslog_listener import MAX_FRAME

    long_line = b"<13>1 - - - - - - " + b"A" * (MAX_FRAME + 30_000)
    p = FrameParser()
    got = p.feed(long_line[:MAX_FRAME - 10]) + p.feed(long_line[MAX_FRAME - 10:] + b"\n<13>1 next\n")
    assert [len(m) for m in got] == [MAX_FRAME, 10] and got[0] == long_line[:MAX_FRAME]


def test_an_octet_count_is_digits_and_an_empty_frame_no_message() -> None:
    """int() took "1_0" as a count of 10 (a frame cut out of a line's middle), and "0 " made an empty message; a
    count of 2**63 is no count (past 7 digits): the line is read as newline-framed, whole."""
    p = FrameParser()
    assert p.feed(b"1_0 abcdefghijXYZ\n0 \n9223372036854775808 <13>1 x\n<13>1 ok\n") == [
        b"9223372036854775808 <13>1 x", b"<13>1 ok"]
    assert p.bad == 1


def test_a_multiline_message_keeps_its_header_on_every_line() -> None:
    msg = (b"<134>1 2026-11-27T14:00:00Z host app 14 - - Traceback (most recent call last):\n"
           b"  File \"x.py\"\nValueError: x")
    lines = split_message(msg).splitlines()
    assert lines[1] == b'<134>1 2026-11-27T14:00:00Z host app 14 - -   File "x.py"'
    assert lines[2].endswith(b"- - ValueError: x")


def test_a_frame_of_a_long_header_and_many_newlines_is_not_amplified_by_the_header_copies() -> None:
    """Each further line of a message got its own copy of the header: a 64 KB frame of a 32 KB header and 32,000
    newlines was 1 GB queued (2 GB of memory for one frame, 64 connections at once). The copies stop at
    SPLIT_HEADS bytes; the lines past them come as they are: none is lost, the whole within the frame and them."""
    from mosaic_diag.logs import syslog_listener

    head = b"<134>1 2026-11-27T14:00:00Z " + b"h" * 4000 + b" app 14 - - "
    msg = head + b"first" + b"\nx" * 15_000
    listener = SyslogListener("127.0.0.1", 0).start()
    try:
        with socket.create_connection(("127.0.0.1", listener.address[1]), timeout=30) as sock:
            sock.sendall(b"%d %s" % (len(msg), msg))
        _wait_for(lambda: listener.messages == 1, "the frame read")
        [queued] = listener.queue.lines()
        assert len(queued) <= len(msg) + syslog_listener.SPLIT_HEADS + 1  # (4000 * 15,000 = 60 MB before)
        lines = queued.splitlines()
        assert len(lines) == 15_001 and lines[0] == head + b"first" and lines[1] == head + b"x"
        headed = syslog_listener.SPLIT_HEADS // len(head)
        assert lines[headed] == head + b"x" and lines[headed + 1:] == [b"x"] * (15_000 - headed)
    finally:
        listener.close()


# ---------------------------------------------------------------- followed file
class _Following:
    """A FollowStream of `path` read by a thread: `wait_for(text)` until it has read it; `got` all it read."""

    def __init__(self, path: Path, **kw: Any) -> None:
        self.stop = threading.Event()
        self.stream = FollowStream(path, self.stop, poll=0.01, **kw)
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(
            target=lambda: [self.chunks.append(c) for c in iter(lambda: self.stream.read(4096), b"")])
        self.reader.start()

    @property
    def got(self) -> bytes:
        return b"".join(self.chunks)

    def wait_for(self, text: bytes) -> None:
        for _ in range(2000):
            if text in self.got:
                return
            self.stop.wait(0.01)
        raise AssertionError(f"{text!r} never read; got {self.got!r}")

    def close(self) -> None:
        self.stop.set()
        self.reader.join(timeout=10)
        self.stream.close()


def test_follow_reads_appends_rotation_and_truncation(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"old line\n")
    follow = _Following(log)
    try:
        with open(log, "ab") as fh:
            fh.write(b"first\n")
        follow.wait_for(b"first\n")
        log.rename(tmp_path / "app.log.1")  # rotation: a new file takes the name
        (tmp_path / "app.log").write_bytes(b"after rotation\n")
        follow.wait_for(b"after rotation\n")
        log.write_bytes(b"t\n")  # truncated and rewritten in place
        follow.wait_for(b"after rotation\nt\n")
    finally:
        follow.close()
    assert b"old line" not in follow.got and follow.stream.rotations == 2


def test_following_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        FollowStream(tmp_path / "nope.log", threading.Event())


# ---------------------------------------------------------------- state
def test_state_is_locked_remembered_and_cooled_down(tmp_path: Path) -> None:
    path = tmp_path / "s" / "watch-state.json"
    state = WatchState.open(path)
    with pytest.raises(UsageError, match="another watch is running"):
        WatchState.open(path)
    assert state.saw("fp1", T0) and not state.saw("fp1", T0)
    assert state.due("acted", "pb|fp1", T0, 600)
    assert not state.due("acted", "pb|fp1", T0 + timedelta(seconds=599), 600)
    assert state.due("acted", "pb|fp1", T0 + timedelta(seconds=601), 600)
    state.flush()
    state.close()
    again = WatchState.open(path)
    assert "fp1" in again.seen and "pb|fp1" in again.acted
    again.close()
    path.write_text("[1, 2")
    with pytest.raises(ConfigError, match="corrupt watch state"):
        WatchState.open(path)


# ---------------------------------------------------------------- the command, end to end
class Watch:
    """A `mosaic-diag watch` subprocess whose JSON lines are read as they come."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_DIAG_")}
        self.proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "watch", "--format", "json", *args],
                                     cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[dict] = queue.Queue()
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()
        self.seen: list[dict] = []

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def next_where(self, pred, what: str) -> dict:
        for _ in range(240):  # up to a minute on a busy machine; at once when the process has ended
            try:
                item = self.lines.get(timeout=0.25)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(item)
            if pred(item):
                return item
        raise AssertionError(f"no {what}; saw {self.seen[-5:]}; stderr: {self.stop()[1]}")

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.pump.join(timeout=60)  # every line printed before the exit is in the queue now
        err = self.proc.stderr.read() if self.proc.stderr else ""
        while not self.lines.empty():
            self.seen.append(self.lines.get_nowait())
        return self.proc.returncode, err or ""


def _closers(lines: list[bytes]) -> list[bytes]:
    """One INFO line per instance (host + app) of `lines`: the next line of an instance closes its
    open event, so the test needs no idle flush (and no timing)."""
    import re

    instances = dict.fromkeys(m.group(1) for ln in lines if (m := re.match(rb"^<\d+>1 \S+ (\S+ \S+ \S+) ", ln)))
    return [b"<134>1 2026-11-27T16:00:00.000000Z " + inst + b" - - INFO:     closing" for inst in instances]


def _send(port: int, lines: list[bytes], *, tls: ssl.SSLContext | None = None) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        sock = tls.wrap_socket(raw, server_hostname="localhost") if tls else raw
        for line in lines:
            sock.sendall(b"%d %s" % (len(line), line))
        if tls:
            with contextlib.suppress(OSError, ssl.SSLError):
                sock.unwrap()  # close_notify, and read what the server sent: no reset drops our data


@pytest.fixture(scope="module")
def sample_lines() -> list[bytes]:
    return SYSLOG_SAMPLE.read_bytes().splitlines()


def _groups_of_the_file() -> set[str]:
    """The groups a batch triage of the sample finds (the live watch must alert each, once)."""
    from mosaic_diag.classifier import Classifier
    from mosaic_diag.triage import TriageRun

    run = TriageRun(Classifier.default())
    with open(SYSLOG_SAMPLE, "rb") as fh:
        for _ in run.process(read_events(fh, ReadStats())):
            pass
    return {fp for fp, acc in run.groups.items() if acc.label != "RENDER_RESTART_LOOP"}


def test_watch_syslog_alerts_once_and_remembers_across_restarts(tmp_path: Path, sample_lines: list[bytes]) -> None:
    want = _groups_of_the_file()
    assert len(want) > 10
    w = Watch(["--syslog", "127.0.0.1:0", "--no-playbooks", "--flush-after", "600"], tmp_path)
    status = w.next_where(lambda i: i["type"] == "status", "status line")
    port = int(status["source"].rsplit(":", 1)[1])
    _send(port, sample_lines + _closers(sample_lines))
    new_groups: set[str] = set()
    while new_groups != want:
        alert = w.next_where(lambda i: i["type"] == "alert" and i["kind"] == "new_group", "every new-group alert")
        assert alert["fingerprint"] not in new_groups  # once each
        new_groups.add(alert["fingerprint"])
    code, err = w.stop()
    assert code == 0, err
    summary = [i for i in w.seen if i["type"] == "summary"]
    assert summary and summary[0]["events"] > 10 and summary[0]["alerts"] >= len(want)
    assert {i["fingerprint"] for i in w.seen if i.get("kind") == "new_group"} == want
    assert "Traceback" not in err
    state = json.loads((tmp_path / ".mosaic-diag" / "watch-state.json").read_text())
    assert new_groups <= set(state["seen"])

    again = Watch(["--syslog", "127.0.0.1:0", "--no-playbooks", "--flush-after", "600"], tmp_path)
    port = int(again.next_where(lambda i: i["type"] == "status", "status")["source"].rsplit(":", 1)[1])
    _send(port, sample_lines + _closers(sample_lines))
    code, _ = again.stop()
    assert code == 0
    assert not [i for i in again.seen if i.get("kind") == "new_group"]  # the same groups: not news again
    assert [i for i in again.seen if i["type"] == "event"]


def test_watch_execute_acts_once_per_cooldown_over_tls(tmp_path: Path, sample_lines: list[bytes]) -> None:
    pb = tmp_path / "pb"
    pb.mkdir()
    (pb / "auth.yml").write_text(
        "- id: pg-auth-note\n  match:\n    label: PG_AUTH_FAILED\n  severity: high\n  remediate:\n"
        "    - action: open_incident\n      when: always\n")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True, timeout=120)
    tls = ssl.create_default_context(cafile=str(cert))
    auth = [ln for ln in sample_lines if b"password authentication failed" in ln][:1]
    assert auth
    start = sample_lines.index(auth[0])
    block = sample_lines[max(0, start - 12):start + 1]  # one traceback
    block += _closers(block)
    w = Watch(["--syslog", "127.0.0.1:0", "--tls-cert", str(cert), "--tls-key", str(key), "--execute",
               "--playbooks", str(pb), "--cooldown", "1h", "--flush-after", "600"], tmp_path)
    port = int(w.next_where(lambda i: i["type"] == "status", "status")["source"].rsplit(":", 1)[1])
    for n in range(3):
        _send(port, block, tls=tls)
        w.next_where(lambda i: i["type"] == "event" and i["label"] == "PG_AUTH_FAILED", f"event {n + 1}")
    code, err = w.stop()
    assert code == 0, err
    notes = list((tmp_path / ".mosaic-diag" / "incidents").glob("*"))
    assert len(notes) == 1, notes
    audit = (tmp_path / ".mosaic-diag" / "audit.log").read_text().splitlines()
    assert len([a for a in audit if "open_incident" in a and '"outcome": "intent"' not in a]) == 1
    acted = [i for i in w.seen if i.get("label") == "PG_AUTH_FAILED" and i["type"] == "alert"]
    assert acted[0]["executed"] and acted[0]["executed"][0]["action"] == "open_incident"


def test_a_second_sigterm_interrupts_an_action_and_the_audit_says_so(tmp_path: Path) -> None:
    """The first SIGTERM lets a running action end (the watch stops after it); a webhook that never answers held
    the watch through every retry whatever was sent. A second one interrupts it: one line, exit 130, the action
    audited 'interrupted' after its intent, the state saved (acted on: not again on a restart)."""
    hung = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel's backlog) and never answers
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.mosaic-diag.playbooks]\nwebhook_url = "http://127.0.0.1:{hung.getsockname()[1]}/hook"\n')
    pb = tmp_path / "pb"
    pb.mkdir()
    (pb / "conn.yml").write_text(
        "- id: pg-conn\n  match:\n    label: PG_CONNECTION_FAILED\n  severity: high\n  remediate:\n"
        "    - action: alert_ops\n      when: always\n      message: database down\n")
    log = tmp_path / "app.log"
    log.write_text("")
    w = Watch(["--file", str(log), "--execute", "--playbooks", str(pb), "--flush-after", "0.2"], tmp_path)
    try:
        w.next_where(lambda i: i["type"] == "status", "status")
        with open(log, "a") as fh:
            fh.write("ERROR:api.storage:Database operation failed: connection already closed\n")
        w.next_where(lambda i: i["type"] == "event", "event")
        audit = tmp_path / ".mosaic-diag" / "audit.log"
        _wait_for(lambda: audit.exists() and '"outcome": "intent"' in audit.read_text(), "the action's intent")
        for _ in range(300):  # (two signals sent at once are one to the kernel: sent until the watch ends)
            w.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.proc.wait(timeout=0.2)
                break
        code, err = w.stop()
    finally:
        hung.close()
    assert code == 130, err
    assert err.splitlines() == ["mosaic-diag: error: interrupted twice: the watch stopped at once (an action that "
                                "was running is audited 'interrupted'; the watch state is saved)"]
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(r["action"], r["outcome"]) for r in records] == [("alert_ops", "intent"), ("alert_ops", "interrupted")]
    state = json.loads((tmp_path / ".mosaic-diag" / "watch-state.json").read_text())
    assert [key.split("|")[0] for key in state["acted"]] == ["pg-conn"]


def _catches_sigterm(pid: int) -> bool:
    """Whether process `pid` has a handler for SIGTERM (Linux: /proc's SigCgt mask)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def _sigterm_when_held(cli: list[str], log: Path, gate: Path, cwd: Path,
                       env: dict[str, str]) -> tuple[subprocess.Popen[str], str, str]:
    """`cli` + `watch` of `log` started, SIGTERM sent once its start is held at an import (`gate` written) and its
    handler is in place: (the process, its stdout, its stderr)."""
    proc = subprocess.Popen([*cli, "watch", "--format", "json", "--file", str(log), "--no-playbooks"], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: proc.poll() is not None or gate.exists(), "the start held at its import")
    assert _catches_sigterm(proc.pid)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    return proc, out, err


def test_sigterm_while_the_watch_starts_is_one_line_exit_130(tmp_path: Path) -> None:
    """A SIGTERM before the watch ran (loading its modules, rules and playbooks) killed it without a word (-15); it
    is an interruption like Ctrl-C: one line, exit 130, nothing read or acted on. The start is held at an import of
    its own (a finder that waits there) until the signal came, whatever the machine's speed."""
    log = tmp_path / "app.log"
    log.write_text("")
    gate = tmp_path / "gate"
    code = textwrap.dedent(f"""
        import importlib.abc, pathlib, sys, time
        class Gate(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name == "mosaic_diag.triage":
                    pathlib.Path({str(gate)!r}).write_text("held")
                    time.sleep(600)
                return None
        sys.meta_path.insert(0, Gate())
        from mosaic_diag.entry import main
        raise SystemExit(main())
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_DIAG_")}
    proc, out, err = _sigterm_when_held([sys.executable, "-c", code], log, gate, tmp_path, env)
    assert (proc.returncode, err.splitlines()) == (130, ["mosaic-diag: error: interrupted while the watch started: "
                                                        "nothing was read or acted on"])
    assert out == ""


@pytest.mark.parametrize(("held_at", "in_exec", "message"), [
    # held in code run from a string (as `dataclasses` and `namedtuple` build their methods while modules are imported):
    # CPython marks the KeyboardInterrupt leaving it unhandled, caught or not, and `-m` then died by SIGINT (-2) after
    # the line was written
    ("mosaic_diag.triage", True, "interrupted while the watch started: nothing was read or acted on"),
    # before the Typer app, let alone the watch's own handler, was loaded: SIGTERM killed it without a word (-15)
    ("mosaic_diag.cli", False, "interrupted"),
])
def test_sigterm_while_the_watch_starts_under_python_m_is_one_line_exit_130(tmp_path: Path, held_at: str,
                                                                            in_exec: bool, message: str) -> None:
    """`python -m mosaic_diag watch` given SIGTERM while it starts: one line, exit 130, as its console script. The
    start is held at an import (a finder that waits there, put in by a `sitecustomize` of the test's) until the
    signal came, whatever the machine's speed."""
    log = tmp_path / "app.log"
    log.write_text("")
    gate, site = tmp_path / "gate", tmp_path / "site"
    site.mkdir()
    wait = 'exec("time.sleep(600)")' if in_exec else "time.sleep(600)"
    (site / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import importlib.abc, pathlib, sys, time
        class Gate(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name == {held_at!r}:
                    pathlib.Path({str(gate)!r}).write_text("held")
                    {wait}
                return None
        sys.meta_path.insert(0, Gate())
    """))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_DIAG_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    proc, out, err = _sigterm_when_held([sys.executable, "-m", "mosaic_diag"], log, gate, tmp_path, env)
    assert (proc.returncode, err.splitlines()) == (130, [f"mosaic-diag: error: {message}"])
    assert out == ""


def test_watch_follows_a_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("INFO:     Started server process [1]\n")
    w = Watch(["--file", str(log), "--no-playbooks"], tmp_path)
    w.next_where(lambda i: i["type"] == "status", "status")
    with open(log, "a") as fh:
        fh.write("ERROR:api.storage:Database operation failed: connection already closed\n"
                 "INFO:     127.0.0.1:5000 - \"GET /health HTTP/1.1\" 200 OK\n")
    event = w.next_where(lambda i: i["type"] == "event", "event")
    assert event["label"] == "PG_CONNECTION_FAILED"
    code, err = w.stop()
    assert code == 0 and "Traceback" not in err


@pytest.mark.parametrize("source", ["fifo", "/dev/stdin"])
def test_watch_reads_a_fifo_or_a_pipe_until_its_writer_closes_it(tmp_path: Path, source: str) -> None:
    """`tail -F app.log | mosaic-diag watch --file /dev/stdin`, or a FIFO: read as it comes (it was "Illegal
    seek", exit 2), and the end of its writer is the end of the watch (summary, exit 0). A FIFO with no writer yet
    is waited on, and SIGTERM still stops it then."""
    line = "ERROR:api.storage:Database operation failed: connection already closed\n"
    if source == "fifo":
        fifo = tmp_path / "app.fifo"
        os.mkfifo(fifo)
        w = Watch(["--file", str(fifo), "--no-playbooks", "--flush-after", "0.2"], tmp_path)
        w.next_where(lambda i: i["type"] == "status", "status")  # (no writer yet: waited on)
        with open(fifo, "w") as fh:
            fh.write(line)
            fh.flush()
            w.next_where(lambda i: i["type"] == "event", "event")
    else:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_DIAG_")}
        proc = subprocess.run([sys.executable, "-m", "mosaic_diag", "watch", "--format", "json", "--file",
                               "/dev/stdin", "--no-playbooks", "--flush-after", "0.2"], input=line, cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)
        items = [json.loads(x) for x in proc.stdout.splitlines()]
        assert proc.returncode == 0, proc.stderr
        assert [i["type"] for i in items] == ["status", "event", "alert", "summary"]
        assert items[1]["label"] == "PG_CONNECTION_FAILED" and items[3]["lines"] == 1
        return
    proc_end = w.next_where(lambda i: i["type"] == "summary", "the summary once the writer closed it")
    w.proc.wait(timeout=60)  # (it ends by itself: no signal sent)
    code, err = w.stop()
    assert code == 0 and proc_end["lines"] == 1, err
    idle = Watch(["--file", str(fifo), "--no-playbooks"], tmp_path)  # no writer at all: SIGTERM ends it
    idle.next_where(lambda i: i["type"] == "status", "status")
    code, err = idle.stop()
    assert code == 0 and idle.seen[-1]["type"] == "summary", err


@pytest.mark.parametrize(("args", "says"), [
    ([], "exactly one source"),
    (["--file", "a.log", "--syslog", "127.0.0.1:1"], "exactly one source"),
    (["--syslog", "nohost"], "HOST:PORT"),
    (["--file", "missing.log"], "no such file"),
    (["--file", "a.log", "--tls-cert", "c.pem"], "go with --syslog"),
    (["--file", "a.log", "--syslog-allow", "10.0.0.0/8"], "go with --syslog"),
    (["--syslog", "127.0.0.1:0", "--syslog-allow", "10.0.0.0/33"], "--syslog-allow takes an address or a network"),
    (["--syslog", "0.0.0.0:0", "--execute"], "needs --syslog-allow NETWORK"),
    (["--syslog", "127.0.0.1:0", "--syslog-allow", "203.0.113.7/8"], "give 203.0.0.0/8 for the whole network (its "
     "16,777,216 addresses) or 203.0.113.7 for the one host"),
    (["--file", "a.log", "--cooldown", "soon"], "--cooldown takes a duration"),
])
def test_bad_watch_usage_is_one_line_exit_2(args: list[str], says: str, tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("")
    r = run_cli(["watch", *args], cwd=tmp_path)  # (a usage error, not the process, is the subject: in-process)
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_listener_reads_through_the_reader(sample_lines: list[bytes]) -> None:
    """The listener's stream is an ordinary reader input: the sample reads the same as the file."""
    listener = SyslogListener("127.0.0.1", 0).start()
    stop = threading.Event()
    try:
        _send(listener.address[1], sample_lines)
        for _ in range(3000):
            if listener.messages >= len(sample_lines):
                break
            stop.wait(0.01)
        stop.set()
        got = [e.kind for e in read_events(listener.stream(stop), ReadStats())]
    finally:
        listener.close()
    with open(SYSLOG_SAMPLE, "rb") as fh:
        want = [e.kind for e in read_events(fh, ReadStats())]
    assert got == want and len(want) > 20


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("MOSAIC_DIAG_WEBHOOK_URL", raising=False)
    yield


class _Scripted:
    """A live stream on a simulated clock: each chunk arrives after its pause; a wait shorter than
    the pause answers None (nothing yet) and uses up that much of it."""

    def __init__(self, chunks: list[tuple[float, bytes]]) -> None:
        self.chunks = chunks

    def read_some(self, size: int = -1, timeout: float | None = None) -> bytes | None:
        if not self.chunks:
            return b""
        pause, data = self.chunks[0]
        if timeout is not None and pause > timeout:
            self.chunks[0] = (pause - timeout, data)
            return None
        self.chunks.pop(0)
        return data


def _watched(live: object, tmp_path: Path) -> tuple[object, list[object]]:
    """A Watcher over `live` (passes ending after 2 s idle) and all it yielded, its state in `tmp_path`."""
    from mosaic_diag.classifier import Classifier
    from mosaic_diag.watch import Watcher

    state = WatchState.open(tmp_path / "state.json")
    try:
        watcher = Watcher(Classifier.default(), state)
        return watcher, list(watcher.follow(live, 2.0))
    finally:
        state.close()


def test_a_pass_ends_when_idle_but_waits_longer_inside_a_traceback() -> None:
    from mosaic_diag.logs.follow import segments

    prefix = b"<131>1 2026-11-27T14:00:10Z host app 14 - - "
    live = _Scripted([(0, prefix + b"Traceback (most recent call last):\n"),
                      (5, prefix + b'  File "x.py", line 1, in f\n'),
                      (5, prefix + b"ValueError: boom\n"),
                      (5, prefix + b"INFO:     next\n")])
    passes = []
    for seg in segments(live, idle=2.0):
        data = b""
        while chunk := seg.read(1 << 16):
            data += chunk
        passes.append(data.count(b"\n"))
    # 5 s pauses after the header and a frame did not end the pass; the one after the exception line did
    assert passes == [3, 1]


def test_an_action_that_cannot_be_audited_is_skipped_and_the_watch_goes_on(tmp_path: Path) -> None:
    """An unwritable audit log stops that playbook's actions (said in the alert), not the watch."""
    from mosaic_diag.classifier import Classifier
    from mosaic_diag.playbooks.planner import ActionsStopped
    from mosaic_diag.watch import Watcher, WatchOptions

    def executor(label: str, facts: dict) -> tuple:
        raise ActionsStopped("cannot write the audit log (Permission denied): open_incident and the actions "
                             "after it were not run (0 ran before, each audited)", ())

    state = WatchState.open(tmp_path / "state.json")
    try:
        watcher = Watcher(Classifier.default(), state, watch=WatchOptions(600, execute=True),
                          planner=lambda label, facts: ("pb", {}), executor=executor)
        with open(SYSLOG_SAMPLE, "rb") as fh:
            items = list(watcher.feed(read_events(fh, ReadStats())))
    finally:
        state.close()
    alerts = [i for i in items if getattr(i, "kind", None)]
    assert len(alerts) > 10  # every group still alerted
    assert all(a.skipped and a.skipped.startswith("actions stopped: cannot write the audit log") for a in alerts
               if a.kind == "new_group")


_WORDS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]


def _auth_failed(when: str, user: str = "app") -> str:
    return f"{when} ERROR app: psycopg2.OperationalError: FATAL:  password authentication failed for user {user}\n"


def test_a_flood_of_new_groups_is_acted_on_a_few_times_not_once_each(tmp_path: Path) -> None:
    """A message that echoes its input makes a new group per input: each was acted on (a note, a post, a flag
    write per line the log's writer chose); a playbook acts on MAX_GROUPS_ACTED groups per cool-down, the others
    are alerted with why they were not acted on."""
    from mosaic_diag.watch.run import MAX_GROUPS_ACTED

    pb = tmp_path / "pb"
    pb.mkdir()
    (pb / "auth.yml").write_text(
        "- id: pg-auth-note\n  match:\n    label: PG_AUTH_FAILED\n  severity: high\n  remediate:\n"
        "    - action: open_incident\n      when: always\n")
    log = tmp_path / "app.log"
    log.write_text("".join(_auth_failed(f"2026-12-06T10:00:{i:02d}Z", w) for i, w in enumerate(_WORDS))
                   + "2026-12-06T10:01:00Z INFO app: closing\n")
    w = Watch(["--file", str(log), "--from-start", "--execute", "--playbooks", str(pb), "--cooldown", "1h",
               "--flush-after", "600"], tmp_path)
    alerts = [w.next_where(lambda i: i["type"] == "alert", f"alert {n + 1}") for n in range(len(_WORDS))]
    code, err = w.stop()
    assert code == 0, err
    assert len({a["fingerprint"] for a in alerts}) == len(_WORDS)
    assert len([a for a in alerts if a["executed"]]) == MAX_GROUPS_ACTED
    assert all("acted on 3 groups within the cool-down" in a["skipped"] for a in alerts[MAX_GROUPS_ACTED:])
    assert len(list((tmp_path / ".mosaic-diag" / "incidents").glob("*.md"))) == MAX_GROUPS_ACTED


def test_a_long_watch_keeps_a_bounded_number_of_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each distinct message (one echoing its input) is a group the watch kept counting forever: memory grew
    with every new input for as long as the watch ran. It keeps the MAX_LIVE_GROUPS seen last."""
    import io

    from mosaic_diag.classifier import Classifier
    from mosaic_diag.watch import Watcher, run

    monkeypatch.setattr(run, "MAX_LIVE_GROUPS", 50, raising=False)
    monkeypatch.setattr(run, "PRUNE_EVERY", 10)
    users = [f"{a}{b}{c}" for a in ("red", "blue", "green", "gold", "grey") for b in
             ("fox", "owl", "cat", "dog", "elk", "yak", "emu", "ant", "bee", "cod") for c in ("x", "y", "z", "q")]
    text = "".join(_auth_failed(f"2026-12-06T10:{i // 60:02d}:{i % 60:02d}Z", u) for i, u in enumerate(users))
    state = WatchState.open(tmp_path / "state.json")
    try:
        watcher = Watcher(Classifier.default(), state)
        events = [i for i in watcher.feed(read_events(io.BytesIO(text.encode()), ReadStats()))
                  if not hasattr(i, "kind")]
    finally:
        state.close()
    assert len({e.fingerprint for e in events}) == 200
    assert len(watcher.run.groups) <= 50 + 10
    assert events[-1].fingerprint in watcher.run.groups and events[0].fingerprint not in watcher.run.groups


def test_acting_is_timed_by_the_watchs_clock_not_the_logs(tmp_path: Path) -> None:
    """A line's timestamp is the log's text: restart loops dated past the cool-down apart were acted on each time,
    and one dated years ahead kept its group from being acted on again (in the state file, across restarts) for
    years. Alerting and acting follow the watch's clock."""
    from mosaic_diag.classifier import Classifier
    from mosaic_diag.watch import Watcher, WatchOptions
    from tests.test_triage_core import T0 as LOG_T0
    from tests.test_triage_core import error, start

    lines = iter(range(1, 10_000, 100))

    def loop(at: datetime) -> list:
        m, n = (at - LOG_T0).total_seconds() / 60, next(lines)
        return [start(n, m), error(n + 5, m + 1), start(n + 30, m + 2), error(n + 35, m + 3), start(n + 60, m + 4)]

    now = [LOG_T0 + timedelta(hours=6)]  # (the log's lines are read after they were written)
    calls: list[str] = []
    state = WatchState.open(tmp_path / "state.json")
    try:
        watcher = Watcher(Classifier.default(), state, watch=WatchOptions(3600, execute=True),
                          planner=lambda label, facts: ("pb", {}), clock=lambda: now[0],
                          executor=lambda label, facts: (calls.append(label), ("pb", ()))[1])

        def loops(*ats: datetime) -> list[str]:
            return [i.kind for i in watcher.feed([r for at in ats for r in loop(at)]) if hasattr(i, "kind")]

        kinds = loops(*(LOG_T0 + timedelta(hours=h) for h in (0, 2, 4)))
        assert kinds.count("restart_loop") == 1  # alerted once (the log's hours apart), in one cool-down of the watch
        assert calls.count("RENDER_RESTART_LOOP") == 1  # acted once: one cool-down of the watch's clock
        now[0] += timedelta(hours=2)
        loops(datetime(9000, 1, 1, tzinfo=UTC))
        assert calls.count("RENDER_RESTART_LOOP") == 2
        now[0] += timedelta(hours=2)
        loops(LOG_T0 + timedelta(hours=6))
        assert calls.count("RENDER_RESTART_LOOP") == 3  # the line dated 9000 silenced nothing
    finally:
        state.close()


def test_alerts_are_timed_by_the_watchs_clock_not_the_logs(tmp_path: Path) -> None:
    """The same bursts of a group, read within one cool-down of the watch but hours apart in the log's time (a log
    read from its start, a replay, an instance whose clock is off), were an anomaly alert each: a label is alerted
    anomalous once per cool-down of the watch's clock, and a group is new once, whatever its lines' times."""
    import io

    from mosaic_diag.classifier import Classifier
    from mosaic_diag.watch import Watcher

    def iso(at: datetime) -> str:
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")

    def burst(start: datetime) -> bytes:
        """One line a window for half an hour (the baseline), then 20 in a minute, all of one group."""
        lines = [_auth_failed(iso(start + timedelta(minutes=5 * i))) for i in range(6)]
        lines += [_auth_failed(iso(start + timedelta(minutes=30, seconds=i))) for i in range(20)]
        return ("".join(lines) + f"{iso(start + timedelta(minutes=32))} INFO app: closing\n").encode()

    log_t0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    now = [datetime(2026, 12, 6, 18, 0, tzinfo=UTC)]  # (the log is read after it was written)
    state = WatchState.open(tmp_path / "state.json")
    try:
        watcher = Watcher(Classifier.default(), state, clock=lambda: now[0])  # the default cool-down: 30 minutes

        def alerts(start: datetime) -> list[str]:
            return [i.kind for i in watcher.feed(read_events(io.BytesIO(burst(start)), ReadStats()))
                    if hasattr(i, "kind")]

        assert alerts(log_t0) == ["new_group", "anomaly"]
        assert alerts(log_t0 + timedelta(hours=3)) == []  # the log's 3 hours later, the watch's same minute
        now[0] += timedelta(minutes=31)
        assert alerts(log_t0 + timedelta(hours=6)) == ["anomaly"]  # a cool-down of the watch later: again
    finally:
        state.close()


def test_a_group_that_goes_on_recurring_is_not_new_again_after_a_flood_of_new_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The state keeps the MAX_KEYS fingerprints seen last: it kept those first seen last, so a group recurring all
    along was forgotten behind a flood of new ones (a message echoing its input) and alerted "new" again."""
    import io

    from mosaic_diag.classifier import Classifier
    from mosaic_diag.watch import Watcher
    from mosaic_diag.watch import state as state_module

    monkeypatch.setattr(state_module, "MAX_KEYS", 5)
    lines = []
    for i, user in enumerate(_WORDS):  # the app's own user, recurring, between ten new ones
        lines += [_auth_failed(f"2026-12-06T10:{i:02d}:00Z", "app"), _auth_failed(f"2026-12-06T10:{i:02d}:30Z", user)]
    state = WatchState.open(tmp_path / "state.json")
    try:
        watcher = Watcher(Classifier.default(), state)
        alerts = [i for i in watcher.feed(read_events(io.BytesIO("".join(lines).encode()), ReadStats()))
                  if getattr(i, "kind", None) == "new_group"]
    finally:
        state.close()
    assert len(alerts) == 1 + len(_WORDS)  # the app's group once, each new user's once
    assert len(state.seen) == 5


def test_a_line_dated_ahead_of_the_watchs_clock_does_not_blind_the_rates(tmp_path: Path) -> None:
    """One line of a label dated 9000 made every later one of it "late" (its window before the label's), so a burst
    of it was never an anomaly, and the rate counters were pruned back to 30 minutes before year 9000. A time ahead
    of the watch's clock (past a few minutes' skew) is none this log had yet: the line counts at its arrival."""
    from mosaic_diag.classifier import Classifier
    from mosaic_diag.watch import Watcher
    from tests.test_triage_core import T0 as LOG_T0
    from tests.test_triage_core import error

    now = [LOG_T0]
    state = WatchState.open(tmp_path / "state.json")
    try:
        watcher = Watcher(Classifier.default(), state, clock=lambda: now[0])
        forged = error(1, 0)
        forged = type(forged)(**{**forged.__dict__, "timestamp": datetime(9000, 1, 1, tzinfo=UTC)})
        items = list(watcher.feed([forged]))  # (arrives at the watch's LOG_T0)
        for m in range(0, 30, 5):  # one a window: the baseline, each read as it is written
            now[0] = LOG_T0 + timedelta(minutes=m)
            items += watcher.feed([error(100 + 50 * m, m)])
        now[0] = LOG_T0 + timedelta(minutes=32)
        items += watcher.feed([error(1000 + 50 * i, 30 + i / 10) for i in range(20)])
    finally:
        state.close()
    assert [i.kind for i in items if hasattr(i, "kind") and i.kind == "anomaly"] == ["anomaly"]
    assert watcher.run.rates.last is not None and watcher.run.rates.last < 60 * 24 * 366 * 100


def test_a_restart_loop_alert_says_how_many_times_the_process_started(tmp_path: Path) -> None:
    from mosaic_diag.classifier import Classifier
    from mosaic_diag.plans import playbook_planner
    from mosaic_diag.watch import Watcher
    from tests.test_triage_core import error, start

    state = WatchState.open(tmp_path / "state.json")
    try:
        watcher = Watcher(Classifier.default(), state, planner=playbook_planner())
        raws = [start(1, 0), error(5, 1), start(30, 2), error(35, 3), start(60, 4)]
        [alert] = [i for i in watcher.feed(raws) if getattr(i, "kind", None) == "restart_loop"]
    finally:
        state.close()
    assert alert.message.startswith("process started 3 times")
    [step] = [a for a in alert.plan["actions"] if a["action"] == "alert_ops"]
    assert "(3 process starts with errors between)" in step["description"]


def test_a_hostile_line_reaches_the_markdown_alert_without_its_terminal_controls(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes("2026-12-06T10:00:00Z ERROR psycopg2.OperationalError: boom A\x1bcB \u009b2J x\x08y "
                    "\x1b]52;c;cm0gLXJm\x07 \u202eevil\n".encode())
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_DIAG_")}
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "watch", "--format", "markdown", "--file", str(log),
                             "--from-start", "--no-playbooks", "--flush-after", "0.1"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the new-group alert (flushed as it happens)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert "new_group" in line and "boom A" in line, (line, err)
    assert not [c for c in ("\x1b", "\x07", "\x08", "\u009b", "\u202e") if c in line + out + err], repr(line + out)


def test_markdown_status_and_summary_are_text_lines_on_stderr(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("2026-12-06T10:00:00Z ERROR psycopg2.OperationalError: boom\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_DIAG_")}
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "watch", "--format", "markdown", "--file", str(log),
                             "--from-start", "--no-playbooks", "--flush-after", "0.1"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert line.startswith("- **new_group**"), (line, err)
    first, last = err.splitlines()
    assert first == f"watch: watching {log} (dry run; state {tmp_path / '.mosaic-diag' / 'watch-state.json'}; " \
                    f"pid {proc.pid})"
    assert last == f"watch: stopped watching {log}: 1 line read, 1 error event in 1 group, 1 alert"
    assert "{" not in err


def test_listener_serves_a_bounded_number_of_connections(monkeypatch: pytest.MonkeyPatch,
                                                          sample_lines: list[bytes]) -> None:
    """A flood of idle connections takes at most MAX_CONNECTIONS threads: one more is closed at once and counted,
    and once a connection ends, a sender is served again."""
    import socket

    from mosaic_diag.logs import syslog_listener

    monkeypatch.setattr(syslog_listener, "MAX_CONNECTIONS", 3)
    listener = SyslogListener("127.0.0.1", 0).start()
    stop = threading.Event()
    idle = [socket.create_connection(("127.0.0.1", listener.address[1]), timeout=10) for _ in range(3)]
    try:
        for _ in range(3000):  # (the accept thread takes them in its own time)
            if listener.connections == 3:
                break
            stop.wait(0.01)
        extra = socket.create_connection(("127.0.0.1", listener.address[1]), timeout=10)
        try:
            assert extra.recv(1) == b""  # closed by the listener, unread
        except ConnectionResetError:
            pass
        finally:
            extra.close()
        assert listener.refused == 1 and listener.connections == 3
        idle.pop().close()
        for _ in range(3000):
            with contextlib.suppress(OSError):  # (refused while the closed one's thread has not yet ended)
                _send(listener.address[1], sample_lines[:1])
            if listener.messages:
                break
            stop.wait(0.01)
        assert listener.messages >= 1
    finally:
        for s in idle:
            s.close()
        listener.close()


def _wait_for(cond, what: str) -> None:
    stop = threading.Event()
    for _ in range(6000):  # up to a minute on a busy machine; at once when it holds
        if cond():
            return
        stop.wait(0.01)
    raise AssertionError(f"never: {what}")


def test_connections_silent_too_long_give_their_slots_to_a_new_sender(monkeypatch: pytest.MonkeyPatch,
                                                                         sample_lines: list[bytes]) -> None:
    """A peer holding every slot with connections that never send a byte locked every other sender (Render's
    stream) out for as long as it liked: with every slot taken, a new sender takes the slot of the connection
    silent the longest, once it has been silent IDLE_EVICT seconds; a sender that talks keeps its slot."""
    from mosaic_diag.logs import syslog_listener

    monkeypatch.setattr(syslog_listener, "MAX_CONNECTIONS", 2)
    monkeypatch.setattr(syslog_listener, "IDLE_EVICT", 0.5, raising=False)
    listener = SyslogListener("127.0.0.1", 0).start()
    held = [socket.create_connection(("127.0.0.1", listener.address[1]), timeout=10) for _ in range(2)]
    try:
        _wait_for(lambda: listener.connections == 2, "both connections served")
        threading.Event().wait(0.6)  # silent past IDLE_EVICT
        _send(listener.address[1], sample_lines[:1])
        _wait_for(lambda: listener.messages == 1, "the new sender's message is read")
        assert listener.refused == 0
        import select

        readable = select.select(held, [], [], 10)[0]  # (a closed connection reads as its end at once)
        assert len(readable) == 1  # one silent connection gave up its slot, the other still holds one
        with contextlib.suppress(ConnectionResetError):
            assert readable[0].recv(1) == b""
    finally:
        for sock in held:
            sock.close()
        listener.close()


def test_a_slowloris_trickling_a_frame_that_never_ends_gives_its_slot_to_a_new_sender(
        monkeypatch: pytest.MonkeyPatch, sample_lines: list[bytes]) -> None:
    """A peer that holds every slot and sends a byte now and then of a frame it never ends kept its slots for ever
    (its bytes counted as talking): a slot is kept by whole messages, not by bytes."""
    from mosaic_diag.logs import syslog_listener

    monkeypatch.setattr(syslog_listener, "MAX_CONNECTIONS", 2)
    now = [0.0]
    listener = SyslogListener("127.0.0.1", 0, clock=lambda: now[0]).start()
    held = [socket.create_connection(("127.0.0.1", listener.address[1]), timeout=10) for _ in range(2)]
    try:
        _wait_for(lambda: listener.connections == 2, "both connections served")
        for sock in held:
            sock.sendall(b"60000 <13>1 2026-12-06T10:00:00Z host app - - - ")
        _wait_for(lambda: listener.received == 2 * 48, "both frames begun")
        now[0] += syslog_listener.IDLE_EVICT + 1
        for sock in held:  # (a byte each: still no whole message)
            sock.sendall(b"x")
        _wait_for(lambda: listener.received == 2 * 49, "a byte more of each")
        with contextlib.suppress(OSError):  # (refused: closed at once)
            _send(listener.address[1], sample_lines[:1])
        _wait_for(lambda: listener.messages == 1 or listener.refused == 1, "the new sender served or refused")
        assert (listener.messages, listener.refused, listener.evicted) == (1, 0, 1)
        assert listener.truncated == 0  # (closed by the listener: no frame the sender cut short)
    finally:
        for sock in held:
            sock.close()
        listener.close()


def test_tls_handshakes_that_never_finish_give_their_slots_to_a_new_sender(monkeypatch: pytest.MonkeyPatch,
                                                                           tmp_path: Path) -> None:
    """A peer holding every slot with TLS handshakes it never finishes (a ClientHello begun, a byte now and then)
    kept Render out: the eviction shut down the plain socket that wrap_socket had detached (EBADF, said nothing),
    counted it evicted, and the new sender was refused while the handshake went on."""
    from mosaic_diag.logs import syslog_listener

    monkeypatch.setattr(syslog_listener, "MAX_CONNECTIONS", 2)
    now = [0.0]
    files = _tls_files(tmp_path)
    listener = SyslogListener("127.0.0.1", 0, clock=lambda: now[0], **files).start()
    client = ssl.create_default_context(cafile=str(files["certfile"]))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    with contextlib.suppress(ssl.SSLWantReadError):
        client.wrap_bio(incoming, outgoing, server_hostname="localhost").do_handshake()
    hello = outgoing.read()  # a real ClientHello, of which the peer sends the start only
    held = [_connect(listener.address[1]) for _ in range(2)]
    try:
        for sock in held:
            sock.sendall(hello[:5])
        _wait_for(lambda: listener.connections == 2, "both connections served")
        threading.Event().wait(0.3)  # (each thread in its handshake, waiting for the rest of the hello)
        now[0] += syslog_listener.IDLE_EVICT + 1
        with contextlib.suppress(OSError):  # (refused: closed at once)
            _send(listener.address[1], [_LINE + b"render"], tls=client)
        _wait_for(lambda: listener.messages == 1 or listener.refused == 1, "the new sender served or refused")
        assert (listener.messages, listener.refused, listener.evicted) == (1, 0, 1)
    finally:
        for sock in held:
            sock.close()
        listener.close()


def test_a_line_of_digits_that_never_ends_is_cut_at_a_frame(sample_lines: list[bytes]) -> None:
    """A peer's line that starts like an octet count but never ends is held at most MAX_FRAME bytes, as any
    line is: it was buffered whole, however long, until its newline."""
    from mosaic_diag.logs import syslog_listener

    listener = SyslogListener("127.0.0.1", 0).start()
    try:
        with socket.create_connection(("127.0.0.1", listener.address[1]), timeout=30) as sock:
            sock.sendall(b"1" * (syslog_listener.MAX_FRAME * 8) + b"\n")
            sock.sendall(sample_lines[0] + b"\n")
        _wait_for(lambda: listener.queue.count and listener.queue.lines()[-1].startswith(sample_lines[0]),
                  "the good line after the long one is read")
        queued = listener.queue.lines()
        assert max(len(m) for m in queued) <= syslog_listener.MAX_FRAME + 1  # + its newline
        assert sum(len(m) for m in queued[:-1]) >= syslog_listener.MAX_FRAME * 8  # cut, not dropped
    finally:
        listener.close()


def test_a_flood_no_one_reads_is_held_within_the_queues_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sender faster than the reader fills the queue up to QUEUE_BYTES, dropping the oldest (counted): a
    count of frames alone let 100 000 frames of 64 KiB (6.5 GB) be held."""
    from mosaic_diag.logs import syslog_listener

    monkeypatch.setattr(syslog_listener, "QUEUE_BYTES", 1 << 20)
    listener = SyslogListener("127.0.0.1", 0).start()
    frame = b"<134>1 2026-11-27T14:00:00Z h app 1 - - " + b"x" * 60_000
    try:
        _send(listener.address[1], [frame] * 80)  # ~4.8 MB
        _wait_for(lambda: listener.messages == 80, "every frame received")
        assert sum(len(m) for m in listener.queue.lines()) <= 1 << 20
        assert listener.dropped >= 80 - (1 << 20) // len(frame) and listener.queue.count >= 1
        assert listener.queue.lines()[-1] == frame + b"\n"  # the newest kept
    finally:
        listener.close()


@pytest.mark.parametrize("runtime", ("docker", "cri"))
def test_a_split_line_whose_last_piece_comes_after_a_quiet_pass_is_one_line(runtime: str, tmp_path: Path,
                                                                           refused_port: int) -> None:
    """A container runtime's log of a 40 KB error line (a real psycopg2 refusal at its end) in 16 KB pieces, the
    last of which arrives after a pause that ends the watch's pass: the pass hands its pieces on to the next, and
    the watch reads the one line the app wrote (one event, on its first piece's line, with the cause), not a
    first piece and a stray rest."""
    from tests.test_logs_containers import _cri, _entries, _pg_refused

    cause = _pg_refused(refused_port).split("\n")[0]
    frame = _entries if runtime == "docker" else _cri
    lines = frame([("stderr", "INFO:     Started server process [1]"),
                   ("stderr", f"2026-12-06 10:00:05,000 ERROR api.db: retry {'r' * 40_000} failed: {cause}"),
                   ("stderr", "INFO:     127.0.0.1:5000 - \"GET /health HTTP/1.1\" 200 OK")])
    assert len(lines) == 5
    live = _Scripted([(0, "\n".join(lines[:3]).encode() + b"\n"), (60, lines[3].encode() + b"\n"),
                      (0, lines[4].encode() + b"\n")])
    watcher, items = _watched(live, tmp_path)
    assert items.count(None) == 2  # (two passes: the pause ended the first)
    events = [i for i in items if i is not None and not hasattr(i, "kind")]
    assert [(e.line, e.end_line, e.label) for e in events] == [(2, 4, "PG_CONNECTION_FAILED")], events
    assert events[0].message == cause.split(": ", 1)[1]  # (the cause, read from the last piece)
    assert watcher.lines == 5


def test_a_split_line_still_open_when_the_stream_stops_is_read_as_it_is(tmp_path: Path, refused_port: int) -> None:
    """The pieces a pass hands on are read by the last pass when the stream stops (a container killed mid-line):
    not lost."""
    from tests.test_logs_containers import _entries, _pg_refused

    cause = _pg_refused(refused_port).split("\n")[0]
    lines = _entries([("stderr", f"2026-12-06 10:00:05,000 ERROR api.db: {cause} {'r' * 40_000}")])
    live = _Scripted([(0, "\n".join(lines[:2]).encode() + b"\n"), (60, b"")])
    watcher, items = _watched(live, tmp_path)
    events = [i for i in items if i is not None and not hasattr(i, "kind")]
    assert [(e.line, e.end_line, e.label) for e in events] == [(1, 2, "PG_CONNECTION_FAILED")], events


def test_follow_reads_a_utf16_file_as_utf8_from_a_whole_character(tmp_path: Path) -> None:
    """PowerShell 5 writes a redirected stream in UTF-16LE with a BOM; `logging.FileHandler(encoding="utf-16")`
    does the same. Followed from its end (even with half a character written), and from a rotation's new file."""
    import logging

    log = tmp_path / "app.log"
    handler = logging.FileHandler(log, encoding="utf-16")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("mosaic.follow.utf16")
    logger.propagate = False
    logger.addHandler(handler)
    logger.warning("before the watch: not read")
    handler.flush()
    with open(log, "ab") as fh:
        fh.write(b"x")  # half of a character: the follow starts at its first byte, a whole one's start
    follow = _Following(log)
    wait_for = follow.wait_for
    try:
        with open(log, "ab") as fh:
            fh.write(b"\0")  # the character's other half, then whole records
        try:
            json.loads("{")
        except json.JSONDecodeError:
            logger.exception("caf\u00e9 step file unreadable")
        handler.flush()
        wait_for("ERROR mosaic.follow.utf16: caf\u00e9 step file unreadable\n".encode())
        wait_for(b"json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes")
        handler.close()
        log.rename(tmp_path / "app.log.1")
        log.touch()  # the rotation's new file, empty when it is reopened
        follow.stop.wait(0.1)
        log.write_bytes("ERROR after: rotation\n".encode("utf-16"))
        wait_for(b"ERROR after: rotation\n")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True  # (as it was: left off, MOSAIC_DIAG_LEAK_CHECK=1)
        handler.close()
        follow.close()
    text = follow.got
    assert b"\0" not in text and b"before the watch" not in text and text.startswith(b"x")


def test_the_live_views_title_and_labels_are_text_not_rich_markup() -> None:
    """A problem's message (a Render API answer's text) becomes the live view's status in its title: Rich read it
    as markup, so a `[/]` in it ended the watch with a MarkupError, and `[link=…]` made a link."""
    import io
    from collections import Counter

    from rich.console import Console

    from mosaic_diag.render.watch import LiveView

    view = LiveView.__new__(LiveView)  # its state without a Live display (which wants a terminal)
    view.source, view.head = "render:[bold]srv", "watching render:[bold]srv"
    view.counts, view.last = Counter({"[red]LABEL": 2}), {}
    view.alerts = [("problem:", "Render API said [/] [link=https://evil.example]x")]
    view.console = Console(file=io.StringIO(), width=200)
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(view._render())
    shown = " ".join(buf.getvalue().split())
    assert "watching render:[bold]srv: 2 error events in 1 label" in shown
    assert "problem: Render API said [/] [link=https://evil.example]x" in shown
    assert "[red]LABEL" in shown


@pytest.mark.parametrize("width", [40, 80])
def test_the_live_views_alerts_are_whole_with_their_playbook(width: int) -> None:
    """At 80 columns an alert's message was cut with `…` (`new error group: Error code: 429 - {"error": {"mes…`) and
    the playbook each alert carries was not shown: the message wraps at words under itself, then what its
    playbook would do (or did)."""
    import io
    from collections import Counter

    from rich.console import Console
    from rich.live import Live

    from mosaic_diag.render.watch import LiveView

    view = LiveView.__new__(LiveView)  # its state without a Live display (which wants a terminal)
    view.head, view.counts, view.last, view.alerts = "watching app.log", Counter({"OPENAI_RATE_LIMIT": 1}), {}, []
    view.console = Console(file=io.StringIO(), width=width)
    view.live = Live(console=view.console)  # (not started: `alert` updates its frame)
    message = ("new error group: Error code: 429 - Rate limit reached for gpt-4o in organization org-abc on tokens "
               "per min (TPM): Limit 30000, Used 29000, Requested 2000.")
    plan = {"actions": [{"action": "retry", "would_run": True}, {"action": "failover", "would_run": False},
                        {"action": "alert_ops", "would_run": True}]}
    view.alert({"at": "2026-12-07T10:00:01+00:00", "kind": "new_group", "label": "OPENAI_RATE_LIMIT",
                "message": message, "playbook": "openai-rate-limit", "plan": plan, "executed": [], "skipped": None})
    view.alert({"at": "2026-12-07T10:00:02+00:00", "kind": "anomaly", "label": "PG_POOL_EXHAUSTED",
                "message": "rate 12/min", "playbook": "pg-pool-exhausted", "plan": plan,
                "executed": [{"action": "alert_ops", "ok": True, "skipped": False}], "skipped": None})
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(view._render())
    lines = buf.getvalue().splitlines()
    assert all(len(line) <= width for line in lines) and "…" not in buf.getvalue(), lines
    shown = " ".join(buf.getvalue().split())
    assert f"10:00:01 new_group OPENAI_RATE_LIMIT: {message} -> playbook openai-rate-limit: would run retry, " \
           "alert_ops" in shown, shown
    assert "PG_POOL_EXHAUSTED: rate 12/min -> playbook pg-pool-exhausted: ran alert_ops (ok)" in shown, shown
    tail = lines[lines.index("Alerts:") + 2:]  # (a wrapped line goes on under the message, not at the left edge)
    assert tail and all(line.startswith(" " * 10) for line in tail if "10:00:02" not in line), lines


def test_the_live_view_on_a_terminal_shows_groups_alerts_and_the_summary(tmp_path: Path) -> None:
    """`watch --file` on a terminal (its default table format) died at once with a Python traceback (the live view
    was handed the console's factory, not a console); its title then said 'status', and the summary a stop ends
    with was never shown. Now: what it watches, the counts per label, the alerts, and the summary after Ctrl-C."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    from tests.ptyread import read_until_closed

    log = tmp_path / "app.log"
    log.write_text("INFO:     Started server process [1]\n")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "watch", "--file", "app.log", "--from-start",
                             "--no-playbooks", "--state-file", "state.json"],
                            stdin=slave, stdout=slave, stderr=slave, env=env, cwd=tmp_path)
    os.close(slave)
    seen = b""

    def read_until(word: bytes) -> None:
        nonlocal seen
        stop = threading.Event()
        for _ in range(6000):  # up to a minute on a busy machine; at once when it shows
            if word in seen or proc.poll() is not None:
                break
            if select.select([master], [], [], 0.01)[0]:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
            stop.wait(0)
        assert word in seen, seen.decode(errors="replace")[-2000:]

    try:
        read_until(b"watching ")
        with open(log, "a") as fh:
            fh.write("ERROR:api.storage:Database operation failed: connection already closed\n"
                     "INFO:     127.0.0.1:5000 - \"GET /health HTTP/1.1\" 200 OK\n")
        read_until(b"PG_CONNECTION_FAILED")
        proc.send_signal(signal.SIGINT)
        text = (seen + read_until_closed(master)).decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.wait(timeout=60) == 0, text[-2000:]
    assert "Traceback" not in text and "Error" not in text.replace("ERROR", ""), text[-2000:]
    import re

    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # (the colours and the live view's cursor moves)
    shown = " ".join(text.split())
    assert "watching app.log (dry run; state " in shown
    assert "┃ Label" in text and "new error group" in text
    assert "1 error event in 1 label" in shown
    assert "stopped watching app.log: 3 lines read, 1 error event in 1 group, 1 alert" in shown


def test_the_stop_signal_never_waits_for_the_lock_the_watch_holds() -> None:
    """The handler runs on the main thread between two bytecodes, maybe while `stop.wait()` (the follower's poll)
    holds the event's lock: `Event.set` there waited for that lock for ever, and a watch under load once never
    ended on SIGTERM. The handler returns at once and the watch still stops; a second signal interrupts."""
    import signal

    from mosaic_diag.commands.watch import stop_on_signal

    stop = threading.Event()
    handler = stop_on_signal(stop)
    returned = threading.Event()

    def signalled_inside_the_wait() -> None:
        with stop._cond:  # (what Event.wait holds between its checks)
            handler(signal.SIGTERM, None)
            returned.set()

    threading.Thread(target=signalled_inside_the_wait, daemon=True).start()
    assert returned.wait(30), "the handler waited for the lock its own thread holds"  # (a liveness bound)
    assert stop.wait(30)
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGTERM, None)


def test_senders_outside_syslog_allow_are_refused_and_said_once(tmp_path: Path, sample_lines: list[bytes]) -> None:
    """`--syslog-allow`: a sender from another address is closed before a byte is read (its lines drive nothing)
    and said once as a problem; one from the allowed network is read. The loopback's 127.0.0.2 stands for Render."""
    w = Watch(["--syslog", "127.0.0.1:0", "--syslog-allow", "127.0.0.2/32", "--no-playbooks", "--flush-after", "0.2"],
              tmp_path)
    port = int(w.next_where(lambda i: i["type"] == "status", "status")["source"].rsplit(":", 1)[1])
    error = next(line for line in sample_lines if b"ERROR" in line or b"Traceback" in line)
    for _ in range(2):  # the same stranger twice: said once
        with socket.create_connection(("127.0.0.1", port), timeout=30, source_address=("127.0.0.1", 0)) as sock, \
                contextlib.suppress(OSError):
            sock.sendall(b"%d %s" % (len(error), error))
    refused = w.next_where(lambda i: i["type"] == "problem", "the stranger said")
    assert "refused a connection from 127.0.0.1" in refused["message"]
    with socket.create_connection(("127.0.0.1", port), timeout=30, source_address=("127.0.0.2", 0)) as sock:
        sock.sendall(b"%d %s" % (len(error), error))
    event = w.next_where(lambda i: i["type"] == "event", "the allowed sender's error")
    code, err = w.stop()
    assert code == 0, err
    assert [i for i in w.seen if i["type"] == "event"] == [event]
    assert sum(i["type"] == "problem" and "127.0.0.1" in i["message"] for i in w.seen) == 1
    (summary,) = [i for i in w.seen if i["type"] == "summary"]  # what the listener saw, in the summary
    assert summary["syslog"] == {"connections": 1, "refused": 0, "denied": 2, "evicted": 0, "messages": 1,
                                 "dropped": 0, "dropped_by": {}, "truncated": 0}, summary


def test_an_allowed_network_holds_ipv4_peers_of_a_dual_stack_socket() -> None:
    """A peer on an IPv6 socket that accepts IPv4 (`::ffff:10.1.2.3`) is judged by its IPv4 address."""
    from ipaddress import ip_network

    from mosaic_diag.logs.syslog_listener import peer_allowed

    allow = [ip_network("10.0.0.0/8"), ip_network("2001:db8::/32")]
    assert peer_allowed("::ffff:10.1.2.3", allow) and peer_allowed("10.9.9.9", allow)
    assert peer_allowed("2001:db8::7", allow) and peer_allowed("fe80::1%eth0", [ip_network("fe80::/10")])
    assert not peer_allowed("::ffff:11.1.2.3", allow) and not peer_allowed("192.0.2.1", allow)
    assert not peer_allowed("not an address", allow)


def test_syslog_allow_reads_an_ipv4_mapped_network_as_the_peers_are_read() -> None:
    """A peer on a dual-stack socket (`::ffff:203.0.113.7`) is matched as its IPv4 address: an allowed network
    written the same way (`::ffff:203.0.113.7`, `::ffff:10.0.0.0/104`) matched no peer at all."""
    from mosaic_diag.commands.watch import _networks
    from mosaic_diag.logs.syslog_listener import peer_allowed

    allow = _networks(["::ffff:203.0.113.7", "::ffff:10.0.0.0/104"])
    assert [str(net) for net in allow] == ["203.0.113.7/32", "10.0.0.0/8"]
    assert peer_allowed("::ffff:203.0.113.7", allow) and peer_allowed("10.1.2.3", allow)
    assert not peer_allowed("203.0.113.8", allow)


# ---------------------------------------------------------------- a sender's close; senders that flood
_LINE = b"<134>1 2026-12-06T10:00:00Z host app 14 - - "


def _connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))


@pytest.mark.parametrize("tls", (False, True))
def test_a_last_line_without_its_newline_is_read_when_its_sender_closes(tmp_path: Path, tls: bool) -> None:
    """RFC 6587 3.4.2: a sender that closes after its last message need not end it with LF; that message was held
    for a newline that never came and dropped with the connection (the digits-led line too: no count, a line)."""
    listener = SyslogListener("127.0.0.1", 0, **_tls_files(tmp_path) if tls else {}).start()
    client = ssl.create_default_context(cafile=str(tmp_path / "cert.pem")) if tls else None
    wire = _LINE + b"first\n" + _LINE + b"last, without its newline"
    try:
        for data in (wire, b"12345678 a line of digits"):
            with _connect(listener.address[1]) as raw:
                sock = client.wrap_socket(raw, server_hostname="localhost") if client else raw
                sock.sendall(data)
                if client:
                    with contextlib.suppress(OSError, ssl.SSLError):
                        sock.unwrap()
        _wait_for(lambda: listener.messages == 3, "every message read")
        # (two connections, each read by its own turn of the listener: their lines' order to each other is not
        # given, a connection's own is)
        got = listener.queue.lines()
        first, last = _LINE + b"first\n", _LINE + b"last, without its newline\n"
        assert sorted(got) == sorted([first, last, b"12345678 a line of digits\n"]), got
        assert got.index(first) < got.index(last), got
        assert listener.truncated == 0
    finally:
        listener.close()


def _tls_files(tmp_path: Path) -> dict[str, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True, timeout=120)
    return {"certfile": cert, "keyfile": key}


def test_a_line_without_its_newline_is_cut_at_max_frame_when_its_sender_closes() -> None:
    """What the close ends is bounded as any line: at MAX_FRAME bytes."""
    from mosaic_diag.logs import syslog_listener

    listener = SyslogListener("127.0.0.1", 0).start()
    try:
        with _connect(listener.address[1]) as sock:
            sock.sendall(_LINE + b"x" * (syslog_listener.MAX_FRAME - len(_LINE)))
        _wait_for(lambda: listener.messages == 1, "the message read")
        assert [len(m) for m in listener.queue.lines()] == [syslog_listener.MAX_FRAME + 1]  # + its newline
    finally:
        listener.close()


def test_an_octet_counted_frame_cut_short_by_the_close_is_said_not_read(sample_lines: list[bytes]) -> None:
    """A frame whose sender closed before its count of bytes came is no message: said once per sender as a
    problem (how much of it came), counted, and neither read as if whole nor dropped without a word."""
    notes: list[str] = []
    listener = SyslogListener("127.0.0.1", 0, on_note=notes.append).start()
    msg = _LINE + b"a message of which the close cut the end"
    try:
        for n, cut in enumerate((b"%d %s" % (len(msg), msg[:30]), b"%d %s" % (len(msg), msg[:10]), b"12"), 1):
            with _connect(listener.address[1]) as sock:
                sock.sendall(b"%d %s" % (len(msg), msg) + cut)
            _wait_for(lambda n=n: listener.truncated == n, "the cut frame counted")  # (one sender after the other)
        _send(listener.address[1], sample_lines[:1])
        _wait_for(lambda: listener.messages == 4, "the whole messages read")
        assert listener.queue.lines() == [msg + b"\n"] * 3 + [sample_lines[0] + b"\n"]
        assert notes == [f"syslog: 127.0.0.1 closed its connection in the middle of an octet-counted frame (30 of "
                         f"its {len(msg)} bytes): that message is not read (and no further one cut short by this "
                         "sender is said)"]
    finally:
        listener.close()


def test_a_flooding_sender_loses_its_own_lines_not_a_quiet_senders(monkeypatch: pytest.MonkeyPatch) -> None:
    """One sender faster than the watch reads pushed every other sender's lines out of the shared queue (the oldest
    went, whoever sent them): a full queue now drops the oldest lines of the sender past its share. Nobody reads
    here, so what is kept is decided by the queue alone. The loopback's 127.0.0.2 stands for Render."""
    from mosaic_diag.logs import syslog_listener

    monkeypatch.setattr(syslog_listener, "QUEUE_BYTES", 1 << 20)
    notes: list[str] = []
    listener = SyslogListener("127.0.0.1", 0, on_note=notes.append).start()
    flood = [_LINE + b"%d " % i + b"x" * 60_000 + b"\n" for i in range(80)]  # ~4.8 MB, the queue holds 1 MB
    quiet = [_LINE + b"quiet %d\n" % i for i in range(6)]
    port = listener.address[1]
    try:
        with _connect(port, "127.0.0.2") as render:
            render.sendall(b"".join(quiet[:3]))
            _wait_for(lambda: listener.messages == 3, "the quiet sender's first lines")
            with _connect(port) as flooder:
                flooder.sendall(b"".join(flood[:40]))
                _wait_for(lambda: listener.messages == 43, "half the flood")
                render.sendall(b"".join(quiet[3:]))
                _wait_for(lambda: listener.messages == 46, "the quiet sender's last lines")
                flooder.sendall(b"".join(flood[40:]))
                _wait_for(lambda: listener.messages == 86, "the whole flood")
        kept = listener.queue.lines()
        assert [line for line in kept if line in quiet] == quiet  # every quiet line, in order
        assert kept[-1] == flood[-1] and sum(map(len, kept)) <= 1 << 20  # the flooder's newest, within the bound
        assert listener.dropped_by == {"127.0.0.1": 86 - len(kept)} and listener.dropped == 86 - len(kept) > 0
        assert listener.summary() == {"connections": 2, "refused": 0, "denied": 0, "evicted": 0, "messages": 86,
                                      "dropped": 86 - len(kept), "dropped_by": {"127.0.0.1": 86 - len(kept)},
                                      "truncated": 0}
        assert notes == ["syslog: 127.0.0.1 sends more than the watch reads: its oldest lines are dropped to keep "
                         "the queue within 1 MB (counted by sender; other senders keep their share)"]
        stop = threading.Event()
        stop.set()
        read = b"".join(iter(listener.stream(stop).read, b"")).splitlines(keepends=True)
        assert read == kept  # the reader gets them in the order they came
    finally:
        listener.close()


def test_a_full_fair_queue_of_thousands_of_senders_finds_the_heaviest_without_looking_at_each() -> None:
    """Senders of a line each (an address each: an IPv6 network's, 127/8's here) filled the queue; each further line
    then looked at every sender for the heaviest, under the lock the reader waits for (20,000 senders: 2 million
    looks for 100 lines, 12 ms a line at 100,000). The heaviest comes from a heap; the same senders lose their lines:
    the first queued of the heaviest, in turn."""
    from mosaic_diag.logs.syslog_listener import FairQueue

    looked = [0]

    class Counted(dict):  # the queue's senders, counting those looked at through values()
        def values(self):  # type: ignore[override]
            for sender in super().values():
                looked[0] += 1
                yield sender

    q = FairQueue(20_000, 20_000 * 100)
    q._senders = Counted()
    senders = [f"127.{i >> 16}.{(i >> 8) & 255}.{i & 255}" for i in range(20_000)]
    for name in senders:
        assert q.put(name, b"x" * 100) == []
    dropped = [name for i in range(100) for name in q.put(f"10.0.0.{i}", b"y" * 100)]
    assert dropped == senders[:100] and q.count == 20_000
    assert looked[0] < 20_000  # (100 puts: 2,000,000 before)


@pytest.mark.parametrize("seed", range(5))
def test_a_fair_queue_reads_what_it_kept_in_arrival_order_within_its_bound(seed: int) -> None:
    """Puts from senders of every pace, reads now and then: what is read is what was put less what was dropped,
    in the order put; the queue never weighs more than its bound (the entries of dropped lines compacted)."""
    import random

    from mosaic_diag.logs.syslog_listener import FairQueue

    rng = random.Random(seed)
    q = FairQueue(50, 5000)
    put: list[bytes] = []
    dropped: dict[str, int] = {}
    read: list[bytes] = []
    for i in range(20_000):
        sender = rng.choice("aaaaaaaabbc")
        line = b"%s%d " % (sender.encode(), i) + b"x" * rng.randrange(0, 400)
        put.append(line)
        for name in q.put(sender, line):
            dropped[name] = dropped.get(name, 0) + 1
        assert q.weight <= 5000 and q.count <= 50 and len(q._order) <= 2 * q.count + 1025
        if rng.random() < 0.02:
            for _ in range(rng.randrange(0, 60)):
                with contextlib.suppress(queue.Empty):
                    read.append(q.get_nowait())
    read += q.lines()
    kept = set(read)
    assert read == [line for line in put if line in kept]  # a subsequence of what was put, in its order
    assert len(put) - len(read) == sum(dropped.values()) and dropped["a"] > dropped.get("c", 0)


def test_the_summary_line_says_what_the_listener_lost_and_names_the_senders_that_lost_most() -> None:
    """The watch's summary of a syslog source: its connections and messages, then only what was lost (refused,
    denied, evicted, cut frames, lines dropped by sender, the senders past the first ten together)."""
    from mosaic_diag.render.watch import status_text

    base = {"type": "summary", "source": "syslog://127.0.0.1:6514", "lines": 9, "events": 1, "groups": 1,
            "alerts": 1}
    calm = {"connections": 1, "refused": 0, "denied": 0, "evicted": 0, "messages": 9, "dropped": 0,
            "dropped_by": {}, "truncated": 0}
    assert status_text({**base, "syslog": calm}) == ("stopped watching syslog://127.0.0.1:6514: 9 lines read, 1 error "
                                                     "event in 1 group, 1 alert; syslog: 1 connection, 9 messages")
    lossy = {**calm, "connections": 12, "denied": 2, "truncated": 1, "dropped": 130,
             "dropped_by": {"10.0.0.5": 100, "10.0.0.6": 20, "(other senders)": 10}}
    text = status_text({**base, "syslog": lossy})
    assert text.endswith("; syslog: 12 connections, 9 messages, 2 connections denied: not in --syslog-allow, 1 frame "
                         "cut short by its sender's close, not read, 130 lines dropped from the full queue (10.0.0.5: "
                         "100, 10.0.0.6: 20, (other senders): 10)"), text
    assert status_text(base).endswith("1 alert")  # a file or Render's API: no listener counts


def test_a_listener_names_its_ten_heaviest_losers_and_sums_the_rest() -> None:
    listener = SyslogListener("127.0.0.1", 0)
    try:
        listener.dropped_by = {f"10.0.0.{i}": i for i in range(1, 13)}
        listener.dropped = sum(listener.dropped_by.values())
        got = listener.summary()["dropped_by"]
        assert list(got) == [f"10.0.0.{i}" for i in range(12, 2, -1)] + ["(other senders)"]
        assert got["(other senders)"] == 1 + 2 and sum(got.values()) == listener.dropped
    finally:
        listener.close()
