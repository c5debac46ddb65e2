"""PostgreSQL's and libpq's messages in other languages, read back into English for the rules.

A server whose `lc_messages` is German says `FEHLER:  Relation »users« existiert nicht`; libpq in a Chinese locale
says `连接到"db" (10.0.0.5)上的服务器，端口5432失败：`; glibc under it `Verbindungsaufbau abgelehnt`. The rules are
written against the English messages. `rules/pg_l10n.yml` (generated from the catalogs by tools/pg_catalogs.py)
holds, per English msgid, each translation as a regex; `to_english` replaces what a text holds of them by the
English msgid with the same arguments, and the severity words (`FEHLER`, `致命错误`, `DÉTAIL`) by `ERROR`,
`FATAL`, `DETAIL`. The classifier runs its rules again on that text when the English one gave nothing, or the
text holds non-ASCII characters (`Classifier._classify`): the English path never loads the file.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mosaic_diag.platform import recache
from mosaic_diag.platform.lazyre import LazyPattern

if TYPE_CHECKING:
    from mosaic_diag.classifier.evidence import Evidence

DATA_FILE = Path(__file__).parent / "rules" / "pg_l10n.yml"
SEVERITIES_FILE = Path(__file__).parent / "rules" / "pg_severities.yml"
# PostgreSQL's severities of an error (a log line's `ERROR:  `, `FATAL:  `, `PANIC:  `)
ERROR_SEVERITIES = ("ERROR", "FATAL", "PANIC")
# a printf conversion as PostgreSQL's and glibc's messages write them (`%s`, `%d`, `%2$s`, `%lu`, `%.*s`, `%m`)
CONVERSION = LazyPattern(
    r"%(?:(\d+)\$)?[-+ #0']*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?:hh|h|ll|l|L|q|j|z|t)?[diouxXeEfFgGaAcspm%]")
_WINDOW = 400  # a translation's regex runs on this many characters either side of its word's sight
_MAX_SIGHTS = 16  # sights of a word looked at in one text (a line of the same word repeated is read no further)
_MIN_LITERAL = 4  # a translation with fewer letters of its own than this says too little to be read back
_MIN_ASCII_LITERAL = 10


def translation_regex(msgstr: str) -> tuple[str, list[int]] | None:
    """A translation as a regex (each conversion a lazy group of at most 200 characters, a name's, a value's, a
    host's; whitespace runs `\\s+`) and, for each group, the
    English argument it holds (1-based; 0 for `%m`, glibc's error text, which takes no argument); None when the
    translation is too short to be told from other text."""
    text = msgstr.strip()
    parts: list[str] = []
    args: list[int] = []
    literal = []
    pos = 0
    seq = 0
    for m in CONVERSION.finditer(text):
        literal.append(text[pos:m.start()])
        parts.append(_literal(text[pos:m.start()]))
        pos = m.end()
        if m.group(0) == "%%":
            parts.append("%")
            continue
        if m.group(0).endswith("m"):
            args.append(0)
        else:
            seq += 1
            args.append(int(m.group(1)) if m.group(1) else seq)
        # (an argument holds no newline, nor the quote that closes it: `»%s«`, `"%s"`)
        after = text[m.end():m.end() + 1]
        closing = re.escape(after) if after and not after.isspace() and after != "%" and not after.isalnum() else ""
        parts.append(f"([^{closing}\\n]{{0,200}}?)")
    literal.append(text[pos:])
    parts.append(_literal(text[pos:]))
    own = re.sub(r"\s+", "", "".join(literal))
    if len(own) < (_MIN_ASCII_LITERAL if own.isascii() else _MIN_LITERAL):
        return None
    return "".join(parts), args


def _literal(text: str) -> str:
    return r"\s+".join(re.escape(piece) for piece in re.split(r"\s+", text))


@dataclass(frozen=True)
class _Message:
    """One translation of one English msgid."""

    locale: str
    msgid: str
    text: str
    anchor: str  # its longest piece of its own, lower-cased: looked for before the regex runs
    pattern: str
    args: tuple[int, ...]

    def english(self, m: re.Match[str]) -> str:
        """The English msgid with the arguments the translation's match holds."""
        values = {arg: m.group(i + 1) for i, arg in enumerate(self.args)}
        seq = 0

        def fill(c: re.Match[str]) -> str:
            nonlocal seq
            if c.group(0) == "%%":
                return "%"
            if c.group(0).endswith("m"):
                return values.get(0, "")
            seq += 1
            return values.get(int(c.group(1)) if c.group(1) else seq, "")

        english = CONVERSION.sub(fill, self.msgid.strip())
        # a prefix libpq writes before glibc's text (`… failed: `) keeps its blank where the translation has none
        # (zh_CN: `…失败：拒绝连接`)
        after = m.string[m.end():m.end() + 1]
        return english + " " if self.msgid.rstrip("\n").endswith(" ") and after and not after.isspace() else english


@dataclass(frozen=True)
class Reading:
    """What `to_english` read back: the translations found (locale, translation, msgid)."""

    found: tuple[tuple[str, str, str], ...]

    def describe(self) -> str:
        """`de: Relation »%s« existiert nicht = relation "%s" does not exist; FEHLER = ERROR`."""
        return "; ".join(f"{loc}: {text.strip()} = {msgid.strip()}" if loc else f"{text} = {msgid}"
                         for loc, text, msgid in self.found)


_WORD = LazyPattern(r"\w+")


def anchor_of(text: str, english: frozenset[str] = frozenset()) -> tuple[str, bool] | None:
    """A translation's longest word of its own, lower-cased, and whether a text holds it as a word of its own (a
    run of word characters no conversion touches) or only inside one (`列%s.%sは存在しません`: the name glued
    to it), or None. A word of `english` (the catalog's English messages' words: `transaction`, `session`, kept as
    they are by a Korean or French translation) is taken only when the translation has no other: English text
    holds it, and every English line holding it would be read against the catalog."""
    free: list[str] = []
    glued: list[str] = []
    for piece, glued_left, glued_right in _pieces(text):
        for m in _WORD.finditer(piece):
            touches = (m.start() == 0 and glued_left) or (m.end() == len(piece) and glued_right)
            (glued if touches else free).append(m.group(0).lower())
    for words, own in ((free, True), (glued, False)):
        other = [w for w in words if w not in english]
        if other:
            return max(other, key=len), own
    if free:
        return max(free, key=len), True
    return (max(glued, key=len), False) if glued else None


def english_words(data: dict[str, Any]) -> frozenset[str]:
    """The words of the catalog's English messages, lower-cased (their conversions' letters left out)."""
    return frozenset(w.lower() for entry in data.get("messages") or []
                     for w in _WORD.findall(CONVERSION.sub(" ", str(entry.get("msgid", "")))))


def _pieces(text: str) -> list[tuple[str, bool, bool]]:
    """The literal pieces of a translation, each with whether a conversion is right before and right after it."""
    out = []
    pos = 0
    convs = list(CONVERSION.finditer(text))
    for i, m in enumerate(convs + [None]):
        end = m.start() if m is not None else len(text)
        out.append((text[pos:end], i > 0, m is not None))
        if m is not None:
            pos = m.end()
    return out


class Catalog:
    """The translations of `rules/pg_l10n.yml`, indexed by a word of their own and compiled at first sight."""

    def __init__(self, data: dict[str, Any], words: dict[str, str] | None = None) -> None:
        messages: list[_Message] = []
        glued: list[_Message] = []  # looked for inside the text's words (a CJK word glued to an argument)
        chars: set[str] = set()
        english = english_words(data)
        for entry in data.get("messages") or []:
            for loc, tr in (entry.get("translations") or {}).items():
                made = anchor_of(tr["text"], english)
                if made is None:
                    continue
                msg = _Message(loc, entry["msgid"], tr["text"], made[0], tr["regex"], tuple(tr["args"]))
                (messages if made[1] else glued).append(msg)
                chars.update(c for c in tr["text"] if not c.isascii())
        # the longest first: a message that holds another's words is read whole
        messages.sort(key=lambda m: -len(m.text))
        glued.sort(key=lambda m: -len(m.text))
        self.glued = glued
        self.order = {id(m): i for i, m in enumerate(sorted(messages + glued, key=lambda m: -len(m.text)))}
        self.by_anchor: dict[str, list[_Message]] = {}
        for msg in messages:
            self.by_anchor.setdefault(msg.anchor, []).append(msg)
        self._compiled: dict[str, re.Pattern[str]] = {}  # a message's regex, compiled at its anchor's first sight
        words = severity_words() if words is None else words
        self.chars = frozenset(chars)
        alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        # `FEHLER:  `, `致命错误:  `, `DÉTAIL : ` (French puts a space before its colon)
        self.words = words
        self.severity = recache.compile(rf"(?<![\w-])({alternatives})(?=\s?[:：])") if words else None

    def candidates(self, text: str) -> list[_Message]:
        """The messages whose word `text` holds, longest first (a text of other characters is not looked at)."""
        if not text.isascii() and self.chars.isdisjoint(text):
            return []
        lowered = text.lower()
        found = [m for w in set(_WORD.findall(lowered)) for m in self.by_anchor.get(w, ())]
        if not text.isascii():
            found += [m for m in self.glued if m.anchor in lowered]
        return sorted(found, key=lambda m: self.order[id(m)])

    def to_english(self, text: str) -> tuple[str, list[tuple[str, str, str]]]:
        """`text` with the translations it holds read back into English, and what was found."""
        found: list[tuple[str, str, str]] = []
        for msg in self.candidates(text):
            rx = self._compiled.get(msg.pattern)
            if rx is None:
                rx = self._compiled[msg.pattern] = recache.compile(msg.pattern, re.IGNORECASE)
            spans = _sightings(rx, msg, text)
            if spans:
                found.append((msg.locale, msg.text, msg.msgid))
                parts, pos = [], 0
                for start, end, english in spans:
                    parts += [text[pos:start], english]
                    pos = end
                text = "".join(parts) + text[pos:]
        if found and self.severity is not None:  # the words alone say nothing of the label
            said = [m.group(1) for m in self.severity.finditer(text)]
            if said:
                text = self.severity.sub(lambda m: self.words[m.group(1)], text)
                found.extend(("", w, self.words[w]) for w in dict.fromkeys(said))
        return text, found


def _load(path: Path) -> Any:
    """The YAML file's data, from the on-disk cache (`yamlcache`) when its text was loaded before."""
    from mosaic_diag.platform import yamlcache

    text = path.read_text(encoding="utf-8")
    key = yamlcache.key_of(text)
    found = yamlcache.get(key)
    if found is not yamlcache.MISS:
        return found
    import yaml

    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    yamlcache.put(key, data)
    return data


ANCHORS_VERSION = "l10n-anchors-4"


@lru_cache(maxsize=1)
def anchors() -> frozenset[str]:
    """The catalog's words of their own (`existiert`, `benutzer`, ...), lower-cased: an ASCII text that holds none
    of them holds no translation, and the catalog (2,000 messages) is not loaded for it. Kept in the on-disk cache
    under a key of the data file's text."""
    from mosaic_diag.platform import yamlcache

    key = f"{ANCHORS_VERSION}-{yamlcache.key_of(DATA_FILE.read_text(encoding='utf-8'))}"
    found = yamlcache.get_plain(key)
    if isinstance(found, list):
        return frozenset(found)
    # (a translation in an ASCII copy whose letters were lost, `idle-in-transaction ?? ???`, is anchored by a word of
    # the English messages; such a text is one holding `??`, below, not every English line holding `transaction`)
    words = frozenset(w for w, msgs in catalog().by_anchor.items() if any("??" not in m.text for m in msgs))
    yamlcache.put_plain(key, sorted(words))
    return words


def may_hold_translation(text: str) -> bool:
    """Whether `text` may hold a translation: any text of other characters than ASCII, or an ASCII one holding a
    catalog word (a transliterated `Passwort-Authentifizierung f?r Benutzer`) or letters lost as `??` (a Korean
    message through an ASCII client: `idle-session ?? ??? ??? ????`)."""
    return bool(text) and (not text.isascii() or "??" in text
                           or not anchors().isdisjoint(_WORD.findall(text.lower())))


@lru_cache(maxsize=1)
def severity_words() -> dict[str, str]:
    """PostgreSQL's severity and field words in the catalogs' languages (`FEHLER`, `致命错误`, `DÉTAIL`, `VAZHNO`,
    ...) -> the English word (`ERROR`, `FATAL`, `DETAIL`); from `rules/pg_severities.yml` (a few KB)."""
    words: dict[str, str] = {}
    for table in _load(SEVERITIES_FILE).values():
        words.update(table)
    return words


def _sightings(rx: re.Pattern[str], msg: _Message, text: str) -> list[tuple[int, int, str]]:
    """Where `msg`'s regex matches `text` near its word (its first and last _MAX_SIGHTS // 2 sights, each a window
    of the text: a long line of the word repeated costs no more), as (start, end, its English), in order, not
    overlapping."""
    lowered = text.lower()
    if len(lowered) != len(text):  # (a letter whose lower case is longer: the positions differ, read it whole)
        return [(m.start(), m.end(), msg.english(m)) for m in rx.finditer(text)][:_MAX_SIGHTS]
    sights: list[int] = []
    i = lowered.find(msg.anchor)
    while i >= 0 and len(sights) < _MAX_SIGHTS // 2:
        sights.append(i)
        i = lowered.find(msg.anchor, i + 1)
    last: list[int] = []
    j = lowered.rfind(msg.anchor)
    while i >= 0 and j > sights[-1] and len(last) < _MAX_SIGHTS // 2:
        last.append(j)
        j = lowered.rfind(msg.anchor, 0, j)
    spans: list[tuple[int, int, str]] = []
    for i in sights + last[::-1]:
        lo = max(spans[-1][1] if spans else 0, i - _WINDOW)
        hi = i + len(msg.anchor) + _WINDOW
        if lo >= hi:
            continue
        m = rx.search(text, lo, hi)
        if m is not None and m.end() > m.start():
            spans.append((m.start(), m.end(), msg.english(m)))
    return spans


_CATALOG: Catalog | None = None
_LOCK = threading.Lock()


def catalog() -> Catalog:
    """The shipped catalog, loaded at first use."""
    global _CATALOG
    if _CATALOG is None:
        with _LOCK:
            if _CATALOG is None:
                _CATALOG = Catalog(_load(DATA_FILE))
    return _CATALOG


def to_english(text: str) -> str:
    """`text` with the PostgreSQL, libpq and glibc translations it holds read back into English."""
    return catalog().to_english(text)[0]


def english_evidence(evidence: Evidence) -> tuple[Evidence, Reading] | None:
    """`evidence` with its messages read back into English, or None when they hold no translation."""
    texts = (*(e.message for e in evidence.exceptions), evidence.log_message or "")
    if not any(may_hold_translation(t) for t in texts):
        return None
    cat = catalog()
    found: list[tuple[str, str, str]] = []
    exceptions = []
    for exc in evidence.exceptions:
        message, seen = cat.to_english(exc.message)
        found += seen
        exceptions.append(replace(exc, message=message) if seen else exc)
    log_message = evidence.log_message
    if log_message:
        log_message, seen = cat.to_english(log_message)
        found += seen
    if not found:
        return None
    unique = tuple(dict.fromkeys(found))
    return replace(evidence, exceptions=tuple(exceptions), log_message=log_message), Reading(unique)
