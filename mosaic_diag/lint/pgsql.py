"""SQL judged by PostgreSQL's own grammar (pglast: libpg_query, the parser of the server itself).

`analyse(sql)` returns what is wrong with one SQL text as PostgreSQL sees it, each problem at a
character offset of that text:

- MD003: SQLite `?` placeholders. A `?` is a placeholder only when the parser says so: the text
  fails to parse, and replacing that `?` by a value moves the error on (or makes it parse). The
  jsonb operators `?`, `?|`, `?&` parse, so they stay operators.
- MD004: SQLite and MySQL constructs (`AUTOINCREMENT`, `AUTO_INCREMENT`, backticks, `INSERT OR
  REPLACE/IGNORE`, `REPLACE INTO`, `PRAGMA`, `datetime('now')`), found among the scanner's tokens
  (never inside literals or comments), each with its own message.
- MD008: anything else PostgreSQL cannot parse, with the parser's own message.

Driver placeholders (`%s`, `%(name)s`, SQLAlchemy `:name`) are replaced by `$1` padded to the same
length before parsing, so offsets stay those of the original text (for psycopg2, which writes the values
into the text, a placeholder the parser stops at is tried as the list a tuple becomes after `IN` and as a
string literal: `WHERE id IN %s`, `NOTIFY chan, %s`, SQLAlchemy's `IN :ids` on psycopg2); an interpolated value of an
f-string skeleton (marked `\\x00`) becomes a one-character identifier, and a skeleton that still does
not parse is not reported as MD008 (the missing piece may be what completes it).

pglast is imported on first use only (the hook stays light on files without SQL).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

DYNAMIC = "\x00"
_PYFORMAT = re.compile(r"%\((?P<name>[^)]*)\)[sbt]|%[sbt]|%%")
_ESCAPED = "\x01\x01"  # a `%%` while placeholders are padded (two characters, as written)
_ESCAPED_OP = re.compile("\x01\x01([-+*/<>=~!@#%^&|`?]*)")  # it and the operator characters after it
_NAMED = re.compile(r"(?<![:\w]):(?P<name>[A-Za-z_]\w*)")
# jsonb (`?`, `?|`, `?&`) and geometric operators spelled with `?`: binary operators PostgreSQL has
_PG_QMARK_OPS = frozenset({"?", "?|", "?&", "?-", "?-|", "?||", "?#", "@?"})


@dataclass(frozen=True)
class SqlProblem:
    """One problem at a character offset of the SQL text; `fix` is a certainly-safe rewrite
    (start, end, replacement) of that text, when there is one."""

    offset: int
    code: str
    message: str
    fix: tuple[int, int, str] | None = None


@dataclass(frozen=True)
class Insert:
    """An INSERT statement: the table (lower-cased unless quoted), its offset, and whether a
    conflict is handled (`ON CONFLICT`, or SQLite's `INSERT OR ...`)."""

    offset: int
    table: str
    handled: bool


@dataclass(frozen=True)
class SqlAnalysis:
    problems: tuple[SqlProblem, ...]
    inserts: tuple[Insert, ...]
    parsed: bool


def neutralize(sql: str, *, named: bool = False, dollar: bool = False) -> str:
    """Placeholders and interpolated values made neutral, every offset kept. `dollar`: the driver's placeholders
    are the server's own `$1` (asyncpg), which PostgreSQL parses: a `%s` is no placeholder there."""
    if dollar:
        return sql.replace(DYNAMIC, "x")

    def pad(m: re.Match[str]) -> str:
        text = m.group(0)
        return _ESCAPED if text == "%%" else "$1" + " " * (len(text) - 2)

    out = _PYFORMAT.sub(pad, sql)
    if _ESCAPED in out:  # `%%` is one `%`: inside an operator (pgvector's `<%%>`) the pad goes after the operator
        out = _ESCAPED_OP.sub(lambda m: "%" + m.group(1) + " ", out)
    if named:
        out = _NAMED.sub(lambda m: "$1" + " " * (len(m.group(0)) - 2), out)
    return out.replace(DYNAMIC, "x")


def _parse(text: str) -> tuple[dict[str, Any] | None, int, str]:
    """(parse tree as JSON, -1, "") or (None, error offset, parser message)."""
    from pglast import parser

    try:
        return json.loads(parser.parse_sql_json(text)), -1, ""
    except parser.ParseError as exc:
        message, pos = (exc.args + (None, None))[:2]
        return None, (len(text) if pos is None else int(pos)), str(message)


def _tokens(text: str) -> list[tuple[int, int, str]]:
    """(start, end exclusive, token name) of the scanner's tokens; [] when it cannot scan."""
    from pglast import parser

    try:
        return [(t.start, t.end + 1, t.name) for t in parser.scan(text)]
    except parser.ParseError:
        return []


def _blank(text: str, start: int, end: int, repl: str = "") -> str:
    """Replace text[start:end] by `repl` padded with spaces to the same length."""
    return text[:start] + repl.ljust(end - start) + text[end:]


def _walk(node: Any) -> Any:
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            yield cur
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)


