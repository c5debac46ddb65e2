"""Run the code rules over sources: parse, collect the declared tables, apply rules and suppressions.

Light on purpose (the pre-commit hook starts an interpreter per commit): stdlib only, plus pglast
imported when a file holds SQL. Python files go through the rules; `.sql` files (schema,
migrations) through PostgreSQL's parser (MD004, MD008) and feed the declared tables.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import struct
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mosaic_diag.errors import UsageError
from mosaic_diag.lint.context import OTHER_DIALECTS, FileContext
from mosaic_diag.lint.ddl import Column, Table
from mosaic_diag.lint.model import Edit, Finding, LintResult, ParseFailure, Rule
from mosaic_diag.lint.rules import all_rules
from mosaic_diag.lint.runcache import code_digest, discover, read_signed


@dataclass(frozen=True)
class Source:
    """One file to lint: its display path and text."""

    path: str
    text: str


def select_rules(select: Iterable[str] = (), ignore: Iterable[str] = ()) -> tuple[Rule, ...]:
    """Rule instances after `--select` / `--ignore` (codes or names; a prefix like `MD00` works)."""
    rules = all_rules()
    select = [s.strip() for s in select if s.strip()]
    ignore = [s.strip() for s in ignore if s.strip()]
    known = {r.code for r in rules} | {r.name for r in rules}
    for token in (*select, *ignore):
        if not any(code.startswith(token.upper()) or code == token for code in known):
            raise UsageError(f"unknown rule {token!r}; known: {', '.join(r.code for r in rules)}")

    def matches(rule: type[Rule], tokens: list[str]) -> bool:
        return any(rule.code.startswith(t.upper()) or rule.name == t for t in tokens)

    chosen = [r for r in rules if (not select or matches(r, select)) and not matches(r, ignore)]
    return tuple(r() for r in chosen)


def source_encoding(path: str, data: bytes) -> str:
    """The encoding Python reads a file's bytes in: the one its PEP 263 `coding:` comment or its BOM names,
    else UTF-8 (`utf-8-sig`: a BOM, if any, is not text; a `.sql` file: UTF-8, BOM or not). Raises
    SyntaxError for a cookie that contradicts the BOM."""
    head = data[:data.find(b"\n", data.find(b"\n") + 1) + 1 or len(data)]  # the first two lines
    if path.endswith(".py") and (b"coding" in head or data.startswith(b"\xef\xbb\xbf")):
        import io
        import tokenize

        return tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    return "utf-8-sig"


def decode_source(path: str, data: bytes) -> str:
    """The text of a file as Python reads it (`source_encoding`). Raises UnicodeDecodeError, LookupError (an
    unknown encoding) or SyntaxError."""
    return data.decode(source_encoding(path, data))


def encode_source(path: str, text: str, original: bytes) -> bytes:
    """`text` encoded as the file's `original` bytes were: in their encoding, with their BOM if they had one."""
    encoding = source_encoding(path, original)
    bom = original.startswith(b"\xef\xbb\xbf")
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8" if encoding == "utf-8-sig" else encoding)


# the largest source file read: Python's parser takes 100 (ordinary code) to 400 (dense literals) bytes of memory per
# byte of source, so an 18 MB generated module took 7.3 GB and a minute; a larger file is one failure, named
MAX_SOURCE_BYTES = 4 * 2**20


def too_large(path: str, size: int) -> ParseFailure | None:
    """The failure of a file over MAX_SOURCE_BYTES, else None."""
    if size <= MAX_SOURCE_BYTES:
        return None
    return ParseFailure(path, 1, f"{size / 2**20:.1f} MiB, over the {MAX_SOURCE_BYTES // 2**20} MiB a source file may "
                                 "have (Python's parser needs 100 to 400 times a file's size in memory); not read")


def source_of(path: str, data: bytes) -> Source | ParseFailure:
    """A file's bytes as a Source to lint, or why they cannot be read as text (one failure of that file,
    as a file that does not parse is: the other files are linted)."""
    large = too_large(path, len(data))
    if large is not None:
        return large
    try:
        return Source(path, decode_source(path, data))
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return ParseFailure(path, line, f"not valid {exc.encoding} (byte {data[exc.start]:#04x}); "
                                        "declare the file's encoding (PEP 263) or save it as UTF-8")
    except (LookupError, SyntaxError) as exc:
        return ParseFailure(path, getattr(exc, "lineno", None) or 1, str(getattr(exc, "msg", None) or exc))


