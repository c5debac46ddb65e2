"""`mosaic-diag classify TEXT`: label one error message or traceback, optionally explained."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from mosaic_diag.commands._options import FormatOption, OutputFormat


def classify(
    text: Annotated[str, typer.Argument(help="An exception line, a log message, or - to read a "
                                             "traceback from stdin.")],
    explain: Annotated[bool, typer.Option("--explain", "-e",
                                          help="Say which rule matched on which text.")] = False,
    logger: Annotated[str | None, typer.Option(help="The logger that logged it.")] = None,
    rules: Annotated[Path | None, typer.Option(help="A rules file that extends the taxonomy.")] = None,
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """Classify one error (exit 0; UNKNOWN_ERROR when no rule matches)."""
    from mosaic_diag.classifier.classify import Classifier
    from mosaic_diag.platform.redact import redact_excerpt

    if text == "-":
        from mosaic_diag.logs.source import read_paste, stdin_bytes

        text = read_paste(stdin_bytes())  # (stdin closed, `<&-`: a one-line error); a piped log: its start and end
    if not text.strip():
        from mosaic_diag.errors import UsageError

        raise UsageError("nothing to classify: the text is empty")
    result = Classifier.default(rules).classify_text(text, logger=logger)
    data = result.to_dict()
    data["message"] = redact_excerpt(data["message"], text)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif fmt is OutputFormat.markdown:
        sys.stdout.write(f"**{result.label}** ({result.category}, {result.severity})\n")
        if explain:
            sys.stdout.write(f"\n{result.explanation}\n")
    else:
        from rich.markup import escape

        from mosaic_diag.render.console import SEVERITY_STYLE, out

        style = SEVERITY_STYLE.get(result.severity, "")
        out().print(f"[bold]{escape(result.label)}[/]  {escape(result.category)}  [{style}]{result.severity}[/]"
                    f"  retryable={'yes' if result.retryable else 'no'}")
        if explain:
            if result.rule_id is None:
                out().print("no rule matched: UNKNOWN_ERROR (grouped by fingerprint)")
            else:
                # the text and a rules file's ids are the user's: shown as they are, never read as markup
                out().print(f"rule [bold]{escape(str(result.rule_id))}[/] ({escape(str(result.rule_source))})")
                for hit in result.hits:
                    out().print(escape(f"  {hit.key}: {redact_excerpt(hit.text, text)!r} in {hit.where}"))
    return 0


def register(app: typer.Typer) -> None:
    app.command("classify")(classify)
