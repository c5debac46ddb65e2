"""The prompt library: prompts/prompts.csv (prompt, response pairs) for the prompt selector."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

logger = logging.getLogger("api.prompts")


def load_prompts(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
