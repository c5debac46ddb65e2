"""Configuration: `[tool.mosaic-diag]` in pyproject.toml or mosaic-diag.toml, env overrides.

Precedence (lowest first): built-in defaults, the config file, environment variables
(`MOSAIC_DIAG_<KEY>` with `-` and `.` written as `_`, upper case), command-line flags
(the command passes them in). Every key's default is documented in the README.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosaic_diag.errors import ConfigError

# the longest duration any setting takes (100 years): past it a deadline overflows what a thread's wait or a
# datetime holds (`--global-timeout 1e300` was a traceback)
MAX_SECONDS = 100 * 365 * 86400


def _shown(value: str, limit: int = 60) -> str:
    """`value` quoted in an error: its first `limit` characters, the cut moved on to the end of the word it falls in
    (up to 8 x `limit`), so that a DSN or a key is never cut in two: the output's redactor (the CLI's guard) sees it
    whole and masks it (cut first, a Render DSN lost its `@` and its whole password was printed)."""
    if len(value) <= limit:
        return value
    end = limit
    while end < min(len(value), 8 * limit) and not value[end].isspace():
        end += 1
    return value if end >= len(value) else value[:end] + "…"


_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class Config:
    """The merged configuration of one target repository."""

    root: Path
    values: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    source: Path | None = None

    def get(self, key: str, default: Any = None) -> Any:
        """A key (dotted for nested tables), overridden by its environment variable."""
        env_name = self._env_name(key)
        if env_name in self.env:
            raw = self.env[env_name]
            if isinstance(default, bool):  # (a typo, `treu`, is an error: read as false it turned a switch off unseen)
                word = raw.strip().lower()
                if word in _TRUE_WORDS or word in _FALSE_WORDS:
                    return word in _TRUE_WORDS
                raise ConfigError(f"{env_name} must be true or false (1/0, yes/no, on/off), got {_shown(raw)!r}")
            if isinstance(default, int) and not isinstance(default, bool):
                try:
                    return int(raw)
                except ValueError as exc:
                    raise ConfigError(f"{env_name} must be an integer, got {_shown(raw)!r}") from exc
            if isinstance(default, float):
                try:
                    number = float(raw)
                except ValueError as exc:
                    raise ConfigError(f"{env_name} must be a number, got {_shown(raw)!r}") from exc
                if not math.isfinite(number):
                    raise ConfigError(f"{env_name} must be a finite number, got {_shown(raw)!r}")
                return number
            if isinstance(default, list | tuple):
                return [part.strip() for part in raw.split(",") if part.strip()]
            return raw
        node: Any = self.values
        parts = key.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, Mapping):  # (`playbooks = "diag/playbooks"` where a table is read)
                table = ".".join(parts[:i])
                raise ConfigError(f"{table} must be a table (write [{table}] and {parts[i]} = … under it), "
                                  f"got {_shown(str(node))!r}", path=str(self.source) if self.source else None)
            if part not in node:
                return default
            node = node[part]
        return self._checked(key, node, default)

    def path(self, key: str, default: str | None = None) -> Path | None:
        """A key naming a file or directory, relative to the repository root (not to the directory the
        command runs in); None when it is not set."""
        value = self.get(key, default)
        if value is None or value == "":
            return None
        if not isinstance(value, str | Path) or "\x00" in str(value):  # (a NUL: no OS takes it, os.stat raised)
            raise self.error(key, f"must be a path, got {value!r}")
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.root / path

    @staticmethod
    def _env_name(key: str) -> str:
        return "MOSAIC_DIAG_" + key.upper().replace("-", "_").replace(".", "_")

    def _checked(self, key: str, value: Any, default: Any) -> Any:
        """`value` from the file when it has the type of `default`; else a one-line ConfigError."""
        if default is None or value is None:
            return value
        if isinstance(default, bool):
            ok, want = isinstance(value, bool), "true or false"
        elif isinstance(default, int | float):  # (TOML's nan and inf too: no bound or timeout is ever met by them)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok, want = (ok and math.isfinite(value)), ("a finite number" if ok else "a number")
        elif isinstance(default, str):
            ok, want = isinstance(value, str), "a string"
        elif isinstance(default, list | tuple):
            ok, want = isinstance(value, list | tuple), "a list"
        elif isinstance(default, Mapping):
            ok, want = isinstance(value, Mapping), "a table"
        else:
            return value
        if not ok:
            shown = repr(value) if not isinstance(value, Mapping | list) else type(value).__name__
            raise ConfigError(f"{key} must be {want}, got {shown}",
                              path=str(self.source) if self.source else None, line=self.line_of(key))
        return value

    def number(self, key: str, default: float | None, *, minimum: float | None = None,
               maximum: float | None = None, positive: bool = False, integer: bool = False) -> float | None:
        """A numeric key (None stays None) that is finite, within its bounds (`positive`: > 0) and, with
        `integer`, whole; else one ConfigError naming the file and line of the key, or its variable."""
        value = self.get(key, default)
        if value is None:
            return None
        bounds = ([f"from {minimum:g} to {maximum:g}"] if minimum is not None and maximum is not None else
                  [f">= {minimum:g}"] if minimum is not None else [f"<= {maximum:g}"] if maximum is not None else [])
        want = ("a whole number " if integer else "a number ") + " and ".join([*(["> 0"] if positive else []), *bounds])
        ok = (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
              and (not integer or float(value).is_integer()) and (not positive or value > 0)
              and (minimum is None or value >= minimum) and (maximum is None or value <= maximum))
        if ok:
            return int(value) if integer else float(value)
        raise self.error(key, f"must be {want}, got {value!r}")

    def seconds(self, key: str, default: float) -> float:
        """A duration in seconds: a number > 0 (`number`'s one-line errors), at most MAX_SECONDS (100 years)."""
        value = float(self.number(key, default, positive=True) or default)
        if value > MAX_SECONDS:
            raise self.error(key, f"must be at most 100 years ({MAX_SECONDS} s), got {value:g}")
        return value

    def reading_from(self, root: Path, *, fixed: Mapping[str, str] | None = None) -> Config:
        """These settings (the same file, the same environment) read against another checkout of the repository
        at `root` (a commit's checkout): a relative path now names the file there, except for mosaic-diag's own
        files (STATE_PATHS: audit log, deploy store, caches, its rules and playbooks), which stay where they are
        now (made absolute).
        `fixed`: keys set to these values whatever the file or the environment says."""
        import copy

        values: dict[str, Any] = copy.deepcopy(dict(self.values))
        env = dict(self.env)
        pinned = {key: str(path) for key, default in STATE_PATHS.items() if (path := self.path(key, default))}
        for key, value in {**pinned, **(fixed or {})}.items():
            env.pop(self._env_name(key), None)
            node = values
            *tables, leaf = key.split(".")
            for table in tables:
                if not isinstance(node.get(table), dict):
                    node[table] = {}
                node = node[table]
            node[leaf] = value
        return Config(root=root, values=values, env=env, source=self.source)

    def error(self, key: str, reason: str) -> ConfigError:
        """`key reason` as a ConfigError where the key is set: `FILE:LINE: key reason`, or its environment
        variable's name when that sets it (`MOSAIC_DIAG_X (key) reason`, the value shown as written there)."""
        env_name = "MOSAIC_DIAG_" + key.upper().replace("-", "_").replace(".", "_")
        if env_name in self.env:
            return ConfigError(f"{env_name} ({key}) {reason}")
        if self.source is None:
            return ConfigError(f"{key} {reason}")
        return ConfigError(f"{key} {reason}", path=str(self.source), line=self.line_of(key))

    def line_of(self, key: str) -> int | None:
        """The line of the config file that sets `key` (None: not found, or no file)."""
        if self.source is None:
            return None
        try:
            lines = self.source.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return None
        found = _key_lines(lines, pyproject=self.source.name == "pyproject.toml")
        parts = key.split(".")  # (`anomaly = {alpha = 7}`: the line of the inline table)
        return next((found[k] for k in (".".join(parts[:n]) for n in range(len(parts), 0, -1)) if k in found), None)


def find_root(start: Path | None = None) -> Path:
    """The repository's top level (`git rev-parse --show-toplevel`) for `start` (default: the current
    directory), whatever subdirectory it is; `start` itself when it is not in a git work tree."""
    import subprocess

    here = (start or Path.cwd()).resolve()
    probe = here if here.is_dir() else here.parent
    try:
        proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=probe, capture_output=True, text=True,
                              check=False, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return here
    top = proc.stdout.strip()
    return Path(top) if proc.returncode == 0 and top else here


_GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM")


def config_root(env: Mapping[str, str]) -> Path:
    """The repository's top level for the current directory, where the config is read: what
    `find_root()` (`git rev-parse --show-toplevel`) gives, found as git finds it without
    starting git in the ordinary case (the nearest directory up with a valid `.git` directory or
    `gitdir:` file; the current directory outside a repository). Git itself is asked when its
    environment variables could move the answer, inside a `.git` or bare repository, or when the
    directory belongs to another user (git's `safe.directory`)."""
    here = Path.cwd().resolve()
    if ".git" in here.parts or any(name in env for name in _GIT_ENV) or not hasattr(os, "geteuid"):
        return find_root(here)
    for path in (here, *here.parents):
        dot = path / ".git"
        if dot.is_dir():
            if not _is_git_dir(dot):
                continue  # git looks further up past a `.git` that is not a repository
        elif dot.is_file():
            if not _is_git_file(dot):
                return here  # git stops there: "not a git repository"
        elif _is_git_dir(path):
            return find_root(here)  # a bare repository
        else:
            continue
        return path if path.stat().st_uid == os.geteuid() else find_root(here)
    return here


def _is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "refs").is_dir() and (
        (path / "objects").is_dir() or (path / "commondir").is_file())