def read_sources(files: Sequence[Path]) -> tuple[list[Source], list[ParseFailure]]:
    """The files to lint, and those that cannot be read as text."""
    sources: list[Source] = []
    failures: list[ParseFailure] = []
    for path in files:
        try:
            large = too_large(str(path), path.stat().st_size)  # (not read at all)
            if large is not None:
                failures.append(large)
                continue
            data = path.read_bytes()
        except OSError as exc:
            failures.append(ParseFailure(str(path), 1, f"cannot read: {exc.strerror or exc}"))
            continue
        got = source_of(str(path), data)
        (sources if isinstance(got, Source) else failures).append(got)  # type: ignore[arg-type]
    return sources, failures


def with_failures(result: LintResult, failures: Sequence[ParseFailure], order: Sequence[str]) -> LintResult:
    """`result` with the files that could not be read among its failures, in the files' order."""
    if not failures:
        return result
    rank = {path: i for i, path in enumerate(order)}
    merged = sorted((*result.failures, *failures), key=lambda f: rank.get(f.path, len(rank)))
    return LintResult(result.findings, tuple(merged), result.files + len(failures), result.unknown_tables,
                      result.digests)


class SchemaTables(Mapping[str, Table]):
    """Tables declared in SQL files, read by PostgreSQL's parser on first use (a cached lint run
    never parses them); `digest` identifies their content."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = tuple(texts)
        self.digest = _digest(*self.texts)
        self._tables: dict[str, Table] | None = None

    @property
    def tables(self) -> dict[str, Table]:
        if self._tables is None:
            from mosaic_diag.lint.pgsql import tables_from_sql

            self._tables = {}
            for text in self.texts:
                self._tables.update(tables_from_sql(text))
        return self._tables

    def __getitem__(self, name: str) -> Table:
        return self.tables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)


def schema_tables(files: Iterable[Path]) -> SchemaTables:
    """Tables declared in SQL files (the settings made sure they exist), parsed when first needed."""
    texts = []
    for path in files:
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the schema: {exc}", path=str(path)) from exc
    return SchemaTables(texts)


def _ddl_in_tree(tree: ast.Module) -> dict[str, Table]:
    from mosaic_diag.lint.pgsql import tables_from_sql

    tables: dict[str, Table] = {}
    for node in _string_constants(tree):
        text = node.value
        if isinstance(text, str) and _declares_table(text):  # (always a str: `_string_constants`)
            tables.update(tables_from_sql(text, first_line=node.lineno))
    return tables


def _string_constants(tree: ast.AST) -> list[ast.Constant]:
    """The string constants of a tree in `ast.walk`'s order (a walk without its generators)."""
    out: list[ast.Constant] = []
    queue, node_type, constant = [tree], ast.AST, ast.Constant
    for node in queue:  # breadth first, as ast.walk
        if type(node) is constant:
            if isinstance(node.value, str):
                out.append(node)
            continue
        for field in node._fields:
            value = getattr(node, field, None)
            if isinstance(value, list):
                queue.extend(v for v in value if isinstance(v, node_type))
            elif isinstance(value, node_type):
                queue.append(value)
    return out


_SQL_FILE_CODES = frozenset({"MD004", "MD008"})
_NAMED_QUERIES = re.compile(r"^[ \t]*--[ \t]*(?:name[ \t]*:|:name\b)", re.MULTILINE)
# another database's client script: sqlcmd's / SSMS's batch separator `GO` on a line of its own (T-SQL), the mysql
# client's `DELIMITER $$`; neither reaches any server, and psql knows neither
_OTHER_CLIENT = re.compile(r"^[ \t]*(?:go[ \t]*(?:\d+[ \t]*)?;?|delimiter[ \t]+\S+)[ \t]*\r?$",
                           re.MULTILINE | re.IGNORECASE)


def _named_for_other_database(path: str | Path) -> bool:
    """A `.sql` file whose name or directory (up to two levels) names another database
    (`migrations/clickhouse/001_events.sql`, `09_add_mysql_change_log.sql`): that database's script, as a module
    named after one is (round 4); its DDL is not PostgreSQL's to judge."""
    parts = Path(path).parts[-3:]
    return any(word in OTHER_DIALECTS for part in parts for word in _WORDS.split(part.lower()))


_WORDS = re.compile(r"[^a-z0-9]+")


