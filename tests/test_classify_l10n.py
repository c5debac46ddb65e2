"""PostgreSQL's, libpq's and glibc's messages in other languages get the label of their English msgid.

The data (`rules/pg_l10n.yml`) is generated from the message catalogs by tools/pg_catalogs.py; these tests make
the localized errors for real: a PostgreSQL server whose sessions `SET lc_messages` (the locales made with glibc's
`localedef` into a private LOCPATH, nothing installed on the machine), and libpq in a client process whose
`LANGUAGE` names another language.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from examples.pgtemp import TempPostgres, find_bindir, ram_dir
from mosaic_diag.classifier import l10n
from mosaic_diag.classifier.classify import Classifier

ROOT = Path(__file__).resolve().parents[1]
SERVER_LOCALES = ("de_DE", "fr_FR", "ru_RU", "zh_CN")
I18N = Path("/usr/share/i18n/locales")


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.default()


@pytest.fixture(scope="module")
def data() -> dict:
    return yaml.load(l10n.DATA_FILE.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


# -- the data file ------------------------------------------------------------------------------------------------

def test_every_translation_reads_back_to_the_label_of_its_msgid(clf: Classifier, data: dict) -> None:
    """Each translation of the catalogs, its arguments filled in, gets the label its English msgid got (or that of
    another msgid the same locale words the same way: Korean says `column %d of relation` and `column number %d of
    relation` alike)."""
    same: dict[tuple[str, str], set[str]] = {}
    said: dict[tuple[str, str], str] = {}  # (locale, msgid) -> its translation
    for m in data["messages"]:
        for loc, tr in m["translations"].items():
            same.setdefault((loc, tr["text"].strip()), set()).add(m["label"])
            said[(loc, m["msgid"])] = tr["text"].strip()
    misses = []
    count = 0
    for m in data["messages"]:
        if m["domain"] == "libc" or m["msgid"].rstrip().endswith(":") or m.get("argument"):
            continue  # (a prefix, a glibc text, an argument label only within libpq's message: tested below)
        for loc, tr in m["translations"].items():
            # `x` for each argument, or the arguments the rules label the message with (`%s at or near "%s"`: the
            # parser's `syntax error`, in `loc`'s words as the server composes it, and `?`)
            quoted = [said.get((loc, a), a) for a in m.get("arguments", [])]
            fill = iter(quoted[a - 1] if 0 < a <= len(quoted) else "x" for a in tr["args"])
            text = l10n.CONVERSION.sub(lambda c, fill=fill: "%" if c.group(0) == "%%" else next(fill),
                                       tr["text"].strip())
            got = clf.classify_text(text).label
            count += 1
            if got not in same[(loc, tr["text"].strip())]:
                misses.append(f"{loc} {m['msgid']!r}: {text!r} -> {got}, not {m['label']}")
    assert count > 1000
    assert not misses, "\n".join(misses)


def test_a_translation_is_read_back_with_its_arguments_in_the_english_order() -> None:
    """zh_CN words `column "%s" of relation "%s" does not exist` as `关系 "%2$s" 的 "%1$s" 字段不存在`."""
    text = 'psycopg2.errors.UndefinedColumn: 错误:  关系 "users" 的 "emial" 字段不存在'
    assert l10n.to_english(text) == 'psycopg2.errors.UndefinedColumn: ERROR:  column "emial" of relation "users" ' \
                                   'does not exist'


def test_the_english_path_never_loads_the_catalog() -> None:
    """Texts the English rules label leave the file unread, and so does an unlabelled ASCII text holding none of
    the catalog's words (a triage of a log's unknown errors loaded 2,000 messages for nothing); it is read for a
    text with characters other than ASCII, or holding one of its words."""
    code = textwrap.dedent("""
        from mosaic_diag.classifier import l10n
        from mosaic_diag.classifier.classify import Classifier
        clf = Classifier.default()
        for text in ['psycopg2.OperationalError: FATAL:  password authentication failed for user "app"',
                     'psycopg2.errors.UndefinedTable: relation "users" does not exist']:
            assert clf.classify_text(text).label != "UNKNOWN_ERROR"
        print(l10n._CATALOG is None)
        l10n.anchors()  # (from the on-disk cache, or built from the catalog the first time: then forgotten)
        l10n._CATALOG = None
        assert clf.classify_text('ZeroDivisionError: division by zero').label == "UNKNOWN_ERROR"
        print(l10n._CATALOG is None)
        clf.classify_text('FATAL:  Passwort-Authentifizierung für Benutzer »app« fehlgeschlagen')
        print(l10n._CATALOG is None)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.stdout.split() == ["True", "True", "False"]


