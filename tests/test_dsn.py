"""DATABASE_URL split the way libpq splits it: an unescaped '@' in the password is PG_URL_MALFORMED with
"percent-encode it", and no part of that password shows in any output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from examples.pgtemp import TempPostgres
from mosaic_diag.checks.database import sanity
from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.platform.dsn import dsn_facts
from mosaic_diag.platform.redact import redact_text
from tests.test_gatherers import gather

TAIL = "2Secret9x"
AT_DSN = f"postgresql://mosaic:Hunter@{TAIL}@db.example.com:5432/mosaic?sslmode=require"


def test_the_split_is_libpqs() -> None:
    f = dsn_facts(AT_DSN)
    assert f.unescaped_at and f.host == "db.example.com" and f.dbname == "mosaic" and f.sslmode == "require"
    ok = dsn_facts(AT_DSN.replace("Hunter@", "Hunter%40"))
    assert not ok.unescaped_at and ok.host == "db.example.com"
    multi = dsn_facts("postgresql://u:p@h1:5432,h2:5433/db")
    assert (multi.host, multi.port, multi.port_error) == ("h1", 5432, None)
    assert dsn_facts("postgresql://u:p@h:notaport/db").port_error == "invalid port 'notaport'"
    assert dsn_facts("postgresql:///db?host=/tmp").local
    assert dsn_facts("host=h port=x dbname=d").port_error == "invalid port 'x'"


def test_an_unescaped_at_is_malformed_and_says_percent_encode() -> None:
    [msg] = sanity(AT_DSN)
    assert msg.id == "MD-DB002" and msg.label == "PG_URL_MALFORMED"
    assert "percent-encode it as %40" in msg.message
    assert TAIL not in msg.message and TAIL not in json.dumps(msg.facts, default=str)
    facts = gather("database_url", env={"DATABASE_URL": AT_DSN})
    assert facts["database_url.valid"] is False and "percent-encode" in facts["database_url.problem"]
    assert TAIL not in json.dumps(facts) and "Hunter" not in json.dumps(facts)


def test_libpqs_own_error_is_classified_and_redacted(pg: TempPostgres) -> None:
    """What the app logs when it connects with such a DSN: libpq took the tail of the password for a host."""
    dsn = f"postgresql://mosaic:Hunter@{TAIL}@{pg.host}:{pg.port}/mosaic"
    with pytest.raises(psycopg2.OperationalError) as info:
        psycopg2.connect(dsn, connect_timeout=2)
    text = str(info.value)
    assert f'"{TAIL}@' in text  # libpq quotes it
    assert Classifier.default().classify_exception(info.value).label == "PG_URL_MALFORMED"
    assert TAIL not in redact_text(text)
    facts = gather("postgres", env={"DATABASE_URL": dsn})
    assert facts["postgres.reachable"] is False and TAIL not in json.dumps(facts)


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_predeploy_names_it_and_never_shows_the_password(tmp_path: Path, fmt: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": AT_DSN, "PYTHONPATH": ":".join(sys.path)}
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "predeploy", "--only", "database", "--format", fmt,
                        "--junit", str(tmp_path / "j.xml")], capture_output=True, text=True, cwd=tmp_path, env=env,
                       timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout + r.stderr + (tmp_path / "j.xml").read_text()
    assert "MD-DB002" in out and "%40" in out
    assert TAIL not in out and "Hunter" not in out
