"""IPython's own traceback layouts (what Jupyter, Colab, Spyder and the `ipython` shell print, and what users paste
into issue threads), produced by the real `ipython` in the test run: `%xmode Context` and `Verbose` (a rule of dashes,
`OperationalError      Traceback (most recent call last)`, `Cell In[1], line 2` / `File …/mod.py:3, in f(x)` frames
with their source around `----> 3` arrows, the exception line last), `Plain` (Python's header, IPython's frames) and
`Minimal`, with and without colours, cut above the header or before the exception line, chained, two cells in a row,
and under an error record (tests/realworld/layouts.yml, the `ipython` entries)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.classifier.tracebacks import parse_traceback_text
from mosaic_diag.logs.assemble import _IPY_OTHER_LINES
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.triage.events import EventClassifier
from tests.driven_process import END, DrivenProcess
from tests.test_logs_support import BLOCKS, error_events

STAMP = "2026-12-07T10:15:02.136214Z"
MODES = ("Context", "Verbose", "Plain")
COLOURS = ("NoColor", "Linux")


def _label(event: RawEvent) -> str:
    return EventClassifier(Classifier.default()).event(event).label


def ipython(tmp_path: Path, code: str, *, mode: str = "Context", colors: str = "NoColor", columns: int = 80) -> str:
    """What `ipython -c` prints for `code`, which raises, in `%xmode {mode}` (the modules written in `tmp_path`
    importable), without the mode's own notice and the last line's newline."""
    proc = subprocess.run([sys.executable, "-m", "IPython", f"--colors={colors}", "--no-banner", "--quick", "-c",
                           f"%xmode {mode}\n{code}"], cwd=tmp_path, env=_env(tmp_path, "ipython-dir", columns),
                          capture_output=True, text=True, timeout=120, check=False)
    notice = f"Exception reporting mode: {mode}\n"
    assert proc.returncode != 0 and notice in proc.stdout, proc.stdout + proc.stderr
    return proc.stdout.split(notice, 1)[1].rstrip("\n")


def _env(workdir: Path, ipython_dir: str, columns: int) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(workdir), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "IPYTHONDIR": str(workdir / ipython_dir), "COLUMNS": str(columns), "PYTHONPATH": path}


# `python -m IPython --colors=… --no-banner --quick -c pass` as IPython's own __main__ starts it (the working
# directory first on sys.path), then each cell read from stdin run as `-c` runs its code (`run_cell`, no history: it
# is `Cell In[1]`) in a fresh namespace, its output ended by a marker that says whether it raised.
_SHELL = f"""\
import importlib, json, os, sys
sys.path[0] = os.getcwd()
from IPython.terminal.ipapp import TerminalIPythonApp
app = TerminalIPythonApp.instance()
app.initialize(sys.argv[1:])
while line := sys.stdin.readline():
    importlib.invalidate_caches()
    app.shell.reset(new_session=False)
    result = app.shell.run_cell(json.loads(line), store_history=False)
    sys.stderr.flush()
    sys.stdout.write({END!r} + ("ok" if result.success else "raised") + "\\n")
    sys.stdout.flush()
"""


class IPythonCells:
    """What `ipython -c` prints for cells (each raises), the modules written in `workdir` importable: the same
    text, from one real IPython process per colours and width that runs cell after cell (a process per cell took
    a second each; test_the_shared_shell_prints_what_ipython_c_prints compares)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._shells: dict[tuple[str, int], DrivenProcess] = {}
        self._texts: dict[tuple[str, str, str, int], str] = {}

    def __call__(self, code: str, *, mode: str = "Context", colors: str = "NoColor", columns: int = 80) -> str:
        """`ipython(workdir, code, mode=…, colors=…, columns=…)`'s text."""
        key = (code, mode, colors, columns)
        if key not in self._texts:
            shell = self._shells.get((colors, columns))
            if shell is None:
                shell = self._shells[colors, columns] = DrivenProcess(
                    _SHELL, [f"--colors={colors}", "--no-banner", "--quick", "-c", "pass"], cwd=self.workdir,
                    env=_env(self.workdir, f"ipython-dir-{colors}-{columns}", columns),
                    stderr=self.workdir / f"stderr-{colors}-{columns}")
            text, status = shell.ask(f"%xmode {mode}\n{code}")
            notice = f"Exception reporting mode: {mode}\n"
            assert status == "raised" and notice in text, shell.said(text.encode())
            self._texts[key] = text.split(notice, 1)[1].rstrip("\n")
        return self._texts[key]

    def close(self) -> None:
        """End the shells."""
        for shell in self._shells.values():
            shell.close()
        self._shells.clear()


