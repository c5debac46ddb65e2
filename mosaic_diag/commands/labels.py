"""`mosaic-diag labels`: the taxonomy, with categories, severities and aliases."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from mosaic_diag.commands._options import FormatOption, OutputFormat

# (a table keeps its Description this wide: narrower, it drops Aliases, Retry and Category, in that order, and
# below about 72 columns it is printed as `Header: value` lines; README "labels")
DESCRIPTION_WIDTH = 30


def labels(
    category: Annotated[str | None, typer.Option("--category", "-c", help="Only this category.")] = None,
    rules: Annotated[Path | None, typer.Option(help="A rules file that extends the taxonomy.")] = None,
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """List every label of the taxonomy."""
    from mosaic_diag.classifier.taxonomy import CATEGORIES, load_taxonomy
    from mosaic_diag.errors import UsageError

    tax = load_taxonomy(rules)
    if category is not None and category not in CATEGORIES:
        raise UsageError(f"unknown category {category!r} (known: {', '.join(CATEGORIES)})")
    rows = [lab for lab in tax.labels.values() if category in (None, lab.category)]
    rules_per_label: dict[str, int] = {}
    for rule in tax.rules:
        rules_per_label[rule.label] = rules_per_label.get(rule.label, 0) + 1
    if fmt is OutputFormat.json:
        data = [{**lab.to_dict(), "rules": rules_per_label.get(lab.name, 0)} for lab in rows]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif fmt is OutputFormat.markdown:
        from mosaic_diag.platform.mdtext import md_code, md_text

        sys.stdout.write("| Label | Category | Severity | Retryable | Aliases | Description |\n"
                         "|---|---|---|---|---|---|\n")
        for lab in rows:  # a rules file's description is text, never markup (a `|` split its row)
            aliases = ", ".join(md_code(a, table=True) for a in lab.aliases)
            sys.stdout.write(f"| {md_code(lab.name, table=True)} | {md_text(lab.category)} | {md_text(lab.severity)} | "
                             f"{'yes' if lab.retryable else 'no'} | {aliases} | {md_text(lab.description)} |\n")
    else:
        from rich.table import Table
        from rich.text import Text

        from mosaic_diag.render.console import SEVERITY_STYLE, out, print_table

        table = Table(title=f"{len(rows)} labels", title_justify="left")
        for name in ("Label", "Category", "Severity", "Retry", "Aliases"):
            table.add_column(name, overflow="fold")
        table.add_column("Description", overflow="fold", min_width=DESCRIPTION_WIDTH)
        for lab in rows:  # a rules file's text is text, never Rich markup
            table.add_row(Text(lab.name), Text(lab.category), Text(lab.severity, SEVERITY_STYLE.get(lab.severity, "")),
                          "yes" if lab.retryable else "no", Text(", ".join(lab.aliases)), Text(lab.description))
        print_table(out(), table, optional=("Aliases", "Retry", "Category"))
    return 0


def register(app: typer.Typer) -> None:
    app.command("labels")(labels)