def _lint_sql_file(src: Source, rules: Sequence[Rule]) -> list[Finding]:
    """A `.sql` file through PostgreSQL's parser: the MD004 / MD008 findings, `-- noqa` honoured."""
    from mosaic_diag.lint.pgsql import analyse
    from mosaic_diag.lint.sqltext import line_col, prepare_script

    codes = {r.code: r.name for r in rules if r.code in _SQL_FILE_CODES}
    if not codes or not src.text.strip():
        return []
    if _OTHER_CLIENT.search(src.text) or _named_for_other_database(src.path):
        return []  # SQL Server's or MySQL's script (etl-with-airflow's AdventureWorks DDL, round 6; fraiseql's, 7)
    ctx = FileContext(src.path, src.text, ast.Module(body=[], type_ignores=[]))
    out = []
    text, templated = prepare_script(src.text)
    # a collection of named queries (aiosql / anosql's `-- name: get-user^`, PugSQL's `-- :name get_user :one`):
    # its `:name` binds are that library's placeholders
    named = _NAMED_QUERIES.search(src.text) is not None
    for problem in analyse(text, dynamic=templated, named=named).problems:
        if problem.code not in codes:
            continue
        line, col = line_col(src.text, problem.offset)
        if not ctx.suppressed(problem.code, line, line):
            fixes: tuple[Edit, ...] = ()
            if problem.fix is not None:
                start, end, new = problem.fix
                fline, fcol = line_col(src.text, start)
                fixes = (Edit(fline, fcol, src.text[start:end], new),)
            out.append(Finding(src.path, line, col, problem.code, problem.message, codes[problem.code], fixes))
    return out


CACHE_VERSION = "lint-cache-1"
# the syntax trees of the files that declare tables, read before any file is linted, are kept for their
# linting up to this much source (a tree costs about 50 times its source; one is always kept): past it, a
# file is parsed again rather than all of them held at once
KEEP_TREES_BYTES = 2 << 20
_CREATE_TABLE = re.compile(r"\bCREATE\s+(?:\w+\s+){0,3}TABLE\b", re.IGNORECASE)
_CREATE_TABLE_LOWER = re.compile(r"create\s+(?:\w+\s+){0,3}table\b")
_WORD = re.compile(r"\w")


def _declares_table(text: str) -> bool:
    """`_CREATE_TABLE.search(text)`, at memchr speed: an ignore-case regex over all the source is
    the slowest part of a run's preparation, so ASCII text (the lower case keeps its offsets) is
    searched for `create` and the regex tried there only."""
    if not text.isascii():
        return _CREATE_TABLE.search(text) is not None
    lowered = text.lower()
    at = lowered.find("create")
    while at >= 0:
        if (at == 0 or not _WORD.match(lowered, at - 1)) and _CREATE_TABLE_LOWER.match(lowered, at):
            return True
        at = lowered.find("create", at + 1)
    return False


def text_digest(text: str) -> str:
    """The hash a run keeps of each text it linted (`LintResult.digests`): `--fix` rewrites only that text."""
    return _digest(text)


def _digest(*parts: str) -> str:
    h = hashlib.sha1(usedforsecurity=False)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def _tables_to_json(tables: Mapping[str, Table]) -> dict[str, object]:
    return {name: asdict(t) for name, t in tables.items()}


def _tables_from_json(data: Mapping[str, dict[str, Any]]) -> dict[str, Table]:
    return {name: Table(t["name"], t["line"], tuple(Column(**c) for c in t["columns"]),
                        tuple(tuple(k) for k in t["unique_keys"])) for name, t in data.items()}


class _Cache:
    """Results per file, keyed by a hash of its content (ruff's idea): a JSON file under the cache dir,
    signed with the user's secret (`runcache.read_signed`): a planted or copied file is never trusted."""

    def __init__(self, directory: Path | None) -> None:
        self.path = directory / f"{CACHE_VERSION}.json" if directory else None
        self.entries: dict[str, dict[str, Any]] = {}
        self.dirty = False
        self._checked: dict[str, bool] = {}  # path -> its entry has the shape this code writes
        if self.path is not None:
            try:
                data = json.loads(read_signed(self.path))
                if isinstance(data, dict) and data.get("version") == CACHE_VERSION \
                        and isinstance(data.get("files"), dict):
                    self.entries = data["files"]
            except (OSError, ValueError):
                self.entries = {}

    def get(self, path: str, content: str) -> dict[str, Any] | None:
        """The entry of `path` for this content, or None (also for an entry of another shape: a damaged or
        hand-made cache file is a miss, never a traceback)."""
        entry = self.entries.get(path)
        if not isinstance(entry, dict) or entry.get("hash") != content:
            return None
        if path not in self._checked:
            self._checked[path] = _entry_ok(path, entry)
        return entry if self._checked[path] else None

    def put(self, path: str, entry: dict[str, Any]) -> None:
        self.entries[path] = entry
        self._checked[path] = True
        self.dirty = True

    def save(self) -> None:
        """Write the entries back, without those of files that no longer exist (renamed, deleted)."""
        if self.path is None or not self.dirty:
            return
        self.entries = {p: e for p, e in self.entries.items() if os.path.exists(p)}
        try:
            from mosaic_diag.lint.runcache import write_signed

            write_signed(self.path, json.dumps({"version": CACHE_VERSION, "files": self.entries}))
        except OSError as exc:  # a cache that cannot be written is no cache, not an error
            import logging

            logging.getLogger(__name__).debug("lint cache not written: %s", exc)