EMBEDDING_ENGINE = textwrap.dedent("""\
    def embed(sentences):
        return _handler(sentences)


    def _handler(sentences):
        raise RuntimeError("the loaded model cannot fulfill this task; options are {'rerank'}")
    """)
FRAMES = textwrap.dedent("""\
    class Frame:
        def __repr__(self):
            return "   a  b\\n" + "\\n".join(f"{i}  {i}  {i * 2}" for i in range(60))

    def lookup(d, key):
        df = Frame()
        return d[key], df
    """)
CHAIN = "import json\ntry:\n    json.loads('{bad')\nexcept ValueError as e:\n    raise KeyError('settings') from e"
EMBED = "import embedding_engine\nembedding_engine.embed(['hello'])"


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IPythonCells]:
    """The module's IPython shells, in a folder with the modules its cells import."""
    workdir = tmp_path_factory.mktemp("ipython")
    (workdir / "embedding_engine.py").write_text(EMBEDDING_ENGINE, encoding="utf-8")
    (workdir / "frames.py").write_text(FRAMES, encoding="utf-8")
    shells = IPythonCells(workdir)
    yield shells
    shells.close()


@pytest.fixture(scope="module")
def pg_port() -> Iterator[int]:
    """A loopback port that refuses every connection for the length of the module (bound, never listening: no
    server another test starts meanwhile can take it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def _pg_code(port: int) -> str:
    return ("import psycopg2\n"
            f"psycopg2.connect(host='127.0.0.1', port={port}, dbname='x', user='u', connect_timeout=5)")


def _one_event(text: str) -> RawEvent:
    """The one error event of `text`, the same read whole and in 7-byte blocks."""
    got = [error_events(text, bs) for bs in BLOCKS]
    assert [(e.line, e.end_line, e.message) for e in got[0]] == [(e.line, e.end_line, e.message) for e in got[1]]
    (event,) = got[0]
    return event


def test_the_shared_shell_prints_what_ipython_c_prints(cells: IPythonCells, pg_port: int) -> None:
    """The texts these tests read come from a shell that runs cell after cell: a cell's text is what `ipython -c`,
    a process of its own, prints for it (a library's frames with their values, colours, a cell after others)."""
    cells("{'a': 1}['b']", colors="Linux")
    code = _pg_code(pg_port)
    assert cells(code, mode="Verbose", colors="Linux") == ipython(cells.workdir, code, mode="Verbose", colors="Linux")


@pytest.mark.parametrize("colors", COLOURS)
@pytest.mark.parametrize("mode", MODES)
def test_an_ipython_traceback_is_one_event_from_its_rule_to_its_exception_line(cells: IPythonCells, pg_port: int,
                                                                                mode: str, colors: str) -> None:
    """A real refused psycopg2 connection in each mode, plain and coloured: one event from IPython's rule (Python's
    header in Plain) to the exception line and its message's second line, the exception's message its message,
    PG_CONNECTION_FAILED."""
    text = cells(_pg_code(pg_port), mode=mode, colors=colors)
    assert ("\x1b[" in text) == (colors != "NoColor")
    event = _one_event(text)
    lines = text.split("\n")
    assert (event.line, event.end_line) == (1, len(lines))
    assert event.message.startswith('OperationalError: connection to server at "127.0.0.1"')
    assert _label(event) == "PG_CONNECTION_FAILED"


@pytest.mark.parametrize("mode", MODES)
def test_an_ipython_tracebacks_frames_are_evidence(cells: IPythonCells, mode: str) -> None:
    """The frames are read in every mode (`File …/embedding_engine.py:2, in embed(sentences)`; Plain's `File …:2 in
    embed`, no comma, under Python's header): the embedding call they name is the only evidence of the label."""
    text = cells(EMBED, mode=mode)
    event = _one_event(text)
    assert event.message.startswith("RuntimeError: the loaded model cannot fulfill this task")
    assert event.traceback is not None
    (parsed,) = parse_traceback_text(event.traceback)
    assert parsed.type == "RuntimeError"
    assert [f.function for f in parsed.frames][-2:] == ["embed", "_handler"]
    assert _label(event) == "EMBEDDING_GENERATION_FAILED"
    assert Classifier.default().classify_text(text).label == "EMBEDDING_GENERATION_FAILED"


@pytest.mark.parametrize("mode", ("Context", "Plain", "Minimal"))
def test_classify_reads_a_coloured_ipython_traceback(cells: IPythonCells, pg_port: int, mode: str) -> None:
    """`classify -` of a coloured paste (a terminal's, a notebook's raw output): its colours are no part of the
    exception's type or frames."""
    text = cells(EMBED, mode=mode, colors="Linux")
    assert "\x1b[" in text
    assert Classifier.default().classify_text(text).label == ("UNKNOWN_ERROR" if mode == "Minimal"
                                                              else "EMBEDDING_GENERATION_FAILED")
    text = cells(_pg_code(pg_port), mode=mode, colors="Linux")
    assert Classifier.default().classify_text(text).label == "PG_CONNECTION_FAILED"


def test_an_ipython_chain_is_one_event_of_its_last_exception(cells: IPythonCells) -> None:
    """`raise KeyError(…) from e` after a real json.loads failure: IPython's two tracebacks (the second header with no
    rule, after the chain's separator) are one event; its message is the last exception's, the cause is evidence."""
    text = cells(CHAIN)
    event = _one_event(text)
    assert (event.line, event.end_line, event.message) == (1, len(text.split("\n")), "KeyError: 'settings'")
    assert event.traceback is not None
    assert [p.type for p in parse_traceback_text(event.traceback)] == ["JSONDecodeError", "KeyError"]


def test_two_cells_tracebacks_are_two_events(cells: IPythonCells, pg_port: int) -> None:
    """Two cells' outputs pasted one after the other (with and without a blank between them): two events, each from
    its rule."""
    first = cells("{'a': 1}['b']")
    second = cells(_pg_code(pg_port))
    for gap in ("\n", "\n\n"):
        text = first + gap + second
        got = error_events(text)
        start = len(first.split("\n")) + gap.count("\n")
        assert [(e.line, e.end_line, e.message[:16]) for e in got] == [
            (1, len(first.split("\n")), "KeyError: 'b'"), (start, len(text.split("\n")), "OperationalError")]


def test_a_narrow_terminals_header_glues_the_type_to_its_words(cells: IPythonCells) -> None:
    """At 40 columns IPython's header has no room to pad: `KeyErrorTraceback (most recent call last)`."""
    text = cells("{'a': 1}['b']", columns=40)
    assert "KeyErrorTraceback (most recent call last)" in text
    event = _one_event(text)
    assert (event.line, event.end_line, event.message) == (1, len(text.split("\n")), "KeyError: 'b'")


@pytest.mark.parametrize("mode", ("Context", "Verbose"))
def test_an_ipython_traceback_cut_above_its_header(cells: IPythonCells, pg_port: int, mode: str) -> None:
    """A paste that starts at a frame's line (its rule, header and first frames cut off): the event starts there
    (found through the arrow under it); a paste that starts at an arrow's line has no frame of its own and is none."""
    text = cells(_pg_code(pg_port), mode=mode)
    lines = text.split("\n")
    exc = next(k for k, line in enumerate(lines) if line.startswith("OperationalError:"))
    # (the last frame's line: IPython 8's `File …/psycopg2/__init__.py:122, in connect(…)`, 7's `…/__init__.py in …`)
    at = max(k for k in range(exc) if lines[k][:1] not in " \t-" and " in " in lines[k])
    cut = "\n".join(lines[at:])
    event = _one_event(cut)
    assert (event.line, event.end_line) == (1, len(lines) - at)
    assert event.message.startswith("OperationalError: connection to server at")
    assert _label(event) == "PG_CONNECTION_FAILED"
    arrow = next(k for k in range(at, len(lines)) if lines[k].startswith("-"))
    assert error_events("\n".join(lines[arrow:])) == []


def test_an_ipython_traceback_cut_before_its_exception_line(cells: IPythonCells, pg_port: int) -> None:
    """A paste cut at its last frame (the exception line left out): the event of the type its header names."""
    text = cells(_pg_code(pg_port))
    lines = text.split("\n")
    at = next(k for k, line in enumerate(lines) if line.startswith("OperationalError:"))
    event = _one_event("\n".join(lines[:at]))
    assert (event.line, event.message) == (1, "OperationalError")


@pytest.mark.parametrize("wrap", ["bare", "render"])
def test_an_ipython_traceback_under_an_error_record(cells: IPythonCells, pg_port: int, wrap: str) -> None:
    """A notebook's traceback pasted under the app's error record: the record's event takes it whole, however long
    (Verbose's frames and values), and names no second event."""
    text = cells(_pg_code(pg_port), mode="Verbose")
    record = "2026-12-07 10:15:02,136 ERROR app.notebook: cell 3 failed"
    lines = [record, *text.split("\n")]
    prefix = f"{STAMP} " if wrap == "render" else ""
    event = _one_event("\n".join(prefix + line for line in lines) + "\n")
    assert (event.line, event.end_line, event.level) == (1, len(lines), "ERROR")
    assert event.traceback is not None and "Traceback (most recent call last)" in event.traceback
    assert _label(event) == "PG_CONNECTION_FAILED"


def _python(tmp_path: Path, code: str) -> str:
    """What `python -c code` prints (its stdout, then its stderr: an uncaught exception's traceback), without the last
    line's newline."""
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False)
    return (proc.stdout + proc.stderr).rstrip("\n")


