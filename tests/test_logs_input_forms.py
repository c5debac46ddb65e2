"""Logs as files come: compressed with bzip2 or xz (read like gzip), or with zstd, zip, 7z or lz4 (a one-line
error that says how to read them, exit 2; they were read as bytes: no event, exit 0); and logs written in UTF-16
or UTF-32: PowerShell 5's `>` and `Out-File` write UTF-16LE with a BOM (so
`docker logs web > web.log` on Windows), and a handler opened with `encoding="utf-16"` does the same. They are
read as the UTF-8 text they hold, plain or gzip, whole or in small blocks; read as bytes they were all NULs
between letters: no event was found and triage said "no error events" (exit 0). The records are written by
real stdlib logging, the error is a real `json.loads` failure."""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from mosaic_diag.logs.source import utf16_of
from tests.test_logs_support import BLOCKS, logging_to, read

ROOT = Path(__file__).resolve().parent.parent


def _log(path: Path, encoding: str) -> None:
    """Two records and an ERROR with its traceback, written by a FileHandler in `encoding`."""
    with logging_to(logging.FileHandler(path, encoding=encoding), f"mosaic.ps101.{encoding}",
                    "%(asctime)s %(levelname)s %(name)s: %(message)s") as log:
        log.info("loading prompts/ps101_steps.json (café, naïve: not ASCII)")
        try:
            json.loads('{"step": 1,,}')
        except json.JSONDecodeError:
            log.exception("PS101 step file unreadable")
        log.info("served /health")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("block_size", BLOCKS)
def test_a_log_in_utf16_or_utf32_is_read_as_its_text(tmp_path: Path, encoding: str, block_size: int | None) -> None:
    path = tmp_path / "app.log"
    _log(path, encoding)
    data = path.read_bytes()
    utf8 = data.decode(encoding).encode("utf-8")
    kw = {"block_size": block_size} if block_size else {}
    for raw in (data, gzip.compress(data)):
        events, stats = read(raw, **kw)
        want, want_stats = read(utf8, **kw)
        assert [(e.kind, e.line, e.end_line, e.message, e.traceback) for e in events] == \
               [(e.kind, e.line, e.end_line, e.message, e.traceback) for e in want]
        assert stats.lines == want_stats.lines == utf8.count(b"\n")
        [error] = [e for e in events if e.kind == "error"]
        assert error.message == "PS101 step file unreadable"
        assert error.traceback and "json.decoder.JSONDecodeError: Expecting property name" in error.traceback


def test_what_is_not_utf16_is_read_as_it_is() -> None:
    assert utf16_of(b"ERROR app: boom\n") is None
    assert utf16_of(b"\0" * 4096) is None  # a copytruncate'd log's leading NULs: not UTF-16
    assert utf16_of(bytes(range(256))) is None
    assert utf16_of("caf\u00e9 na\u00efve\n".encode("utf-16-le") * 20) == "utf-16-le"
    assert utf16_of("ERROR app: boom\n".encode("utf-16-le")) == "utf-16-le"
    assert utf16_of("ERROR app: boom\n".encode("utf-16-be")) == "utf-16-be"


def test_triage_of_a_powershell_redirected_log_finds_its_error(tmp_path: Path) -> None:
    path = tmp_path / "web.log"
    _log(path, "utf-16")  # BOM + UTF-16LE, as PowerShell 5 writes a redirected stream
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", str(path), "--format", "json"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)})
    assert r.returncode == 1, r.stderr
    [event] = json.loads(r.stdout)["events"]
    assert (event["label"], event["exception_type"], event["line"]) == \
           ("PS101_STEP_MALFORMED", "json.decoder.JSONDecodeError", 2)


@pytest.mark.parametrize("packed", ["bzip2", "xz"])
@pytest.mark.parametrize("block_size", BLOCKS)
def test_bzip2_and_xz_logs_are_read_like_gzip(tmp_path: Path, packed: str, block_size: int | None) -> None:
    import bz2
    import lzma

    path = tmp_path / "app.log"
    _log(path, "utf-8")
    for _ in range(3):
        _log(path, "utf-8")  # (a FileHandler appends: four errors)
    data = path.read_bytes()
    compress = bz2.compress if packed == "bzip2" else lzma.compress
    kw = {"block_size": block_size} if block_size else {}
    want, want_stats = read(data, **kw)
    half = len(data) // 2
    cut = data.rfind(b"\n", 0, half) + 1
    for raw in (compress(data), compress(data[:cut]) + compress(data[cut:])):  # one stream, or two concatenated
        events, stats = read(raw, **kw)
        assert [(e.kind, e.line, e.message, e.traceback) for e in events] == \
               [(e.kind, e.line, e.message, e.traceback) for e in want]
        assert (stats.lines, stats.warnings) == (want_stats.lines, [])
    if packed == "xz":
        events, stats = read(compress(data)[:-20], **kw)  # cut short: what was read stays, a warning says so
        assert len(events) <= len(want) and stats.warnings and f"truncated {packed}" in stats.warnings[-1]
    else:  # bzip2 gives nothing of a block it has not all of: this log's one block cut short is unreadable
        from mosaic_diag.logs.source import UnreadableInput

        with pytest.raises(UnreadableInput, match="truncated bzip2: nothing of it could be read"):
            read(compress(data)[:-20], **kw)
        events, stats = read(compress(data) + compress(data)[:-20], **kw)  # a second stream cut: the first stays
        assert len(events) == len(want) and f"truncated {packed}" in stats.warnings[-1]


def test_compressions_without_a_codec_here_and_unreadable_ones_are_one_line_naming_the_file(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "app.log"
    _log(path, "utf-8")
    with zipfile.ZipFile(tmp_path / "logs.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.write(path, "app.log")
    (tmp_path / "app.log.zst").write_bytes(b"\x28\xb5\x2f\xfd\x24\x00\x01\x00\x00")  # a zstd frame header
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    data = gzip.compress(path.read_bytes())
    (tmp_path / "corrupt.log.gz").write_bytes(data[:10] + b"\xff" * 50 + data[60:])  # a broken first block
    (tmp_path / "cut.log.gz").write_bytes(data[:15])
    for name, said in (("logs.zip", "unzip -p"), ("app.log.zst", "zstd -dc"),
                       ("corrupt.log.gz", "corrupt gzip data"), ("cut.log.gz", "truncated gzip")):
        for fmt in ("table", "json"):  # (JSON: not even the report's opening is written)
            r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", name, "--format", fmt],
                               capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env)
            assert r.returncode == 2 and r.stdout == "", r.stdout + r.stderr
            assert r.stderr.startswith(f"mosaic-diag: error: {name}: ") and r.stderr.count("\n") == 1
            assert said in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", "-"], input=(tmp_path / "logs.zip").read_bytes(),
                       capture_output=True, cwd=tmp_path, timeout=120, env=env)
    assert r.returncode == 2 and r.stderr.startswith(b"mosaic-diag: error: <stdin>: zip-compressed")
