"""Evidence across a text, wrappers, legacy and unqualified names, scope (taxonomy rules 2, 7, 8).

The exception texts come from the real libraries in the test run (SQLAlchemy over sqlite3 and
psycopg2, csv, json, requests against a loopback server); the layouts around them are the ones
users paste (a cut traceback, an error tracker's title, a bare ``str(exc)`` logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import logging
import secrets
import threading
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.classifier.evidence import evidence_from_exception
from tests.app_servers import gunicorn_argv
from tests.test_logs_support import module_at


def clf() -> Classifier:
    return Classifier.default()


def text_of(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def raised(fn) -> BaseException:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the exception is the test's material
        return exc
    raise AssertionError("nothing raised")


# -- wrappers (rule 7) --------------------------------------------------------------------------

def test_sqlalchemy_wrapped_sqlite_error_is_the_sqlite_fallback(tmp_path) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'app.db'}")

    def run() -> None:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT * FROM sessions"))

    exc = raised(run)
    first = str(exc).splitlines()[0]
    assert first.startswith("(sqlite3.OperationalError) no such table")
    for text in (text_of(exc), f"sqlalchemy.exc.OperationalError: {str(exc)}"):
        assert clf().classify_text(text).label == "SQLITE_FALLBACK_ACTIVE"
    # logged as a message only, under any logger
    assert clf().classify_text(f"Query failed: {first}", logger="api.web", level="ERROR").label == \
        "SQLITE_FALLBACK_ACTIVE"


def test_sqlalchemy_wrapped_psycopg2_error_is_the_wrapped_type(pg_db) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(pg_db.replace("postgresql://", "postgresql+psycopg2://", 1))

    def run() -> None:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT nosuchcol FROM pg_class"))

    exc = raised(run)
    assert str(exc).startswith("(psycopg2.errors.UndefinedColumn) column")
    assert clf().classify_exception(exc).label == "MISSING_COLUMN"
    assert clf().classify_text(text_of(exc)).label == "MISSING_COLUMN"
    # an error tracker's title: the unqualified type name and the message
    tracker = f"UndefinedColumn: {str(exc.orig).strip()}"
    result = clf().classify_text(tracker)
    assert (result.label, result.exception_type) == ("MISSING_COLUMN", "UndefinedColumn")
    engine.dispose()


# -- evidence across a text (rule 2) ------------------------------------------------------------

def test_a_later_generic_exception_does_not_wipe_an_earlier_specific_cause(pg_db) -> None:
    import psycopg2

    def run() -> None:
        with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
            cur.execute("SELECT nosuchcol FROM pg_class")

    specific = text_of(raised(run))
    generic = text_of(raised(lambda: {}["step"]))
    # the user pasted the cause, then a cut second traceback of a generic error
    cut = generic.splitlines()
    paste = specific + "\n" + "\n".join(cut[1:])  # header of the second one lost
    assert clf().classify_text(paste).label == "MISSING_COLUMN"
    # the specific error printed in the log line before a generic traceback
    lead = f"ERROR api.storage: query failed: {str(raised(run)).strip()}\n{generic}"
    assert clf().classify_text(lead).label == "MISSING_COLUMN"


# -- message-only records: a bare str(exc) under a logger (rule 4) ------------------------------

def test_bare_str_of_exceptions_under_their_logger() -> None:
    key = raised(lambda: {"prompt_index": 3}["step"])
    assert str(key) == "'step'"
    assert clf().classify_text(str(key), logger="api.session", level="ERROR").label == "SESSION_DATA_CORRUPT"
    assert clf().classify_text(str(key), logger="api.web", level="ERROR").label == "UNKNOWN_ERROR"

    data = "prompt,response\n" + '"' + "x" * 200_000 + "\n"
    field = raised(lambda: list(csv.reader(io.StringIO(data))))
    assert "field larger than field limit" in str(field)
    assert clf().classify_text(f"Could not load prompts: {field}", level="ERROR").label == "PROMPT_CSV_CORRUPT"

    decode = raised(lambda: json.loads(""))
    assert str(decode).startswith("Expecting value")
    assert clf().classify_text(str(decode), logger="api.ps101", level="ERROR").label == "PS101_STEP_MALFORMED"
    assert clf().classify_text(str(decode), logger="api.web", level="ERROR").label == "UNKNOWN_ERROR"


def test_psycopg2_detail_line_alone(pg_db) -> None:
    import psycopg2

    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE u (email text PRIMARY KEY)")
        cur.execute("INSERT INTO u VALUES ('a@example.com')")
        try:
            cur.execute("INSERT INTO u VALUES ('a@example.com')")
        except psycopg2.Error as e:
            detail = [line for line in str(e).splitlines() if line.startswith("DETAIL:")][0]
    assert clf().classify_text(detail, level="ERROR").label == "DUPLICATE_KEY"


# -- scope (rule 8) -----------------------------------------------------------------------------

def download_satellite_index(raw: str) -> object:
    return json.loads(raw)


def load_session_row(raw: str) -> object:
    return json.loads(raw)


def test_json_decode_error_is_type_mismatch_only_in_session_or_db_code() -> None:
    outside = raised(lambda: download_satellite_index("<html>503</html>"))
    inside = raised(lambda: load_session_row("{'goals': []}"))
    assert clf().classify_exception(outside).label == "UNKNOWN_ERROR"
    assert clf().classify_text(text_of(outside)).label == "UNKNOWN_ERROR"
    assert clf().classify_exception(inside).label == "TYPE_MISMATCH"
    assert clf().classify_text(text_of(inside)).label == "TYPE_MISMATCH"


class _Forbidden(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` on a loopback port while the block runs: its base URL (`http://localhost:PORT`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def urllib3_records(line: Callable[[logging.LogRecord], str]) -> Iterator[list[str]]:
    """urllib3's own DEBUG records of the requests made while the block runs, each as `line` formats it."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(line(record))

    log = logging.getLogger("urllib3.connectionpool")
    keep, level = Keep(), log.level
    log.addHandler(keep)
    log.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        log.removeHandler(keep)
        log.setLevel(level)


@pytest.fixture(scope="module")
def forbidden() -> Iterator[str]:
    with serving(_Forbidden) as url:
        yield url


def test_job_source_error_only_for_job_sources(forbidden: str) -> None:
    requests = pytest.importorskip("requests")

    exc = raised(lambda: requests.get(f"{forbidden}/api/v2/help_center/categories.json", timeout=5)
                 .raise_for_status())
    assert "403 Client Error" in str(exc)
    ev = evidence_from_exception(exc)
    assert clf().classify(ev).label == "UNKNOWN_ERROR"  # a helpdesk API, not a job board
    assert clf().classify_exception(exc, logger="api.job_sources").label == "JOB_SOURCE_ERROR"
    assert clf().classify_text(text_of(exc)).label == "UNKNOWN_ERROR"


def test_a_pasted_traceback_behind_line_prefixes(pg_db) -> None:
    """`docker compose logs` or a Render text export pasted into `classify -`: the prefixes are
    peeled and the exception type is read as in the bare traceback."""
    import psycopg2

    def run() -> None:
        with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
            cur.execute("SELECT nosuchcol FROM pg_class")

    lines = text_of(raised(run)).rstrip("\n").splitlines()
    for prefix in ("web-1  | ", "api_1     | ", "2026-11-27T14:03:11.123456Z "):
        got = clf().classify_text("\n".join(prefix + line for line in lines))
        assert (got.label, got.exception_type) == ("MISSING_COLUMN", "psycopg2.errors.UndefinedColumn")