def _cut_at_last_frame(text: str) -> list[str]:
    """The lines of an IPython traceback up to its last frame's source (the blank and the exception line cut off)."""
    lines = text.split("\n")
    exc = next(k for k, line in enumerate(lines) if line.startswith("KeyError:"))
    assert not lines[exc - 1]
    return lines[:exc - 1]


@pytest.mark.parametrize("after", ["thread", "cell", "script"])
def test_an_ipython_traceback_cut_before_its_exception_line_ends_at_the_next_traceback(
        tmp_path, cells: IPythonCells, after: str) -> None:
    """A cell's traceback cut at its last frame's source, then (no blank between) a thread's uncaught exception
    (`Exception in thread …:` and Python's traceback), another cell's traceback (its rule, its header) or a script's
    traceback: two events, the first of its header's type (the next traceback's lines were the first one's, and its
    exception line the first event's message)."""
    cut = _cut_at_last_frame(cells("{'a': 1}['b']"))
    nxt = {"thread": _python(tmp_path, "import threading, json\nt = threading.Thread(target=json.loads, args=('{x',))\n"
                                       "t.start()\nt.join()"),
           "cell": cells("import json\njson.loads('{x')"),
           "script": _python(tmp_path, "import json\njson.loads('{x')")}[after]
    text = "\n".join([*cut, nxt])
    got = error_events(text)
    assert got == error_events(text, 7)
    assert [(e.line, e.end_line, e.message.split(":")[0].rsplit(".", 1)[-1]) for e in got] == [
        (1, len(cut), "KeyError"), (len(cut) + 1, len(text.split("\n")), "JSONDecodeError")]