def _prefix_qmarks(tree: dict[str, Any]) -> list[int]:
    """Locations of `?` used where PostgreSQL has no such operator (a prefix `?`, `=?` ...)."""
    out = []
    for node in _walk(tree):
        expr = node.get("A_Expr")
        if not isinstance(expr, dict):
            continue
        names = [n.get("String", {}).get("sval", "") for n in expr.get("name", [])]
        op = names[-1] if names else ""
        if "?" in op and ("lexpr" not in expr or op not in _PG_QMARK_OPS):
            out.append(int(expr.get("location", -1)))
    return [loc for loc in out if loc >= 0]


def _qmark_offsets(tokens: list[tuple[int, int, str]], text: str) -> list[int]:
    return [i for start, end, name in tokens if name == "Op" for i in range(start, end) if text[i] == "?"]


def _dialect(tokens: list[tuple[int, int, str]], text: str) -> list[tuple[SqlProblem, int, int, str]]:
    """SQLite/MySQL constructs: (problem, start, end, neutral replacement for re-parsing)."""
    found: list[tuple[SqlProblem, int, int, str]] = []
    words = [(s, e, n, text[s:e].lower()) for s, e, n in tokens if n not in {"SQL_COMMENT", "C_COMMENT"}]
    statement_start, ticks = True, 0
    for i, (start, end, name, word) in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else None
        nxt2 = words[i + 2] if i + 2 < len(words) else None
        if word in {"autoincrement", "auto_increment"}:
            spelled = "AUTOINCREMENT" if word == "autoincrement" else "AUTO_INCREMENT"
            where = "SQLite" if word == "autoincrement" else "MySQL"
            prev = [w[3] for w in words[max(0, i - 3): i]]
            fix = ((start, end, "GENERATED BY DEFAULT AS IDENTITY")
                   if {"integer", "int", "bigint", "smallint"} & set(prev) else None)
            found.append((SqlProblem(start, "MD004", f"{where}'s `{spelled}` does not exist in PostgreSQL: use "
                                     "`GENERATED BY DEFAULT AS IDENTITY` (or BIGSERIAL)", fix), start, end, ""))
        elif name == "Op" and "`" in text[start:end]:
            ticks += text[start:end].count("`")
            if ticks % 2 == 0:  # the closing one of a pair: the opening one was reported
                found.append((SqlProblem(start, "MD004", "", None), start, end, text[start:end].replace("`", '"')))
                continue
            found.append((SqlProblem(start, "MD004", "MySQL backtick-quoted identifier: PostgreSQL quotes "
                                     'identifiers with double quotes (`"name"`) or none'), start, end,
                          text[start:end].replace("`", '"')))
        elif word == "insert" and nxt and nxt[3] == "or" and nxt2 and nxt2[3] in {"replace", "ignore"}:
            advice = ("ON CONFLICT DO NOTHING" if nxt2[3] == "ignore" else "ON CONFLICT (...) DO UPDATE")
            found.append((SqlProblem(start, "MD004", f"SQLite's `INSERT OR {nxt2[3].upper()}`: PostgreSQL "
                                     f"writes INSERT ... {advice}"), nxt[0], nxt2[1], ""))
        elif statement_start and word == "replace" and nxt and nxt[3] == "into":
            found.append((SqlProblem(start, "MD004", "SQLite/MySQL `REPLACE INTO`: PostgreSQL writes INSERT ... "
                                     "ON CONFLICT (...) DO UPDATE"), start, end, "insert"))
        elif statement_start and word == "pragma":
            stop = next((s for s, _e, n, _w in words[i:] if n == "ASCII_59"), len(text))
            found.append((SqlProblem(start, "MD004", "SQLite's `PRAGMA` does not exist in PostgreSQL (settings: "
                                     "SET / ALTER ...; schema: information_schema)"), start, stop, "select 1"))
        elif word in {"datetime", "strftime", "julianday"} and nxt and nxt[2] == "ASCII_40":
            found.append((SqlProblem(start, "MD004", f"SQLite's `{word}()` does not exist in PostgreSQL: use "
                                     "now() / CURRENT_TIMESTAMP, to_char(), extract(epoch FROM ...)"),
                          start, end, word))
        statement_start = name == "ASCII_59"
    return found