# -- pydantic settings: a required setting absent --------------------------------------------------


def test_pydantic_settings_missing_field_is_env_var_missing(monkeypatch) -> None:
    """A Settings class (or an UPPER_SNAKE field, an environment variable's name) missing a required
    field is ENV_VAR_MISSING, from the live exception, its traceback and its one-line str(); a model's
    missing lower-case field and a Settings class's *extra* input are not."""
    pydantic = pytest.importorskip("pydantic")
    settings = pytest.importorskip("pydantic_settings")
    monkeypatch.delenv("API_HASH", raising=False)
    monkeypatch.delenv("database_url", raising=False)

    class Settings(settings.BaseSettings):
        database_url: str

    class Config(settings.BaseSettings):
        API_HASH: str

    class Answer(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        summary: str

    def raised(make) -> BaseException:
        try:
            make()
        except pydantic.ValidationError as e:
            return e
        raise AssertionError("no ValidationError")

    c = clf()
    for exc in (raised(Settings), raised(Config)):
        text = "".join(traceback.format_exception(exc))
        assert c.classify_exception(exc).label == "ENV_VAR_MISSING"
        assert c.classify_text(text).label == "ENV_VAR_MISSING"
    assert c.classify_text(f"Failed to start: {raised(Config)}").label == "ENV_VAR_MISSING"
    for exc in (raised(lambda: Answer()), raised(lambda: Settings(database_url="x", other=1))):
        text = "".join(traceback.format_exception(exc))
        assert c.classify_text(text).label != "ENV_VAR_MISSING", text


# -- held-out round 3: shapes of the thin families ---------------------------------------------------


def test_csv_writer_and_sniffer_messages_logged_without_their_type() -> None:
    """The csv module's writer and Sniffer errors, logged as `str(e)` or with the class repr
    (`<class '_csv.Error'>`), are PROMPT_CSV_CORRUPT like the reader's."""
    escape = raised(lambda: csv.writer(io.StringIO(), quoting=csv.QUOTE_NONE).writerow(['a,"b"']))
    sniff = raised(lambda: csv.Sniffer().sniff("a\nb\n"))
    assert "need to escape" in str(escape) and "Could not determine delimiter" in str(sniff)
    c = clf()
    assert c.classify_text(f"ERROR writing rows: {type(escape)} {escape}").label == "PROMPT_CSV_CORRUPT"
    assert c.classify_text(f"Could not load prompts: {sniff}", level="ERROR").label == "PROMPT_CSV_CORRUPT"
    assert c.classify_text(text_of(escape)).label == "PROMPT_CSV_CORRUPT"


def test_a_chained_traceback_flattened_onto_one_line(pg_db) -> None:
    """An error tracker's page joins a chained traceback's lines with spaces: the cause (a psycopg2
    type that does not end in `Error`) is read from the middle of the line, also when the paste was
    cut before the last exception."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(pg_db.replace("postgresql://", "postgresql+psycopg2://", 1))

    def run() -> None:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("CREATE TEMP TABLE parent (id int PRIMARY KEY)"))
            conn.execute(sqlalchemy.text("CREATE TEMP TABLE child (pid int REFERENCES parent(id))"))
            conn.execute(sqlalchemy.text("INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1)"))
            conn.execute(sqlalchemy.text("DELETE FROM parent"))

    exc = raised(run)
    text = text_of(exc)
    assert "psycopg2.errors.ForeignKeyViolation: update or delete on table" in text
    assert "The above exception was the direct cause" in text
    flat = " ".join(line.strip() for line in text.splitlines() if line.strip())
    assert clf().classify_text(text).label == "SESSION_ORPHANED"
    # cut before the wrapper's own exception line: only the cause, mid-line, names the violation
    cut = flat[:flat.rindex("sqlalchemy.exc.IntegrityError")]
    assert "\n" not in cut and "(psycopg2.errors.ForeignKeyViolation)" not in cut
    got = clf().classify_text(cut)
    assert (got.label, got.exception_type) == ("SESSION_ORPHANED", "psycopg2.errors.ForeignKeyViolation")
    engine.dispose()


def test_linkedin_named_by_the_record_with_an_anti_bot_status(forbidden: str) -> None:
    """Without a linkedin.com URL, a record that names LinkedIn and carries 403/429/999 is LinkedIn's
    block; the same requests error under another name is not, and LinkedIn's 401 is not a block."""
    requests = pytest.importorskip("requests")
    exc = raised(lambda: requests.get(f"{forbidden}/v2/get", timeout=5).raise_for_status())
    c = clf()
    assert c.classify_text(f"07:01:17  linkedin_get_error: {exc}").label == "LINKEDIN_SCRAPE_BLOCKED"
    assert c.classify_text(f"07:01:17  helpdesk_get_error: {exc}").label == "UNKNOWN_ERROR"
    unauthorized = str(exc).replace("403 Client Error: Forbidden", "401 Client Error: Unauthorized")
    assert c.classify_text(f"linkedin_get_error: {unauthorized}").label == "UNKNOWN_ERROR"


def test_linkedin_named_on_another_line_than_the_status_is_not_its_block(forbidden: str) -> None:
    """JobSpy names every site it crawls on an INFO line; another board's 403 below it is that board's failure,
    not LinkedIn's block (round 13, ApplyPilot#46). LinkedIn named on the status's own line still is."""
    requests = pytest.importorskip("requests")
    exc = raised(lambda: requests.get(f"{forbidden}/jobs", timeout=5).raise_for_status())
    c = clf()
    crawl = ("12:39:29 - INFO - Sites: indeed, linkedin, zip_recruiter | Results/site: 50\n"
             f"2026-04-14 12:39:30,585 - ERROR - JobSpy:ZipRecruiter - {exc}\n"
             "2026-04-14 12:40:35,074 - INFO - JobSpy:Linkedin - finished scraping")
    assert c.classify_text(crawl).label == "JOB_SOURCE_ERROR"
    assert c.classify_text(f"linkedin: 0 new jobs\nhelpdesk_get_error: {exc}").label == "UNKNOWN_ERROR"
    assert c.classify_text(f"2026-04-14 12:39:30,585 - ERROR - linkedin - {exc}").label == "LINKEDIN_SCRAPE_BLOCKED"


def test_linkedin_inside_another_hosts_name_is_no_linkedin_block(forbidden: str) -> None:
    """A third-party API whose host name holds `linkedin` (RapidAPI's `linkedin-api8.p.rapidapi.com`) refusing a
    request is that API's answer, not LinkedIn's block (round 22, RateIn#1): urllib3's own debug lines of a real 403,
    the host renamed. LinkedIn named by the record, or linkedin.com's host without a scheme, still is its block."""
    requests = pytest.importorskip("requests")
    with urllib3_records(lambda r: f"2024-02-20 08:13:05,514 - {r.levelname} - {r.getMessage()}") as records:
        status = requests.get(f"{forbidden}/?username=derek-roy", timeout=5).status_code
    host = forbidden.split("//")[1]
    lines = [r.replace(host, "linkedin-api8.p.rapidapi.com:443").replace("localhost", "linkedin-api8.p.rapidapi.com")
             for r in records]
    assert any('"GET /?username=derek-roy HTTP/1.1" 403' in line for line in lines), lines
    text = "\n".join([*lines, f"2024-02-20 08:13:05,515 - ERROR - Failed to fetch profile data. Status Code: {status}"])
    c = clf()
    assert c.classify_text(text).label == "UNKNOWN_ERROR"
    exc = raised(lambda: requests.get(f"{forbidden}/v2/get", timeout=5).raise_for_status())
    assert c.classify_text(f"07:01:17  linkedin_get_error: {exc}").label == "LINKEDIN_SCRAPE_BLOCKED"
    assert c.classify_text(f"GET www.linkedin.com/jobs/search: {status} Forbidden").label == "LINKEDIN_SCRAPE_BLOCKED"


def test_a_social_logins_linkedin_refusal_is_no_block(forbidden: str) -> None:
    """Sign In with LinkedIn's calls (the member's profile `/v2/me`, `/v2/emailAddress`, OpenID `/v2/userinfo`, the
    `/oauth/v2/` endpoints) refused with a 403 are the login failing, not an anti-bot block (round 22, allauth#2460);
    the same real requests error for a jobs search on linkedin.com is the block."""
    requests = pytest.importorskip("requests")
    c = clf()
    for path in ("/v2/me?projection=(id,first-name,last-name,email-address)", "/v2/userinfo",
                 "/v2/emailAddress?q=members&projection=(elements*(handle~))", "/oauth/v2/accessToken"):
        exc = raised(lambda path=path: requests.get(f"{forbidden}{path}", timeout=5).raise_for_status())
        text = str(exc).replace(forbidden, "https://api.linkedin.com" if "/v2/" in path[:4] else "https://www.linkedin.com")
        assert "403 Client Error: Forbidden for url: https://" in text
        assert c.classify_text(text).label == "UNKNOWN_ERROR", text
    exc = raised(lambda: requests.get(f"{forbidden}/jobs-guest/jobs/api/seeMoreJobPostings/search", timeout=5)
                 .raise_for_status())
    text = str(exc).replace(forbidden, "https://www.linkedin.com")
    assert c.classify_text(text).label == "LINKEDIN_SCRAPE_BLOCKED"


class _TooLarge(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.send_error(413)

    def log_message(self, *args: object) -> None:
        pass


def test_a_413_in_each_rfcs_reason_phrase_and_nginxs_log_line() -> None:
    """A 413 is an upload over the size limit in whatever words it comes: a real server's answer through requests,
    a browser console's `the server responded with a status of 413 (…)` with the phrase of RFC 2616 (the real
    server's), RFC 7231 (`Payload Too Large`) or RFC 9110 (`Content Too Large`), and nginx's own error-log line for
    the body it refuses (round 22: streampipes#2326, Anthias#444). A 413's phrase about something else is still one;
    another client error's sentence is not."""
    requests = pytest.importorskip("requests")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TooLarge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://localhost:{server.server_address[1]}/api/assets"
        response = requests.post(url, data=b"x" * 1024, timeout=5)
        exc = raised(response.raise_for_status)
    finally:
        server.shutdown()
        server.server_close()
    c = clf()
    assert c.classify_text(text_of(exc)).label == "UPLOAD_SIZE_EXCEEDED"
    for phrase in (response.reason, "Payload Too Large", "Content Too Large"):
        line = f"Failed to load resource: the server responded with a status of {response.status_code} ({phrase})"
        assert c.classify_text(line).label == "UPLOAD_SIZE_EXCEEDED", line
    nginx = ('2016/06/14 11:57:43 [error] 602#0: *1761 client intended to send too large body: 9886664 bytes, '
             'client: 10.0.54.94, server: , request: "POST /api/assets HTTP/1.1", host: "pi"')
    assert c.classify_text(nginx).label == "UPLOAD_SIZE_EXCEEDED"
    plain = nginx.replace("too large body: 9886664 bytes", "body: 9886664 bytes")
    assert c.classify_text(plain).label == "UNKNOWN_ERROR"
    assert c.classify_text("Failed to load resource: the server responded with a status of 404 (Not Found)"
                           ).label == "UNKNOWN_ERROR"


class CrossEncoder:
    """Stands in for an old sentence-transformers CrossEncoder: loaded, without `rank`."""


def test_a_crossencoder_that_loaded_is_not_an_unavailable_reranker() -> None:
    exc = raised(lambda: CrossEncoder().rank)  # type: ignore[attr-defined]
    assert str(exc) == "'CrossEncoder' object has no attribute 'rank'"
    assert clf().classify_text(f"AttributeError: {exc}").label == "UNKNOWN_ERROR"
    assert clf().classify_text(text_of(exc)).label == "UNKNOWN_ERROR"


@pytest.mark.parametrize(("mode", "label"), [
    ("server_error", "ANTHROPIC_SERVER_ERROR"),
    ("context_overflow", "ANTHROPIC_CONTEXT_OVERFLOW"),
    ("overloaded", "ANTHROPIC_OVERLOADED"),
    ("quota", "ANTHROPIC_CREDIT_EXHAUSTED"),
])
def test_anthropic_error_logged_without_its_type_is_attributed_by_its_shape(llm, mode: str, label: str) -> None:
    """`logger.error(f"...: {e}")` of a real anthropic error names no provider word: the SDK's shape attributes it
    (anthropic>=2's `(request_id: …, path: …, type: …)` trailer, older ones' `{'type': 'error', 'error': {…}}`
    envelope), not the word `api_error`, which OpenAI-compatible servers use too."""
    anthropic = pytest.importorskip("anthropic")
    llm.set_failure("anthropic", mode)
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url=llm.anthropic_base_url, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model="claude-3-5-haiku-latest", max_tokens=16,
                               messages=[{"role": "user", "content": "hi"}])
    assert clf().classify_text(f"Request failed: {info.value}").label == label


@contextlib.contextmanager
def answering_server(status: int, body: bytes, content_type: str, path: str = "") -> Iterator[str]:
    """A loopback stand-in answering every POST with `status` and `body`; yields its base URL (+ `path`)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{path}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def json_error_server(status: int, error: dict[str, object]) -> Iterator[str]:
    """A loopback provider stand-in answering every POST with `status` and `{"error": error}` (as users paste
    such bodies); yields its `/v1` base URL."""
    with answering_server(status, json.dumps({"error": error}).encode(), "application/json", "/v1") as url:
        yield url


def test_an_openai_compatible_servers_api_error_is_not_anthropic() -> None:
    """The word `api_error` in OpenAI's `{'error': {…}}` envelope is no Anthropic 5xx: the real openai client's
    404 from such a server is the OpenAI client's model-not-found with its type, and no label without it."""
    openai = pytest.importorskip("openai")
    # an OpenAI-compatible server (Ollama's /v1) answering a model it does not have, in its own words
    with json_error_server(404, {"message": 'model "llama3.1" not found, try pulling it first', "type": "api_error",
                                 "param": None, "code": None}) as url:
        client = openai.OpenAI(api_key="ollama", base_url=url, max_retries=0)
        with pytest.raises(openai.NotFoundError) as info:
            client.chat.completions.create(model="llama3.1", messages=[{"role": "user", "content": "hi"}])
    assert clf().classify_text(str(info.value)).label == "UNKNOWN_ERROR"
    assert clf().classify_text(f"openai.NotFoundError: {info.value}").label == "OPENAI_MODEL_NOT_FOUND"


@pytest.mark.parametrize(("second", "label"), [
    ("[2024-11-05 09:26:00 +0000] [16] [ERROR] Worker (pid:17) was sent SIGKILL! Perhaps out of memory?",
     "APP_TIMEOUT"),
    ("[2024-11-05 09:26:00 +0000] [16] [ERROR] Worker (pid:17) exited with code 1", "APP_TIMEOUT"),
    ("[2024-11-05 09:26:00 +0000] [16] [ERROR] Worker (pid:23) was sent SIGKILL! Perhaps out of memory?",
     "RENDER_OUT_OF_MEMORY"),
])
def test_gunicorn_kill_of_the_worker_that_timed_out_in_one_text(second: str, label: str) -> None:
    """gunicorn's arbiter SIGKILLs (or reaps) the worker it reported timed out: in one text that is APP_TIMEOUT, as
    triage derives it across a log; the kill of another worker keeps its OOM reading (open-runtimes#330)."""
    text = "[2024-11-05 09:25:59 +0000] [16] [CRITICAL] WORKER TIMEOUT (pid:17)\n" + second
    assert Classifier.default().classify_text(text).label == label


def test_many_worker_timeouts_in_one_text_are_one_pass() -> None:
    """The timeout-then-kill rule matched from every WORKER TIMEOUT to the end of the text (quadratic: an
    hour for this one); its gap now stops at the next WORKER TIMEOUT."""
    text = "".join(f"[2024-11-05 09:25:59 +0000] [16] [CRITICAL] WORKER TIMEOUT (pid:{i})\n" for i in range(40_000))
    text += "[2024-11-05 09:26:00 +0000] [16] [ERROR] Worker (pid:39999) was sent SIGKILL! Perhaps out of memory?\n"
    got = Classifier.default().classify_text(text)
    assert got.label == "APP_TIMEOUT" and got.rule_id == "app.timeout-kill", got.rule_id


# -- held-out round 7: database shapes (real psycopg2 against the test server) -------------------

def test_a_role_connection_limit_is_a_connection_failure(pg, pg_db) -> None:
    import psycopg2

    role = f"capped_{secrets.token_hex(3)}"
    admin = psycopg2.connect(pg.superuser_dsn(), connect_timeout=10)
    try:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw' CONNECTION LIMIT 0")
        exc = raised(lambda: psycopg2.connect(pg.dsn(pg_db.rsplit("/", 1)[1].split("?")[0], user=role,
                                                       password="pw"), connect_timeout=10))
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()
    assert f'too many connections for role "{role}"' in str(exc)
    assert clf().classify_text(text_of(exc)).label == "PG_CONNECTION_FAILED"
    # an issue title that dropped the role's name
    assert clf().classify_text("psycopg2.OperationalError: FATAL: too many connections for role").label == \
        "PG_CONNECTION_FAILED"


def test_a_not_null_violation_is_a_value_that_does_not_fit_its_column(pg_db) -> None:
    import psycopg2

    sqlalchemy = pytest.importorskip("sqlalchemy")
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE sessions (id serial PRIMARY KEY, user_data text NOT NULL)")
    engine = sqlalchemy.create_engine(pg_db.replace("postgresql://", "postgresql+psycopg2://", 1))

    def run() -> None:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("INSERT INTO sessions (user_data) VALUES (NULL)"))

    exc = raised(run)
    engine.dispose()
    assert str(exc).startswith("(psycopg2.errors.NotNullViolation) null value in column")
    assert clf().classify_exception(exc).label == "TYPE_MISMATCH"
    assert clf().classify_text(text_of(exc)).label == "TYPE_MISMATCH"
    # the wrapper's first line alone, and the bare libpq message under a logger
    assert clf().classify_text(str(exc).splitlines()[0]).label == "TYPE_MISMATCH"
    bare = str(exc.orig).splitlines()[0]
    assert clf().classify_text(f"Error executing query: {bare}", logger="app.db", level="ERROR").label == \
        "TYPE_MISMATCH"


