"""Session loading: the row from `sessions`, its JSON `user_data`."""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger("api.sessions")


class SessionLoadError(RuntimeError):
    """A session row could not be turned into a session."""


def load_session(row: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"id": row["id"], "user_id": row["user_id"], "user_data": parse_user_data(row.get("user_data"))}
    except KeyError as exc:
        raise SessionLoadError(f"session {row.get('id')!r} is missing field {exc}") from exc


def session_owner(row: dict[str, Any]) -> int:
    return row["user_id"]


def parse_user_data(raw: Any) -> dict[str, Any]:
    return json.loads(raw)


def load_user_data(conn: Any, session_id: str) -> dict[str, Any]:
    with conn:
        cursor = conn.cursor()
        cursor.execute("SELECT user_data FROM sessions WHERE id = %s", (session_id,))
        (user_data,) = cursor.fetchone()
    return json.loads(user_data)


def current_goal(user_data: Any) -> str:
    return user_data["goals"][0]
