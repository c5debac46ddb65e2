"""Render: the service this repository deploys to, when one is configured (RENDER_SERVICE_ID and
RENDER_API_KEY, or `render.*`). A `render-api` rollback turns the service's autodeploy off so that the
next push does not undo it, and nothing turns it back on: from then on a plain `git push` deploys
nothing. This check says so before the push, with the rollback from the audit log that turned it off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message, Skip
from mosaic_diag.errors import DiagError

IDS = (
    CheckId("MD-RENDER001", "warning", "Render autodeploy is off: a plain `git push` deploys nothing",
            "turn Auto-Deploy back on in the service's settings on Render once the rollback that turned it off "
            "is settled (`mosaic-diag deploy --resume-autodeploy` does it after a good deploy), or deploy with "
            "`mosaic-diag deploy` (it asks Render to deploy the commit)"),
    CheckId("MD-RENDER002", "warning", "The Render service could not be read (key, service id or API down)",
            "check RENDER_API_KEY and RENDER_SERVICE_ID (or render.service_id, render.api_url)"),
)
AUDIT_TAIL = 1 << 20  # the last MB of the audit log is read for the rollback that turned autodeploy off


def _rollback_that_turned_it_off(path: Path) -> dict[str, Any] | None:
    """The newest `render-api` rollback of the audit log that found autodeploy on (and so turned it off)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - AUDIT_TAIL))
            lines = fh.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        entry = _json_object(line)
        if entry is not None and entry.get("action") == "rollback" and entry.get("strategy") == "render-api" \
                and entry.get("autodeploy_before") == "yes" and entry.get("result") == "done":
            return entry
    return None


def _json_object(line: str) -> dict[str, Any] | None:
    """One audit line as an object; None for a cut or foreign line (the tail read may start mid-line)."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def run(ctx: CheckContext) -> Iterator[Message]:
    from mosaic_diag.platform.render_api import RenderApi, render_target_from

    target, missing = render_target_from(ctx.config, ctx.env)
    if target is None:
        raise Skip(f"no Render service configured ({' and '.join(missing)} not set)")
    try:
        service = RenderApi(target, timeout=max(1.0, ctx.timeout * 0.9)).get_service()
    except DiagError as exc:
        yield Message("MD-RENDER002", str(exc), exc=exc)
        return
    if str(service.get("autoDeploy", "yes")).lower() == "yes":
        return
    name = service.get("name") or target.service_id
    audit = ctx.config.path("audit_log", ".mosaic-diag/audit.log")
    entry = _rollback_that_turned_it_off(audit) if audit is not None else None
    why = (f": turned off by the render-api rollback to {str(entry.get('to') or '?')[:12]} on "
           f"{entry.get('when', '?')} by {entry.get('who', '?')} ({audit})") if entry else ""
    yield Message("MD-RENDER001", f"autodeploy of Render service {name} is off{why}")


CHECK = Check("render", ("render", "deploy"), IDS, run,
              "The Render service: its autodeploy (a render-api rollback leaves it off).")