def test_other_integrity_errors_stay_their_own_labels(pg_db) -> None:
    """Adding not-null to TYPE_MISMATCH must not take a unique or foreign-key violation."""
    import psycopg2

    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE users (id int PRIMARY KEY)")
        cur.execute("CREATE TABLE sessions (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users(id))")
        cur.execute("INSERT INTO users VALUES (1)")
    texts = {}
    for name, sql in (("dup", "INSERT INTO users VALUES (1)"), ("fk", "INSERT INTO sessions VALUES (1, 99)")):
        def run(sql: str = sql) -> None:
            with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
                cur.execute(sql)
        texts[name] = text_of(raised(run))
    assert clf().classify_text(texts["dup"]).label == "DUPLICATE_KEY"
    assert clf().classify_text(texts["fk"]).label == "SESSION_ORPHANED"


def test_a_pooler_that_does_not_know_the_user_is_an_auth_failure_not_an_app_login() -> None:
    # Supavisor's FATAL (no public pooler in the test run: the wording from the libpq message it sends)
    text = ('psycopg2.OperationalError: connection to server at "127.0.0.1", port 5432 failed: '
            "FATAL:  Tenant or user not found")
    assert clf().classify_text(text).label == "PG_AUTH_FAILED"
    # the app's own login log keeps its label
    assert clf().classify_text("login failed: user not found for email a@example.com", logger="api.auth",
                               level="WARNING").label == "AUTH_USER_NOT_FOUND"
    # "user not found" alone is said by LDAP, shells, other apps: a login or email beside it, or the auth logger
    assert clf().classify_text("ldap_bind: user not found (uid=jdoe)").label != "AUTH_USER_NOT_FOUND"
    assert clf().classify_text("ERROR: user not found", logger="worker.sync").label != "AUTH_USER_NOT_FOUND"
    assert clf().classify_text("ERROR: user not found", logger="api.auth").label == "AUTH_USER_NOT_FOUND"
    assert clf().classify_text("Login failed: user not found in users table (email=a@b.c)").label == \
        "AUTH_USER_NOT_FOUND"


