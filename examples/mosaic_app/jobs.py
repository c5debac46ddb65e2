"""Job search over a fixed local list of postings (no network), shaped like Mosaic's sources."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Job:
    id: str
    source: str
    title: str
    company: str
    location: str
    url: str


def load_jobs(path: Path) -> tuple[Job, ...]:
    return tuple(Job(**item) for item in json.loads(path.read_text(encoding="utf-8")))


def search(jobs: tuple[Job, ...], query: str, location: str | None = None,
           limit: int = 20) -> list[Job]:
    """Jobs whose title or company holds every word of `query`, optionally in `location`."""
    words = [w for w in query.lower().split() if w]
    hits = []
    for job in jobs:
        text = f"{job.title} {job.company}".lower()
        if all(w in text for w in words) and (
            not location or location.lower() in job.location.lower()
        ):
            hits.append(job)
    return hits[:limit]