def test_an_ipython_traceback_cut_before_its_exception_line_takes_no_program_output(
        tmp_path, cells: IPythonCells) -> None:
    """A cell's traceback cut at its last frame's source, then a program's output (a thousand lines, no blank) and its
    traceback: the lines a cut traceback takes without a blank are bounded (the rest of a wrapped line, a value's repr
    over lines); the program's traceback is an event of its own (it was the first event's end, its message)."""
    cut = _cut_at_last_frame(cells("{'a': 1}['b']"))
    out = _python(tmp_path, "import json\nfor i in range(1000):\n    print(f'epoch {i}: loss {1 / (i + 1):.4f}')\n"
                            "json.loads('{x')")
    text = "\n".join([*cut, out])
    got = error_events(text)
    assert got == error_events(text, 7)
    first, second = got
    assert (first.line, first.message) == (1, "KeyError") and first.end_line < len(cut) + 1000
    header = len(cut) + 1001
    assert text.split("\n")[header - 1] == "Traceback (most recent call last):"
    assert (second.line, second.end_line) == (header, len(text.split("\n")))
    assert second.message.startswith("json.decoder.JSONDecodeError: Expecting property name")


def test_a_verbose_values_repr_over_lines_stays_in_its_traceback(cells: IPythonCells) -> None:
    """`%xmode Verbose` prints a value's repr as it is: a DataFrame-like repr's lines after the first are not
    indented. The traceback goes on to its exception line."""
    text = cells("import frames\nframes.lookup({'a': 1}, 'b')", mode="Verbose")
    assert "\n59  59  118\n" in text
    event = _one_event(text)
    assert (event.line, event.end_line, event.message) == (1, len(text.split("\n")), "KeyError: 'b'")