def test_sqlite_locked_database_from_real_sqlite3(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "app.db"
    holder = sqlite3.connect(path)
    holder.execute("CREATE TABLE t (x int)")
    holder.commit()
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    exc = raised(lambda: other.execute("SELECT * FROM t"))
    holder.rollback()
    holder.close()
    other.close()
    assert str(exc) == "database is locked"
    assert clf().classify_text(text_of(exc)).label == "SQLITE_FALLBACK_ACTIVE"
    # quoted inside prose (a user's sentence around the type and message)
    assert clf().classify_text(f'I get "sqlite3.OperationalError: {exc}" when I run it').label == \
        "SQLITE_FALLBACK_ACTIVE"


# -- held-out round 8: thin labels (real psycopg2, SQLAlchemy, contextlib, openai) ----------------

def test_a_cursor_used_after_it_or_its_connection_closed_is_conn_misuse(pg_db) -> None:
    import psycopg2

    conn = psycopg2.connect(pg_db)
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
    after_block = raised(lambda: cur.execute("SELECT 1"))  # the cursor outlived its `with` block
    cur2 = conn.cursor()
    conn.close()
    after_close = raised(lambda: cur2.execute("SELECT 1"))
    closed_conn = raised(conn.cursor)
    for exc in (after_block, after_close):
        assert str(exc) == "cursor already closed"
        assert clf().classify_text(text_of(exc)).label == "CONN_MISUSE"
    # the connection itself used after close keeps the spec's PG_CONNECTION_FAILED
    assert str(closed_conn) == "connection already closed"
    assert clf().classify_text(text_of(closed_conn)).label == "PG_CONNECTION_FAILED"


def test_a_cursor_closed_by_a_dropped_connection_is_a_connection_failure(pg_db) -> None:
    """The server ends the session under the cursor; retried in the handler, psycopg2 says `cursor already
    closed` too: in one chained event the server's own words decide (PG_CONNECTION_FAILED)."""
    import psycopg2

    conn = psycopg2.connect(pg_db)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    with psycopg2.connect(pg_db) as admin, admin.cursor() as acur:
        acur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close()

    def query_then_retry() -> None:
        try:
            cur.execute("SELECT 1")
        except psycopg2.OperationalError:
            cur.execute("SELECT 1")

    exc = raised(query_then_retry)
    conn.close()
    assert str(exc) == "cursor already closed"
    assert "terminating connection" in text_of(exc) or "closed the connection" in text_of(exc)
    assert clf().classify_text(text_of(exc)).label == "PG_CONNECTION_FAILED"


def test_a_context_manager_used_without_with_is_conn_misuse() -> None:
    import contextlib

    @contextlib.contextmanager
    def get_session() -> Iterator[object]:
        yield object()

    @contextlib.asynccontextmanager
    async def get_conn():  # noqa: ANN202 - an async generator context manager
        yield object()

    for exc in (raised(lambda: get_session().query("users")), raised(lambda: get_conn().execute("SELECT 1"))):
        assert "GeneratorContextManager' object has no attribute" in str(exc)
        assert clf().classify_text(text_of(exc)).label == "CONN_MISUSE"
    # another attribute of a context manager (not a DB connection, cursor or session method) is not this label
    other = raised(lambda: get_session().span_id)
    assert clf().classify_text(text_of(other)).label == "UNKNOWN_ERROR"


def test_sqlalchemys_queuepool_limit_is_the_pool_exhausted(pg_db) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(pg_db.replace("postgresql://", "postgresql+psycopg2://", 1),
                                      pool_size=1, max_overflow=0, pool_timeout=0.1)
    held = engine.connect()
    try:
        exc = raised(engine.connect)
    finally:
        held.close()
        engine.dispose()
    assert "QueuePool limit of size 1 overflow 0 reached" in str(exc)
    assert clf().classify_exception(exc).label == "PG_POOL_EXHAUSTED"
    assert clf().classify_text(text_of(exc)).label == "PG_POOL_EXHAUSTED"
    # another database's engine named in the event is not PostgreSQL's pool (rule 6)
    line = str(exc).splitlines()[0]
    assert clf().classify_text(f"engine mysql+pymysql://app@db/app: {line}", level="ERROR").label != \
        "PG_POOL_EXHAUSTED"


def test_openais_content_filter_error_by_its_class_or_class_repr() -> None:
    openai = pytest.importorskip("openai")
    exc = openai.ContentFilterFinishReasonError()
    assert clf().classify_text(f"{type(exc)} {exc}", level="ERROR").label == "OPENAI_CONTENT_FILTERED"
    assert clf().classify_text(f"ContentFilterFinishReasonError: {exc}").label == "OPENAI_CONTENT_FILTERED"
    # its sibling for a length cut is not a content filter
    assert clf().classify_text(f"{openai.LengthFinishReasonError}", level="ERROR").label != \
        "OPENAI_CONTENT_FILTERED"


def test_claude_codes_safeguard_block_is_a_content_filter_only_for_anthropic() -> None:
    block = ("API Error: Opus 5's safeguards flagged this message (https://www.anthropic.com/legal/aup). "
             "Claude Code can't respond to this message with Opus 5.")
    assert clf().classify_text(block).label == "ANTHROPIC_CONTENT_FILTERED"
    assert clf().classify_text("⏺ Claude Opus 5.5's safeguards stopped the response above").label == \
        "ANTHROPIC_CONTENT_FILTERED"
    # the same words from an unattributed tool are no Anthropic evidence (rule 6)
    assert clf().classify_text("moderation: our safeguards flagged this message, please rephrase").label == \
        "UNKNOWN_ERROR"
# -- an HTTP client's DNS failure is not PostgreSQL's (rule 6) -----------------------------------------


def test_an_http_clients_dns_failure_is_not_postgres() -> None:
    """httpx's `ConnectError: [Errno -2] Name or service not known` (or `-3 Temporary failure in name
    resolution` without a resolver) carries libpq's socket words: whole, cut before its exception line
    under a worker's record, and its frames gone; psycopg2's own DNS failure stays PG_NETWORK_UNREACHABLE."""
    httpx = pytest.importorskip("httpx")
    import psycopg2

    exc = raised(lambda: httpx.get("http://mosaic-diag-test.invalid/health", timeout=5))
    text = text_of(exc)
    assert type(exc).__name__ == "ConnectError" and "/httpx/" in text
    assert clf().classify_text(text).label == "UNKNOWN_ERROR"
    assert clf().classify_exception(exc).label == "UNKNOWN_ERROR"
    lines = text.rstrip("\n").splitlines()
    frames_only = "\n".join(lines[:-1])  # the paste cut before `httpx.ConnectError: …`
    record = f"Task sync raised unexpected: ConnectError({str(exc)!r})\n{frames_only}"
    assert clf().classify_text(record, logger="celery.app.trace", level="ERROR").label == "UNKNOWN_ERROR"

    pg_exc = raised(lambda: psycopg2.connect("host=mosaic-diag-test.invalid dbname=app connect_timeout=5"))
    assert "could not translate host name" in str(pg_exc)
    assert clf().classify_text(text_of(pg_exc)).label == "PG_NETWORK_UNREACHABLE"
    # the libpq message with its socket words alone, logged by the app
    assert clf().classify_text(f"Database init failed: {pg_exc}", logger="api.storage",
                               level="ERROR").label == "PG_NETWORK_UNREACHABLE"


# -- the app server could not load the app -------------------------------------------------------------


def _gunicorn_output(tmp_path, app_source: str) -> str:
    """What a real gunicorn prints when its worker cannot load `app:app` (loopback, an ephemeral port)."""
    import os
    import subprocess

    pytest.importorskip("gunicorn")
    (tmp_path / "app.py").write_text(app_source)
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(gunicorn_argv("-b", "127.0.0.1:0", "app:app"), cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    return done.stderr


def test_gunicorn_that_cannot_boot_its_worker_is_a_failed_deploy(tmp_path) -> None:
    """gunicorn's arbiter halts with `Reason: Worker failed to boot.` (`HaltServer 'Worker failed to boot.' 3`
    on a platform's log): the server could not load the app, as uvicorn's `Error loading ASGI app`. A cause
    in the same text that has its own label (a setting absent) is more specific and wins (rule 2)."""
    from mosaic_diag.logs import ReadStats, read_events
    from mosaic_diag.triage.events import EventClassifier

    out = _gunicorn_output(tmp_path, "import no_such_dependency\napp = None\n")
    assert "Reason: Worker failed to boot." in out and "ModuleNotFoundError" in out
    assert clf().classify_text(out).label == "RENDER_DEPLOY_FAILED"
    reason = next(line for line in out.splitlines() if "Reason: " in line)
    assert clf().classify_text(reason, logger="gunicorn.error", level="ERROR").label == "RENDER_DEPLOY_FAILED"
    assert clf().classify_text(
        "gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>").label == "RENDER_DEPLOY_FAILED"
    events = [EventClassifier(clf()).event(raw) for raw in read_events(io.BytesIO(out.encode()), ReadStats())
              if raw.kind in ("error", "platform")]
    assert "RENDER_DEPLOY_FAILED" in [ev.label for ev in events]
    assert {ev.label for ev in events} <= {"RENDER_DEPLOY_FAILED", "UNKNOWN_ERROR"}

    out = _gunicorn_output(tmp_path, "import os\nDATABASE_URL = os.environ['DATABASE_URL']\napp = None\n")
    assert "KeyError: 'DATABASE_URL'" in out and "Reason: Worker failed to boot." in out
    assert clf().classify_text(out).label == "ENV_VAR_MISSING"
    # the words alone, in prose, are no halt
    assert clf().classify_text("the worker failed to boot once, then it came up").label == "UNKNOWN_ERROR"


def test_a_flattened_chain_cut_before_its_first_header(refused_port: int) -> None:
    """A loguru/error-tracker paste joined onto one line and cut before its first `Traceback (most recent call
    last):`, so that it starts at a frame: the cause mid-line is read as the chain's first exception, by
    `classify` and by triage under an ERROR record (where the line is the record's traceback)."""
    import psycopg2

    from mosaic_diag.logs import ReadStats, read_events
    from mosaic_diag.triage.events import EventClassifier

    port = refused_port

    def run() -> None:
        try:
            psycopg2.connect(host="127.0.0.1", port=port, dbname="app", connect_timeout=5)
        except psycopg2.OperationalError as exc:
            raise RuntimeError("dispatch failed") from exc

    text = text_of(raised(run))
    assert "Connection refused" in text and "The above exception was the direct cause" in text
    flat = " ".join(line.strip() for line in text.splitlines() if line.strip())
    cut = flat[flat.index('File "'):]
    assert cut.startswith('File "') and "RuntimeError" in cut
    got = clf().classify_text(cut)
    assert (got.label, got.exception_type) == ("PG_CONNECTION_FAILED", "psycopg2.OperationalError")
    log = f"2026-11-27 14:00:00,500 ERROR app.web: Request failed\n{cut}\n2026-11-27 14:00:01,000 INFO app.web: ok\n"
    events = [EventClassifier(clf()).event(raw) for raw in read_events(io.BytesIO(log.encode()), ReadStats())
              if raw.kind == "error"]
    assert [ev.label for ev in events] == ["PG_CONNECTION_FAILED"]


def test_a_multi_megabyte_text_is_read_at_its_start_and_end() -> None:
    """A whole log pasted into `classify`, or an exception carrying a response body: the rules read the first and
    the last 64 KiB (they search each text dozens of times: 5 MB took 25 s), so the cause at either end is found."""
    from mosaic_diag.classifier.evidence import TEXT_CAP, evidence_from_text
    from tests.test_logs_support import pg_refused

    tb = text_of(pg_refused())
    noise = "".join(f"INFO:     127.0.0.1:{i} - \"GET /health HTTP/1.1\" 200 OK\n" for i in range(80_000))
    pasted = "ERROR:api.db:Database operation failed\n" + noise + tb  # (4.5 MB: the traceback at its end)
    assert len(pasted) > 4_000_000
    got = clf().classify_text(pasted)
    assert got.label == "PG_CONNECTION_FAILED" and got.exception_type == "psycopg2.OperationalError"
    evidence = evidence_from_text(pasted)
    assert len(evidence.log_message or "") + sum(len(e.message) for e in evidence.exceptions) < 3 * TEXT_CAP
    big = raised(lambda: {}["session:" + "x" * 3_000_000])  # a real KeyError whose message is 3 MB
    info = evidence_from_exception(big).exceptions[-1]
    assert info.type == "KeyError" and len(info.message) < 2 * TEXT_CAP + 100
    assert "characters not read" in info.message and info.message.startswith("'session:xxx")


# -- a provider's error without its status: OpenAI's 500 wording, an SDK class named unqualified -----------------------

def test_openai_500_body_logged_without_its_status_is_openai_server_error(llm) -> None:
    """The real openai client's 500 from the stand-in: its body (`type` `server_error`, OpenAI's `The server had an
    error while processing your request.`) logged in parts, no `Error code: 500` printed with it (a bot's
    `Openai Error:…:server_error:…`, openai<1.0's `APIError: …`), is a 5xx from the OpenAI API once the event is
    OpenAI's; the same words unattributed are not."""
    openai = pytest.importorskip("openai")
    llm.set_failure("openai", "server_error")
    client = openai.OpenAI(api_key="sk-test", base_url=llm.openai_base_url, max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "server_error"
    assert clf().classify_text(f"RUN:Openai Error:{body['type']}:{body['message']}").label == "OPENAI_SERVER_ERROR"
    assert clf().classify_text(f"openai.error.APIError: {body['message']}").label == "OPENAI_SERVER_ERROR"
    assert clf().classify_text(f"OpenAI call failed: {json.dumps(body)}").label == "OPENAI_SERVER_ERROR"
    assert clf().classify_text(f"Request failed: {body['message']}").label == "UNKNOWN_ERROR"


@pytest.mark.parametrize(("provider", "label"), [("openai", "OPENAI_ERROR"), ("anthropic", "ANTHROPIC_ERROR")])
def test_an_sdk_error_class_named_unqualified_in_its_package_frames_is_the_providers(llm, provider: str,
                                                                                      label: str) -> None:
    """IPython's traceback of a real 403 from the stand-in (`File ~/…/{provider}/_base_client.py:N, in …` frames,
    the class unqualified: `PermissionDeniedError: …`), its exception line as the older clients printed it (the body's
    message, no status): the SDK's own class (rule 7) raised in its package's frames is the provider's error. The same
    line without the frames names no provider and stays UNKNOWN_ERROR."""
    import sys

    sdk = pytest.importorskip(provider)
    from IPython.core.ultratb import FormattedTB

    llm.set_failure(provider, "permission")
    if provider == "openai":
        client = sdk.OpenAI(api_key="sk-test", base_url=llm.openai_base_url, max_retries=0)
        call = lambda: client.chat.completions.create(model="gpt-4o-mini",  # noqa: E731
                                                      messages=[{"role": "user", "content": "hi"}])
    else:
        client = sdk.Anthropic(api_key="sk-ant-test", base_url=llm.anthropic_base_url, max_retries=0)
        call = lambda: client.messages.create(model="claude-3-5-haiku-latest", max_tokens=16,  # noqa: E731
                                              messages=[{"role": "user", "content": "hi"}])
    try:
        call()
    except sdk.PermissionDeniedError as e:
        etype, value, tb = sys.exc_info()
        body = e.body if provider == "openai" else e.body["error"]
    else:
        raise AssertionError("no PermissionDeniedError")
    try:
        formatter = FormattedTB(mode="Context", color_scheme="NoColor")
    except TypeError:  # (IPython 9 names its colours by theme)
        formatter = FormattedTB(mode="Context", theme_name="nocolor")
    text = formatter.text(etype, value, tb).rstrip("\n")
    head, _, last = text.rpartition("\n")
    assert last.startswith("PermissionDeniedError: ") and f"/{provider}/" in head
    line = f"PermissionDeniedError: {body['message']}"
    assert clf().classify_text(f"{head}\n{line}").label == label
    assert clf().classify_text(line).label == "UNKNOWN_ERROR"


def test_real_notebook_paste_of_a_legacy_openai_class_is_openai_error() -> None:
    """langchain#8593: a notebook's frame in `~\\venv\\…\\site-packages\\openai\\api_requestor.py` (a Windows path) and
    openai<1.0's `InvalidRequestError: Unrecognized request arguments supplied: …`, unqualified."""
    from tests.realworld.corpus import load_corpus

    (entry,) = [e for e in load_corpus() if e.id == "oai-other-legacy-notebook"]
    assert clf().classify_text(entry.text).label == "OPENAI_ERROR"


def test_requests_connection_failure_to_greenhouse_logged_as_str_is_greenhouse_api_down(refused_port: int) -> None:
    """`logger.error(f"…: {e}")` of a real requests failure prints no type, only urllib3's `HTTPSConnectionPool(host=…):
    Max retries exceeded with url: … (Caused by ProxyError(…))` (rule 4): a connection failure from greenhouse.io
    (here through a refusing proxy, so no network is needed); the same failure to another host stays out."""
    import requests

    proxy = f"http://127.0.0.1:{refused_port}"
    texts = {}
    for host in ("boards-api.greenhouse.io", "api.example.org"):
        with pytest.raises(requests.exceptions.ProxyError) as info:
            requests.get(f"https://{host}/v1/boards/acme/jobs?content=true", proxies={"https": proxy}, timeout=5)
        texts[host] = f"Greenhouse fetch failed: {info.value}"
        assert "Max retries exceeded with url: " in texts[host] and "ProxyError" not in texts[host].split("(")[0]
    assert clf().classify_text(texts["boards-api.greenhouse.io"]).label == "GREENHOUSE_API_DOWN"
    assert clf().classify_text(texts["api.example.org"]).label == "UNKNOWN_ERROR"


# -- round 19: provider timeouts and bodies, a migration's not-null -------------------------------------


async def _under_deadline(call: object, seconds: float) -> None:
    await asyncio.wait_for(call, seconds)  # type: ignore[arg-type]


def test_an_asyncio_deadline_around_a_provider_call_is_its_timeout(llm) -> None:
    """`asyncio.wait_for` around a real client's call that does not answer in time raises asyncio's TimeoutError
    (Python 3.11+ prints the builtin, with no message; before, `asyncio.exceptions.TimeoutError`); the client's frames
    in its chain attribute it. A deadline around anything else, and a socket's own timeout (it has a message), are
    not a provider's timeout."""
    openai = pytest.importorskip("openai")
    anthropic = pytest.importorskip("anthropic")
    llm.set_failure("openai", "slow", delay=1.0)
    llm.set_failure("anthropic", "slow", delay=1.0)
    oai = openai.AsyncOpenAI(api_key="sk-test-key-0000000000", base_url=llm.openai_base_url, max_retries=0)
    ant = anthropic.AsyncAnthropic(api_key="sk-ant-test-key-000000", base_url=llm.anthropic_base_url,
                                   max_retries=0)
    ask = [{"role": "user", "content": "I feel stuck in my career"}]
    calls = {"OPENAI_TIMEOUT": lambda: oai.chat.completions.create(model="gpt-4", messages=ask),
             "ANTHROPIC_TIMEOUT": lambda: ant.messages.create(model="claude-3-5-sonnet-latest", max_tokens=10,
                                                              messages=ask)}
    for label, call in calls.items():
        exc = raised(lambda call=call: asyncio.run(_under_deadline(call(), 0.2)))
        assert isinstance(exc, TimeoutError) and str(exc) == ""
        text = text_of(exc)
        assert clf().classify_text(text).label == label
        old = text.rstrip("\n").rsplit("\n", 1)
        assert old[1] == "TimeoutError"
        assert clf().classify_text(f"{old[0]}\nasyncio.exceptions.TimeoutError\n").label == label
    exc = raised(lambda: asyncio.run(_under_deadline(asyncio.sleep(5), 0.05)))
    assert clf().classify_text(text_of(exc)).label == "UNKNOWN_ERROR"
    assert clf().classify_text("TimeoutError: The read operation timed out", logger="openai._base_client",
                               level="ERROR").label != "OPENAI_TIMEOUT"


def test_openais_quota_sentence_attributes_itself_but_not_in_googles_envelope(llm) -> None:
    """OpenAI's quota message, as a client that names no provider prints it (a Go client's `[429:code] message`),
    is OPENAI_QUOTA_EXCEEDED; Google's Gemini API answers with the same sentence in its own envelope."""
    openai = pytest.importorskip("openai")
    llm.set_failure("openai", "quota")
    client = openai.OpenAI(api_key="sk-test-key-0000000000", base_url=llm.openai_base_url, max_retries=0)
    exc = raised(lambda: client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "x"}]))
    assert isinstance(exc, openai.RateLimitError)
    sentence = exc.body["message"]
    assert clf().classify_text(f"Error: [{exc.status_code}:{exc.code}] {sentence}").label == "OPENAI_QUOTA_EXCEEDED"
    # Gemini's: the same first sentence, its own docs' link after it
    own = sentence.split(" For more")[0] + " For more information on this error, head to: " \
        "https://ai.google.dev/gemini-api/docs/rate-limits."
    gemini = {"error": {"code": 429, "message": own, "status": "RESOURCE_EXHAUSTED"}}
    assert clf().classify_text(f"429 RESOURCE_EXHAUSTED. {gemini}").label == "UNKNOWN_ERROR"


