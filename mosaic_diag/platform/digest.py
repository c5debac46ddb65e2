"""SHA-256 and SHA-1 as `hashlib` makes them, without importing `hashlib`: its import loads OpenSSL (about 11 M
instructions, a twentieth of a small triage) for the cache keys and fingerprints of a run, which CPython's own
built-in digests (`_sha256` / `_sha2`, `_sha1`) give the same. Where they are not built in, `hashlib`'s."""

from __future__ import annotations

try:
    from _sha256 import sha256  # CPython 3.11
except ImportError:
    try:
        from _sha2 import sha256  # CPython 3.12+
    except ImportError:
        from hashlib import sha256
try:
    from _sha1 import sha1
except ImportError:
    from hashlib import sha1

__all__ = ["sha1", "sha256"]
