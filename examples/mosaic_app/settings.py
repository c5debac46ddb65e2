"""The app's settings, read once from the environment (a mapping, so tests pass their own)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment."""

    database_url: str | None
    sqlite_path: Path
    openai_api_key: str | None
    anthropic_api_key: str | None
    openai_base_url: str | None
    anthropic_base_url: str | None
    openai_model: str
    anthropic_model: str
    llm_timeout: float
    llm_max_retries: int
    llm_breaker: str
    health_probe_ttl: float
    git_commit: str | None
    prompts_dir: Path
    jobs_file: Path
    pool_max: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            sqlite_path=Path(env.get("SQLITE_PATH")
                             or Path(tempfile.gettempdir()) / "mosaic_app_fallback.sqlite3"),
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            anthropic_api_key=env.get("ANTHROPIC_API_KEY") or env.get("CLAUDE_API_KEY") or None,
            openai_base_url=env.get("OPENAI_BASE_URL") or None,
            anthropic_base_url=env.get("ANTHROPIC_BASE_URL") or None,
            openai_model=env.get("OPENAI_MODEL", "gpt-4o-mini"),
            anthropic_model=env.get("ANTHROPIC_MODEL", "claude-3-5-sonnet-latest"),
            llm_timeout=float(env.get("LLM_TIMEOUT", "30")),
            llm_max_retries=int(env.get("LLM_MAX_RETRIES", "2")),
            llm_breaker=(env.get("LLM_BREAKER") or "off").strip().lower(),
            health_probe_ttl=float(env.get("HEALTH_AI_PROBE_TTL", "30")),
            git_commit=env.get("RENDER_GIT_COMMIT") or None,
            prompts_dir=Path(env.get("MOSAIC_PROMPTS_DIR") or APP_DIR / "prompts"),
            jobs_file=Path(env.get("MOSAIC_JOBS_FILE") or APP_DIR / "data" / "jobs.json"),
            pool_max=int(env.get("DB_POOL_MAX", "10")),
        )
