"""The import layers of ../shared/design.md and docs/architecture.md: no package imports one above it,
and the core imports neither Typer nor Rich. Every import counts, the lazy ones inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mosaic_diag"

# Lowest first; a package may import its own layer and those below.
LAYERS: list[set[str]] = [
    {"", "errors", "config"},
    {"platform"},
    {"classifier"},
    {"logs"},
    {"triage"},
    {"manifest"},
    {"rollback"},
    {"playbooks"},
    {"plans"},
    {"checks", "lint", "golden", "deploy", "watch"},
    {"render"},
    {"commands"},
    {"cli", "__main__", "entry"},
]
# The kit the app imports sits beside the core: it may use only these (and itself).
RUNTIME_MAY_USE = {"", "errors", "config", "platform", "classifier", "runtime"}
RUNTIME_LAYER = 9  # who may import it: checks, deploy and above
UI_PACKAGES = {"commands", "render", "cli", "__main__", "entry"}


def layer_of(part: str) -> int:
    if part == "runtime":
        return RUNTIME_LAYER
    for i, names in enumerate(LAYERS):
        if part in names:
            return i
    raise AssertionError(f"package mosaic_diag.{part} is in no layer: add it to LAYERS (and docs/architecture.md)")


def top_part(module: str) -> str:
    """`mosaic_diag.triage.run` -> "triage"; `mosaic_diag` -> ""."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def module_name(path: Path, root: Path = PACKAGE.parent) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path = PACKAGE.parent) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = module_name(path, root).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            if module == "mosaic_diag":  # `from mosaic_diag import gitops` names a package
                found.extend((node.lineno, f"mosaic_diag.{alias.name}") for alias in node.names
                             if (PACKAGE / alias.name).exists() or (PACKAGE / f"{alias.name}.py").exists())
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_package_has_a_layer() -> None:
    parts = {top_part(module_name(p)) for p in SOURCES}
    for part in parts:
        layer_of(part)


def upward_imports(files: list[Path], root: Path = PACKAGE.parent) -> list[str]:
    problems = []
    for path in files:
        mine = top_part(module_name(path, root))
        my_layer = layer_of(mine)
        for line, target in imports_of(path, root):
            if not target.startswith("mosaic_diag"):
                continue
            theirs = top_part(target)
            if theirs == mine:
                continue
            ok = theirs in RUNTIME_MAY_USE if mine == "runtime" else layer_of(theirs) <= my_layer
            if not ok:
                problems.append(f"{path.relative_to(root)}:{line}: mosaic_diag.{mine or '(root)'} "
                                f"imports {target} (a higher layer)")
    return problems


def test_no_package_imports_a_higher_layer() -> None:
    problems = upward_imports(SOURCES)
    assert not problems, "\n".join(problems)


def test_the_core_imports_neither_typer_nor_rich() -> None:
    problems = []
    for path in SOURCES:
        if top_part(module_name(path)) in UI_PACKAGES:
            continue
        for line, target in imports_of(path):
            if target.split(".")[0] in {"typer", "rich", "click"}:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line}: imports {target}")
    assert not problems, "\n".join(problems)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The guard itself: a planted core module that imports the playbooks is reported."""
    planted = tmp_path / "mosaic_diag" / "triage" / "planted.py"
    planted.parent.mkdir(parents=True)
    planted.write_text("import json\n\ndef f():\n    from mosaic_diag.playbooks import plan_for\n"
                       "    from ..classifier import Classifier\n    return plan_for, Classifier\n")
    assert upward_imports([planted], tmp_path) == [
        "mosaic_diag/triage/planted.py:4: mosaic_diag.triage imports mosaic_diag.playbooks (a higher layer)"]


@pytest.mark.parametrize("mine,theirs,ok", [("runtime", "classifier", True), ("runtime", "triage", False),
                                            ("logs", "classifier", True), ("classifier", "logs", False)])
def test_layer_rules(mine: str, theirs: str, ok: bool) -> None:
    allowed = theirs in RUNTIME_MAY_USE if mine == "runtime" else layer_of(theirs) <= layer_of(mine)
    assert allowed is ok
