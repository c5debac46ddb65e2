"""The one classifier: Evidence -> Classification, by the rules of the taxonomy (data)."""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mosaic_diag.classifier.evidence import (
    Evidence,
    ExceptionInfo,
    evidence_from_exception,
    evidence_from_text,
    exception_info,
    hosts_in,
    provider_of_context,
    provider_of_type,
)
from mosaic_diag.classifier.taxonomy import (
    UNKNOWN,
    Condition,
    PatternGaveUp,
    Regex,
    Rule,
    Taxonomy,
    load_taxonomy,
    rules_key,
)
from mosaic_diag.platform import notes, recache

_CACHE_LIMIT = 20_000


@dataclass(frozen=True)
class Hit:
    """One key of a rule and the text it matched."""

    key: str
    text: str
    where: str

    def describe(self) -> str:
        return f"{self.key} matched {self.text!r} in {self.where}"


@dataclass(frozen=True)
class Classification:
    """The label of one error event and why."""

    label: str
    category: str
    severity: str
    retryable: bool
    rule_id: str | None
    rule_source: str | None
    exception_type: str | None
    message: str
    hits: tuple[Hit, ...] = ()

    @property
    def explanation(self) -> str:
        if self.rule_id is None:
            return "no rule matched: UNKNOWN_ERROR (grouped by fingerprint)"
        why = "; ".join(hit.describe() for hit in self.hits)
        return f"rule {self.rule_id} ({self.rule_source}) -> {self.label}: {why}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "category": self.category,
            "severity": self.severity,
            "retryable": self.retryable,
            "rule": self.rule_id,
            "rule_source": self.rule_source,
            "exception_type": self.exception_type,
            "message": self.message,
            "hits": [{"key": h.key, "text": h.text, "where": h.where} for h in self.hits],
            "explanation": self.explanation,
        }


class _TypeGlobs:
    """A condition's `type` globs (fnmatch's, case-sensitive): a name without a wildcard is compared as it is (no
    regex to compile for it), the others are one regex."""

    __slots__ = ("names", "rx")

    def __init__(self, patterns: tuple[str, ...]) -> None:
        wild = [p for p in patterns if any(c in p for c in "*?[")]
        self.names = frozenset(p for p in patterns if p not in wild)
        self.rx = recache.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in wild)) if wild else None

    def match(self, name: str) -> bool:
        return name in self.names or (self.rx is not None and self.rx.match(name) is not None)


def _relayed_type(cand: ExceptionInfo) -> bool:
    """Whether `cand`'s type is one provider's client relaying the other's error (taxonomy rule 7: an openai client's
    `NotFoundError` carrying LiteLLM's `AnthropicException - {…}`): its own name is then no evidence of its provider,
    the wrapper's alias (`anthropic.NotFoundError`) is."""
    own = provider_of_type(cand.type)
    return own is not None and cand.provider is not None and own != cand.provider


class _EventView:
    """Lazily computed facts about one Evidence, shared by all rules."""

    def __init__(self, evidence: Evidence) -> None:
        self.evidence = evidence
        self._provider: str | None | bool = False
        self._hosts: tuple[str, ...] | None = None
        self._text: str | None = None
        self._frames: tuple[str, ...] | None = None
        cands = list(evidence.exceptions)
        if evidence.log_message:
            cands.append(exception_info(None, evidence.log_message))
        self.candidates: tuple[ExceptionInfo, ...] = tuple(cands) or (ExceptionInfo(None, ""),)

    @property
    def provider(self) -> str | None:
        if self._provider is False:
            self._provider = provider_of_context(self.evidence)
        return self._provider  # type: ignore[return-value]

    @property
    def text(self) -> str:
        if self._text is None:
            parts = [self.evidence.log_message or ""]
            parts += [e.message for e in self.evidence.exceptions]
            self._text = "\n".join(p for p in parts if p)
        return self._text

    @property
    def hosts(self) -> tuple[str, ...]:
        if self._hosts is None:
            self._hosts = hosts_in(self.text)
        return self._hosts

    @property
    def frame_texts(self) -> tuple[str, ...]:
        if self._frames is None:
            self._frames = tuple(f.text() for f in self.evidence.frames)
        return self._frames


def _search(pattern: Regex, texts: tuple[str, ...] | list[str]) -> str | None:
    for text in texts:
        m = pattern.search(text)
        if m:
            return m.group(0) or text[:60]
    return None


def _numbers_hold(cond: Condition, message: str) -> tuple[Any, list[str]] | None:
    """The first match of `cond.message` in `message` whose captured numbers make all of `cond.numbers` hold, and
    what each comparison said; every match is tried, not only the first: the number that decides may come after
    others the same regex also takes (a port or an address before the status, an earlier attempt's count)."""
    assert cond.message is not None
    for m in cond.message.matches(message):
        saids = [comparison.said(m) for comparison in cond.numbers]
        if all(said is not None for said in saids):
            return m, saids  # type: ignore[return-value]
    return None


