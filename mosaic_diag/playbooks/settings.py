"""Where actions and gatherers point: webhook, flags file, incident notes, audit log, health URL.

Config keys (`[tool.mosaic-diag]`, env `MOSAIC_DIAG_<KEY>`), all optional:
`playbooks.dir` (default: the shipped `playbooks/`), `playbooks.cooldown` (seconds an executed action
is not repeated for the same incident, default 900; 0 repeats), `playbooks.state_file` (default
`.mosaic-diag/actions.json`), `playbooks.webhook_url` (also env
`MOSAIC_DIAG_WEBHOOK_URL`), `playbooks.flags_file` (default `.mosaic-diag/flags.json`),
`playbooks.incident_dir` (default `.mosaic-diag/incidents`), `playbooks.health_url` (default
none), `playbooks.gather_timeout` (seconds, default: each gatherer's own), `audit_log`
(default `.mosaic-diag/audit.log`). Relative paths are relative to the target repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_FLAGS_FILE = Path(".mosaic-diag/flags.json")
DEFAULT_INCIDENT_DIR = Path(".mosaic-diag/incidents")
DEFAULT_AUDIT_LOG = Path(".mosaic-diag/audit.log")
DEFAULT_STATE_FILE = Path(".mosaic-diag/actions.json")
DEFAULT_COOLDOWN = 900.0


@dataclass(frozen=True)
class PlaybookSettings:
    """The environment of a playbook run, passed in (tests give their own)."""

    root: Path = Path(".")
    webhook_url: str | None = None
    flags_file: Path = DEFAULT_FLAGS_FILE
    incident_dir: Path = DEFAULT_INCIDENT_DIR
    audit_log: Path = DEFAULT_AUDIT_LOG
    health_url: str | None = None
    log_file: Path | None = None
    gather_timeout: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    state_file: Path = DEFAULT_STATE_FILE
    cooldown: float = DEFAULT_COOLDOWN
    webhook_secret: str | None = field(default=None, repr=False)  # env MOSAIC_DIAG_WEBHOOK_SECRET only
    webhook_format: str = "auto"  # auto (Slack's shape for a Slack URL) | slack | json

    def __post_init__(self) -> None:
        # for Slack or Teams the webhook URL is the credential: masked in every output from now on
        from mosaic_diag.platform.redact import register_secret

        register_secret(self.webhook_url)
        register_secret(self.webhook_secret)

    def path(self, p: Path) -> Path:
        return p if p.is_absolute() else self.root / p

    @classmethod
    def from_config(cls, cfg: Any, env: Mapping[str, str], **overrides: Any) -> PlaybookSettings:
        """From a mosaic_diag.config.Config (`cfg.root`, `cfg.get`) and the environment."""
        timeout = cfg.number("playbooks.gather_timeout", 0.0, minimum=0)

        def state_path(key: str, default: Path) -> Path:
            # (Config.path: relative to the root, `~` expanded, a NUL a ConfigError at its file:line: as `Path(...)`
            # it was a ValueError traceback at the first write; empty, the root directory, `Is a directory` at
            # --execute after the plan was shown)
            path = cfg.path(key, str(default))
            if path is None:
                raise cfg.error(key, f"is empty: give a path (default {default}) or leave the setting out")
            return Path(path)

        values: dict[str, Any] = {
            "root": Path(cfg.root),
            "webhook_url": cfg.get("playbooks.webhook_url", None) or env.get("MOSAIC_DIAG_WEBHOOK_URL") or None,
            "flags_file": state_path("playbooks.flags_file", DEFAULT_FLAGS_FILE),
            "incident_dir": state_path("playbooks.incident_dir", DEFAULT_INCIDENT_DIR),
            "audit_log": state_path("audit_log", DEFAULT_AUDIT_LOG),
            "health_url": cfg.get("playbooks.health_url", None) or None,
            "gather_timeout": float(timeout) if timeout else None,
            "state_file": state_path("playbooks.state_file", DEFAULT_STATE_FILE),
            "cooldown": cfg.number("playbooks.cooldown", DEFAULT_COOLDOWN, minimum=0),
            "webhook_secret": env.get("MOSAIC_DIAG_WEBHOOK_SECRET") or None,
            "webhook_format": str(cfg.get("playbooks.webhook_format", "auto")),
            "env": dict(env),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
