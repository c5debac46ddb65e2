"""Remediation actions: each turns (step, facts, settings) into an Effect description, nothing more.

Dry run by construction: this module performs no I/O. Only `executors.execute_effect`, called
with an Effect by a command that was given `--execute`, changes anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mosaic_diag.platform.lazyre import LazyPattern
from mosaic_diag.platform.redact import redact_text, redact_url
from mosaic_diag.playbooks.conditions import MISSING, lookup
from mosaic_diag.playbooks.model import Effect, Remedy
from mosaic_diag.playbooks.settings import PlaybookSettings

PLACEHOLDER = LazyPattern(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")
PROVIDERS = ("openai", "anthropic")


@dataclass(frozen=True)
class ActionSpec:
    """An action's parameters (name -> type: string, int, number, bool, or a tuple of allowed strings)."""

    name: str
    doc: str
    params: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    needs_message: bool = False


_PAREN = LazyPattern(r"\s?\([^()]*\)")
_CLAUSE = LazyPattern(r"([.;!?]\s+|:\s+|\s+-\s+)")


def _known(value: Any) -> bool:
    return value is not MISSING and value is not None and value != ""


def drop_unknown(template: str, facts: Mapping[str, Any]) -> str:
    """The template without the parenthesis, else the clause (sentence, `; ...`, `: ...`), that holds a
    placeholder whose fact is not known (missing, None or empty): advice never shows `{x}` or `None`."""
    def unknown(text: str) -> bool:
        return any(not _known(lookup(facts, m.group(1))) for m in PLACEHOLDER.finditer(text))

    text = _PAREN.sub(lambda m: "" if unknown(m.group(0)) else m.group(0), template)
    parts = _CLAUSE.split(text)  # [clause, separator, clause, separator, ...]
    kept: list[str] = []
    for i in range(0, len(parts), 2):
        if unknown(parts[i]):
            if kept and i + 1 >= len(parts):
                kept.pop()  # the separator before a dropped last clause
            continue
        kept.append(parts[i])
        if i + 1 < len(parts):
            kept.append(parts[i + 1])
    return "".join(kept).strip()


def fill(template: str, facts: Mapping[str, Any], shown: Callable[[str], str] = str) -> str:
    """Replace `{name}` placeholders with facts (each value as `shown` makes it); a part whose fact is not known is
    left out (`drop_unknown`), so no `{name}` or `None` is ever shown; redacted."""
    def one(m: re.Match[str]) -> str:
        value = lookup(facts, m.group(1))
        return shown(f"{value:g}" if isinstance(value, float) else str(value))

    return redact_text(PLACEHOLDER.sub(one, drop_unknown(template, facts)))


WORD_JOINER = "\u2060"  # invisible, and no mention or link is read across it
_CALLS = LazyPattern(r"(?i)@(?:channel|here|everyone|all|group)\b|<[!@#]|\]\(")


def no_mentions(text: str) -> str:
    """`text` (a fact: a log line, a commit subject, an error an attacker may have written) as a chat shows it but
    calling no one and linking nowhere: `@channel` / `@here` / `@everyone` / `@all` (Mattermost, Discord, Teams),
    `<!channel>` / `<@U123>` / `<#C1>` (Slack's syntax, read by Slack-compatible receivers) and a Markdown link
    `[text](url)` get an invisible word joiner inside. The playbook's own words (its `@oncall`) are not touched."""
    return _CALLS.sub(lambda m: m.group(0)[0] + WORD_JOINER + m.group(0)[1:], text)