@pytest.mark.parametrize("cut", [False, True], ids=["whole", "cut"])
def test_an_ipython_traceback_right_after_a_python_traceback_is_an_event_from_its_rule(
        tmp_path, cells: IPythonCells, cut: bool) -> None:
    """A script's traceback (whole, or cut before its exception line), then a cell's (no blank between): two events,
    the second from IPython's rule (its rule, header and first frame were the first one's message's lines, or its
    rule that traceback's exception line, and the cell's event started at an arrow)."""
    script = _python(tmp_path, "import json\njson.loads('{x')").split("\n")
    if cut:
        script = script[:-1]
    cell = cells("{'a': 1}['b']")
    text = "\n".join([*script, cell])
    got = error_events(text)
    assert got == error_events(text, 7)
    assert [(e.line, e.end_line) for e in got] == [(1, len(script)), (len(script) + 1, len(text.split("\n")))]
    assert got[1].message == "KeyError: 'b'"
    assert cut or got[0].message == script[-1]


ASYNCIO_NEVER_RETRIEVED = """\
import asyncio, gc, json

async def parse():
    json.loads('{x')

async def main():
    task = asyncio.ensure_future(parse())
    await asyncio.sleep(0.01)
    del task
    gc.collect()

asyncio.run(main())"""


@pytest.mark.parametrize("after", ["thread", "asyncio", "cell"])
def test_the_lines_a_traceback_starts_with_are_not_the_cut_traceback_s_before_it(
        tmp_path, cells: IPythonCells, after: str) -> None:
    """A cell's traceback cut at its last frame's source, a program's output line, then a thread's uncaught exception
    (`Exception in thread …:`), asyncio's (`Task exception was never retrieved`, `future: <Task …>`) or another
    cell's traceback (its rule): the lines the next event starts with are its own, not the first event's too (both
    events had them)."""
    cut = _cut_at_last_frame(cells("{'a': 1}['b']"))
    nxt = {"thread": _python(tmp_path, "import threading, json\nprint('epoch 1 done', flush=True)\n"
                                       "t = threading.Thread(target=json.loads, args=('{x',))\nt.start()\nt.join()"),
           "asyncio": _python(tmp_path, f"print('epoch 1 done', flush=True)\n{ASYNCIO_NEVER_RETRIEVED}"),
           "cell": "epoch 1 done\n" + cells("import json\njson.loads('{x')")}[after]
    lead = {"thread": "Exception in thread", "asyncio": "Task exception was never retrieved", "cell": "-----"}[after]
    assert nxt.split("\n")[1].startswith(lead)
    text = "\n".join([*cut, nxt])
    got = error_events(text)
    assert got == error_events(text, 7)
    assert [(e.line, e.end_line) for e in got] == [(1, len(cut) + 1), (len(cut) + 2, len(text.split("\n")))]
    assert got[0].message == "KeyError"


