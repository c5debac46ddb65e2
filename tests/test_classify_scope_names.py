"""Scope by name (taxonomy rule 8): which HTTP failures are a job source's, and which missing file is an upload's.

Job sources are one list of data (`sets.job_source_hosts`, `sets.job_source_names` in taxonomy.yml) read in three
places: a URL's host, a logger named after the board, and the board named on the line of the status in a record
without a URL (JobSpy's `Glassdoor response status code 400`). The texts are real requests errors and logging records
against a loopback server, the host renamed to the board's as the other scope tests do. The uploads folder is a whole
path component named `upload(s)`: a `to_upload/` queue is not it (real FileNotFoundErrors).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.classifier.taxonomy import load_taxonomy
from mosaic_diag.errors import ConfigError
from tests.isolation import loggers_kept
from tests.test_classify_evidence import raised, serving
from tests.test_logs_support import module_at


def _clf() -> Classifier:
    return Classifier.default()


class _Status(BaseHTTPRequestHandler):
    """Answers the status named by the path's first segment (`/401/…`)."""

    def do_GET(self) -> None:  # noqa: N802
        self.send_error(int(self.path.split("/")[1]))

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def board() -> Iterator[str]:
    with serving(_Status) as url:
        yield url


def _http_error(board: str, status: int, path: str) -> BaseException:
    requests = pytest.importorskip("requests")
    exc = raised(lambda: requests.get(f"{board}/{status}{path}", timeout=5).raise_for_status())
    assert f"{status} Client Error" in str(exc), str(exc)
    return exc


def test_an_applicant_tracking_systems_host_is_a_job_source(board: str) -> None:
    """Bullhorn's staffing API (its `JobOrder` search) answering 401, as requests reports it: a job source like the
    other ATSs of the list (Greenhouse, Lever, Workable, ...); the same error from another API stays out."""
    exc = _http_error(board, 401, "/rest-services/68XI09/search/JobOrder?query=(isOpen:1)&count=500")
    c = _clf()
    for host, label in (("https://public-rest23.bullhornstaffing.com", "JOB_SOURCE_ERROR"),
                        ("https://api.helpdesk.example.org", "UNKNOWN_ERROR")):
        text = str(exc).replace(board, host)
        assert c.classify_text(text).label == label, text
        assert c.classify_text(f"Job sync failed: {text}", logger="app.worker", level="ERROR").label == label


def test_a_logger_named_after_a_board_makes_its_http_failure_a_job_source(board: str) -> None:
    exc = _http_error(board, 403, "/api/v1/jobs?page=2")
    c = _clf()
    for logger in ("app.glassdoor", "sources.bullhornstaffing", "scrapers.indeed", "Indeed"):
        assert c.classify_exception(exc, logger=logger).label == "JOB_SOURCE_ERROR", logger
    for logger in ("app.billing", "app.glassdoorway", "uvicorn.error"):
        assert c.classify_exception(exc, logger=logger).label == "UNKNOWN_ERROR", logger


def _jobspy_style_records(board: str, status: int, name: str) -> str:
    """What JobSpy's scrapers log for a board's refusal (`logger.error(f"{name} response status code {status}")`),
    through a real logger at the status a real response carried."""
    requests = pytest.importorskip("requests")
    got = requests.get(f"{board}/{status}/graph", timeout=5).status_code
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    keep = Keep()
    keep.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))
    with loggers_kept(f"test.jobspy.{status}") as (log,):
        log.addHandler(keep)
        log.propagate = False
        log.error(f"{name} response status code {got}")
        log.error(f"{name}: location not parsed")
    return "\n".join(lines)


def test_a_board_named_on_the_line_of_its_status_is_a_job_source(board: str) -> None:
    c = _clf()
    for name in ("Glassdoor", "ZipRecruiter", "zip_recruiter", "Indeed", "Bullhorn"):
        text = _jobspy_style_records(board, 400, name)
        assert c.classify_text(text).label == "JOB_SOURCE_ERROR", text
    # an English word that names a board only in its brand's spelling; a name inside another host's name
    assert c.classify_text(_jobspy_style_records(board, 400, "indeed")).label == "UNKNOWN_ERROR"
    exc = _http_error(board, 403, "/v1/profile")
    text = str(exc).replace(board, "https://glassdoor-api.p.rapidapi.com")
    assert "glassdoor-api.p.rapidapi.com" in text
    assert c.classify_text(text).label == "UNKNOWN_ERROR"


def test_a_users_rules_file_adds_a_board_for_the_shipped_rules(board: str, tmp_path: Path) -> None:
    exc = _http_error(board, 404, "/v1/jobs")
    text = str(exc).replace(board, "https://api.teamtailor.com")
    assert _clf().classify_text(text).label == "UNKNOWN_ERROR"
    rules = tmp_path / "boards.yml"
    rules.write_text("sets:\n  job_source_hosts: [teamtailor]\n")
    assert Classifier(load_taxonomy(rules)).classify_text(text).label == "JOB_SOURCE_ERROR"
    bad = tmp_path / "bad.yml"
    bad.write_text("rules:\n  - id: x\n    label: JOB_SOURCE_ERROR\n    match:\n      host: ['%{no_such_set}']\n")
    with pytest.raises(ConfigError, match="no_such_set") as info:
        load_taxonomy(bad)
    assert info.value.line == 5


