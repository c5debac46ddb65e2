"""The code rules, one per module (`MD<nnn>_<name>.py`); the class docstring is the rule's documentation."""

from __future__ import annotations

from importlib import import_module

from mosaic_diag.lint.model import Rule

_MODULES = (
    ("MD001_conn_outside_with", "ConnOutsideWith"),
    ("MD002_conn_execute", "ConnExecute"),
    ("MD003_sqlite_placeholder", "SqlitePlaceholder"),
    ("MD004_sqlite_ddl", "SqliteOnlySql"),
    ("MD005_sql_injection", "SqlStringBuilding"),
    ("MD006_swallowed_exception", "SwallowedException"),
    ("MD007_insert_without_on_conflict", "InsertWithoutOnConflict"),
    ("MD008_sql_syntax", "SqlSyntaxError"),
)


def all_rules() -> tuple[type[Rule], ...]:
    """Every rule class, in code order."""
    return tuple(getattr(import_module(f"{__name__}.{mod}"), cls) for mod, cls in _MODULES)
