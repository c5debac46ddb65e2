"""`mosaic-diag lint` on a hostile repository: file names and SQL that try to forge output lines, and the
formats other tools parse (SARIF, GitHub annotations)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QMARK = 'def f(cur, i):\n    cur.execute("SELECT name FROM users WHERE id = ?", (i,))\n'


def lint(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script's way in (`entry.main`: the lint fast path, as editors, CI and hooks run it)."""
    return subprocess.run([sys.executable, "-c", "import sys; from mosaic_diag.entry import main; "
                           "sys.exit(main(['lint', *sys.argv[1:]]))", *args],
                          capture_output=True, text=True, timeout=60, cwd=cwd)


def test_a_name_or_a_message_cannot_forge_a_line_of_the_text_report(tmp_path: Path) -> None:
    (tmp_path / "nl\nfake.py:9:9: MD005 forged.py").write_text(QMARK)
    (tmp_path / "::warning title=Approved::by security.py").write_text(QMARK)
    (tmp_path / "sql.py").write_text("def f(c):\n    c.cursor().execute(\"SELECT 1 'two\\nlines'\")\n")
    (tmp_path / "broken\r.py").write_text("x = (\n")
    r = lint(tmp_path, ".", "--no-cache")
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 4 and lines[-1] == "3 findings (4 files checked)", r.stdout
    assert "nl\\nfake.py:9:9: MD005 forged.py:2:52: MD003 " in lines[1]
    assert lines[0].startswith("./::warning title=Approved::by security.py:2:52: MD003 ")
    assert lines[2].startswith("sql.py:2:24: MD008 ") and "'two\\nlines'" in lines[2]
    assert not any(line.lstrip().startswith("::") for line in (r.stdout + r.stderr).splitlines())
    assert r.stderr.splitlines() == ["mosaic-diag: error: broken\\r.py:1: cannot parse: '(' was never closed"]
    diff = lint(tmp_path, ".", "--no-cache", "--diff")
    assert "--- a/nl\\nfake.py:9:9: MD005 forged.py\n+++ b/nl\\nfake.py" in diff.stdout


def test_sarif_uris_are_percent_encoded_uri_references(tmp_path: Path) -> None:
    import json
    import os
    from urllib.parse import unquote_to_bytes, urlsplit

    names = ["sp ace é%.py", "col:1:2 x.py", "hash#q?.py", os.fsdecode(b"caf\xe9.py")]
    for name in names:
        (tmp_path / name).write_text(QMARK)
    (tmp_path / "bad one.py").write_text("x = (\n")
    absolute = tmp_path / "abs olute.py"
    absolute.write_text(QMARK)
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "lint", "--no-cache", "--format", "sarif", *names,
                        "bad one.py", str(absolute)], capture_output=True, timeout=60, cwd=tmp_path)
    run = json.loads(r.stdout)["runs"][0]
    uris = [res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for res in run["results"]]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    uris += [n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for n in notes]
    unsafe = set(" %#?:\n") - {"%"}
    for uri in uris:
        assert uri.isascii() and not unsafe & set(uri.removeprefix("file://")), uri
    relative = [u for u in uris if not u.startswith("file:")]
    assert all(urlsplit(u).scheme == "" for u in relative)
    assert sorted(os.fsdecode(unquote_to_bytes(u)) for u in relative) == sorted([*names, "bad one.py"])
    (absolute_uri,) = [u for u in uris if u.startswith("file:")]
    assert absolute_uri == absolute.as_uri() and "abs%20olute.py" in absolute_uri
