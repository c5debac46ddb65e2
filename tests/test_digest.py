"""`platform.digest`: the digests `hashlib` makes, without importing it (a warm triage imports no `hashlib`)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from mosaic_diag.platform import digest

ROOT = Path(__file__).resolve().parent.parent


def test_the_digests_are_hashlibs() -> None:
    texts = [b"", b"abc", "mosaic_diag\0é\U0001f600".encode("utf-8", "surrogatepass"), bytes(range(256)) * 513]
    for data in texts:
        assert digest.key_hash(data).hexdigest() == hashlib.blake2b(data, digest_size=32).hexdigest()
        assert len(digest.key_hash(data).hexdigest()) == 64
        assert digest.sha1(data).hexdigest() == hashlib.sha1(data).hexdigest()
        made, their = digest.key_hash(b"head\0"), hashlib.blake2b(b"head\0", digest_size=32)
        for part in (data, data[:7], b"\0"):
            made.update(part)
            their.update(part)
        assert made.hexdigest() == their.hexdigest() and made.digest() == their.digest()


def test_a_warm_triage_imports_no_hashlib(tmp_path: Path) -> None:
    code = ("import runpy, sys\n"
            "sys.argv = ['mosaic-diag', 'triage', sys.argv[1], '--format', 'json']\n"
            "try:\n    runpy.run_module('mosaic_diag', run_name='__main__')\n"
            "finally:\n    print('imported:', sorted(m for m in ('hashlib', '_hashlib') if m in sys.modules),"
            " file=sys.stderr)\n")
    for _ in range(2):  # (the first imports detect-secrets, whose requests imports hashlib, for the patterns it keeps)
        done = subprocess.run([sys.executable, "-c", code, str(ROOT / "examples" / "logs" / "render-sample.log")],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(ROOT), "MOSAIC_DIAG_CACHE_DIR": str(tmp_path / "c")})
        assert done.returncode == 1 and json.loads(done.stdout)["summary"]["events"] > 0, done.stderr
    assert done.stderr == "imported: []\n"
