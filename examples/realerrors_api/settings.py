"""Settings read from the environment, the way Mosaic reads them (no defaults for secrets)."""

from __future__ import annotations

import os


def database_url() -> str:
    return os.environ["DATABASE_URL"]


def openai_api_key() -> str:
    return os.environ["OPENAI_API_KEY"]