def _entry_ok(path: str, entry: dict[str, Any]) -> bool:
    """Whether a cache entry has the shape `_lint_with` writes (each part decodes, with the types it needs)."""
    try:
        _tables_from_json(entry["tables"])
        findings = [_finding_from_json(path, row) for row in entry["findings"]]
        failure = entry["failure"]
        return (isinstance(entry.get("env"), str) and all(isinstance(u, str) for u in entry["unknown"])
                and all(type(f.line) is int and type(f.col) is int and isinstance(f.code, str)  # noqa: E721
                        and isinstance(f.message, str) and isinstance(f.name, str)
                        and all(type(e.line) is int and type(e.col) is int and isinstance(e.old, str)  # noqa: E721
                                and isinstance(e.new, str) for e in f.fixes) for f in findings)
                and (failure is None or (isinstance(failure, list) and len(failure) == 2
                                         and type(failure[0]) is int and isinstance(failure[1], str))))  # noqa: E721
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def _finding_to_json(f: Finding) -> list[object]:
    return [f.line, f.col, f.code, f.message, f.name, [[e.line, e.col, e.old, e.new] for e in f.fixes]]


def _finding_from_json(path: str, row: list[Any]) -> Finding:
    line, col, code, message, name, fixes = row
    return Finding(path, line, col, code, message, name, tuple(Edit(*e) for e in fixes))


