"""Webhook notifications against a loopback receiver: retries, signature, dedup key, Slack shape."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from examples.loopback import SERVE
from mosaic_diag.platform.webhook import is_slack, post_webhook, slack_body


class Receiver:
    """Answers the scripted statuses in order (then 200) and keeps every request."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.answer = b"ok"  # the body of every answer
        self.written = 0  # bytes of answers the client took
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status, headers = receiver.script.pop(0) if receiver.script else (200, {})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(receiver.answer)))
                self.end_headers()
                try:
                    for i in range(0, len(receiver.answer), 1 << 16):
                        self.wfile.write(receiver.answer[i:i + (1 << 16)])
                        receiver.written += len(receiver.answer[i:i + (1 << 16)])
                except OSError:  # the client closed without reading it all
                    return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs=SERVE, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/T000/B000/XXXXsecretpath"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def test_retries_5xx_and_429_then_delivers_signed_once_keyed(receiver: Receiver) -> None:
    receiver.script = [(503, {}), (429, {"Retry-After": "7"}), (200, {})]
    waits: list[float] = []
    d = post_webhook(receiver.url, {"message": "OPENAI_RATE_LIMIT 3/min", "label": "OPENAI_RATE_LIMIT"},
                     secret="s3cret", dedup_key="openai-rate-limit|abc123", sleep=waits.append,
                     clock=lambda: 1700000000)
    assert (d.ok, d.attempts, d.status) == (True, 3, 200)
    assert len(waits) == 2 and 0 <= waits[0] <= 30 and waits[1] == 7.0
    bodies = {body for _, body in receiver.got}
    assert len(bodies) == 1  # every attempt sends the same body
    headers, body = receiver.got[-1]
    assert headers["x-mosaic-dedup-key"] == "openai-rate-limit|abc123"
    assert json.loads(body)["dedup_key"] == "openai-rate-limit|abc123"
    stamp = headers["x-mosaic-timestamp"]
    assert stamp == "1700000000"
    want = hmac.new(b"s3cret", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["x-mosaic-signature"] == f"sha256={want}"


def test_a_4xx_is_final_and_a_dead_receiver_gives_up(receiver: Receiver) -> None:
    receiver.script = [(404, {})]
    d = post_webhook(receiver.url, {"message": "x"}, sleep=lambda s: None)
    assert (d.ok, d.attempts, d.status) == (False, 1, 404) and "not retried" in d.detail
    url = receiver.url
    receiver.close()
    d = post_webhook(url, {"message": "x"}, attempts=3, sleep=lambda s: None)
    assert not d.ok and d.attempts == 3 and "gave up after 3 attempts" in d.detail
    assert "XXXXsecretpath" not in d.detail


@pytest.mark.parametrize(("status", "location", "says"), (
    (308, "https://evil.example/collect?token=Leak3dT0ken", "a redirect to https://evil.example"),
    (301, "/hooks/moved", "a redirect to a path on the same host"),
    (302, "", "a redirect to nowhere (no location)"),
))
def test_a_redirect_is_not_a_delivery_nor_followed(receiver: Receiver, status: int, location: str, says: str) -> None:
    """A 3xx (an http:// URL of an https hook, a moved hook) was `ok`: an alert said delivered that nobody got. It is
    a failure now, not followed (the alert and its signature go to the configured URL only), not retried, and says
    where it pointed by scheme and host only (a location's query may carry a token)."""
    receiver.script = [(status, {"Location": location} if location else {})]
    d = post_webhook(receiver.url, {"message": "PG_AUTH_FAILED"}, secret="s3cret", sleep=lambda s: None)
    assert (d.ok, d.attempts, d.status) == (False, 1, status), d
    assert says in d.detail and "not delivered" in d.detail and "not followed" in d.detail
    assert "Leak3dT0ken" not in d.detail and "XXXXsecretpath" not in d.detail
    assert len(receiver.got) == 1


def test_slack_shape_and_detection(receiver: Receiver) -> None:
    assert is_slack("https://hooks.slack.com/services/T0/B0/abc")
    assert not is_slack("https://example.org/hooks.slack.com/x")
    d = post_webhook(receiver.url, {"message": "PG_AUTH_FAILED: password authentication failed",
                                    "label": "PG_AUTH_FAILED", "count": 3}, fmt="slack", sleep=lambda s: None)
    assert d.ok
    body = json.loads(receiver.got[-1][1])
    assert body["text"].startswith("PG_AUTH_FAILED") and body["blocks"][0]["type"] == "section"
    assert "*count*: 3" in body["blocks"][1]["text"]["text"]
    assert slack_body({})["text"] == "mosaic-diag alert"


def test_secrets_in_the_payload_are_redacted_on_the_wire(receiver: Receiver) -> None:
    post_webhook(receiver.url, {"message": "connect failed: postgresql://mosaic:Hunter2pw@db.internal/app"},
                 sleep=lambda s: None)
    assert b"Hunter2pw" not in receiver.got[-1][1]


def test_a_non_http_url_is_refused_without_a_request() -> None:
    d = post_webhook("file:///etc/passwd", {"message": "x"})
    assert not d.ok and d.attempts == 0


def test_the_alert_ops_action_posts_through_it_signed_retried_and_keyed(receiver: Receiver, tmp_path) -> None:
    """A playbook's alert_ops, executed: the 503 is retried, the body is signed and carries the incident's key."""
    from mosaic_diag.playbooks import PlaybookSettings, PlaybookStore, execute_plan, plan_playbook

    pb = tmp_path / "pb"
    pb.mkdir()
    (pb / "alert.yml").write_text("- id: rate-alert\n  match:\n    label: OPENAI_RATE_LIMIT\n  severity: high\n"
                                  "  remediate:\n    - action: alert_ops\n      when: always\n"
                                  "      message: \"rate limited {count_5m} times in 5 min\"\n")
    store = PlaybookStore.load(pb)
    settings = PlaybookSettings(root=tmp_path, webhook_url=receiver.url, webhook_secret="whsec_test",
                                webhook_format="slack")
    playbook = store.match("OPENAI_RATE_LIMIT", stage="runtime")
    facts = {"label": "OPENAI_RATE_LIMIT", "severity": "high", "stage": "runtime", "count_5m": 11,
             "fingerprint": "fp0123456789"}
    receiver.script = [(503, {})]
    outcomes = execute_plan(plan_playbook(playbook, facts, settings), settings)
    assert [(o.action, o.ok) for o in outcomes] == [("alert_ops", True)]
    assert "after 2 attempts" in outcomes[0].detail and "XXXXsecretpath" not in outcomes[0].detail
    assert len(receiver.got) == 2
    headers, body = receiver.got[-1]
    assert headers["x-mosaic-dedup-key"] == "rate-alert|fp0123456789"
    stamp = headers["x-mosaic-timestamp"]
    assert headers["x-mosaic-signature"] == "sha256=" + hmac.new(
        b"whsec_test", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert json.loads(body)["text"] == "[mosaic-diag] rate limited 11 times in 5 min"


def test_the_answers_body_is_not_read_and_its_retry_after_is_bounded(receiver: Receiver) -> None:
    """A receiver's answer is its status: a body of any length was read whole into memory; a Retry-After of
    NaN or below zero made sleep() raise, ending the delivery instead of backing off."""
    receiver.answer = b"x" * (256 << 20)
    d = post_webhook(receiver.url, {"message": "x"}, sleep=lambda s: None)
    assert d.ok and receiver.written < (64 << 20)  # what the sockets' buffers took, not the 256 MiB
    receiver.answer = b"ok"
    receiver.script = [(503, {"Retry-After": "nan"}), (429, {"Retry-After": "-5"}), (200, {})]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if not 0 <= seconds < float("inf"):
            raise ValueError(f"sleep length {seconds}")

    d = post_webhook(receiver.url, {"message": "x"}, sleep=sleep)
    assert (d.ok, d.attempts) == (True, 3) and all(0 <= w <= 30 for w in waits)


def test_log_text_in_a_slack_alert_is_text_not_a_mention_or_a_link(receiver: Receiver) -> None:
    """Slack reads `<!channel>`, `<@U123>` and `<https://x|label>` in mrkdwn as a mention of everyone and a link
    whose text hides its address; an alert's text and fields come from the log, so `&`, `<`, `>` are escaped
    as Slack asks."""
    hostile = "boom <!channel> <@U024BE7LH> see <https://evil.example/login|docs.python.org> & more"
    d = post_webhook(receiver.url, {"text": hostile, "reason": "log.last_error = '<!here>'"}, fmt="slack",
                     sleep=lambda s: None)
    assert d.ok
    body = json.loads(receiver.got[-1][1])
    shown = [body["text"], *(b["text"]["text"] for b in body["blocks"])]
    assert not [t for t in shown if "<" in t or ">" in t], shown
    assert "&lt;!channel&gt;" in body["text"] and "&amp; more" in body["text"]
    assert "&lt;!here&gt;" in body["blocks"][1]["text"]["text"]


def test_log_text_in_an_alert_calls_no_one_in_any_shape(receiver: Receiver, tmp_path) -> None:
    """A log line is the attacker's text: filled into an alert (`{log.last_error}`) sent in the JSON shape (Mattermost,
    Discord's Slack-compatible hook, Teams read `text`), its `@channel`, `<!everyone>` and Markdown link reached the
    channel as written, paging everyone with the attacker's link. A fact's mentions and links now carry an invisible
    word joiner, in the text and in the condition's reason; the playbook's own `@oncall` is kept."""
    from mosaic_diag.playbooks import PlaybookSettings, PlaybookStore, execute_plan
    from mosaic_diag.playbooks.planner import gather_and_plan

    WORD_JOINER = "\u2060"  # noqa: N806

    pb = tmp_path / "pb"
    pb.mkdir()
    (pb / "alert.yml").write_text("- id: db-alert\n  match:\n    label: PG_AUTH_FAILED\n  severity: high\n"
                                  "  gather:\n    - log_tail: 50\n"
                                  "  remediate:\n    - action: alert_ops\n      when: log.last_error != ''\n"
                                  "      message: \"{label}: {log.last_error}; paging @oncall\"\n")
    hostile = ("FATAL: password authentication failed @channel <!everyone> <@U024BE7LH> @here "
               "[re-authenticate](https://evil.example/login)")
    settings = PlaybookSettings(root=tmp_path, webhook_url=receiver.url, webhook_format="json")
    playbook = PlaybookStore.load(pb).match("PG_AUTH_FAILED", stage="runtime")
    facts = {"label": "PG_AUTH_FAILED", "severity": "high", "stage": "runtime"}
    line = f"2026-11-27 14:00:01 ERROR app: {hostile}"  # what the app logged of the attacker's login attempt
    outcomes = execute_plan(gather_and_plan(playbook, facts, settings, log_lines=(line,)), settings)
    assert [(o.action, o.ok) for o in outcomes] == [("alert_ops", True)]
    body = json.loads(receiver.got[-1][1])
    for shown in (body["text"], body["reason"]):
        for call in ("@channel", "<!everyone>", "<@U024BE7LH>", "@here", "](https://"):
            assert call not in shown, (call, shown)
    assert f"@{WORD_JOINER}channel" in body["text"] and f"]{WORD_JOINER}(https://evil.example/login)" in body["text"]
    assert body["text"].replace(WORD_JOINER, "") == f"[mosaic-diag] PG_AUTH_FAILED: {line}; paging @oncall"