def test_anthropics_older_rate_limit_wording() -> None:
    older = ("Number of request tokens has exceeded your per-minute rate limit "
             "(https://docs.anthropic.com/en/api/rate-limits); see the response headers for current usage.")
    assert clf().classify_text(f"API Error: {older}").label == "ANTHROPIC_RATE_LIMIT"
    # the words without Anthropic's attribution (its docs' host) are no Anthropic evidence (rule 6)
    assert clf().classify_text("Number of requests has exceeded your daily rate limit").label != \
        "ANTHROPIC_RATE_LIMIT"


def test_a_migration_setting_not_null_over_null_rows_is_a_type_mismatch(pg_db) -> None:
    """PostgreSQL words the not-null violation (23502) of `ALTER … SET NOT NULL` over rows holding NULLs
    `column "…" of relation "…" contains null values`: a NULL for a NOT NULL column, as an insert's."""
    import psycopg2

    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE sessions (id int PRIMARY KEY, user_data text)")
        cur.execute("INSERT INTO sessions VALUES (1, NULL)")

    def run() -> None:
        with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
            cur.execute("ALTER TABLE sessions ALTER COLUMN user_data SET NOT NULL")

    exc = raised(run)
    assert type(exc).__name__ == "NotNullViolation" and "contains null values" in str(exc)
    assert clf().classify_text(text_of(exc)).label == "TYPE_MISMATCH"
    line = str(exc).splitlines()[0]
    assert clf().classify_text(f"IntegrityError: (psycopg2.IntegrityError) {line}").label == "TYPE_MISMATCH"