def _is_git_file(path: Path) -> bool:
    """A `.git` file (worktree, submodule) naming a git directory that exists."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return False
    if not text.startswith("gitdir:"):
        return False
    target = Path(text.removeprefix("gitdir:").strip())
    target = target if target.is_absolute() else path.parent / target
    return (target / "HEAD").is_file() and ((target / "commondir").is_file() or (target / "objects").is_dir())


CONFIG_BYTES = 4 << 20  # a config file (mosaic-diag.toml, a pyproject.toml) larger than this is refused


def load_config(root: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read the config of the repository at `root` (a missing file means all defaults)."""
    env = dict(env or {})
    for name in ("mosaic-diag.toml", "pyproject.toml"):
        path = root / name
        if not path.is_file():
            if name == "mosaic-diag.toml" and path.exists():  # (a directory of that name: not a config to skip)
                raise ConfigError("is not a file", path=str(path))
            continue
        import tomllib  # (only when there is a file to read)

        try:
            if path.stat().st_size > CONFIG_BYTES:  # (a generated or mistaken file: minutes of parsing, not a config)
                raise ConfigError(f"larger than {CONFIG_BYTES >> 20} MiB: not read as a configuration file",
                                  path=str(path))
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", path=str(path)) from exc
        except RecursionError as exc:
            raise ConfigError("invalid TOML: arrays or tables nested too deeply", path=str(path)) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read: {exc}", path=str(path)) from exc
        if name == "pyproject.toml":
            tool = data.get("tool", {})
            if not isinstance(tool, dict):  # (`[[tool]]`, `tool = 5`: an AttributeError traceback, exit 1)
                raise ConfigError(f"tool must be a table ([tool.mosaic-diag] is read from it), got "
                                  f"{'an array of tables' if isinstance(tool, list) else type(tool).__name__}",
                                  path=str(path))
            mine = tool.get("mosaic-diag")
            if mine is None:
                continue
        else:
            mine = data
        if not isinstance(mine, dict):
            raise ConfigError("[tool.mosaic-diag] must be a table", path=str(path))
        return Config(root=root, values=mine, env=env, source=path)
    return Config(root=root, values={}, env=env, source=None)