@lru_cache(maxsize=4096)
def analyse(sql: str, *, dynamic: bool = False, named: bool = False, client_binds: bool = False,
            qmark: bool = False, dollar: bool = False) -> SqlAnalysis:
    """The problems PostgreSQL finds in one SQL text (see the module documentation). `client_binds`: the
    driver puts the values into the text itself (psycopg2), so a placeholder may stand where the grammar
    wants a literal or a list (`NOTIFY chan, %s`, `WHERE id IN %s` with a tuple). `qmark`: `?` is the driver's
    placeholder (ODBC's, which psqlODBC turns into PostgreSQL's `$n`): every one outside literals is a value.
    `dollar`: the driver sends the text as it is with `$1`, `$2`... (asyncpg)."""
    text = neutralize(sql, named=named, dollar=dollar)
    tokens = _tokens(text)
    if qmark:
        for pick in _qmark_offsets(tokens, text):
            text = _blank(text, pick, pick + 1, "0")
    problems: list[SqlProblem] = []
    for problem, start, end, repl in _dialect(tokens, text):
        if problem.message:
            problems.append(problem)
        text = _blank(text, start, end, repl)
    tree, err, message = _parse(text)
    # `?` placeholders: replace one at a time while that moves the parse error on
    candidates = _qmark_offsets(tokens, text)
    placeholders: list[int] = []
    while tree is None and candidates:
        # (a `?` glued after an operator is inside the token the error points at: `path=? WHERE`)
        reach = next((end - 1 for start, end, name in tokens if start <= err < end and name == "Op"), err)
        before = [c for c in candidates if c <= reach]
        if not before:
            break
        pick = before[-1]
        trial = _blank(text, pick, pick + 1, "0")
        t2, e2, m2 = _parse(trial)
        if t2 is None and e2 <= err:
            break
        candidates.remove(pick)
        placeholders.append(pick)
        text, tree, err, message = trial, t2, e2, m2
    if tree is not None:  # a `?` the parser took as an operator PostgreSQL does not have
        for loc in _prefix_qmarks(tree):
            after = next((c for c in candidates if c >= loc), None)
            if after is not None:
                candidates.remove(after)
                placeholders.append(after)
                text = _blank(text, after, after + 1, "0")
        if placeholders:
            tree, err, message = _parse(text)
    if tree is None and client_binds and ("%" in sql or (named and ":" in sql)):
        text, tree, err, message = _as_literals(sql, text, err, message, named=named)
    if dollar:  # `$1`, `$2`... in the order of the `?`s, when the text numbers none itself
        safe = DYNAMIC not in sql and not _DOLLAR.search(sql)
        for number, pick in enumerate(sorted(placeholders), 1):
            problems.append(SqlProblem(pick, "MD003", "SQLite placeholder `?`: PostgreSQL (asyncpg) uses $1, $2, ...",
                                       (pick, pick + 1, f"${number}") if safe else None))
    safe = "%" not in sql and DYNAMIC not in sql
    for pick in sorted(placeholders) if not dollar else ():
        problems.append(SqlProblem(pick, "MD003", "SQLite placeholder `?`: PostgreSQL (psycopg2) uses %s",
                                   (pick, pick + 1, "%s") if safe else None))
    if tree is None and not dynamic:
        problems.append(SqlProblem(min(err, len(sql)), "MD008", f"PostgreSQL cannot parse this SQL: {message}"))
    inserts = _inserts(tree, sql) if tree is not None else ()
    return SqlAnalysis(tuple(sorted(problems, key=lambda p: (p.offset, p.code))), inserts, tree is not None)