class Classifier:
    """Labels evidence with the taxonomy's rules; the most specific (highest priority) wins."""

    def __init__(self, taxonomy: Taxonomy, on_skip: Callable[[str], None] | None = None, *,
                 translations: bool = True) -> None:
        self.taxonomy = taxonomy
        self.translations = translations  # read PostgreSQL's messages in other languages back into English (l10n)
        self.rules = taxonomy.rules  # less a user rule whose regex gave up (skipped for the rest of the run)
        self.skipped: list[str] = []  # the notes of the rules skipped
        self.on_skip = on_skip or _note
        self._types: dict[int, _TypeGlobs] = {}  # a condition's `type` globs, made at first use
        self._cache: dict[Evidence, Classification] = {}

    @classmethod
    def default(cls, rules: Path | None = None) -> Classifier:
        """The classifier of the shipped taxonomy (plus a user rules file)."""
        key = rules_key(rules) if rules else ()  # (a relative name elsewhere, or the file edited: another one)
        cached = _DEFAULTS.get(key)
        if cached is None:
            with _DEFAULTS_LOCK:  # threads asking at once make one
                cached = _DEFAULTS.get(key)
                if cached is None:
                    cached = _DEFAULTS[key] = cls(load_taxonomy(rules))
        return cached

    # -- entry points -------------------------------------------------------------------
    def classify_exception(self, exc: BaseException, *, logger: str | None = None,
                           log_message: str | None = None) -> Classification:
        """Classify a live exception (its whole cause/context chain)."""
        return self.classify(evidence_from_exception(exc, logger=logger, log_message=log_message))

    def classify_text(self, text: str, *, logger: str | None = None, level: str | None = None
                      ) -> Classification:
        """Classify a traceback, an exception line, or a log message."""
        return self.classify(evidence_from_text(text, logger=logger, level=level))

    def classify(self, evidence: Evidence) -> Classification:
        """The label of `evidence` (memoised: identical evidence is classified once)."""
        try:
            cached = self._cache.get(evidence)
        except TypeError:  # unhashable (should not happen with frozen evidence)
            cached = None
        if cached is not None:
            return cached
        result = self._classify(evidence)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[evidence] = result
        return result

    # -- the engine ---------------------------------------------------------------------
    def _classify(self, evidence: Evidence) -> Classification:
        view = _EventView(evidence)
        found = self._first_rule(view)
        if found is not None and view.text.isascii():
            return self._result(found[0].label, found[0], found[1], found[2], evidence)
        # nothing matched, or the text is not all ASCII: PostgreSQL's, libpq's and glibc's messages in another
        # language, read back into English (l10n), may match a rule, or a more specific one
        local = self._localized(evidence, found) if self.translations else None
        if local is not None:
            return local
        if found is not None:
            return self._result(found[0].label, found[0], found[1], found[2], evidence)
        return self._result(UNKNOWN, None, evidence.final, (), evidence)

    def _first_rule(self, view: _EventView) -> tuple[Rule, ExceptionInfo, tuple[Hit, ...]] | None:
        """The first rule (the highest priority) that matches the event, with the exception it matched and why."""
        for rule in self.rules:
            try:
                found = self._rule_hits(rule, view)
            except PatternGaveUp as exc:
                self._skip(rule, exc)
                continue
            if found is not None:
                return rule, found[0], found[1]
        return None

    def _localized(self, evidence: Evidence, found: tuple[Rule, ExceptionInfo, tuple[Hit, ...]] | None
                   ) -> Classification | None:
        """The label of `evidence` read back into English when that finds a rule more specific than `found`."""
        from mosaic_diag.classifier import l10n

        english = l10n.english_evidence(evidence)
        if english is None:
            return None
        translated, reading = english
        view = _EventView(translated)
        other = self._first_rule(view)
        if other is None or (found is not None and other[0].priority <= found[0].priority):
            return None
        rule, cand, hits = other
        # the message shown is the event's own (the exception at the same place in the chain)
        index = view.candidates.index(cand)
        own = _EventView(evidence).candidates[index]
        catalog_hit = Hit("catalog", reading.describe(), "PostgreSQL's message catalogs")
        return self._result(rule.label, rule, own, (*hits, catalog_hit), evidence)

    def _skip(self, rule: Rule, exc: PatternGaveUp) -> None:
        """Drop `rule` (a user rule whose regex gave up) for the rest of the run, said once."""
        self.rules = tuple(r for r in self.rules if r is not rule)
        where = f"{exc.regex.path}:{exc.regex.line}" if exc.regex.line else exc.regex.path
        note = f"{where}: rule {rule.id}: pattern gave up after {exc.why}; rule skipped"
        self.skipped.append(note)
        self.on_skip(note)

    def _result(self, label_name: str, rule: Rule | None, cand: ExceptionInfo | None,
                hits: tuple[Hit, ...], evidence: Evidence) -> Classification:
        label = self.taxonomy.labels[label_name]
        final = evidence.final
        etype = (cand.type if cand is not None and cand.type else None) or (
            final.type if final else None)
        message = (cand.message if cand is not None and cand.message else "") or (
            final.message if final else "") or (evidence.log_message or "")
        return Classification(label.name, label.category, label.severity, label.retryable,
                              rule.id if rule else None, rule.source if rule else None,
                              etype, message, hits)

    def _rule_hits(self, rule: Rule, view: _EventView
                   ) -> tuple[ExceptionInfo, tuple[Hit, ...]] | None:
        for cond in rule.match:
            for cand in view.candidates:
                hits = self._condition_hits(cond, cand, view)
                if hits is None:
                    continue
                if any(self._condition_hits(u, c, view) is not None
                       for u in rule.unless for c in view.candidates):
                    continue
                return cand, hits
        return None

    def _condition_hits(self, cond: Condition, cand: ExceptionInfo, view: _EventView
                        ) -> tuple[Hit, ...] | None:
        hits: list[Hit] = []
        where = f"exception {cand.type}" if cand.type else "log message"
        ev = view.evidence
        if cond.type:
            if not cand.type:
                return None
            short = cand.type.rsplit(".", 1)[-1]
            rx = self._types.get(id(cond))
            if rx is None:
                rx = self._types[id(cond)] = _TypeGlobs(cond.type)
            if not (((rx.match(cand.type) or rx.match(short)) and not _relayed_type(cand))
                    or any(rx.match(a) for a in cand.aliases)):
                return None
            hits.append(Hit("type", cand.type, where))
        if cond.status:
            if cand.status not in cond.status:
                return None
            hits.append(Hit("status", str(cand.status), where))
        if cond.code:
            common = cond.code & cand.codes
            if not common:
                return None
            hits.append(Hit("code", sorted(common)[0], where))
        if cond.provider:
            provider = cand.provider or view.provider
            if provider not in cond.provider:
                return None
            source = "its type/error body" if cand.provider else "frames/logger/host/text"
            hits.append(Hit("provider", provider, source))
        if cond.message is not None:
            if cond.numbers:
                found = _numbers_hold(cond, cand.message)
                if found is None:
                    return None
                m, saids = found
                hits.append(Hit("message", m.group(0), where))
                hits += [Hit("numbers", said, where) for said in saids]
            else:
                m = cond.message.search(cand.message)
                if not m:
                    return None
                hits.append(Hit("message", m.group(0), where))
        if cond.frame is not None:
            app = [f for f in cand.frames if f.is_application]
            if not app:
                return None
            text = app[-1].text()
            m = cond.frame.search(text)
            if not m:
                return None
            hits.append(Hit("frame", m.group(0), f"innermost application frame {text}"))
        if cond.frames is not None:
            frame = _search(cond.frames, view.frame_texts)
            if frame is None:
                return None
            hits.append(Hit("frames", frame, "a traceback frame"))
        if cond.host is not None:
            host = _search(cond.host, list(view.hosts))
            if host is None:
                return None
            hits.append(Hit("host", host, "a URL host"))
        if cond.logger is not None:
            if not ev.logger or not cond.logger.search(ev.logger):
                return None
            hits.append(Hit("logger", ev.logger, "logger name"))
        if cond.log is not None:
            m = cond.log.search(ev.log_message or "")
            if not m:
                return None
            hits.append(Hit("log", m.group(0), "log message"))
        if cond.level:
            if (ev.level or "").upper() not in cond.level:
                return None
            hits.append(Hit("level", ev.level or "", "log level"))
        if cond.kind:
            if ev.kind not in cond.kind:
                return None
            hits.append(Hit("kind", ev.kind, "event kind"))
        if cond.text is not None:
            m = cond.text.search(view.text)
            if not m:
                return None
            hits.append(Hit("text", m.group(0), "event text"))
        return tuple(hits)


LOGGER = notes.LOGGER


def _note(line: str) -> None:
    """A note of the run (one line), a WARNING of the `mosaic_diag.classifier` logger (`platform.notes`: `logging`
    imported then): the core never prints (in the runtime kit, stderr is the app's); the CLI puts these lines on
    stderr (`commands/guard`)."""
    notes.note(line)


_DEFAULTS: dict[tuple[object, ...], Classifier] = {}
_DEFAULTS_LOCK = threading.Lock()