# The keys naming mosaic-diag's own files, its state (logs, stores, caches) and its own rules and playbooks, with
# their defaults relative to the repository root (None: none): they do not move with the checkout a check reads
# (`Config.reading_from`): the deploy that checks a commit's checkout labels and records as the operator set up.
STATE_PATHS: dict[str, str | None] = {
    "audit_log": ".mosaic-diag/audit.log", "deploy_store": ".mosaic-diag/deploys.jsonl",
    "lint.cache_dir": ".mosaic-diag/lint-cache", "playbooks.flags_file": ".mosaic-diag/flags.json",
    "playbooks.incident_dir": ".mosaic-diag/incidents", "playbooks.state_file": ".mosaic-diag/actions.json",
    "rules": None, "playbooks.dir": None}

# Every key the commands read (README "Configuration"); a table named in FREE_TABLES takes any keys.
KNOWN_KEYS = frozenset({
    "rules", "deploy_store", "audit_log",
    "anomaly.window_minutes", "anomaly.alpha", "anomaly.threshold", "anomaly.min_count", "anomaly.min_history",
    "playbooks.dir", "playbooks.webhook_url", "playbooks.flags_file", "playbooks.incident_dir",
    "playbooks.health_url", "playbooks.gather_timeout", "playbooks.cooldown", "playbooks.state_file",
    "playbooks.webhook_format",
    "golden.cases", "golden.url", "golden.concurrency", "golden.timeout", "golden.global_timeout",
    "golden.provider", "golden.cache", "golden.pass_rate", "golden.sdk_retries", "golden.regex_timeout",
    "predeploy.required_env", "predeploy.schema", "predeploy.db_schema", "predeploy.ps101_steps",
    "predeploy.prompts_csv", "predeploy.prompts_max_field", "predeploy.openai_models",
    "predeploy.anthropic_models", "predeploy.golden_url", "predeploy.golden_app", "predeploy.golden_cases",
    "predeploy.silence", "predeploy.fail_level", "predeploy.timeout", "predeploy.only", "predeploy.skip",
    "predeploy.app_sql",
    "lint.ignore", "lint.select", "lint.conn_factories", "lint.paths", "lint.schema", "lint.cache_dir",
    "render.api_url", "render.service_id", "render.owner_id",
    "manifest.dependencies", "manifest.prompts", "manifest.golden", "manifest.schema", "manifest.flags",
    "manifest.models", "manifest.model_env", "manifest.migrations",
    "rollback.remote", "rollback.branch", "rollback.error_budget", "rollback.min_requests", "rollback.health_paths",
    "rollback.render_api_url", "rollback.render_service_id",
    "deploy.remote", "deploy.branch", "deploy.health_url", "deploy.watch", "deploy.wait_timeout",
    "deploy.poll_interval", "deploy.fail_severity", "deploy.rollback_strategy", "deploy.skip",
})
FREE_TABLES = frozenset({"manifest.models"})


