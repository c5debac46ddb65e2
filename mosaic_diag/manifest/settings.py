"""What the manifest looks at: file patterns, model pins, flags files (config `manifest.*`).

Keys (all optional, under `[tool.mosaic-diag.manifest]`):

- `dependencies`: globs of dependency files (default requirements*.txt, requirements/*.txt,
  pyproject.toml, poetry.lock, uv.lock, Pipfile.lock, at any depth).
- `prompts`: globs of prompt files (default `prompts/**` and `**/prompts/**`).
- `golden`: globs of the golden set (default `golden/**`).
- `schema`: the schema declaration: a glob or a list tried in order, the first that matches
  files wins (default schema.sql, db/schema.sql, **/schema.sql, api/storage.py, **/storage.py).
- `migrations`: globs of migration files, always part of the schema next to the declaration
  (default Alembic's `alembic/versions/*.py`, `migrations/**` .py/.sql (Alembic, Django, plain
  SQL), at any depth): a migration added or changed between two commits is a schema change.
- `flags`: the feature-flags file(s), first found wins (default feature_flags.json, flags.yml,
  flags.yaml; JSON or YAML, a mapping).
- `models`: a table of pinned model names (`openai = "gpt-4o"`); the environment variables in
  `model_env` (default OPENAI_MODEL, OPENAI_EMBEDDING_MODEL, ANTHROPIC_MODEL, CLAUDE_MODEL,
  EMBEDDING_MODEL) override it, keyed by their lower-cased name without `_MODEL`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

DEPENDENCY_GLOBS = ("requirements*.txt", "**/requirements*.txt", "requirements/*.txt", "pyproject.toml",
                    "poetry.lock", "uv.lock", "Pipfile.lock", "Pipfile", "**/pyproject.toml",
                    "**/poetry.lock", "**/uv.lock", "**/Pipfile.lock")
PROMPT_GLOBS = ("prompts/**", "**/prompts/**")
GOLDEN_GLOBS = ("golden/**",)
SCHEMA_CANDIDATES = ("schema.sql", "db/schema.sql", "**/schema.sql", "api/storage.py", "**/storage.py")
MIGRATION_GLOBS = ("alembic/versions/*.py", "**/alembic/versions/*.py", "migrations/**/*.py", "**/migrations/**/*.py",
                   "migrations/**/*.sql", "**/migrations/**/*.sql", "db/migrate/**")
FLAGS_FILES = ("feature_flags.json", "flags.yml", "flags.yaml")
MODEL_ENV = ("OPENAI_MODEL", "OPENAI_EMBEDDING_MODEL", "ANTHROPIC_MODEL", "CLAUDE_MODEL", "EMBEDDING_MODEL")
PYTHON_DECLARATIONS = (".python-version", "runtime.txt")


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether a repo-relative POSIX path matches one of the globs (`**` spans directories)."""
    return any(_glob_regex(p).match(path) for p in patterns)


def _strings(config: Any, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise config.error(key, f"must be a string or a list of strings, got {value!r}")


@dataclass(frozen=True)
class ManifestSettings:
    """Patterns and pins of one repository's manifest."""

    dependencies: tuple[str, ...] = DEPENDENCY_GLOBS
    prompts: tuple[str, ...] = PROMPT_GLOBS
    golden: tuple[str, ...] = GOLDEN_GLOBS
    schema: tuple[str, ...] = SCHEMA_CANDIDATES
    migrations: tuple[str, ...] = MIGRATION_GLOBS
    flags: tuple[str, ...] = FLAGS_FILES
    models: Mapping[str, str] = field(default_factory=dict)
    model_env: tuple[str, ...] = MODEL_ENV

    @classmethod
    def from_config(cls, config: Any) -> ManifestSettings:
        """Read `manifest.*` of a mosaic_diag.config.Config."""
        models = config.get("manifest.models", {}) or {}
        if not isinstance(models, Mapping) or not all(isinstance(v, str) for v in models.values()):
            raise config.error("manifest.models", f"must be a table of strings, got {models!r}")
        return cls(
            dependencies=_strings(config, "manifest.dependencies", DEPENDENCY_GLOBS),
            prompts=_strings(config, "manifest.prompts", PROMPT_GLOBS),
            golden=_strings(config, "manifest.golden", GOLDEN_GLOBS),
            schema=_strings(config, "manifest.schema", SCHEMA_CANDIDATES),
            migrations=_strings(config, "manifest.migrations", MIGRATION_GLOBS),
            flags=_strings(config, "manifest.flags", FLAGS_FILES),
            models=dict(models),
            model_env=_strings(config, "manifest.model_env", MODEL_ENV),
        )

    def model_pins(self, env: Mapping[str, str]) -> dict[str, str]:
        """Pinned model names: config, overridden by the environment."""
        pins = dict(self.models)
        for name in self.model_env:
            if env.get(name):
                key = name.lower().removesuffix("_model")
                pins[key] = env[name]
        return pins