def _chain(cells: IPythonCells, mode: str) -> list[str]:
    return cells(CHAIN, mode=mode).split("\n")


@pytest.mark.parametrize("mode", ("Context", "Verbose"))
def test_an_ipython_chain_cut_at_its_causes_exception_line_is_one_event(cells: IPythonCells, mode: str) -> None:
    """A paste of a chain that starts at its cause's exception line: one event from that line through the last
    traceback's exception line (it was two: the cause's, and the last traceback's from its header)."""
    lines = _chain(cells, mode)
    at = next(k for k, line in enumerate(lines) if line.startswith("JSONDecodeError:"))
    event = _one_event("\n".join(lines[at:]))
    assert (event.line, event.end_line, event.message) == (1, len(lines) - at, "KeyError: 'settings'")
    assert event.traceback is not None and event.traceback.startswith("JSONDecodeError: Expecting property name")


def test_no_line_is_two_events(cells: IPythonCells) -> None:
    """A cell's traceback, then a Verbose chain pasted from inside its cause's last frame (its values, source, the
    cause's exception line, the separator, the last traceback): the chain's event starts at the cause's exception
    line, after the lines the first event took (it started inside them, at the first event's own exception line)."""
    first = cells("{'a': 1}['b']").split("\n")
    chain = _chain(cells, "Verbose")
    at = next(k for k, line in enumerate(chain) if line.startswith("JSONDecodeError:"))
    arrow = max(k for k in range(at) if chain[k].startswith("-"))
    text = "\n".join([*first, *chain[arrow + 1:]])
    got = error_events(text)
    assert got == error_events(text, 7)
    cause = len(first) + at - arrow
    assert text.split("\n")[cause - 1].startswith("JSONDecodeError:")
    assert [(e.line, e.end_line, e.message) for e in got] == [
        (1, cause - 2, "KeyError: 'b'"), (cause, len(text.split("\n")), "KeyError: 'settings'")]


def test_an_ipython_traceback_cut_before_its_exception_line_takes_no_indented_output(
        tmp_path, cells: IPythonCells) -> None:
    """A cell's traceback cut at its last frame's source, then `pip show -f pip` (a thousand lines, most indented: its
    files): the traceback takes at most `_IPY_OTHER_LINES` lines after its last frame's or arrow's line, indented or not
    (an indented line set the count of other text back: it took every line of the output)."""
    cut = _cut_at_last_frame(cells("{'a': 1}['b']"))
    proc = subprocess.run([sys.executable, "-m", "pip", "show", "-f", "pip"], capture_output=True, text=True,
                          timeout=120, check=False)
    out = proc.stdout.rstrip("\n").split("\n")
    assert len(out) > 500 and sum(line.startswith("  ") for line in out) > 400
    text = "\n".join([*cut, *out, _python(tmp_path, "import json\njson.loads('{x')")])
    got = error_events(text)
    assert got == error_events(text, 7)
    first, second = got
    arrow = max(k for k, line in enumerate(cut, 1) if line.startswith("-"))
    assert (first.line, first.message) == (1, "KeyError") and first.end_line <= arrow + _IPY_OTHER_LINES
    assert (second.line, second.end_line) == (len(cut) + len(out) + 1, len(text.split("\n")))