# -- the uploads folder ------------------------------------------------------------------------------------------


def _missing(path: Path) -> BaseException:
    return raised(lambda: path.open("rb"))


@pytest.mark.parametrize(("folder", "label"), [
    ("uploads", "UPLOAD_PATH_MISSING"), ("upload", "UPLOAD_PATH_MISSING"), ("static/uploads", "UPLOAD_PATH_MISSING"),
    ("cam_vids/to_upload", "UNKNOWN_ERROR"), ("pending-uploads", "UNKNOWN_ERROR"), ("reupload", "UNKNOWN_ERROR"),
])
def test_the_uploads_folder_is_a_whole_path_component(tmp_path: Path, folder: str, label: str) -> None:
    exc = _missing(tmp_path / folder / "Camera_1__2023-01-12.mp4")
    assert isinstance(exc, FileNotFoundError)
    c = _clf()
    assert c.classify_text("".join(traceback.format_exception(exc))).label == label
    assert c.classify_text(f"Error when uploading: {exc}", logger="app", level="ERROR").label == label
    relative = str(exc).replace(str(tmp_path) + "/", "")  # `open('uploads/x')` from the app's folder
    assert c.classify_text(relative).label == label, relative


def _module(tmp_path: Path, name: str, source: str) -> object:
    return module_at(tmp_path / f"{name}.py", source, f"cls7_{name}")


def test_upload_code_is_the_uploads_module_not_any_function_that_uploads(tmp_path: Path) -> None:
    """A FileNotFoundError whose innermost application frame is the uploads module (`uploads.py`) is the upload's,
    wherever the folder; one raised in a function that sends files elsewhere (`__upload_to_cloud`) is not."""
    source = ("def read_upload(path):\n    with open(path, 'rb') as f:\n        return f.read()\n\n"
              "def __upload_to_cloud(path):\n    with open(path, 'rb') as f:\n        return f.read()\n")
    uploads, sender = _module(tmp_path, "uploads", source), _module(tmp_path, "mbl", source)
    target = tmp_path / "files" / "resume-42.pdf"
    c = _clf()
    exc = raised(lambda: uploads.read_upload(target))  # type: ignore[attr-defined]
    assert c.classify_text("".join(traceback.format_exception(exc))).label == "UPLOAD_PATH_MISSING"
    exc = raised(lambda: getattr(sender, "__upload_to_cloud")(target))
    text = "".join(traceback.format_exception(exc))
    assert "__upload_to_cloud" in text
    assert c.classify_text(text).label == "UNKNOWN_ERROR"


def test_a_jobboard_module_by_its_whole_name_and_no_dashboard(board: str, tmp_path: Path) -> None:
    """A requests error raised in the app's `job_board.py` is a job source's (its frames); the same in
    `dashboard.py` (`board` inside another word) is not."""
    pytest.importorskip("requests")
    source = ("import requests\n\n"
              "def fetch(url):\n    requests.get(url, timeout=5).raise_for_status()\n")
    c = _clf()
    for name, label in (("job_board", "JOB_SOURCE_ERROR"), ("dashboard", "UNKNOWN_ERROR")):
        module = _module(tmp_path, name, source)
        exc = raised(lambda module=module: module.fetch(f"{board}/503/stats"))  # type: ignore[attr-defined]
        assert c.classify_exception(exc).label == label, name


def test_a_function_or_call_named_for_a_board_is_no_job_board_module(board: str, tmp_path: Path) -> None:
    """Round 27 (py3-pinterest#54): a requests 404 raised under a function named `get_board_sections`, called as
    `client.get_board_sections(board_id=…)`, is no job source: `board` names a job-board module or folder (a
    component of the frame's file path: `boards/client.py`, `job_board.py`), not any identifier with `_board_` in
    it. The same function in a `boards/` package stays a job source's."""
    pytest.importorskip("requests")
    source = ("import requests\n\n"
              "def get_board_sections(url, board_id):\n"
              "    requests.get(url, timeout=5).raise_for_status()\n\n"
              "def run(url):\n    get_board_sections(url, board_id='433330864085824355')\n")
    c = _clf()
    pinterest = _module(tmp_path, "pinterest_client", source)
    exc = raised(lambda: pinterest.run(f"{board}/404/resource/BoardSectionsResource/get/"))  # type: ignore[attr-defined]
    text = "".join(traceback.format_exception(exc))
    assert "get_board_sections" in text and "404 Client Error" in text
    assert c.classify_text(text).label == "UNKNOWN_ERROR"
    assert c.classify_exception(exc).label == "UNKNOWN_ERROR"
    package = tmp_path / "boards"
    package.mkdir()
    boards = _module(package, "client", source)
    exc = raised(lambda: boards.run(f"{board}/404/v1/boards/acme/jobs"))  # type: ignore[attr-defined]
    assert c.classify_exception(exc).label == "JOB_SOURCE_ERROR"