def _context(facts: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("label", "stage", "severity", "count", "starts", "rate_1m", "rate_5m", "rate_15m", "count_1m", "count_5m",
            "count_15m", "error_rate", "fingerprint")
    return {k: facts[k] for k in keys if k in facts}


def _alert(step: Remedy, facts: Mapping[str, Any], s: PlaybookSettings, why: str) -> Effect:
    text = fill(step.message or "{label}: {severity} incident", facts, no_mentions)
    payload = {"text": f"[mosaic-diag] {text}", "label": facts.get("label"), "severity": facts.get("severity"),
               "reason": no_mentions(why), "context": _context(facts)}
    if step.params.get("channel"):
        payload["channel"] = step.params["channel"]
    if not s.webhook_url:
        return Effect("http_post", f"post to the ops webhook: {text!r}", None, payload,
                      problem="no webhook configured (playbooks.webhook_url or MOSAIC_DIAG_WEBHOOK_URL)")
    return Effect("http_post", f"POST to {redact_url(s.webhook_url)}: {text!r}", s.webhook_url, payload)


def _breaker(step: Remedy, facts: Mapping[str, Any], s: PlaybookSettings, why: str) -> Effect:
    feature = step.params["disable_feature"]
    msg = fill(step.params.get("message") or step.message or "", facts)
    path = s.path(s.flags_file)
    value = {"enabled": False, "message": msg, "label": facts.get("label"), "reason": why}
    return Effect("set_flag", f"disable feature {feature!r} in {path}" + (f" ({msg})" if msg else ""), str(path),
                  {"flag": feature, "value": value})


def _failover(step: Remedy, facts: Mapping[str, Any], s: PlaybookSettings, why: str) -> Effect:
    src, dst = step.params["from"], step.params["to"]
    path = s.path(s.flags_file)
    value = {"primary": dst, "disabled": [src], "label": facts.get("label"), "reason": why}
    return Effect("set_flag", f"switch the LLM provider from {src} to {dst} (flag 'llm.provider' in {path})",
                  str(path), {"flag": "llm.provider", "value": value})


def _fallback(step: Remedy, facts: Mapping[str, Any], s: PlaybookSettings, why: str) -> Effect:
    text = fill(step.log or step.message or "WARNING: Using SQLite fallback - data will not persist", facts)
    return Effect("log", f"log {text!r} (the app falls back to SQLite by itself; nothing to switch)", None,
                  {"text": text})


def _retry(step: Remedy, facts: Mapping[str, Any], s: PlaybookSettings, why: str) -> Effect:
    p = {"max_retries": 3, "base_delay": 1, "max_delay": 60, "jitter": True, **step.params}
    text = (f"retry with exponential backoff{' and jitter' if p['jitter'] else ''}: up to {p['max_retries']} "
            f"retries, {p['base_delay']}s doubling to at most {p['max_delay']}s")
    if step.message:
        text += f"; {fill(step.message, facts)}"
    return Effect("advice", text, None, {"text": text, **p})


def _advise(step: Remedy, facts: Mapping[str, Any], s: PlaybookSettings, why: str) -> Effect:
    text = fill(step.message or "", facts)
    return Effect("advice", text, None, {"text": text})


def _incident(step: Remedy, facts: Mapping[str, Any], s: PlaybookSettings, why: str) -> Effect:
    title = fill(step.params.get("title") or step.message or "{label} ({severity})", facts)
    directory = s.path(s.incident_dir)
    return Effect("write_note", f"write an incident note {title!r} with the gathered context under {directory}",
                  str(directory), {"title": title, "reason": why})


def _rollback(step: Remedy, facts: Mapping[str, Any], s: PlaybookSettings, why: str) -> Effect:
    strategy = step.params.get("strategy", "revert")
    command = f"mosaic-diag rollback --previous --strategy {strategy} --dry-run"
    target = facts.get("deploys.previous_commit")
    payload: dict[str, Any] = {"strategy": strategy, "command": command}
    if isinstance(target, str) and target:
        payload["target_commit"] = target
        when = facts.get("deploys.previous_at")
        what = f"{target[:8]} (the previous good deploy{f', recorded {when}' if when else ''})"
    else:
        what = "the previous good deploy"
    return Effect("rollback_plan", f"plan a rollback to {what} (dry run only; to act: "
                  f"`{command.replace(' --dry-run', '')}`)", str(s.root), payload)


ACTIONS: dict[str, ActionSpec] = {a.name: a for a in (
    ActionSpec("alert_ops", "POST a JSON alert to the ops webhook (Slack-compatible `text`)",
               {"channel": "string"}),
    ActionSpec("circuit_breaker", "disable a feature in the flags file the app reads",
               {"disable_feature": "string", "message": "string"}, required=("disable_feature",)),
    ActionSpec("failover", "switch the primary LLM provider in the flags file",
               {"from": PROVIDERS, "to": PROVIDERS}, required=("from", "to")),
    ActionSpec("fallback_sqlite", "log that the app runs on its SQLite fallback"),
    ActionSpec("retry", "advise retrying with exponential backoff and jitter",
               {"max_retries": "int", "base_delay": "number", "max_delay": "number", "jitter": "bool"}),
    ActionSpec("advise", "print a recommendation (`message`)", needs_message=True),
    ActionSpec("open_incident", "write a Markdown incident note with the gathered context (redacted)",
               {"title": "string"}),
    ActionSpec("rollback", "hand over to the rollback planner (dry run only from a playbook)",
               {"strategy": ("revert", "reset", "render-api")}),
)}

_BUILDERS: dict[str, Callable[[Remedy, Mapping[str, Any], PlaybookSettings, str], Effect]] = {
    "alert_ops": _alert, "circuit_breaker": _breaker, "failover": _failover, "fallback_sqlite": _fallback,
    "retry": _retry, "advise": _advise, "open_incident": _incident, "rollback": _rollback,
}


def param_problem(spec: ActionSpec, key: str, value: Any) -> str | None:
    """Why `value` does not fit parameter `key` of the action (None when it does)."""
    kind = spec.params.get(key)
    if kind is None:
        known = ", ".join(sorted(spec.params)) or "none"
        return f"unknown parameter {key!r} of action {spec.name} (known: {known})"
    if isinstance(kind, tuple):
        return None if value in kind else f"parameter {key!r} of {spec.name} must be one of {', '.join(kind)}"
    ok = {"string": isinstance(value, str) and bool(value),
          "int": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
          "number": isinstance(value, int | float) and not isinstance(value, bool) and value >= 0,
          "bool": isinstance(value, bool)}[kind]
    return None if ok else f"parameter {key!r} of {spec.name} must be a {kind}"


def describe(step: Remedy, facts: Mapping[str, Any], settings: PlaybookSettings, why: str) -> Effect:
    """The Effect the step would have; performs nothing."""
    return _BUILDERS[step.action](step, facts, settings, why)
