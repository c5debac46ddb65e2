"""Executors: the only code that performs an action's Effect (called only for `--execute`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from mosaic_diag.errors import DiagError
from mosaic_diag.platform.atomic import read_state, write_atomic
from mosaic_diag.platform.mdtext import md_code, md_fence, md_text
from mosaic_diag.platform.redact import redact_dsn, redact_text
from mosaic_diag.platform.terminal import neutralize_controls
from mosaic_diag.playbooks.model import Effect, Plan
from mosaic_diag.playbooks.settings import PlaybookSettings

log = logging.getLogger("mosaic_diag.playbooks")
HTTP_TIMEOUT = 10.0




def _post(effect: Effect, plan: Plan, settings: PlaybookSettings) -> tuple[bool, str]:
    """The webhook POST: retried with backoff, signed when a secret is set, keyed for dedup by the
    playbook and the incident (platform.webhook); a failure is reported, never raised."""
    from mosaic_diag.platform.webhook import post_webhook
    from mosaic_diag.playbooks.planner import incident_fingerprint

    url = effect.target or ""
    if not url.startswith(("http://", "https://")):
        return False, f"webhook URL must be http(s): {redact_dsn(url)}"
    fmt = settings.webhook_format if settings.webhook_format in ("auto", "slack", "json") else "auto"
    delivery = post_webhook(url, dict(effect.payload), secret=settings.webhook_secret,
                            dedup_key=f"{plan.playbook}|{incident_fingerprint(plan)}", fmt=fmt)
    tries = f" after {delivery.attempts} attempts" if delivery.attempts > 1 and delivery.ok else ""
    return delivery.ok, redact_text(delivery.detail + tries)


def _set_flag(effect: Effect, clock: Callable[[], datetime]) -> tuple[bool, str]:
    path = Path(effect.target or "")
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(read_state(path).decode("utf-8") or "{}")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            return False, f"{path}: cannot read the flags file ({why}); left unchanged"
        if not isinstance(data, dict):
            return False, f"{path}: the flags file is not a JSON object; left unchanged"
    flags = data.setdefault("flags", {})
    if not isinstance(flags, dict):
        return False, f"{path}: `flags` is not a JSON object; left unchanged"
    flag = str(effect.payload["flag"])
    flags[flag] = {**dict(effect.payload["value"]), "updated_at": clock().isoformat(), "set_by": "mosaic-diag"}
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    return True, f"flag {flag!r} set in {path}"


def incident_markdown(plan: Plan, title: str, when: datetime) -> str:
    """The incident note: summary, findings, plan, facts and gathered context, all redacted; every text
    from a log, a fact or a playbook is Markdown text, a code span or a fenced block, never markup."""
    lines = [f"# {md_text(title)}", "", f"- When: {when.isoformat()}", f"- Label: {md_code(plan.label)}",
             f"- Severity: {md_text(plan.severity)}", f"- Stage: {md_text(plan.stage or '-')}",
             f"- Playbook: {md_code(plan.playbook)} ({md_text(plan.source)})", ""]
    if plan.findings:
        lines += ["## Diagnosis", ""]
        for f in plan.findings:
            state = {True: "pass", False: "FAIL", None: "unknown"}[f.verdict.value]
            lines.append(f"- {state}: {md_code(f.check)} ({md_text(f.verdict.reason)})"
                         + (f" -> {md_text(f.fail_label)}: {md_text(f.recommendation)}" if f.failed else ""))
        lines.append("")
    lines += ["## Remediation plan", ""]
    lines += [f"- {md_text(a.action)}: {'runs' if a.would_run else 'skipped'} ({md_text(a.reason)}) — "
              f"{md_text(a.effect.summary)}" for a in plan.actions]
    lines += ["", "## Facts", "", md_fence(json.dumps(dict(plan.facts), indent=2, sort_keys=True, default=str), "json"),
              ""]
    if plan.gathered:
        lines += ["## Gathered context", ""]
        for g in plan.gathered:
            lines.append(f"### {md_text(g.gatherer)} ({'ok' if g.ok else 'failed: ' + md_text(g.error or '')})")
            lines += ["", md_fence(json.dumps(dict(g.facts), indent=2, sort_keys=True, default=str), "json"), ""]
    # a gathered log line is raw text: its escapes (a clipboard write, a title, a bidi override) would play when
    # the note is `cat`, as they would in the terminal
    return neutralize_controls(redact_text("\n".join(lines)), keep_csi=False)


def _write_note(effect: Effect, plan: Plan, clock: Callable[[], datetime]) -> tuple[bool, str]:
    directory = Path(effect.target or ".")
    now = clock()
    stem = f"{now:%Y%m%dT%H%M%SZ}-{plan.label or 'incident'}"
    path = directory / f"{stem}.md"
    n = 2
    while path.exists():
        path = directory / f"{stem}-{n}.md"
        n += 1
    write_atomic(path, incident_markdown(plan, str(effect.payload.get("title", plan.label)), now))
    return True, f"incident note written: {path}"


def _rollback(effect: Effect, settings: PlaybookSettings) -> tuple[bool, str]:
    """Plan (never perform) a rollback to the previous deploy, set up as `mosaic-diag rollback` does.

    Same deploy store (PostgreSQL when DATABASE_URL is set, else config `deploy_store`), same
    `rollback.remote` / `rollback.branch`, manifest settings and Render target, so the plan the
    playbook shows is the plan `mosaic-diag rollback --previous` would carry out.
    """
    try:
        from mosaic_diag.rollback import plan_rollback
    except ImportError:
        return True, f"rollback planner not installed; run `{effect.payload['command']}`"
    from mosaic_diag.config import find_root, load_config
    from mosaic_diag.manifest import ManifestSettings
    from mosaic_diag.manifest.store import configured_store

    root = find_root(settings.root)
    env = settings.env
    try:
        cfg = load_config(root, env)
        strategy = str(effect.payload["strategy"])
        render = None
        missing: list[str] = []
        if strategy == "render-api":
            from mosaic_diag.platform.render_api import render_target_from

            render, missing = render_target_from(cfg, env)
        store = configured_store(root, env)
        plan = plan_rollback(root, previous=True, strategy=strategy,
                             remote=str(cfg.get("rollback.remote", "origin")),
                             branch=str(cfg.get("rollback.branch", "main")),
                             store=store, render=render, render_missing=tuple(missing),
                             settings=ManifestSettings.from_config(cfg), env=env)
    except DiagError as exc:
        return False, f"rollback plan failed: {redact_text(str(exc))}"
    return plan.ok, "rollback plan (dry run; nothing changed): " + " | ".join(plan.describe())


def execute_effect(effect: Effect, plan: Plan, settings: PlaybookSettings, *,
                   clock: Callable[[], datetime]) -> tuple[bool, str]:
    """Perform one effect; (ok, what happened). Failures, whatever they are, are returned, not raised: the
    intent is already audited, and its result must be too (a watch goes on)."""
    try:
        if effect.problem:
            return False, effect.problem
        if effect.kind == "http_post":
            return _post(effect, plan, settings)
        if effect.kind == "set_flag":
            return _set_flag(effect, clock)
        if effect.kind == "write_note":
            return _write_note(effect, plan, clock)
        if effect.kind == "log":
            log.warning("%s", effect.payload.get("text"))
            return True, f"logged: {effect.payload.get('text')}"
        if effect.kind == "advice":
            return True, f"advice only: {effect.payload.get('text')}"
        if effect.kind == "rollback_plan":
            return _rollback(effect, settings)
        return False, f"no executor for effect kind {effect.kind!r}"
    except OSError as exc:
        return False, f"{effect.kind} failed: {redact_text(str(exc))}"
    except Exception as exc:  # noqa: BLE001 - e.g. a malformed webhook URL: the action failed (and is audited so)
        return False, f"{effect.kind} failed: {type(exc).__name__}: {redact_text(str(exc))}"
