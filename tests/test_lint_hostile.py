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
