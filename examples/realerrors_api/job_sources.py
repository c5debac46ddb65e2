"""Job sources: Greenhouse boards API, LinkedIn search pages, other boards (requests and httpx)."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("api.job_sources")

GREENHOUSE_URL = "http://boards-api.greenhouse.io/v1/boards/{board}/jobs"
LINKEDIN_URL = "http://www.linkedin.com/jobs/search/?keywords={keywords}"
REMOTIVE_URL = "http://remotive.com/api/remote-jobs?search={keywords}"
ADZUNA_URL = "http://api.adzuna.com/v1/api/jobs/gb/search/1?what={keywords}"


def requests_session(proxy: str) -> Any:
    import requests

    session = requests.Session()
    session.trust_env = False
    session.proxies = {"http": proxy}
    return session


def httpx_client(proxy: str) -> Any:
    import httpx

    return httpx.Client(proxy=proxy, trust_env=False, timeout=5.0)


def fetch_greenhouse_jobs(session: Any, board: str) -> list[dict[str, Any]]:
    response = session.get(GREENHOUSE_URL.format(board=board), timeout=5)
    response.raise_for_status()
    return response.json()["jobs"]


def fetch_greenhouse_jobs_httpx(client: Any, board: str) -> list[dict[str, Any]]:
    response = client.get(GREENHOUSE_URL.format(board=board))
    response.raise_for_status()
    return response.json()["jobs"]


def search_linkedin(session: Any, keywords: str) -> str:
    response = session.get(LINKEDIN_URL.format(keywords=keywords), timeout=5)
    response.raise_for_status()
    return response.text


def search_linkedin_httpx(client: Any, keywords: str) -> str:
    response = client.get(LINKEDIN_URL.format(keywords=keywords))
    response.raise_for_status()
    return response.text


def search_remotive(session: Any, keywords: str) -> list[dict[str, Any]]:
    response = session.get(REMOTIVE_URL.format(keywords=keywords), timeout=5)
    response.raise_for_status()
    return response.json()["jobs"]


def search_adzuna_httpx(client: Any, keywords: str) -> list[dict[str, Any]]:
    response = client.get(ADZUNA_URL.format(keywords=keywords))
    response.raise_for_status()
    return response.json()["results"]
