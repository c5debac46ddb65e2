"""Options shared by every command."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer


class OutputFormat(str, Enum):
    """How a command renders its report."""

    table = "table"
    json = "json"
    markdown = "markdown"


FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", case_sensitive=False, help="table (default), json or markdown."),
]
