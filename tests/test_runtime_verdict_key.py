"""The runtime's verdict cache never gives one exception another's label: numbers that rules read stay in the
key, and the whole message counts, not its first characters."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.runtime.verdict import VerdictCache, cache_key
from tests.test_realerrors_psycopg3 import _counted


def test_counts_a_rule_compares_are_not_masked_in_the_key(pg_db: str) -> None:
    """psycopg 3's own count errors, real: fewer placeholders than parameters is another dialect's SQL, more is a
    value left out. The key once masked every number, so the second got the first's label."""
    dialect = _counted(pg_db, 9, 3, 12)     # 9 `%s` placeholders, 12 parameters
    missing = _counted(pg_db, 12, 0, 11)    # 12 placeholders, 11 parameters
    direct = Classifier.default()
    expected = [direct.classify_exception(e).label for e in (dialect, missing)]
    assert expected[0] == "SQL_DIALECT_ERROR" and expected[1] != "SQL_DIALECT_ERROR", expected
    cache = VerdictCache(Classifier.default())
    assert [cache.classify(e).label for e in (dialect, missing)] == expected
    assert (cache.misses, cache.hits) == (2, 0)
    assert cache.classify(_counted(pg_db, 12, 0, 11)).label == expected[1]  # the same failure again: cached
    assert cache.hits == 1


def _refused_then(dsn: str, dead: int, password: str, dbname: str) -> BaseException:
    """psycopg2's error for a DSN whose first four hosts (port `dead`) refuse (their paragraphs fill the first
    400 characters) and whose fifth, the suite's server, answers with `password` and `dbname`."""
    import psycopg2

    url = urlsplit(dsn)
    hosts = ",".join([f"127.0.0.1:{dead}"] * 4 + [f"{url.hostname}:{url.port}"])
    try:
        psycopg2.connect(f"postgresql://{url.username}:{password}@{hosts}/{dbname}?{url.query}", connect_timeout=10)
    except psycopg2.OperationalError as exc:
        return exc
    raise AssertionError("connected")


def test_the_whole_message_is_in_the_key(pg_db: str) -> None:
    """Two failures alike in their first 400 characters (four hosts refusing) and not after (the last host's
    answer: a wrong password, or pg_hba's refusal of a
    database it has no entry for) have two keys and their own labels (the key once
    held only those 400 characters)."""
    url = urlsplit(pg_db)
    with socket.socket() as refused:
        refused.bind(("127.0.0.1", 0))  # bound, never listening: a refused connection, every time
        dead = refused.getsockname()[1]
        auth = _refused_then(pg_db, dead, "wrong-password", url.path.lstrip("/"))
        nodb = _refused_then(pg_db, dead, url.password or "", "no_such_database")
    assert str(auth)[:400] == str(nodb)[:400]
    assert cache_key(auth) != cache_key(nodb)
    direct = Classifier.default()
    expected = [direct.classify_exception(e).label for e in (auth, nodb)]
    assert expected[0] != expected[1], expected
    cache = VerdictCache(Classifier.default())
    assert [cache.classify(e).label for e in (auth, nodb)] == expected
