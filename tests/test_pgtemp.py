"""The throwaway PostgreSQL: password auth, SSL-only database, fresh databases."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg2
import pytest

from examples import pgtemp
from examples.pgtemp import UNKNOWN_ROLE, TempPostgres


def test_password_login_and_query(pg: TempPostgres):
    conn = psycopg2.connect(pg.dsn())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database(), inet_server_port()")
            assert cur.fetchone() == ("mosaic", "mosaic", pg.port)
    finally:
        conn.close()
    assert pg.host == "127.0.0.1" and pg.user == "mosaic"


def test_wrong_password_is_refused(pg: TempPostgres):
    with pytest.raises(psycopg2.OperationalError, match='password authentication failed for user "mosaic"'):
        psycopg2.connect(pg.dsn(password="wrong"))


def test_ssl_database_accepts_ssl(pg: TempPostgres):
    conn = psycopg2.connect(pg.dsn("mosaic_ssl", sslmode="require"))
    try:
        assert conn.info.ssl_in_use
        with conn.cursor() as cur:
            cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            assert cur.fetchone() == (True,)
    finally:
        conn.close()


def test_ssl_database_refuses_plain_connections(pg: TempPostgres):
    with pytest.raises(psycopg2.OperationalError) as info:
        psycopg2.connect(pg.dsn("mosaic_ssl", sslmode="disable"))
    assert "no pg_hba.conf entry" in str(info.value)
    assert "no encryption" in str(info.value)


def test_certificate_verifies_against_its_own_ca(pg: TempPostgres):
    conn = psycopg2.connect(pg.dsn("mosaic", sslmode="verify-full") + f"&sslrootcert={pg.ca_file}")
    try:
        assert conn.info.ssl_in_use
    finally:
        conn.close()


def test_pg_db_is_fresh_and_owned_by_mosaic(pg_db: str, pg: TempPostgres):
    conn = psycopg2.connect(pg_db)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
            assert cur.fetchone() == ("mosaic",)
            cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            assert cur.fetchone() == (0,)
            cur.execute("CREATE TABLE t (id serial primary key)")
        conn.commit()
    finally:
        conn.close()
    assert pg_db.startswith(f"postgresql://mosaic:{pg.password}@127.0.0.1:{pg.port}/t")


def test_superuser_dsn(pg: TempPostgres):
    conn = psycopg2.connect(pg.superuser_dsn())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            assert cur.fetchone() == (True,)
    finally:
        conn.close()


def test_stop_removes_the_server(tmp_path):
    server = TempPostgres(tmp_path).start()
    dsn, directory = server.dsn(), server.dir
    psycopg2.connect(dsn).close()
    server.stop()
    server.stop()
    assert not directory.exists()
    with pytest.raises(psycopg2.OperationalError, match="Connection refused"):
        psycopg2.connect(dsn, connect_timeout=2)


def test_unknown_role_and_unknown_database_messages(pg: TempPostgres):
    with pytest.raises(psycopg2.OperationalError, match=f'role "{UNKNOWN_ROLE}" does not exist'):
        psycopg2.connect(pg.dsn(user=UNKNOWN_ROLE, password=""))
    with pytest.raises(psycopg2.OperationalError, match='database "nope" does not exist'):
        psycopg2.connect(pg.dsn("nope", sslmode="require"))


def test_drop_database_closes_its_sessions_and_leaves_the_others(pg: TempPostgres):
    """The `pg_db` fixture drops its database after the test, a session a test left open to it or not."""
    pg.create_database("dropme")
    kept = pg.create_database("keptdb")
    left_open = psycopg2.connect(pg.dsn("dropme"))
    try:
        pg.drop_database("dropme")
        with (pytest.raises(psycopg2.OperationalError, match="server closed the connection unexpectedly"),
              left_open.cursor() as cur):
            cur.execute("SELECT 1")
    finally:
        left_open.close()
    with pytest.raises(psycopg2.OperationalError, match='database "dropme" does not exist'):
        psycopg2.connect(pg.dsn("dropme", sslmode="require"))
    pg.drop_database("dropme")  # (gone already: nothing to do)
    psycopg2.connect(kept).close()
    pg.drop_database("keptdb")
    with pytest.raises(ValueError, match="not a plain database name"):
        pg.drop_database('x"; DROP DATABASE mosaic; --')


def test_ram_dir_is_dev_shm_only_with_room(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """The servers' files go to RAM only where there is room for them: a container's 64 MB /dev/shm is not."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    tmpfs = any(line.split()[1:3] == ["/dev/shm", "tmpfs"] for line in mounts)
    free = os.statvfs("/dev/shm").f_bavail * os.statvfs("/dev/shm").f_frsize if Path("/dev/shm").is_dir() else 0
    assert pgtemp.ram_dir() == (Path("/dev/shm") if tmpfs and free >= pgtemp.RAM_DIR_MIN_FREE else None)
    monkeypatch.setattr(pgtemp, "RAM_DIR_MIN_FREE", free + (1 << 40))
    assert pgtemp.ram_dir() is None
    monkeypatch.setattr(pgtemp, "RAM_DIR_MIN_FREE", 0)
    monkeypatch.setattr(pgtemp, "RAM_DIR", tmp_path)  # a directory, not a tmpfs mounted there
    assert pgtemp.ram_dir() is None