def lint_sources(sources: Sequence[Source], *, rules: Sequence[Rule] | None = None,
                 tables: Mapping[str, Table] | None = None,
                 conn_factories: Iterable[str] = ("get_conn",), cache_dir: Path | None = None) -> LintResult:
    """Lint in-memory sources (the hook passes staged blobs; the CLI passes files). With a
    `cache_dir`, a file whose content, rules, factories and known tables are unchanged is not
    parsed again. The cyclic garbage collector pauses meanwhile: syntax trees are many small
    objects without cycles, and its passes over them cost a third of the parsing."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        return _lint_sources(sources, rules=rules, tables=tables, conn_factories=conn_factories,
                             cache_dir=cache_dir)
    finally:
        if enabled:
            gc.enable()


def _lint_sources(sources: Sequence[Source], *, rules: Sequence[Rule] | None,
                  tables: Mapping[str, Table] | None, conn_factories: Iterable[str],
                  cache_dir: Path | None) -> LintResult:
    rules = select_rules() if rules is None else rules
    factories = frozenset(conn_factories)
    cache = _Cache(cache_dir)
    hashes = {src.path: _digest(src.text) for src in sources}
    md007 = any(rule.code == "MD007" for rule in rules)
    workers = None
    if all(cache.get(src.path, hashes[src.path]) is None for src in sources):
        # every file is to lint: workers start now on the files that neither declare a table nor
        # insert into one, while this process reads the CREATE TABLEs then lints those (an INSERT
        # a worker meets all the same, built from pieces, comes back here)
        shared = {i for i, src in enumerate(sources) if not src.path.endswith(".sql")
                  and not (md007 and "INSERT" in src.text.upper()) and not _declares_table(src.text)}
        workers = _Workers.start(_Job(tuple(rules), _PendingTables(), factories, md007), sources, {}, shared,
                                 fixed=set(range(len(sources))) - shared)
    try:
        return _lint_with(sources, rules, tables, factories, cache, hashes, md007, workers)
    finally:
        if workers is not None:
            workers.close()


def _lint_with(sources: Sequence[Source], rules: Sequence[Rule], tables: Mapping[str, Table] | None,
               factories: frozenset[str], cache: _Cache, hashes: dict[str, str], md007: bool,
               workers: _Workers | None) -> LintResult:
    """The body of `lint_sources`, with the workers started before the files' tables are known."""
    # 1. the tables every file declares (from the cache, else by parsing it)
    trees: dict[str, ast.Module | None] = {}  # kept for the linting (each released once its file is linted)
    kept = 0  # the source of the trees kept: beyond KEEP_TREES_BYTES, a tree is parsed again when linted
    failures: dict[str, ParseFailure] = {}
    declared: dict[str, dict[str, Table]] = {}
    for src in sources:
        entry = cache.get(src.path, hashes[src.path])
        if entry is not None:
            declared[src.path] = _tables_from_json(entry["tables"])
            continue
        declared[src.path] = {}
        if src.path.endswith(".sql"):
            if "TABLE" in src.text.upper():
                from mosaic_diag.lint.pgsql import tables_from_sql

                declared[src.path] = tables_from_sql(src.text)
            continue
        if _declares_table(src.text):
            tree = _parsed(src)  # a file that does not parse is reported with the findings
            declared[src.path] = _ddl_in_tree(tree) if tree is not None else {}
            if not trees or kept + len(src.text) <= KEEP_TREES_BYTES:
                trees[src.path] = tree
                kept += len(src.text)
            del tree
    in_files: dict[str, Table] = {}
    for src in sources:
        for name, table in declared.get(src.path, {}).items():
            in_files.setdefault(name, table)
    base = tables.digest if isinstance(tables, SchemaTables) else json.dumps(_tables_to_json(tables or {}),
                                                                             sort_keys=True)
    env = _digest(CACHE_VERSION, code_digest(), ",".join(r.code for r in rules), ",".join(sorted(factories)), base,
                  json.dumps(_tables_to_json(in_files), sort_keys=True))
    # 2. the findings of every file (from the cache when its environment is the same)
    findings: list[Finding] = []
    unknown: list[str] = []
    todo: list[Source] = []
    for src in sources:
        entry = cache.get(src.path, hashes[src.path])
        if entry is not None and entry.get("env") == env:
            findings.extend(_finding_from_json(src.path, row) for row in entry["findings"])
            unknown.extend(entry["unknown"])
            if entry.get("failure"):
                failures[src.path] = ParseFailure(src.path, *entry["failure"])
        else:
            todo.append(src)
    known = _KnownTables(in_files, tables, declared) if todo else {}  # the schema is parsed only when a file needs it
    job = _Job(tuple(rules), known, factories, md007)
    assert workers is None or len(todo) == len(sources)  # started when no file was cached
    for src, (file_findings, file_unknown, failure) in zip(todo, _run_jobs(job, todo, trees, workers), strict=True):
        findings.extend(file_findings)
        unknown.extend(file_unknown)
        if failure is not None:
            failures[src.path] = failure
        cache.put(src.path, {"hash": hashes[src.path], "env": env, "tables": _tables_to_json(declared[src.path]),
                             "findings": [_finding_to_json(f) for f in file_findings], "unknown": file_unknown,
                             "failure": [failure.line, failure.message] if failure else None})
    cache.save()
    ordered = tuple(failures[s.path] for s in sources if s.path in failures)
    return LintResult(tuple(sorted(set(findings))), ordered, len(sources), tuple(unknown), hashes)


class _KnownTables(Mapping[str, Table]):
    """The tables the linted files declare and the schema's (which win), merged at the first look: a
    `SchemaTables` is parsed (pglast imported) only when a file's SQL needs a table."""

    def __init__(self, in_files: Mapping[str, Table], schema: Mapping[str, Table] | None,
                 declared: Mapping[str, Mapping[str, Table]] | None = None) -> None:
        self._in_files = in_files
        self._schema = schema
        self._declared = declared or {}  # by file: the tables each declares
        self._merged: dict[str, Table] | None = None

    def _all(self) -> dict[str, Table]:
        if self._merged is None:
            self._merged = {**self._in_files, **dict(self._schema if self._schema is not None else {})}
        return self._merged

    def for_file(self, path: str) -> _KnownTables:
        """These tables as one file sees them: those it creates before the other files' (the schema's first)."""
        own = self._declared.get(path)
        if not own:
            return self
        return _KnownTables({**self._in_files, **own}, self._schema)

    def __getitem__(self, name: str) -> Table:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def _parsed(src: Source) -> ast.Module | None:
    try:
        return parse_module(src.text, src.path)
    except (SyntaxError, ValueError, RecursionError):
        return None


PARSE_PIECE = 1 << 20  # characters of source given to Python's parser at once, about (a statement is not cut)
# where a top-level definition may start (a piece ends before one, not after a decorator; a false start,
# inside a string, makes the piece fail to parse, and then the file is parsed whole)
_TOP_LEVEL = re.compile(r"\n(?=@|(?:async[ \t]+)?def[ \t]|class[ \t])")
_MERGES = 4  # pieces that do not parse alone, parsed with the next, before the whole text is parsed


