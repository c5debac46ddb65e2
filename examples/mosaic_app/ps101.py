"""PS101: the ten-step problem-solving flow, its prompts, and each user's progress."""

from __future__ import annotations

import csv
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from examples.mosaic_app.storage import get_conn

logger = logging.getLogger("api.ps101")

_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class Step:
    step: int
    title: str
    prompts: tuple[str, ...]
    keywords: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"step": self.step, "title": self.title, "prompts": list(self.prompts)}


@dataclass(frozen=True)
class Example:
    prompt: str
    response: str


def load_steps(path: Path) -> tuple[Step, ...]:
    """ps101_steps.json: a list of 10 steps (a JSON error here is PS101_STEP_MALFORMED)."""
    logger.info("Loading PS101 steps from %s", path)
    data = json.loads(path.read_text(encoding="utf-8"))
    steps = tuple(
        Step(int(item["step"]), item["title"], tuple(item["prompts"]), tuple(item.get("keywords", ())))
        for item in data
    )
    if [s.step for s in steps] != list(range(1, len(steps) + 1)):
        raise ValueError(f"{path}: PS101 steps must be numbered 1..{len(steps)}")
    return steps


def load_examples(path: Path) -> tuple[Example, ...]:
    """prompts.csv: `prompt,response` rows (a csv.Error here is PROMPT_CSV_CORRUPT)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, strict=True)
        rows = [Example(row.get("prompt") or row["question"], row.get("response") or row["completion"])
                for row in reader]
    if not rows:
        raise ValueError(f"{path}: no prompts")
    return tuple(rows)


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def step_for_prompt(steps: tuple[Step, ...], prompt: str, current: int | None) -> Step:
    """The step a prompt is about: keyword overlap, else the user's current step, else step 1."""
    words = _words(prompt)
    text = prompt.lower()
    best, best_score = None, 0
    for step in steps:
        score = sum(1 for k in step.keywords if (k in text if " " in k else k in words))
        if score > best_score:
            best, best_score = step, score
    if best is not None:
        return best
    if current is not None and 1 <= current <= len(steps):
        return steps[current - 1]
    return steps[0]


def select_example(examples: tuple[Example, ...], prompt: str) -> Example | None:
    """The closest canned example (shared words); None makes the caller use the generic prompt."""
    words = _words(prompt)
    scored = [(len(words & _words(e.prompt)) / max(len(_words(e.prompt)), 1), e) for e in examples]
    score, example = max(scored, key=lambda pair: pair[0])
    if score < 0.5:
        logger.warning("Prompt selector: no match found, falling back to generic prompt")
        return None
    return example


def get_progress(user_id: str) -> int:
    """The user's current step (1 when they have not started)."""
    with get_conn() as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT step FROM ps101_progress WHERE user_id = %s", (user_id,))
        row = cursor.fetchone()
    return int(row[0]) if row else 1


def set_progress(user_id: str, step: int, answer: str | None, total: int) -> int:
    """Record an answer to `step` and move to the next one (upsert: ON CONFLICT)."""
    if not 1 <= step <= total:
        raise IndexError(f"PS101 step {step} out of range 1..{total}")
    nxt = min(step + 1, total)
    with get_conn() as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT answers FROM ps101_progress WHERE user_id = %s", (user_id,))
        row = cursor.fetchone()
        answers = json.loads(row[0]) if row else {}
        if answer is not None:
            answers[str(step)] = answer
        cursor.execute(
            "INSERT INTO ps101_progress (user_id, step, answers, updated_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (user_id) DO UPDATE SET step = EXCLUDED.step, answers = EXCLUDED.answers, "
            "updated_at = EXCLUDED.updated_at",
            (user_id, nxt, json.dumps(answers), datetime.now(UTC).isoformat()),
        )
    return nxt
