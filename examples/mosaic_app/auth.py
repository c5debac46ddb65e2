"""Users and sessions: register, login, session lookup (idempotent writes, `%s` placeholders)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from examples.mosaic_app.storage import get_conn

logger = logging.getLogger("api.auth")

SESSION_TTL = timedelta(hours=24)
_ITERATIONS = 100_000


@dataclass(frozen=True)
class User:
    id: str
    email: str


class AuthError(Exception):
    """A failed login; `code` is what the API answers (never which half was wrong)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def hash_password(password: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), _ITERATIONS)
    return f"pbkdf2_sha256${_ITERATIONS}${salt}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    _, iterations, salt, digest = stored.split("$")
    check = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations))
    return hmac.compare_digest(check.hex(), digest)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def get_user_by_email(email: str) -> tuple[User, str] | None:
    """The user and their password hash, or None."""
    with get_conn() as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT id, email, password_hash FROM users WHERE email = %s", (email,))
        row = cursor.fetchone()
    return (User(row[0], row[1]), row[2]) if row else None


def create_user(email: str, password: str) -> tuple[User, bool]:
    """Register (idempotent: ON CONFLICT); returns the user and whether it was created."""
    user_id = str(uuid.uuid4())
    with get_conn() as conn:
        cursor = conn.cursor()
        cursor.execute(
            "INSERT INTO users (id, email, password_hash, created_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (email) DO NOTHING RETURNING id",
            (user_id, email, hash_password(password), _now()),
        )
        created = cursor.fetchone() is not None
    if created:
        return User(user_id, email), True
    found = get_user_by_email(email)
    if found is None:
        raise RuntimeError(f"user {email} vanished during registration")
    return found[0], False


def login(email: str, password: str) -> str:
    """Check the password and open a session; returns the session id."""
    found = get_user_by_email(email)
    if found is None:
        logger.warning("Login failed: user not found in users table (email=%s)", email)
        raise AuthError("invalid email or password")
    user, stored = found
    if not verify_password(password, stored):
        logger.warning("Login failed: password hash mismatch for user %s", user.id)
        raise AuthError("invalid email or password")
    session_id = secrets.token_urlsafe(24)
    now = datetime.now(UTC)
    with get_conn() as conn:
        cursor = conn.cursor()
        cursor.execute(
            "INSERT INTO sessions (id, user_id, user_data, created_at, expires_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (session_id, user.id, "{}", now.isoformat(), (now + SESSION_TTL).isoformat()),
        )
    logger.info("Login: user %s opened a session", user.id)
    return session_id


def user_for_session(session_id: str) -> User | None:
    """The user of a live session, or None (unknown or expired)."""
    with get_conn() as conn:
        cursor = conn.cursor()
        cursor.execute(
            "SELECT u.id, u.email, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.id = %s",
            (session_id,),
        )
        row = cursor.fetchone()
    if row is None:
        logger.warning("Session ID not found: %s...", session_id[:6])
        return None
    if datetime.fromisoformat(row[2]) < datetime.now(UTC):
        logger.warning("Session expired (TTL exceeded) for user %s", row[0])
        return None
    return User(row[0], row[1])
