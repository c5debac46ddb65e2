"""One raw log event -> one classified ErrorEvent: evidence, classification (cached), message, fingerprint."""

from __future__ import annotations

from typing import Any

from mosaic_diag.classifier.classify import Classification, Classifier
from mosaic_diag.classifier.evidence import Evidence, evidence_from_text
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.platform.lazyre import LazyPattern
from mosaic_diag.platform.redact import RedactMemo, redact_text
from mosaic_diag.triage.fingerprint import fingerprint
from mosaic_diag.triage.model import ErrorEvent


def _application_frame(evidence: Evidence, cls: Classification) -> str | None:
    chain = [e for e in evidence.exceptions if e.type == cls.exception_type] or list(
        evidence.exceptions)
    for exc in reversed(chain):
        app = [f for f in exc.frames if f.is_application]
        if app:
            f = app[-1]
            return f"{f.file}:{f.function}"
    return None


_VOLATILE = LazyPattern(r"\d{4,}|\b[0-9a-f]{8,}\b")


def _volatile(text: str | None) -> str | None:
    """`text` with long digit runs and hex ids blanked (a cache key, nothing else)."""
    return _VOLATILE.sub("#", text) if text else text


def _exception_message(traceback_text: str, exception_type: str | None) -> str | None:
    """The message of the exception `exception_type` in a traceback (the last one printed)."""
    if exception_type:
        at = traceback_text.rfind(f"\n{exception_type}: ")
        if at >= 0:
            start = at + len(exception_type) + 3
            end = traceback_text.find("\n\n", start)
            return traceback_text[start:end if end >= 0 else None].rstrip()
    from mosaic_diag.classifier.tracebacks import parse_traceback_text

    for exc in reversed(parse_traceback_text(traceback_text)):
        if exc.type == exception_type or exception_type is None:
            return exc.message
    return None


def _typed(evidence: Evidence) -> bool:
    """Whether an exception line was read (a traceback cut before it has frames and no type)."""
    return any(e.type for e in evidence.exceptions)


def evidence_of(raw: RawEvent) -> Evidence:
    """Evidence for a raw log event: its traceback (if any) plus its own log record."""
    message = raw.message or ""
    detail = raw.detail
    if detail:
        message = f"{message}\n{detail}"
    kind = "platform" if raw.kind == "platform" else "error"
    if raw.traceback:
        evidence = evidence_from_text(raw.traceback, logger=raw.logger, level=raw.level,
                                      log_message=message or None, kind=kind)
        if _typed(evidence):
            return evidence
        # a traceback cut before its exception line: what it printed (loguru's value notes, a `raise X(…)` source
        # line) is evidence as the record's own text, as `classify` reads the same paste alone
        message = f"{message}\n{raw.traceback}" if message else raw.traceback
        return evidence_from_text(message, logger=raw.logger, level=raw.level, log_message=message, kind=kind)
    return evidence_from_text(message, logger=raw.logger, level=raw.level, log_message=message,
                              kind=kind)


class EventClassifier:
    """Classifies raw error events; the same failure (modulo ids and counters) is classified once."""

    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier
        self._seen: dict[tuple[Any, ...], tuple[Classification, str, bool]] = {}
        self._volatile_tb: dict[str, str] = {}
        self._volatile_msg: dict[str, str] = {}
        self._redact = RedactMemo()

    def _volatile_message(self, text: str | None) -> str | None:
        """`_volatile(text)`, each distinct message blanked once."""
        if not text:
            return text
        done = self._volatile_msg.get(text)
        if done is None:
            if len(self._volatile_msg) >= 10_000:
                self._volatile_msg.clear()
            done = self._volatile_msg[text] = _VOLATILE.sub("#", text)
        return done

    def event(self, raw: RawEvent) -> ErrorEvent:
        """The classified ErrorEvent of one raw error event."""
        # The same failure repeats with the same text but for ids and counters: parse and
        # classify it once. Long digit runs and long hex ids never decide a label (HTTP statuses
        # have 3 digits), and the fingerprint's template replaces them anyway.
        detail = raw.detail
        tb = raw.traceback
        if tb:  # the same traceback text repeats exactly more often than not: blank its ids once
            vtb = self._volatile_tb.get(tb)
            if vtb is None:
                if len(self._volatile_tb) >= 10_000:
                    self._volatile_tb.clear()
                vtb = self._volatile_tb[tb] = _VOLATILE.sub("#", tb)
        else:
            vtb = tb
        key = (raw.kind, vtb, self._volatile_message(raw.message), _volatile(detail), raw.logger, raw.level)
        known = self._seen.get(key)
        if known is None:
            evidence = evidence_of(raw)
            cls = self.classifier.classify(evidence)
            own = raw.message if not detail else f"{raw.message}\n{detail}"
            cut = bool(tb) and not _typed(evidence)  # (its text read as the record's own: the record's message shows)
            message = redact_text((own if cut else cls.message) or raw.message or "")[:4000]
            first_line = message.strip().splitlines()[0] if message.strip() else ""
            fp = fingerprint(cls.label, cls.exception_type, first_line,
                             _application_frame(evidence, cls))
            from_log = bool(raw.message) and (cut or cls.message == own)
            known = (cls, fp, from_log)
            if len(self._seen) >= 50_000:
                self._seen.clear()
            self._seen[key] = known
        else:
            message = ""
        cls, fp, from_log = known
        if not message:
            text = cls.message
            if from_log or not raw.traceback:
                text = raw.message if not detail else f"{raw.message}\n{detail}"
            elif raw.traceback:
                text = _exception_message(raw.traceback, cls.exception_type) or cls.message
            message = self._redact(text or raw.message or "")[:4000]
        return ErrorEvent(raw.line, raw.end_line, cls.label, cls.category, cls.severity,
                          raw.timestamp, cls.exception_type, message, fp, cls.rule_id,
                          raw.logger, raw.instance, raw.shape)
