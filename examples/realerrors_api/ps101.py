"""The PS101 flow: the ten steps from prompts/ps101_steps.json and each user's progress."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger("api.ps101")


def load_steps(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def current_prompt(steps: list[dict[str, Any]], step: int, prompt_index: int) -> str:
    prompts = steps[step - 1]["prompts"]
    return prompts[prompt_index]


def step_title(steps_by_number: dict[int, dict[str, Any]], step: int) -> str:
    return steps_by_number[step]["title"]