def parse_module(text: str, path: str = "<unknown>", piece: int = PARSE_PIECE) -> ast.Module:
    """`_parse_module`; on a Python older than 3.12, a file that does not parse there but does once its 3.12
    f-strings are written in this Python's grammar (`lint.pep701`, lines kept) is read so (round 7 of the linter on
    public code: postgres-mcp and pgai need 3.12); else the file's own error."""
    try:
        return _parse_module(text, path, piece)
    except SyntaxError as exc:
        if sys.version_info >= (3, 12) or "f" not in text:
            raise
        from mosaic_diag.lint.pep701 import downgrade

        written = downgrade(text)
        if written is None:
            raise
        first = exc
    try:
        return _parse_module(written, path, piece)
    except SyntaxError:
        raise first from None  # (the file's own error, not the rewrite's)


def _parse_module(text: str, path: str = "<unknown>", piece: int = PARSE_PIECE) -> ast.Module:
    """`ast.parse(text)`, with a big file parsed in pieces of about `piece` characters cut before top-level
    definitions: the parser's own structures (tokens, memo, its C tree) are about 1.5 times the syntax tree
    it makes, and held for the whole text they made the peak of a run 120 times the source, against 70
    with pieces. The tree is the one the whole text gives (same nodes, lines, columns): a piece starts as
    the file does at that line, past its blank lines, and a piece that does not parse alone (cut inside a
    string, after a decorator) is parsed with the next; past a few such, or a piece that cannot be parsed
    at all, the whole text is parsed (its error is the file's). Raises what `ast.parse` raises."""
    if len(text) <= piece + piece // 2 or "barry_as_FLUFL" in text:  # (that import changes what parses)
        return ast.parse(text, filename=path)
    body: list[ast.stmt] = []
    first, pending, merges = 1, "", 0
    try:
        for line, part in module_pieces(text, piece):
            if pending:
                line, part = first, pending + part
            try:
                tree = ast.parse("\n" * (line - 1) + part, filename=path)
            except SyntaxError:
                merges += 1
                if merges > _MERGES:
                    raise
                first, pending = line, part
                continue
            body.extend(tree.body)
            pending = ""
            del tree
        if pending:
            raise SyntaxError("the last piece does not parse")
    except (SyntaxError, ValueError, RecursionError):
        del body
        return ast.parse(text, filename=path)
    return ast.Module(body=body, type_ignores=[])


def module_pieces(text: str, piece: int) -> Iterator[tuple[int, str]]:
    """(first line, text) of consecutive pieces of `text`, each cut before the first top-level definition
    (its decorators included) found `piece` characters or more past its start (the last: what remains)."""
    start, line = 0, 1
    while start < len(text):
        end = _cut(text, start + piece) if len(text) - start > piece + piece // 2 else len(text)
        part = text[start:end]
        yield line, part
        line += part.count("\n")
        if "\r" in part:  # Python ends a line at a lone CR too
            line += part.count("\r") - part.count("\r\n")
        start = end


def _cut(text: str, at: int) -> int:
    """Where the first top-level definition from `at` starts, its decorators with it, else the end."""
    while (found := _TOP_LEVEL.search(text, at)) is not None:
        before = text[max(0, found.start() - 400): found.start()].rstrip()
        if not before[before.rfind("\n") + 1:].startswith("@"):
            return found.end()
        at = found.end()
    return len(text)


TOO_DEEP = "nested too deeply to judge (past Python's recursion limit)"


PARALLEL_MIN_BYTES = 96 * 1024  # below this much source, a second process costs more than it saves
Outcome = tuple[list[Finding], list[str], ParseFailure | None]


class _NeedsTables(BaseException):  # noqa: N818  (a signal, not an error: no `except Exception` may stop it)
    """A file whose findings depend on the declared tables, linted before they were known."""


class _PendingTables(Mapping[str, Table]):
    """The tables of a worker started before the files' CREATE TABLEs were read: any lookup (an
    INSERT to judge) sends that file back to the parent, which lints it once the tables are known."""

    def __bool__(self) -> bool:
        return True

    def __getitem__(self, name: str) -> Table:
        raise _NeedsTables(name)

    def __iter__(self) -> Iterator[str]:
        raise _NeedsTables("")

    def __len__(self) -> int:
        raise _NeedsTables("")