_DOLLAR = re.compile(r"\$\d")
_BEFORE_IN = re.compile(r"(?<![\w$])in(\s+)$", re.IGNORECASE)


def _as_literals(sql: str, text: str, err: int, message: str, *,
                 named: bool = False) -> tuple[str, dict[str, Any] | None, int, str]:
    """The parse of `text` with each placeholder the parser stops at written as psycopg2 sends its value:
    a parenthesized list after `IN` (a tuple), else a string literal. `named`: SQLAlchemy's `:name` binds
    too (it hands them to psycopg2 as `%(name)s`: `IN :ids` given a tuple). Offsets kept (the list takes the
    space before it). Returns (text, tree or None, error offset, message) for the last trial kept."""
    spans = {m.start(): m.end() for m in _PYFORMAT.finditer(sql) if m.group(0) != "%%"}
    if named:
        spans.update((m.start(), m.end()) for m in _NAMED.finditer(sql))
    tree: dict[str, Any] | None = None
    for _ in range(len(spans)):
        end = spans.get(err)
        if end is None:
            break
        trials = []
        before = _BEFORE_IN.search(text, max(0, err - 16), err)
        if before is not None:
            trials.append(_blank(text, before.start(1), end, "(0)"))
        trials.append(_blank(text, err, end, "''"))
        for trial in trials:
            t2, e2, m2 = _parse(trial)
            if t2 is not None or e2 >= end:
                text, tree, err, message = trial, t2, e2, m2
                break
        else:
            break
        if tree is not None:
            break
    return text, tree, err, message


def _inserts(tree: dict[str, Any], sql: str) -> tuple[Insert, ...]:
    out = []
    to_char = _char_offsets(sql)
    for raw in tree.get("stmts", []):
        base = int(raw.get("stmt_location", 0))
        for node in _walk(raw.get("stmt", {})):
            stmt = node.get("InsertStmt")
            if not isinstance(stmt, dict):
                continue
            rel = stmt.get("relation", {})
            loc = to_char(int(rel.get("location", base)))
            # (the words just before the table only: searched over the whole prefix, a script of a thousand
            # INSERTs was quadratic)
            handled = "onConflictClause" in stmt or bool(_SQLITE_INSERT.search(sql, max(0, loc - 256), loc))
            keyword = sql.lower().rfind("insert", 0, loc)
            out.append(Insert(keyword if keyword >= 0 else loc, str(rel.get("relname", "")), handled))
    return tuple(out)


_SQLITE_INSERT = re.compile(r"\b(?:REPLACE|INSERT\s+OR\s+\w+)\s+INTO\s*$", re.IGNORECASE)


def _char_offsets(text: str) -> Any:
    """A function from the parse tree's UTF-8 byte offsets to character offsets of `text`."""
    if text.isascii():
        return lambda offset: offset
    data = text.encode()
    return lambda offset: len(data[:offset].decode(errors="ignore"))


_SERIALS = frozenset({"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"})
# a default the database makes anew for each row: a sequence (pg_dump writes SERIAL as `DEFAULT nextval(...)`)
# or a random UUID
_GENERATING = frozenset({"nextval", "gen_random_uuid", "uuidv4", "uuidv7", "uuid_generate_v1", "uuid_generate_v1mc",
                         "uuid_generate_v4"})


def _generates(expr: Any) -> bool:
    """True when a default expression calls a function that makes a new value for each row."""
    for node in _walk(expr):
        call = node.get("FuncCall")
        if isinstance(call, dict) and (_names(call.get("funcname", [])) or [""])[-1].lower() in _GENERATING:
            return True
    return False


def _names(items: list[Any]) -> list[str]:
    return [str(i.get("String", {}).get("sval", "")) for i in items or []]