def test_mysql_ddl_in_the_quoted_query_of_a_syntax_error_is_a_dialect_error(pg_db) -> None:
    """MySQL's `id int(11) NOT NULL AUTO_INCREMENT` sent to PostgreSQL fails at `(`, not at the keyword: the
    MySQL-only syntax stands in the query libpq quotes on its `LINE N:` line, as a `?` placeholder does. PHP's PDO
    prints the same message on one line (`… at or near "(" LINE 367: …`)."""
    import psycopg2

    def run() -> None:
        with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE users (id int(11) NOT NULL AUTO_INCREMENT, name varchar(64))")

    exc = raised(run)
    assert type(exc).__name__ == "SyntaxError" and 'at or near "("' in str(exc)
    assert clf().classify_text(text_of(exc)).label == "SQL_DIALECT_ERROR"
    one_line = " ".join(str(exc).split("\n")[:2])
    assert clf().classify_text(f"Error inserting: (SQLSTATE[42601]: Syntax error: 7 ERROR: {one_line})").label == \
        "SQL_DIALECT_ERROR"

    # a syntax error whose quoted query holds no MySQL- or SQLite-only syntax stays out
    def plain() -> None:
        with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE users (id int(11) NOT NULL, name varchar(64))")

    assert clf().classify_text(text_of(raised(plain))).label == "UNKNOWN_ERROR"