@dataclass(frozen=True)
class UnknownKey:
    """A configuration key no command reads, with the nearest known key (difflib) and its line."""

    key: str
    suggestion: str | None
    line: int | None = None


def _flatten(values: Mapping[str, Any], prefix: str = "", shown: str = "",
             *, literal: bool = False) -> list[tuple[str, str, bool]]:
    """Each key of the file: dotted, as TOML writes it (a part with a dot in its name quoted), and whether a part of
    it is one TOML key with a dot in its name (`"anomaly.alpha" = 3`: no command reads it, though dotted it spells a
    known key, and it was ignored without a word)."""
    out: list[tuple[str, str, bool]] = []
    for name, value in values.items():
        part = str(name)
        dotted = literal or "." in part
        key, written = f"{prefix}{part}", shown + (f'"{part}"' if "." in part else part)
        if isinstance(value, Mapping) and (dotted or (key not in KNOWN_KEYS and key not in FREE_TABLES)):
            out.extend(_flatten(value, key + ".", written + ".", literal=dotted))
        else:
            out.append((key, written, dotted))
    return out


UNKNOWN_SHOWN = 20  # unknown keys named one by one (with their line and nearest key); the rest counted


def unknown_keys(config: Config, limit: int | None = UNKNOWN_SHOWN) -> tuple[tuple[UnknownKey, ...], int]:
    """The keys of the config file that no command reads (a typo is silently ignored otherwise): the first `limit`
    (None: all) with their line and nearest known key, and how many more there are (a generated file of millions of
    keys was minutes of work, a nearest-key search and a scan of every line per key, and as many warnings)."""
    tables = {known.rsplit(".", 1)[0] for known in KNOWN_KEYS if "." in known} | FREE_TABLES
    keys = [(key, written) for key, written, dotted in _flatten(config.values)  # (a value where a table is read: its
            if dotted or (key not in KNOWN_KEYS and key not in tables  # own error, not a typo)
                          and not any(key.startswith(t + ".") for t in FREE_TABLES))]
    if not keys:
        return (), 0
    import difflib
    import re

    shown, more = (keys, 0) if limit is None else (keys[:limit], max(0, len(keys) - limit))
    lines = config.source.read_text(encoding="utf-8").splitlines() if config.source else []
    where = _key_lines(lines, pyproject=config.source is not None and config.source.name == "pyproject.toml")
    leaves = {key.rsplit(".", 1)[-1] for key, _ in shown if key not in where}
    leaf_lines: dict[str, int] = {}  # the first line assigning each leaf name looked for, in one pass
    if leaves:
        assign = re.compile(r"^\s*[\"']?([^\"'=\s]+)[\"']?\s*=")
        for number, text in enumerate(lines, 1):
            if (m := assign.match(text)) and m.group(1) in leaves:
                leaf_lines.setdefault(m.group(1), number)
    known = sorted(KNOWN_KEYS)
    out = []
    for key, written in shown:
        near = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        out.append(UnknownKey(written, near[0] if near else None,
                              where.get(key) or leaf_lines.get(key.rsplit(".", 1)[-1])))
    return tuple(out), more