@dataclass(frozen=True)
class _Job:
    rules: tuple[Rule, ...]
    known: Mapping[str, Table]
    factories: frozenset[str]
    md007: bool

    def run(self, src: Source, tree: ast.Module | None = None) -> Outcome:
        """One file: its findings, its INSERTs into unknown tables, or why it does not parse."""
        if src.path.endswith(".sql"):
            return _lint_sql_file(src, self.rules), [], None
        if tree is None:
            try:
                tree = parse_module(src.text, src.path)
            except SyntaxError as exc:
                return [], [], ParseFailure(src.path, exc.lineno or 1, exc.msg)
            except ValueError as exc:  # source with NUL bytes
                return [], [], ParseFailure(src.path, 1, str(exc))
            except RecursionError:  # `a + a + ...` thousands deep: Python itself cannot compile it
                return [], [], ParseFailure(src.path, 1, TOO_DEEP)
        try:
            found, unknown = _lint_tree(src, tree, self.rules, self.known, self.factories, self.md007)
        except RecursionError:  # a tree Python parsed, too deep for a rule's walk
            return [], [], ParseFailure(src.path, 1, TOO_DEEP)
        return found, unknown, None


def _run_jobs(job: _Job, todo: Sequence[Source], trees: dict[str, ast.Module | None],
              workers: _Workers | None = None) -> list[Outcome]:
    """The outcome of every file to lint, shared with `workers` (forked copies of this process) when
    there are: the parent lints what they must not (`workers.fixed`), then pulls from the same queue."""
    if workers is None:
        workers = _Workers.start(job, todo, trees, set(range(len(todo))), fixed=set())
    if workers is None:
        return [job.run(src, trees.pop(src.path, None)) for src in todo]
    return workers.finish(job, todo, trees)


_SQL_HINTS = ("execute", "mogrify", "sqlalchemy", "create")  # pglast needed, likely
_INDEX = struct.Struct("=I")


class _Workers:
    """Forked copies of this process that lint files pulled from a shared queue (a pipe of file
    indices, biggest files first: whoever is free takes the next one). A fork inherits the sources,
    the rules and the imported modules; only the outcomes travel back, pickled. A worker that fails
    loses nothing: the parent lints every file no worker answered for."""

    def __init__(self, queue: int, children: list[tuple[int, int]], fixed: set[int]) -> None:
        self.queue = queue
        self.children = children
        self.fixed = fixed

    @classmethod
    def start(cls, job: _Job, todo: Sequence[Source], trees: dict[str, ast.Module | None], shared: set[int],
              fixed: set[int]) -> _Workers | None:
        """Workers for the files `shared`, or None when one process is better (little source, one
        CPU, no safe fork); `fixed`: the files the parent lints itself, first."""
        count = _workers_wanted()
        size = sum(len(todo[i].text) for i in shared)
        if count < 2 or len(shared) < 2 or size < PARALLEL_MIN_BYTES or len(shared) * _INDEX.size > 60_000 \
                or not _can_fork():
            return None
        if any(hint in todo[i].text.lower() for i in shared for hint in _SQL_HINTS):
            import pglast  # noqa: F401  (once here rather than once per process)
        order = sorted(shared, key=lambda i: -len(todo[i].text))
        data = b"".join(_INDEX.pack(i) for i in order)
        try:
            read, write = os.pipe()
        except OSError:
            return None
        try:  # all of it at once, never blocking (a pipe can be smaller than 64 KiB): else one process
            os.set_blocking(write, False)
            written = os.write(write, data)
        except OSError:
            written = 0
        finally:
            os.close(write)
        if written != len(data):
            os.close(read)
            return None
        children = []
        for _ in range(count - 1):
            child = _fork(job, todo, trees, read)
            if child is not None:
                children.append(child)
        return cls(read, children, fixed)

    def pull(self) -> int | None:
        """The next file index of the queue, or None when it is empty."""
        data = os.read(self.queue, _INDEX.size)
        return _INDEX.unpack(data)[0] if len(data) == _INDEX.size else None

    def finish(self, job: _Job, todo: Sequence[Source], trees: dict[str, ast.Module | None]) -> list[Outcome]:
        out: dict[int, Outcome] = {}
        try:
            for i in sorted(self.fixed):
                out[i] = job.run(todo[i], trees.pop(todo[i].path, None))
            while (pulled := self.pull()) is not None:
                out[pulled] = job.run(todo[pulled], trees.pop(todo[pulled].path, None))
            while self.children:
                pid, results = self.children.pop()
                out.update((i, r) for i, r in (_collect(pid, results) or {}).items() if r is not None)
        finally:
            self.close()
        for i in range(len(todo)):  # sent back (an INSERT to judge), or its worker failed: linted here
            if i not in out:
                out[i] = job.run(todo[i], trees.pop(todo[i].path, None))
        return [out[i] for i in range(len(todo))]

    def close(self) -> None:
        """Stop: the queue closed, every child reaped (a closed result pipe ends a child's write)."""
        if self.queue >= 0:
            os.close(self.queue)
            self.queue = -1
        for pid, results in self.children:
            os.close(results)
            os.waitpid(pid, 0)
        self.children = []


