"""The code rules (`mosaic-diag lint`) over the repository's Python files, as one check."""

from __future__ import annotations

from collections.abc import Iterator

from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message

IDS = (
    CheckId("MD-LINT001", "error", "A code rule is violated (see `mosaic-diag lint --list-rules`)",
            "fix it, or silence one line with `# noqa: CODE`"),
    CheckId("MD-LINT002", "error", "A Python file does not parse", "fix the syntax error"),
    CheckId("MD-LINT003", "warning", "MD007 cannot judge INSERTs: no schema was found",
            "set lint.schema (or keep schema.sql / migrations/*.sql in the repository)"),
)
_LABELS = {"MD001": "CONN_MISUSE", "MD002": "CONN_MISUSE", "MD003": "SQL_DIALECT_ERROR",
           "MD004": "SQL_DIALECT_ERROR", "MD007": "DUPLICATE_KEY", "MD008": "SQL_DIALECT_ERROR"}


def run(ctx: CheckContext) -> Iterator[Message]:
    from mosaic_diag.lint.engine import lint_paths, schema_tables, select_rules
    from mosaic_diag.lint.settings import lint_settings

    settings = lint_settings(ctx.config)
    result = lint_paths([ctx.root / p for p in settings.paths], rules=select_rules(settings.select, settings.ignore),
                        tables=schema_tables(settings.schema_files), conn_factories=settings.conn_factories,
                        cache_dir=settings.cache_dir)
    if settings.schema_note and result.unknown_tables:
        yield Message("MD-LINT003", f"{settings.schema_note} ({len(result.unknown_tables)} INSERTs, first "
                                    f"{_rel(ctx, result.unknown_tables[0])})")
    for failure in result.failures:
        yield Message("MD-LINT002", f"{failure.message}", location=f"{_rel(ctx, failure.path)}:{failure.line}:1")
    for f in result.findings:
        yield Message("MD-LINT001", f"{f.code} {f.message}", location=f"{_rel(ctx, f.path)}:{f.line}:{f.col}",
                      label=_LABELS.get(f.code))


def _rel(ctx: CheckContext, path: str) -> str:
    try:
        from pathlib import Path

        return str(Path(path).resolve().relative_to(ctx.root.resolve()))
    except ValueError:
        return path


CHECK = Check("lint", ("lint", "code"), IDS, run, "The code rules hold over the repository.")
