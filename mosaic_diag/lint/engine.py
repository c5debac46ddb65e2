"""Run the code rules over sources: parse, collect the declared tables, apply rules and suppressions.

Light on purpose (the pre-commit hook starts an interpreter per commit): stdlib only.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mosaic_diag.errors import UsageError
from mosaic_diag.lint.context import FileContext
from mosaic_diag.lint.ddl import Table, parse_ddl
from mosaic_diag.lint.model import Finding, LintResult, ParseFailure, Rule
from mosaic_diag.lint.rules import all_rules

SKIP_DIRS = frozenset({".git", ".hg", ".venv", "venv", "env", ".env", "node_modules", "__pycache__", ".tox",
                       ".nox", ".mypy_cache", ".ruff_cache", ".pytest_cache", "build", "dist", "site-packages"})


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


def discover(paths: Sequence[Path]) -> list[Path]:
    """The Python files under `paths` (files given explicitly are taken whatever their name)."""
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
            continue
        if not path.exists():
            raise UsageError("no such file or directory", path=str(path))
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
            found.extend(Path(dirpath) / f for f in sorted(filenames) if f.endswith(".py"))
    return found


def read_sources(files: Sequence[Path]) -> list[Source]:
    out = []
    for path in files:
        try:
            out.append(Source(str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read: {exc}", path=str(path)) from exc
    return out


def schema_tables(files: Iterable[Path]) -> dict[str, Table]:
    """Tables declared in SQL files (missing files are skipped: the schema is optional to lint)."""
    tables: dict[str, Table] = {}
    for path in files:
        try:
            tables.update(parse_ddl(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return tables


def _ddl_in_tree(tree: ast.Module) -> dict[str, Table]:
    tables: dict[str, Table] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "CREATE" in node.value.upper() \
                and "TABLE" in node.value.upper():
            tables.update(parse_ddl(node.value, first_line=node.lineno))
    return tables


def lint_sources(sources: Sequence[Source], *, rules: Sequence[Rule] | None = None,
                 tables: Mapping[str, Table] | None = None,
                 conn_factories: Iterable[str] = ("get_conn",)) -> LintResult:
    """Lint in-memory sources (the hook passes staged blobs; the CLI passes files)."""
    rules = select_rules() if rules is None else rules
    factories = frozenset(conn_factories)
    parsed: list[tuple[Source, ast.Module]] = []
    failures: list[ParseFailure] = []
    known: dict[str, Table] = dict(tables or {})
    for src in sources:
        try:
            tree = ast.parse(src.text, filename=src.path)
        except SyntaxError as exc:
            failures.append(ParseFailure(src.path, exc.lineno or 1, exc.msg))
            continue
        except ValueError as exc:  # source with NUL bytes
            failures.append(ParseFailure(src.path, 1, str(exc)))
            continue
        parsed.append((src, tree))
        if "TABLE" in src.text.upper():
            for name, table in _ddl_in_tree(tree).items():
                known.setdefault(name, table)
    findings: list[Finding] = []
    for src, tree in parsed:
        ctx = FileContext(src.path, src.text, tree, tables=known, conn_factories=factories)
        for rule in rules:
            for hit in rule.check(ctx):
                first, last = ctx.statement_span(hit.node)
                line = hit.line if hit.line is not None else first
                col = hit.col if hit.col is not None else getattr(hit.node, "col_offset", 0) + 1
                if ctx.suppressed(rule.code, min(first, line), max(last, line)):
                    continue
                findings.append(Finding(src.path, line, col, rule.code, hit.message, rule.name))
    return LintResult(tuple(sorted(set(findings))), tuple(failures), len(sources))


def lint_paths(paths: Sequence[Path], **kwargs: object) -> LintResult:
    """Lint the Python files under `paths`."""
    return lint_sources(read_sources(discover(paths)), **kwargs)  # type: ignore[arg-type]