# -- a paste whose every traceback line carries one prefix ------------------------------------------------------------

def embedding_traceback(tmp_path, monkeypatch, module: str = "embedding_engine") -> str:
    """A real traceback whose frames name the embedding call (a module of its own, as an embedding server's engine)
    and whose exception says nothing of embeddings: the frames are the only evidence. The module is loaded from
    its file without taking a place in sys.modules or sys.path: imported by its name, the first test's module (in
    its own tmp_path) was every later test's."""
    engine = module_at(
        tmp_path / f"{module}.py",
        "def embed(sentences):\n"
        "    return _handler(sentences)\n\n\n"
        "def _handler(sentences):\n"
        "    raise RuntimeError(\"the loaded model cannot fulfill this task; options are {'rerank'}\")\n",
        module)
    return text_of(raised(lambda: engine.embed(["hello"])))


def _logged_line_by_line(tb: str, fmt: str | None) -> str:
    """`tb` logged one line per record, as a server that logs a traceback line by line does: through uvicorn's own
    logging config (`fmt` None: its `%(levelprefix)s %(message)s`, `ERROR:    `) or a stdlib formatter of `fmt`."""
    from tests.test_logs_support import logged_records

    return logged_records([("ERROR", line) for line in tb.rstrip("\n").splitlines()], fmt)


