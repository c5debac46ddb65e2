"""Digests without importing `hashlib`: its import loads OpenSSL (about 11 M instructions, a twentieth of a small
triage) for what CPython also builds in, the same digests.

- `key_hash`: the digest of the on-disk caches' keys (a text's, a set of files'), BLAKE2b of 32 bytes (64 hex
  digits): built in, and three times as fast as the built-in SHA-256 on the half-megabyte of PostgreSQL's message
  catalogs a triage may key (OpenSSL's SHA-256 is faster still, but its import costs more than the hashing).
- `sha1`: the triage's fingerprints (their first 12 hex digits are in its reports)."""

from __future__ import annotations

from functools import partial

try:
    from _blake2 import blake2b
except ImportError:  # (a build without it)
    from hashlib import blake2b
try:
    from _sha1 import sha1
except ImportError:
    from hashlib import sha1

key_hash = partial(blake2b, digest_size=32)

__all__ = ["key_hash", "sha1"]