def test_an_english_error_holding_a_word_a_translation_keeps_leaves_the_catalog_unread(pg_db: str) -> None:
    """psycopg2's real `current transaction is aborted ... transaction block` (unlabelled): Korean's translations
    keep `transaction` and `session` as written, so their ASCII copies (`idle-in-transaction ?? ??? ...`) were
    anchored by them, and every English line holding either word loaded the catalog and was read against it (a
    seventh more instructions for a calm log's triage). Such a copy is found by its `??` now, and read back."""
    import psycopg2

    conn = psycopg2.connect(pg_db)
    try:
        with conn.cursor() as cur:
            with pytest.raises(psycopg2.Error):
                cur.execute("SELECT 1/0")
            with pytest.raises(psycopg2.errors.InFailedSqlTransaction) as failed:
                cur.execute("SELECT 1")
    finally:
        conn.close()
    english = f"{type(failed.value).__module__}.{type(failed.value).__name__}: {failed.value}".strip()
    assert "transaction" in english
    data = yaml.safe_load(l10n.DATA_FILE.read_text(encoding="utf-8"))
    (lost,) = [tr["text"] for m in data["messages"] if m["msgid"].startswith("terminating connection due to idle-in-tr")
               for loc, tr in m["translations"].items() if loc == "ko.ascii"]
    code = textwrap.dedent(f"""
        from mosaic_diag.classifier import l10n
        from mosaic_diag.classifier.classify import Classifier
        clf = Classifier.default()
        l10n.anchors()
        l10n._CATALOG = None
        print(clf.classify_text({english!r}).label, l10n._CATALOG is None)
        print(clf.classify_text({"psycopg2.OperationalError: FATAL:  " + lost!r}).label, l10n._CATALOG is None)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.stdout.split() == ["UNKNOWN_ERROR", "True", "PG_CONNECTION_FAILED", "False"], out.stdout


def test_the_explanation_names_the_translation(clf: Classifier) -> None:
    got = clf.classify_text("FEHLER:  Relation »users« existiert nicht")
    assert got.label == "MISSING_TABLE"
    assert got.message == "FEHLER:  Relation »users« existiert nicht"  # the event's own words
    catalog = [h for h in got.hits if h.key == "catalog"]
    assert catalog[0].text == 'de: Relation »%s« existiert nicht = relation "%s" does not exist; FEHLER = ERROR'
    assert "catalog matched" in got.explanation


def test_a_translation_does_not_override_a_more_specific_english_rule(clf: Classifier) -> None:
    """The English rules decide what they match; the translated reading only adds a more specific label."""
    text = "psycopg2.errors.UndefinedTable: FEHLER:  Relation »users« existiert nicht"
    assert clf.classify_text(text).label == "MISSING_TABLE"
    assert clf.classify_text("ValueError: Relation »users« wurde gelöscht").label == "UNKNOWN_ERROR"


# -- real localized server errors ------------------------------------------------------------------------------------

def _locale_dir() -> Path | None:
    """glibc locales for SERVER_LOCALES, made once with localedef into a directory of their own (LOCPATH); None when
    the system has them all already (Debian's `locales-all`)."""
    listed = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.lower().split()
    if all(f"{loc.lower()}.utf8" in listed for loc in SERVER_LOCALES):
        return None
    if shutil.which("localedef") is None:
        pytest.skip("glibc's localedef is not installed: cannot make a non-English locale for the server")
    missing = [loc for loc in SERVER_LOCALES if not (I18N / loc).exists()]
    if missing:
        pytest.skip(f"glibc's locale sources ({I18N}, Debian package `locales`) lack {', '.join(missing)}")
    base = Path(tempfile.gettempdir()) / f"mosaic-diag-locales-{platform.libc_ver()[1] or 'glibc'}"
    base.mkdir(exist_ok=True)
    for loc in SERVER_LOCALES:
        target = base / f"{loc}.UTF-8"
        if (target / "LC_MESSAGES").exists():
            continue
        work = Path(tempfile.mkdtemp(dir=base))
        made = subprocess.run(["localedef", "-i", loc, "-f", "UTF-8", str(work / "x")], capture_output=True,
                              text=True)
        if made.returncode not in (0, 1) or not (work / "x" / "LC_MESSAGES").exists():  # (1: warnings only)
            shutil.rmtree(work, ignore_errors=True)
            pytest.skip(f"localedef could not make {loc}.UTF-8: {made.stderr.strip()[:200]}")
        with contextlib.suppress(OSError):  # another process made it meanwhile
            os.replace(work / "x", target)
        shutil.rmtree(work, ignore_errors=True)
    os.chmod(base, 0o755)
    return base


@pytest.fixture(scope="module")
def l10n_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TempPostgres]:
    """A server of its own that can speak SERVER_LOCALES (its environment names their LOCPATH)."""
    locales = _locale_dir()
    with pytest.MonkeyPatch.context() as mp:
        if locales is not None:
            mp.setenv("LOCPATH", str(locales))
        server = TempPostgres(ram_dir() or tmp_path_factory.mktemp("pg-l10n"))
        server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def session(l10n_pg: TempPostgres) -> Iterator:
    import psycopg2

    conn = psycopg2.connect(l10n_pg.superuser_dsn("mosaic"))
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


def _error(conn, *statements: str) -> Exception:
    cur = conn.cursor()
    for statement in statements[:-1]:
        cur.execute(statement)
    try:
        cur.execute(statements[-1])
    except Exception as exc:  # noqa: BLE001 (the server's error is what is tested)
        return exc
    raise AssertionError(f"{statements[-1]} did not fail")


SERVER_ERRORS = (  # (label, the English words the message must not hold, statements)
    ("MISSING_TABLE", "does not exist", ("SELECT * FROM no_such_table",)),
    ("MISSING_COLUMN", "does not exist", ("CREATE TEMP TABLE t1 (id int)", "SELECT no_such_column FROM t1")),
    ("DUPLICATE_KEY", "duplicate key", ("CREATE TEMP TABLE t2 (id int PRIMARY KEY)", "INSERT INTO t2 VALUES (1)",
                                        "INSERT INTO t2 VALUES (1)")),
    ("TYPE_MISMATCH", "not-null", ("CREATE TEMP TABLE t3 (id int NOT NULL)", "INSERT INTO t3 VALUES (NULL)")),
    ("PG_ACCESS_DENIED", "permission denied", ("DROP TABLE IF EXISTS t4", "CREATE TABLE t4 (id int)",
                                               "SET ROLE mosaic", "SELECT * FROM t4")),
)


@pytest.mark.parametrize("loc", SERVER_LOCALES)
@pytest.mark.parametrize(("label", "english", "statements"), SERVER_ERRORS, ids=[e[0] for e in SERVER_ERRORS])
def test_a_server_error_in_another_language_gets_the_english_label(session, clf: Classifier, loc: str, label: str,
                                                                   english: str, statements: tuple[str, ...]) -> None:
    session.cursor().execute(f"SET lc_messages TO '{loc}.UTF-8'")
    exc = _error(session, *statements)
    text = str(exc)
    # the server spoke `loc` (its severity word; the message too unless `loc`'s catalog lacks it: zh_CN's not-null)
    assert not text.startswith("ERROR"), text
    if loc != "zh_CN" or label != "TYPE_MISMATCH":
        assert english not in text, text
    # as psql and server logs print it (no exception type), and under a driver the rules do not know
    assert clf.classify_text(text).label == label, text
    assert clf.classify_text(f"peewee.ProgrammingError: {text}").label == label, text
    assert clf.classify_exception(exc).label == label


@pytest.mark.parametrize("loc", SERVER_LOCALES)
def test_a_syntax_error_in_another_language_gets_the_label_of_its_token(session, clf: Classifier, loc: str) -> None:
    """The parser composes its error of two messages, `%s at or near "%s"` filled with `syntax error` (each in the
    session's language) and the token: SQLite's `AUTOINCREMENT` is another dialect's SQL in any language, as in
    English (typeorm's French `erreur de syntaxe sur ou près de « AUTOINCREMENT »`)."""
    statement = "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)"
    english = str(_error(session, statement))
    session.cursor().execute(f"SET lc_messages TO '{loc}.UTF-8'")
    exc = _error(session, statement)
    text = str(exc)
    assert "syntax error" in english and "syntax error" not in text and "AUTOINCREMENT" in text, text
    assert clf.classify_text(english).label == "SQL_DIALECT_ERROR", english
    first = text.splitlines()[0]  # (the server's line alone, without libpq's `LINE 1:` quoting the statement)
    for said in (text, first, f"QueryFailedError: {first}"):
        assert clf.classify_text(said).label == "SQL_DIALECT_ERROR", said
    assert clf.classify_exception(exc).label == "SQL_DIALECT_ERROR"


def _login_errors(pg: TempPostgres) -> list[str]:
    """psycopg2's errors of three refused logins: a wrong password, a database that does not exist (over SSL, which
    pg_hba lets reach every database), a database pg_hba refuses without SSL."""
    import psycopg2

    texts = []
    for dsn in (pg.dsn(password="wrong-password"), pg.dsn("no_such_database", sslmode="require"),
                pg.dsn("no_such_database")):
        try:
            psycopg2.connect(dsn, connect_timeout=10).close()
        except psycopg2.OperationalError as exc:
            texts.append(str(exc))
        else:
            raise AssertionError(f"{dsn} connected")
    return texts


@pytest.mark.parametrize("loc", [loc for loc in SERVER_LOCALES if loc != "zh_CN"])
def test_a_login_refused_in_another_language_gets_the_english_label(l10n_pg: TempPostgres, session,
                                                                     clf: Classifier, loc: str) -> None:
    """The server words a login's failure in its own `lc_messages`, before the session's encoding is known: a
    server whose LC_CTYPE is C transliterates it to ASCII (`f?r`, `>>app<<`, `VAZHNO`), also in the catalog. (Not
    zh_CN: transliterated, its messages are question marks, `????:  ?? "app" Password ????`.)"""
    import time

    english = _login_errors(l10n_pg)
    cur = session.cursor()
    cur.execute(f"ALTER SYSTEM SET lc_messages = '{loc}.UTF-8'")
    cur.execute("SELECT pg_reload_conf()")
    try:
        for _ in range(100):  # until the reload reached the postmaster
            local = _login_errors(l10n_pg)
            if "password authentication failed" not in local[0]:
                break
            time.sleep(0.05)
    finally:
        cur.execute("ALTER SYSTEM RESET lc_messages")
        cur.execute("SELECT pg_reload_conf()")
    assert [clf.classify_text(t).label for t in english] == ["PG_AUTH_FAILED", "PG_CONNECTION_FAILED",
                                                            "PG_SSL_REQUIRED"]
    for en, text in zip(english, local, strict=True):
        assert text != en
        assert clf.classify_text(text).label == clf.classify_text(en).label, text


# -- real localized libpq errors -----------------------------------------------------------------------------------

_CLIENT = textwrap.dedent("""
    import locale, sys
    locale.setlocale(locale.LC_ALL, "")
    import psycopg2
    try:
        psycopg2.connect(sys.argv[1], connect_timeout=5)
    except psycopg2.OperationalError as exc:
        print(exc)
""")


def _libpq_locales() -> list[str]:
    return sorted(p.parts[-3] for p in Path("/usr/share/locale").glob("*/LC_MESSAGES/libpq5-*.mo"))


def _client_cases() -> list[tuple[str, str]]:
    """(language, client): psql in every language the system's libpq has a catalog for; psycopg2 (whose bundled
    libpq finds none: only glibc's part is translated) where glibc has one too. None here: German, which then
    skips saying which catalog is missing."""
    languages = _libpq_locales()
    cases = [(lang, "psql") for lang in languages]
    cases += [(lang, "psycopg2") for lang in languages
              if Path("/usr/share/locale", lang, "LC_MESSAGES", "libc.mo").exists()]
    return cases or [("de", "psql"), ("de", "psycopg2")]


def _client_error(language: str, dsn: str, client: str) -> str:
    """A client's error in a process whose messages are in `language` (LANGUAGE, under the C.UTF-8 locale; "" for
    English): psycopg2 (psycopg2-binary's own libpq finds no catalog, glibc's error text is translated) or psql (the
    system's libpq, which finds its catalog)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    env.update({"LANGUAGE": language, "LC_ALL": "C.UTF-8"} if language else {"LC_ALL": "C"})
    if client == "psycopg2":
        argv = [sys.executable, "-c", _CLIENT, dsn]
    else:
        psql = shutil.which("psql") or str(find_bindir() / "psql")
        if not Path(psql).exists():
            pytest.skip("psql is not installed")
        argv = [psql, "-w", "-X", dsn, "-c", "SELECT 1"]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    return (out.stdout + out.stderr).strip()


@pytest.mark.parametrize(("language", "client"), _client_cases())
def test_libpq_in_another_language_gets_the_english_label(clf: Classifier, refused_port: int, tmp_path: Path,
                                                          language: str, client: str) -> None:
    """libpq words its own messages (`connection to server at … failed: `) in the client's language, glibc the
    socket's error after them (`Connection refused`, `No such file or directory`): each gets the label of the same
    failure in English."""
    dsns = (f"postgresql://app:pw@127.0.0.1:{refused_port}/app", f"postgresql://app:pw@/app?host={tmp_path}")
    for dsn in dsns:
        english = _client_error("", dsn, client)
        local = _client_error(language, dsn, client)
        assert clf.classify_text(english).label == "PG_CONNECTION_FAILED", english
        if local == english:
            pytest.skip(f"neither libpq's nor glibc's {language} catalog is installed for {client}")
        assert clf.classify_text(local).label == "PG_CONNECTION_FAILED", local


# -- the server's own log -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("loc", ["de_DE", "zh_CN"])
def test_the_servers_log_in_another_language_gives_labelled_events(l10n_pg: TempPostgres, session, loc: str) -> None:
    """The server logs a session's error in the session's `lc_messages` (`… [301] FEHLER:  Relation »…« existiert
    nicht`): the reader takes the translated severity for a record, triage labels it."""
    import io
    import time

    from mosaic_diag.logs import ReadStats, read_events
    from mosaic_diag.triage.events import EventClassifier

    table = f"missing_{loc.lower()}"
    session.cursor().execute(f"SET lc_messages TO '{loc}.UTF-8'")
    _error(session, f"SELECT * FROM {table}")
    for _ in range(100):  # the logging collector writes it a moment later
        log = l10n_pg.log_file.read_text(encoding="utf-8", errors="replace")
        if table in log:
            break
        time.sleep(0.05)
    lines = [ln for ln in log.splitlines() if table in ln and "SELECT" not in ln]
    assert lines and "ERROR:" not in lines[0], lines  # the server wrote its severity in `loc`
    classify = EventClassifier(Classifier.default())
    events = [classify.event(raw) for raw in read_events(io.BytesIO(log.encode()), ReadStats())]
    found = [ev for ev in events if table in ev.message]
    assert found and found[0].label == "MISSING_TABLE" and found[0].logger == "postgres", [
        (ev.line, ev.label, ev.message) for ev in events]
