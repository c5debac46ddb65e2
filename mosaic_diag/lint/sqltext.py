"""Small, dependency-free helpers over SQL text: blank out literals and comments, find tokens.

Blanking keeps every offset (each removed character becomes a space, newlines stay), so a
match in the blanked text maps back to a line and column of the original.
"""

from __future__ import annotations

import re

_QUOTED_OR_COMMENT = re.compile(
    r'"(?:[^"]|"")*"?'          # "identifier": kept as written, its ' or -- neither a string nor a comment
    r"|'(?:[^']|'')*'?"         # 'string' ('' escapes; an unterminated one runs to the end)
    r"|\$(?P<tag>[A-Za-z_]*)\$.*?(?:\$(?P=tag)\$|\Z)"  # $$dollar quoted$$
    r"|--[^\n]*"                # -- comment
    r"|/\*.*?(?:\*/|\Z)",       # /* comment */
    re.DOTALL,
)


def _blank(match: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def blank_literals(sql: str) -> str:
    """The SQL with string literals and comments replaced by spaces (offsets kept; quoted identifiers kept)."""
    return _QUOTED_OR_COMMENT.sub(lambda m: m.group(0) if m.group(0).startswith('"') else _blank(m), sql)


def blank_comments(sql: str) -> str:
    """The SQL with only comments replaced by spaces (string literals kept, offsets kept)."""
    def repl(m: re.Match[str]) -> str:
        text = m.group(0)
        return _blank(m) if text.startswith(("--", "/*")) else text

    return _QUOTED_OR_COMMENT.sub(repl, sql)


# one SQL identifier: quoted (`""` is a `"` inside it) or plain
IDENT = r"(?:\"(?:[^\"]|\"\")+\"|[\w$]+)"
_INSERT = re.compile(rf"\bINSERT\s+(?:OR\s+\w+\s+)?INTO\s+(?P<table>{IDENT}(?:\.{IDENT})?)", re.IGNORECASE)
_ON_CONFLICT = re.compile(r"\bON\s+CONFLICT\b", re.IGNORECASE)
_INSERT_OR = re.compile(r"\bINSERT\s+OR\b", re.IGNORECASE)


def insert_targets(sql: str) -> list[tuple[int, str, bool]]:
    """(offset, table, has ON CONFLICT or INSERT OR ...) for each INSERT in the SQL text."""
    text = blank_literals(sql)
    out = []
    for m in _INSERT.finditer(text):
        # the statement runs to the next `;` (or the end)
        end = text.find(";", m.end())
        stmt = text[m.start(): end if end >= 0 else len(text)]
        handled = bool(_ON_CONFLICT.search(stmt) or _INSERT_OR.match(stmt))
        out.append((m.start(), normalize_name(m.group("table")), handled))
    return out


NAME_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1: a longer identifier is cut to this many bytes
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def pg_identifier(name: str, *, quoted: bool) -> str:
    """The name PostgreSQL gives an identifier written `name` (without its quotes): unquoted, only ASCII
    A-Z fold to lower case (a UTF-8 database keeps `É`, Python's lower() did not); quoted, `""` is one `"`;
    either way cut to 63 bytes, never inside a character (as the server does, with a NOTICE)."""
    name = name.replace('""', '"') if quoted else name.translate(_ASCII_LOWER)
    raw = name.encode("utf-8")
    return name if len(raw) <= NAME_BYTES else raw[:NAME_BYTES].decode("utf-8", errors="ignore")


def normalize_name(name: str) -> str:
    """`"Public"."Users"` -> `Users`: the last part as PostgreSQL names it (`pg_identifier`); schema dropped."""
    parts = re.findall(r"\"((?:[^\"]|\"\")+)\"|([\w$]+)", name)
    folded = [pg_identifier(quoted, quoted=True) if quoted else pg_identifier(plain, quoted=False)
              for quoted, plain in parts]
    return folded[-1] if folded else name


_TEMPLATE_FIELD = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|\{[^{}\n]*\}", re.DOTALL)
_META_COMMAND = re.compile(r"\\[^\n]*")


def prepare_script(sql: str, *, templates: bool = True) -> tuple[str, bool]:
    """A `.sql` file's text as the server would receive it, every offset kept: psql's backslash
    meta-commands (`\\i file`, `\\connect db`, `\\gexec`: to the end of their line) end the statement
    before them and are blanked; the rows that follow a `COPY ... FROM stdin;` up to its `\\.` line (pg_dump's
    data: psql sends them as data, not SQL) are blanked; the fields of a template (`{name}` of str.format,
    Jinja's `{{ x }}`, `{% ... %}`) become an identifier. PostgreSQL has no `\\` nor `{` outside literals and
    comments, so neither touches SQL. Returns (text, whether it had template fields); `templates=False`
    leaves the fields (a table named by one is no table of the schema)."""
    if "@ext" in sql:  # an extension script: CREATE EXTENSION puts the schema (the owner) in first
        sql = _EXTENSION_FIELD.sub(lambda m: "x" * len(m.group(0)), sql)
    if "\\" not in sql and ("{" not in sql or not templates) and ":'" not in sql and ':"' not in sql:
        return sql, False
    if "\\." in sql:
        sql = _blank_copy_data(sql)
    scan = blank_literals(sql)
    out = list(sql)
    templated = False
    for m in _TEMPLATE_FIELD.finditer(scan) if templates else ():
        templated = True
        out[m.start(): m.end()] = list("x" + re.sub(r"[^\n]", " ", m.group(0)[1:]))
    # psql's variables: `:'name'` (a literal) and `:"name"` (an identifier) anywhere, `:name` in a psql script
    # (one with meta-commands: `\\set`, `\\if`, `\\gset`); psql puts the value in before the server reads it
    psql = "\\" in sql and _META_COMMAND.search(scan) is not None
    for m in _PSQL_VARIABLE.finditer(scan) if ":" in scan else ():
        if sql[m.end(): m.end() + 1] in {"'", '"'}:
            out[m.start()] = " "
        elif psql and _NAME_START.match(scan, m.end()):
            out[m.start()] = "x"
    for m in _META_COMMAND.finditer(scan):  # (after: a variable inside one goes with it)
        out[m.start(): m.end()] = list(";" + " " * (m.end() - m.start() - 1))
    return "".join(out), templated


_EXTENSION_FIELD = re.compile(r"@extschema(?::\w+)?@|@extowner@")
_PSQL_VARIABLE = re.compile(r"(?<![:\w]):(?!:)")
_NAME_START = re.compile(r"[A-Za-z_]")


_FIELD_NAME = re.compile(r"\{\{?\s*([A-Za-z_]\w*)")


def template_fields(sql: str) -> list[tuple[int, int, str]]:
    """(start, end, leading name or "") of the template fields outside literals and comments (`{powa}`,
    `{0}`, `{name.attr}`, Jinja's `{{ x }}`)."""
    if "{" not in sql:
        return []
    out = []
    for m in _TEMPLATE_FIELD.finditer(blank_literals(sql)):
        name = _FIELD_NAME.match(m.group(0))
        out.append((m.start(), m.end(), name.group(1) if name else ""))
    return out


_COPY_FROM_STDIN = re.compile(r"\bCOPY\b[^;]*?\bFROM\s+STDIN\b[^;]*;[ \t]*(?:--[^\n]*)?\r?\n", re.IGNORECASE)
_END_OF_COPY_DATA = re.compile(r"^\\\.[ \t]*\r?$", re.MULTILINE)


def _blank_copy_data(sql: str) -> str:
    """`sql` with the data rows of each `COPY ... FROM stdin;` (up to its `\\.` line, which stays) blanked.
    Each piece of text between two data blocks is scanned for literals once (linear in the text: a dump holds
    many blocks), so a COPY inside a literal or a comment starts none."""
    out: list[str] = []
    done = 0  # the text before this is in `out`
    for m in _COPY_FROM_STDIN.finditer(sql):
        if m.start() < done:
            continue
        piece = sql[done: m.end()]
        if blank_literals(piece)[m.start() - done: m.start() - done + 4].upper() != "COPY":
            continue  # in a literal or a comment
        end = _END_OF_COPY_DATA.search(sql, m.end())
        stop = end.start() if end is not None else len(sql)
        out.append(piece)
        out.append(re.sub(r"[^\n]", " ", sql[m.end(): stop]))
        done = stop
    out.append(sql[done:])
    return "".join(out)


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of an offset in a text."""
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def looks_like_sql(text: str) -> bool:
    """A cheap test: does this string start like a SQL statement?"""
    return bool(_SQL_START.match(text))


_SQL_START = re.compile(
    r"(?:\s|--[^\n]*\n|/\*.*?\*/|\()*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|WITH|PRAGMA|REPLACE|MERGE|"
    r"TRUNCATE|GRANT|REVOKE|BEGIN|START|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET|RESET|SHOW|EXPLAIN|ANALYZE|VACUUM|"
    r"COPY|LOCK|DO|CALL|COMMENT|VALUES|TABLE|LISTEN|NOTIFY|DECLARE|FETCH|CLOSE|PREPARE|EXECUTE|DEALLOCATE|"
    r"REFRESH|REINDEX|CLUSTER|DISCARD|ABORT|END|UPSERT|SEL)\b",
    re.IGNORECASE | re.DOTALL)
