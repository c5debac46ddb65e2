"""Configuration: keys of the config file that no command reads (a typo would be ignored silently)."""

from __future__ import annotations

from collections.abc import Iterator

from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message
from mosaic_diag.config import unknown_keys

IDS = (
    CheckId("MD-CONFIG001", "warning", "A configuration key is not known (a typo is otherwise ignored)",
            "fix the key's name; README > Configuration lists every key"),
)


def run(ctx: CheckContext) -> Iterator[Message]:
    source = ctx.config.source
    shown = source.name if source else "config"
    unknown, more = unknown_keys(ctx.config)
    for key in unknown:
        near = f": did you mean {key.suggestion!r}?" if key.suggestion else ""
        yield Message("MD-CONFIG001", f"unknown configuration key {key.key!r}{near}",
                      location=f"{shown}:{key.line}:1" if key.line else shown)
    if more:
        yield Message("MD-CONFIG001", f"{more:,} more unknown configuration keys", location=shown)


CHECK = Check("config", ("config",), IDS, run, "Every key of the config file is one that is read.")
