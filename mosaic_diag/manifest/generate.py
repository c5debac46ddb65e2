"""Generate a manifest for a git ref by reading blobs (the working tree is never read).

For the working tree (`ref=None`) the manifest describes HEAD, which is what Render builds,
and flags local changes loudly (`dirty`, `dirty_paths`): they are not in what would deploy.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mosaic_diag.errors import ConfigError, UnreachableError
from mosaic_diag.manifest.model import Manifest, SchemaInfo
from mosaic_diag.manifest.settings import PYTHON_DECLARATIONS, ManifestSettings, glob_match
from mosaic_diag.platform import gitops
from mosaic_diag.platform.redact import MASK, redact_dsn, redact_text, secret_key
from mosaic_diag.platform.yamlpos import MAX_DEPTH, load_yaml_text

LIVE_SCHEMA_SQL = """
SELECT table_schema, table_name, column_name, data_type, is_nullable, COALESCE(column_default, '')
FROM information_schema.columns
WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg_%%'
ORDER BY table_schema, table_name, ordinal_position
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _set_hash(files: Mapping[str, str]) -> str | None:
    if not files:
        return None
    return sha256("".join(f"{p}\0{h}\n" for p, h in sorted(files.items())).encode())


def _redacted(value: Any, key: str | None = None) -> Any:
    """`value` (flags, model pins) as the manifest keeps it: every string redacted, and a string or a number under
    a secret's name (`"openai_api_key": "Zq81x…"`, which the redactor cannot tell from any word) masked whole."""
    if isinstance(value, Mapping):
        return {str(k): _redacted(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    if key is not None and secret_key(key) and isinstance(value, str | int | float) and not isinstance(value, bool) \
            and value != "":
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    return value


def parse_flags(data: bytes, where: str) -> dict[str, Any]:
    """A flags file (JSON, or YAML by extension) as a mapping; errors name file and line."""
    text = data.decode("utf-8", errors="replace")
    if where.endswith((".yml", ".yaml")):
        value = load_yaml_text(text, where)  # refuses alias bombs and deep nesting with file:line
    else:
        deep = _too_deep_at(text)  # (past the decoder's own limit it raised RecursionError: no file, no line)
        if deep is not None:
            raise ConfigError(f"JSON nested deeper than {MAX_DEPTH} levels", path=where, line=deep)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON: {exc.msg}", path=where, line=exc.lineno) from exc
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError("feature flags must be a mapping of flag -> value", path=where, line=1)
    return _redacted(value)


def _too_deep_at(text: str) -> int | None:
    """The line where JSON `text` opens its array or object number MAX_DEPTH + 1 deep, or None (a YAML flags file
    is held to the same depth)."""
    depth = 0
    for m in _JSON_NESTING.finditer(text):
        char = m.group()
        if char in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return text.count("\n", 0, m.start()) + 1
        elif char in ("]", "}"):
            depth -= 1
    return None


_JSON_NESTING = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)  # a string (skipped whole) or a bracket


def live_schema(database_url: str) -> tuple[str, int]:
    """(hash, table count) of the live database's columns (information_schema)."""
    import psycopg2

    conn = None
    try:
        conn = psycopg2.connect(database_url, connect_timeout=5)
        with conn.cursor() as cur:
            cur.execute(LIVE_SCHEMA_SQL)
            rows = cur.fetchall()
    except psycopg2.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UnreachableError(f"database {redact_dsn(database_url)} unreachable for the live schema: "
                               f"{redact_text(first)}") from exc
    finally:
        if conn is not None:
            conn.close()
    text = "\n".join("\t".join(str(c) for c in row) for row in rows)
    return sha256(text.encode()), len({(r[0], r[1]) for r in rows})


def generate_manifest(
    repo_path: Path,
    ref: str | None = None,
    *,
    settings: ManifestSettings | None = None,
    env: Mapping[str, str] | None = None,
    python_version: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    database_url: str | None = None,
) -> Manifest:
    """The manifest of `ref` (None: HEAD of the working tree, with the dirty flag)."""
    settings = settings or ManifestSettings()
    env = env or {}
    repo = gitops.open_repo(repo_path)
    commit = gitops.require_commit(repo, ref or "HEAD")
    state = gitops.working_tree_state(repo) if ref is None else gitops.WorkingTreeState(False, ())
    branch = gitops.current_branch(repo) if ref in (None, "HEAD") else _branch_name(repo, ref)

    deps: dict[str, str] = {}
    prompts: dict[str, str] = {}
    golden: dict[str, str] = {}
    blobs: dict[str, Any] = {}
    for path, blob in gitops.iter_blobs(commit):
        blobs[path] = blob
        if glob_match(path, settings.dependencies):
            deps[path] = sha256(gitops.read_blob(blob))
        if glob_match(path, settings.prompts):
            prompts[path] = sha256(gitops.read_blob(blob))
        if glob_match(path, settings.golden):
            golden[path] = sha256(gitops.read_blob(blob))

    schema_files: dict[str, str] = {}
    for pattern in settings.schema:
        matched = sorted(p for p in blobs if glob_match(p, (pattern,)))
        if matched:
            schema_files = {p: sha256(gitops.read_blob(blobs[p])) for p in matched}
            break
    schema_files.update({p: sha256(gitops.read_blob(b)) for p, b in blobs.items()
                         if glob_match(p, settings.migrations) and not p.endswith("/__init__.py")})
    live_hash = live_tables = None
    if database_url:
        live_hash, live_tables = live_schema(database_url)
    schema = SchemaInfo(tuple(sorted(schema_files)), _set_hash(schema_files), live_hash, live_tables)

    flags: dict[str, Any] = {}
    flags_source = None
    for name in settings.flags:
        if name in blobs:
            flags_source = name
            flags = parse_flags(gitops.read_blob(blobs[name]), f"{ref or 'HEAD'}:{name}")
            break

    declared = None
    for name in PYTHON_DECLARATIONS:
        if name in blobs:
            declared = gitops.read_blob(blobs[name]).decode("utf-8", "replace").strip() or None
            break

    return Manifest(
        commit=commit.hexsha, branch=branch, ref=ref, dirty=state.dirty, dirty_paths=state.paths,
        python_runtime=python_version, python_declared=declared,
        dependencies=deps, prompts=prompts, golden=golden, golden_set_hash=_set_hash(golden),
        models=_redacted(settings.model_pins(env)), schema=schema,
        feature_flags=flags, flags_source=flags_source, generated_at=clock().isoformat(),
    )


def _branch_name(repo: Any, ref: str) -> str | None:
    """The branch a ref names, when it names one (`main`, `origin/main`)."""
    for head in repo.heads:
        if head.name == ref:
            return head.name
    for remote in repo.remotes:
        for rref in remote.refs:
            if rref.name == ref:
                return rref.remote_head
    return None