def tables_from_sql(sql: str, *, first_line: int = 1) -> dict[str, Any]:
    """Tables declared in a SQL text, read from PostgreSQL's parse tree: CREATE TABLE (columns,
    PRIMARY KEY / UNIQUE, identity and serial columns), ALTER TABLE ... ADD COLUMN / ADD CONSTRAINT,
    CREATE UNIQUE INDEX. DDL that PostgreSQL cannot parse (SQLite's) goes to the tolerant reader
    of `ddl.parse_ddl`."""
    from mosaic_diag.lint.ddl import Column, Table, parse_ddl
    from mosaic_diag.lint.sqltext import line_col, prepare_script

    tree, _err, _msg = _parse(neutralize(prepare_script(sql, templates=False)[0]))  # (a schema is often a psql script)
    if tree is None:
        return parse_ddl(sql, first_line=first_line)
    to_char = _char_offsets(sql)

    def line_of(loc: Any) -> int:
        return line_col(sql, to_char(int(loc or 0)))[0] + first_line - 1

    def column(col: dict[str, Any]) -> tuple[Any, tuple[str, ...] | None]:
        types = _names(col.get("typeName", {}).get("names", []))
        type_name = types[-1].lower() if types else ""
        constraints = [c.get("Constraint", {}) for c in col.get("constraints", [])]
        kinds = {c.get("contype") for c in constraints}
        unique = bool(kinds & {"CONSTR_PRIMARY", "CONSTR_UNIQUE"})
        generated = type_name in _SERIALS or "CONSTR_IDENTITY" in kinds or any(
            c.get("contype") == "CONSTR_DEFAULT" and _generates(c.get("raw_expr")) for c in constraints)
        name = str(col.get("colname", ""))
        return Column(name, type_name, line_of(col.get("location")), unique=unique, generated=generated), \
            ((name,) if unique else None)

    tables: dict[str, Table] = {}
    for raw in tree.get("stmts", []):
        stmt = raw.get("stmt", {})
        if "CreateStmt" in stmt:
            node = stmt["CreateStmt"]
            columns, keys = [], []
            for elt in node.get("tableElts", []):
                if "ColumnDef" in elt:
                    col, key = column(elt["ColumnDef"])
                    columns.append(col)
                    if key:
                        keys.append(key)
                elif elt.get("Constraint", {}).get("contype") in {"CONSTR_PRIMARY", "CONSTR_UNIQUE"}:
                    keys.append(tuple(_names(elt["Constraint"].get("keys", []))))
            rel = node.get("relation", {})
            name = str(rel.get("relname", ""))
            tables[name] = Table(name, line_of(rel.get("location")), tuple(columns), tuple(keys))
        elif "AlterTableStmt" in stmt:
            node = stmt["AlterTableStmt"]
            name = str(node.get("relation", {}).get("relname", ""))
            table = tables.get(name)
            if table is None:
                continue
            for cmd in node.get("cmds", []):
                cmd = cmd.get("AlterTableCmd", {})
                definition = cmd.get("def", {})
                if (cmd.get("subtype") == "AT_ColumnDefault" and _generates(definition)) \
                        or cmd.get("subtype") == "AT_AddIdentity":
                    table = Table(table.name, table.line, tuple(
                        replace(c, generated=True) if c.name == cmd.get("name") else c for c in table.columns),
                        table.unique_keys)
                elif cmd.get("subtype") == "AT_AddColumn" and "ColumnDef" in definition:
                    col, key = column(definition["ColumnDef"])
                    table = Table(table.name, table.line, table.columns + (col,),
                                  table.unique_keys + ((key,) if key else ()))
                elif definition.get("Constraint", {}).get("contype") in {"CONSTR_PRIMARY", "CONSTR_UNIQUE"}:
                    key = tuple(_names(definition["Constraint"].get("keys", [])))
                    table = Table(table.name, table.line, table.columns, table.unique_keys + (key,))
            tables[name] = table
        elif "IndexStmt" in stmt and stmt["IndexStmt"].get("unique"):
            node = stmt["IndexStmt"]
            name = str(node.get("relation", {}).get("relname", ""))
            table = tables.get(name)
            if table is None:
                continue
            key = tuple(str(p.get("IndexElem", {}).get("name") or "(expression)") for p in node.get("indexParams", []))
            tables[name] = Table(table.name, table.line, table.columns, table.unique_keys + (key,))
    return tables
