"""Options shared by every command."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


class OutputFormat(str, Enum):
    """How a command renders its report."""

    table = "table"
    json = "json"
    markdown = "markdown"


class ReportFormat(str, Enum):
    """The formats of the commands that also write a self-contained HTML report."""

    table = "table"
    json = "json"
    markdown = "markdown"
    html = "html"


FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", case_sensitive=False, help="table (default), json or markdown."),
]


QuietOption = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress display on stderr (it is drawn only on a terminal)."),
]

ReportFormatOption = Annotated[
    ReportFormat,
    typer.Option("--format", "-f", case_sensitive=False,
                 help="table (default), json, markdown or html (one self-contained file; see -o)."),
]

OutputFileOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="With --format html: write the report to this file "
                 "(atomically; default: stdout)."),
]