_BARE_OR_QUOTED = r"(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')"
_DOTTED = rf"{_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*"


def _key_lines(lines: list[str], *, pyproject: bool) -> dict[str, int]:
    """The line of each key a TOML text assigns, as its full dotted name (the table header's name, then
    the key, dotted or not: `[predeploy]` + `timout = 3` and `predeploy.timout = 3` are both
    `predeploy.timout`); in a pyproject.toml, only `[tool.mosaic-diag]`'s keys, named without that prefix."""
    import re

    header = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
    assign = re.compile(rf"^\s*({_DOTTED})\s*=")

    def parts(dotted: str) -> list[str]:
        return [p.strip().strip("\"'") for p in re.findall(_BARE_OR_QUOTED, dotted)]

    found: dict[str, int] = {}
    table: list[str] | None = None if pyproject else []
    for number, text in enumerate(lines, 1):
        if m := header.match(text):
            name = parts(m.group(1))
            mine = not pyproject or name[:2] == ["tool", "mosaic-diag"]
            table = (name[2:] if pyproject else name) if mine else None
        elif table is not None and (m := assign.match(text)):
            found.setdefault(".".join(table + parts(m.group(1))), number)
    return found


def unknown_key_warnings(config: Config) -> list[str]:
    """One line per unknown key, `FILE:LINE: unknown configuration key 'k' (did you mean 'x'?): ignored`,
    for the commands to show (predeploy fails on them: MD-CONFIG001)."""
    where = str(config.source) if config.source else "config"
    shown, more = unknown_keys(config)
    return [(f"{where}:{u.line}" if u.line else where) + f": unknown configuration key {u.key!r}"
            + (f" (did you mean {u.suggestion!r}?)" if u.suggestion else "") + ": ignored"
            for u in shown] + ([f"{where}: {more:,} more unknown configuration keys: ignored"] if more else [])