def _workers_wanted() -> int:
    """The processes worth running: the CPUs this process may use (8 at most), fewer when the load
    average says other work holds them (as `make -l` does: two processes time-sharing one CPU cost
    more than one process)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        spare = int(cpus + 1 - os.getloadavg()[0])
    except (AttributeError, OSError):
        spare = cpus
    return max(1, min(cpus, spare, 8))


def _can_fork() -> bool:
    """fork() exists and this process runs no other thread (forking a threaded process can deadlock)."""
    import sys

    if not hasattr(os, "fork") or sys.platform in {"darwin", "win32"}:
        return False
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


def _fork(job: _Job, todo: Sequence[Source], trees: dict[str, ast.Module | None],
          queue: int) -> tuple[int, int] | None:
    """A child that lints the files it pulls from `queue` and pickles {index: outcome or None (sent
    back)} into a pipe: (pid, read end of that pipe), or None when no process can be started."""
    try:
        read, write = os.pipe()
        pid = os.fork()
    except OSError:
        return None
    if pid:
        os.close(write)
        return pid, read
    status = 1
    try:  # the child: never back into the caller's code, never flush the parent's buffers
        os.close(read)
        import pickle

        out: dict[int, Outcome | None] = {}
        while len(data := os.read(queue, _INDEX.size)) == _INDEX.size:
            index = _INDEX.unpack(data)[0]
            try:
                out[index] = job.run(todo[index], trees.pop(todo[index].path, None))
            except _NeedsTables:
                out[index] = None
        with os.fdopen(write, "wb") as pipe:
            pipe.write(pickle.dumps(out, pickle.HIGHEST_PROTOCOL))
        status = 0
    finally:
        os._exit(status)


def _collect(pid: int, read: int) -> dict[int, Outcome | None] | None:
    """The outcomes a child sent, or None when it failed."""
    import pickle

    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0:
        return None
    try:
        return pickle.loads(data)  # noqa: S301  (our own child's data)
    except Exception as exc:  # noqa: BLE001  (truncated data: lint those files here)
        import logging

        logging.getLogger(__name__).debug("lint worker %d sent no result: %s", pid, exc)
        return None


def _lint_tree(src: Source, tree: ast.Module, rules: Sequence[Rule], known: Mapping[str, Table],
               factories: frozenset[str], md007: bool) -> tuple[list[Finding], list[str]]:
    """The findings of the rules in one parsed Python file, and its INSERTs into unknown tables. A table the file
    creates itself is the one its INSERTs meet (another file may create another table of that name: tests and
    examples each make their own `tbl`); the schema's still wins."""
    if md007 and isinstance(known, _KnownTables):
        known = known.for_file(src.path)
    ctx = FileContext(src.path, src.text, tree, tables=known, conn_factories=factories)
    unknown = []
    if md007 and "INSERT" in src.text.upper():
        for site in ctx.postgres_sites():
            for insert in ctx.sql_analysis(site).inserts:
                if insert.table not in known:
                    unknown.append(f"{src.path}:{ctx.sql_position(site.sql, insert.offset)[0]}: {insert.table}")
    findings = []
    for rule in rules:
        for hit in rule.check(ctx):
            first, last = ctx.statement_span(hit.node)
            line = hit.line if hit.line is not None else first
            col = hit.col if hit.col is not None else ctx._char_col(first, getattr(hit.node, "col_offset", 0)) + 1
            if ctx.suppressed(rule.code, min(first, line), max(last, line)):
                continue
            findings.append(Finding(src.path, line, col, rule.code, hit.message, rule.name, hit.fixes))
    return findings, unknown


def lint_paths(paths: Sequence[Path], **kwargs: object) -> LintResult:
    """Lint the Python and SQL files under `paths`."""
    files = discover(paths)
    sources, unreadable = read_sources(files)
    result = lint_sources(sources, **kwargs)  # type: ignore[arg-type]
    return with_failures(result, unreadable, [str(f) for f in files])
