-- The example Mosaic app's schema: the one declaration PostgreSQL and the SQLite fallback
-- both run at startup (portable types only; timestamps are ISO-8601 text written by the app).

CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_data TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS ps101_progress (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    answers TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS ai_requests (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    latency_ms INTEGER NOT NULL,
    json_valid INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