@pytest.mark.parametrize("fmt", [None, "%(levelname)-8s%(message)s", "[%(levelname)s] %(message)s",
                                 "app.worker | %(message)s"],
                         ids=["uvicorn", "level-column", "bracket-level", "logger-column"])
def test_a_traceback_logged_line_by_line_behind_a_level_column_is_read(tmp_path, monkeypatch, fmt) -> None:
    """Every line of the traceback behind one logger's prefix (uvicorn's `ERROR:    `, `ERROR   `, `[ERROR] `, a
    logger's column): the prefix is peeled, the frames are read and name the embedding call."""
    from mosaic_diag.classifier.tracebacks import parse_traceback_text

    tb = embedding_traceback(tmp_path, monkeypatch)
    logged = _logged_line_by_line(tb, fmt)
    assert fmt is not None or logged.startswith("ERROR:    Traceback (most recent call last):\n"), logged
    parsed = parse_traceback_text(logged)
    assert [(p.type, [f.function for f in p.frames][-2:]) for p in parsed] == [("RuntimeError", ["embed", "_handler"])]
    assert clf().classify_text(logged).label == "EMBEDDING_GENERATION_FAILED"
    assert clf().classify_text(tb).label == "EMBEDDING_GENERATION_FAILED"  # the same as the bare traceback


@pytest.mark.parametrize("prefix", ["web.1  | ", "worker-1 | ", "2|app  | ", "> ", "# ", "+ ", "! "])
def test_a_traceback_behind_a_process_or_quote_prefix_is_read(tmp_path, monkeypatch, prefix: str) -> None:
    """A process's column that is no timestamp (Heroku-style `web.1`, Compose's `worker-1`, pm2's `2|app`), a quote,
    a comment, a diff's or console's marker, on each line of the traceback and of the header only (the cut paste)."""
    tb = embedding_traceback(tmp_path, monkeypatch).rstrip("\n").splitlines()
    pasted = "\n".join(prefix + line for line in tb)
    assert clf().classify_text(pasted).label == "EMBEDDING_GENERATION_FAILED"
    cut = "\n".join(prefix + line for line in tb[1:])  # the header cut off: frames, then the exception line
    assert clf().classify_text(cut).label == "EMBEDDING_GENERATION_FAILED"


def test_a_chained_traceback_behind_a_prefix_keeps_its_chain(pg_db) -> None:
    """A chain of two tracebacks behind pm2's column: both exceptions read, the driver's type the label's."""
    import psycopg2

    from mosaic_diag.classifier.tracebacks import parse_traceback_text

    def run() -> None:
        try:
            with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
                cur.execute("SELECT nosuchcol FROM pg_class")
        except psycopg2.Error as exc:
            raise RuntimeError("query failed") from exc

    pasted = "".join(f"0|api    | {line}\n" for line in text_of(raised(run)).splitlines())
    assert [p.type for p in parse_traceback_text(pasted)] == ["psycopg2.errors.UndefinedColumn", "RuntimeError"]
    got = clf().classify_text(pasted)
    assert (got.label, got.exception_type) == ("MISSING_COLUMN", "psycopg2.errors.UndefinedColumn")


def test_a_prefix_that_is_no_common_one_is_left_as_it_is(tmp_path, monkeypatch) -> None:
    """No peel where the lines do not all carry one prefix in Python's shape: a constant one with the frame's indent
    gone (peeled, a source line and the exception line could not be told apart), an exception group's gutter
    (Python's own), a prefix on the header only. (A timestamp that varies line by line is peeled when its shape is one:
    tests/test_logs_stamped_tracebacks.py.)"""
    from mosaic_diag.classifier.tracebacks import peel_common_prefix

    tb = embedding_traceback(tmp_path, monkeypatch).rstrip("\n").splitlines()
    varying = [f"2026-12-06 10:00:{k:02d},000 {line}" for k, line in enumerate(tb)]
    assert peel_common_prefix(varying) == tb
    unindented = [f"[06:46:35] {line.strip()}" for line in tb]
    assert peel_common_prefix(unindented) == unindented
    header_only = [f"ERROR:    {tb[0]}", *tb[1:]]
    assert peel_common_prefix(header_only) == header_only
    group = text_of(raised(lambda: (_ for _ in ()).throw(ExceptionGroup("eg", [ValueError("x"), KeyError("y")]))))
    assert peel_common_prefix(group.splitlines()) == group.splitlines()
    assert peel_common_prefix([f"ERROR:    {line}" for line in tb]) == tb


# -- held-out round 23: libpq's `SSL SYSCALL error` ----------------------------------------------------------------

def _tls_server_that_drops_the_session(cert: str, key: str) -> tuple[int, threading.Thread]:
    """A loopback server that answers libpq's SSLRequest, completes the TLS handshake, reads the startup packet and
    ends the TCP connection without TLS's close_notify (as a server, a pooler or an idle-killing proxy that went away
    leaves a session): libpq's own message for it is `SSL SYSCALL error: EOF detected`."""
    import os
    import socket
    import ssl
    import struct

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        with srv:
            conn, _ = srv.accept()
            size = struct.unpack("!I", conn.recv(4))[0]
            conn.recv(size - 4)  # the SSLRequest's code
            conn.sendall(b"S")
            tls = ctx.wrap_socket(conn, server_side=True)
            size = struct.unpack("!I", tls.recv(4))[0]
            tls.recv(size - 4)  # the startup packet
            os.close(tls.detach())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return srv.getsockname()[1], thread


def test_libpqs_ssl_syscall_error_is_a_connection_failure(pg) -> None:
    """A server reached, its session's TLS socket at EOF: PG_CONNECTION_FAILED, as `SSL connection has been closed
    unexpectedly` is, qualified and as an error tracker's title without the module."""
    import psycopg2

    port, thread = _tls_server_that_drops_the_session(str(pg.ca_file), str(pg.ca_file.with_name("server.key")))
    exc = raised(lambda: psycopg2.connect(host="127.0.0.1", port=port, user="mosaic", dbname="mosaic",
                                          sslmode="require", connect_timeout=10))
    thread.join(10)
    assert isinstance(exc, psycopg2.OperationalError)
    assert "SSL SYSCALL error: EOF detected" in str(exc)
    assert clf().classify_text(text_of(exc)).label == "PG_CONNECTION_FAILED"
    message = str(exc).split("failed: ", 1)[1].strip()
    assert clf().classify_text(f"{type(exc).__name__}\n{message}").label == "PG_CONNECTION_FAILED"
