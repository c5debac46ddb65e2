"""Settings: the environment variables the app needs (values are never read out, only presence)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mosaic_diag.checks.advice import env_facts
from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message

_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")  # the names the playbooks' env.<NAME>.set facts take
DEFAULT_REQUIRED = ("DATABASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY|CLAUDE_API_KEY")

IDS = (
    CheckId("MD-ENV001", "error", "A required environment variable is not set",
            "set it in the Render dashboard (Environment) or the service's env group; configure the list with "
            "predeploy.required_env (alternatives as `A|B`)"),
    CheckId("MD-ENV002", "warning", "A variable is set but blank or wrapped in quotes",
            "remove the surrounding whitespace or quotes: they become part of the value"),
)


def run(ctx: CheckContext) -> Iterator[Message]:
    required = ctx.config.get("predeploy.required_env", list(DEFAULT_REQUIRED))
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ctx.config.error("predeploy.required_env", f"must be a list of strings, got {required!r}")
    checked = [n.strip() for entry in required for n in entry.split("|") if _ENV_NAME.match(n.strip())]
    for entry in required:
        names = [n.strip() for n in entry.split("|") if n.strip()]
        present = [n for n in names if ctx.env.get(n) is not None]
        if not any(ctx.env.get(n, "").strip() for n in names):
            shown = " or ".join(names)
            if present:
                yield Message("MD-ENV002", f"{shown} is set but blank", level="error", label="ENV_VAR_MISSING",
                              facts=env_facts(ctx.env, checked))
            else:
                yield Message("MD-ENV001", f"{shown} is not set", label="ENV_VAR_MISSING",
                              facts=env_facts(ctx.env, checked))
            continue
        for name in present:
            value = ctx.env[name]
            if value != value.strip() or (len(value) > 1 and value[0] == value[-1] and value[0] in "'\""):
                yield Message("MD-ENV002", f"{name} has surrounding whitespace or quotes")


CHECK = Check("settings", ("settings", "env"), IDS, run, "Required environment variables are set.")
