"""The label taxonomy: labels with category, severity and aliases, and the classifier's rules.

Both live in `rules/taxonomy.yml` (data, not code). A user rules file (`--rules`, config
`rules`) extends or overrides it: labels are merged field by field, a rule with an existing
`id` replaces that rule, other rules are added.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from mosaic_diag.errors import ConfigError
from mosaic_diag.platform import recache
from mosaic_diag.platform.lazyre import LazyPattern
from mosaic_diag.platform.yamlpos import line_of, load_yaml, load_yaml_text, read_yaml_text

SHIPPED_RULES = Path(__file__).parent / "rules" / "taxonomy.yml"
CATEGORIES = ("infrastructure", "data", "model", "prompt", "integration")
SEVERITIES = ("critical", "high", "medium", "low")
SEVERITY_RANK = {name: rank for rank, name in enumerate(reversed(SEVERITIES), start=1)}
UNKNOWN = "UNKNOWN_ERROR"

EXCEPTION_KEYS = frozenset({"type", "message", "numbers", "status", "code", "provider", "frame"})
EVENT_KEYS = frozenset({"host", "frames", "logger", "log", "level", "kind", "text"})
MATCH_KEYS = EXCEPTION_KEYS | EVENT_KEYS
PROVIDERS = ("openai", "anthropic")
_LABEL_KEYS = {"category", "severity", "retryable", "provider_wide", "description", "aliases"}
_RULE_KEYS = {"id", "label", "priority", "match", "unless", "description"}
_LABEL_NAME = LazyPattern(r"^[A-Z][A-Z0-9_]*$")
# `numbers`: `NAME OP NAME` over the named groups `message` captured (or a whole number on one side)
_COMPARISON = LazyPattern(r"^\s*([A-Za-z_]\w*|\d+)\s*(<=|>=|==|!=|<|>)\s*([A-Za-z_]\w*|\d+)\s*$")
_GROUP_NAME = LazyPattern(r"\(\?P<([A-Za-z_]\w*)>")
# `%{name}` in a rule's regex: the alternatives of the named set (top-level `sets:`) in its place
_SET_REF = LazyPattern(r"%\{([^{}]*)\}")
_SET_NAME = LazyPattern(r"^[a-z][a-z0-9_]*$")
_OPERATORS: dict[str, Callable[[int, int], bool]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


@dataclass(frozen=True)
class Label:
    """One label of the taxonomy."""

    name: str
    category: str
    severity: str
    retryable: bool
    description: str
    aliases: tuple[str, ...] = ()
    provider_wide: bool = False  # the dependency fails, not this request: a breaker failure, a failover cause

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.name,
            "category": self.category,
            "severity": self.severity,
            "retryable": self.retryable,
            "provider_wide": self.provider_wide,
            "description": self.description,
            "aliases": list(self.aliases),
        }


class Regex:
    """A rule's regex (alternatives of a list joined), compiled at first use: most rules are
    decided by cheaper keys first, so a run compiles few. A user's rules file is checked at load
    (`validate`); a bad shipped one fails at first use with its file:line."""

    __slots__ = ("_compiled", "line", "path", "pattern")

    def __init__(self, pattern: str, path: str, line: int | None) -> None:
        self.pattern = pattern
        self.path = path
        self.line = line
        self._compiled: re.Pattern[str] | None = None

    def compile(self) -> re.Pattern[str]:
        if self._compiled is None:
            try:
                self._compiled = recache.compile(self.pattern, re.IGNORECASE | re.MULTILINE)
            except re.error as exc:
                raise ConfigError(f"bad regex: {exc}", path=self.path, line=self.line) from exc
        return self._compiled

    def search(self, text: str, pos: int = 0) -> re.Match[str] | None:
        return (self._compiled or self.compile()).search(text, pos)

    def matches(self, text: str) -> Iterator[Any]:
        """Every match in `text`, in order, none overlapping (as `finditer`, through `search`: a user regex keeps its
        time limits on each)."""
        pos = 0
        while pos <= len(text):
            m = self.search(text, pos)
            if m is None:
                return
            yield m
            pos = m.end() if m.end() > m.start() else m.end() + 1

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"


# a user rule's regex may backtrack catastrophically (`(x+x+)+y`): each search of one gives up after this
# long, and after this much time in slow searches in all (a pattern slow on every text would hold a long log
# too; quick searches are not counted, so a long watch does not wear a sound pattern out)
USER_SEARCH_TIMEOUT = 0.5
USER_PATTERN_BUDGET = 5.0
USER_SLOW_SEARCH = 0.005


class PatternGaveUp(Exception):
    """A user rule's regex gave up (a search took longer than USER_SEARCH_TIMEOUT, or its slow searches
    together longer than USER_PATTERN_BUDGET): the classifier skips its rule for the rest of the run."""

    def __init__(self, regex: UserRegex, why: str) -> None:
        super().__init__(why)
        self.regex = regex
        self.why = why


class UserRegex(Regex):
    """A regex of a user's rules file: run by the third-party `regex` engine, whose searches can be stopped
    (the stdlib's `re` cannot), each for at most USER_SEARCH_TIMEOUT seconds and its slow ones (USER_SLOW_SEARCH
    or longer) together for at most USER_PATTERN_BUDGET; past either, search raises PatternGaveUp. The shipped
    rules keep `re`."""

    __slots__ = ("_user", "spent")

    def __init__(self, pattern: str, path: str, line: int | None) -> None:
        super().__init__(pattern, path, line)
        self._user: Any = None
        self.spent = 0.0

    def compile(self) -> Any:  # a regex.Pattern
        if self._user is None:
            import regex

            try:
                self._user = regex.compile(self.pattern, regex.IGNORECASE | regex.MULTILINE)
            except regex.error as exc:
                raise ConfigError(f"bad regex: {exc}", path=self.path, line=self.line) from exc
        return self._user

    def search(self, text: str, pos: int = 0) -> Any:  # a regex.Match or None
        import time

        compiled = self._user or self.compile()
        left = USER_PATTERN_BUDGET - self.spent
        timeout = min(USER_SEARCH_TIMEOUT, left)
        start = time.perf_counter()
        try:
            found = compiled.search(text, pos, timeout=max(timeout, 0.001))
        except TimeoutError:
            self.spent += time.perf_counter() - start
            why = (f"{timeout:g}s on a {len(text):,}-char text" if timeout == USER_SEARCH_TIMEOUT
                   else f"{USER_PATTERN_BUDGET:g}s of slow searches in all")
            raise PatternGaveUp(self, why) from None
        took = time.perf_counter() - start
        if took >= USER_SLOW_SEARCH:
            self.spent += took
        if self.spent >= USER_PATTERN_BUDGET:
            raise PatternGaveUp(self, f"{USER_PATTERN_BUDGET:g}s of slow searches in all")
        return found

    def __repr__(self) -> str:
        return f"UserRegex({self.pattern!r})"


@dataclass(frozen=True)
class Comparison:
    """One of a condition's `numbers`: `left op right`, each side a named group of its `message` regex (the whole
    number it captured) or a whole number. A regex finds text, it cannot compare numbers: this does."""

    left: str
    op: str
    right: str

    def said(self, match: Any) -> str | None:
        """`placeholders 11 < parameters 14` when it holds for `match` (a `message` match), else None (a group
        that took no part or holds no whole number: it does not hold)."""
        values = []
        for side in (self.left, self.right):
            text = side if side.isdigit() else match.group(side)
            if text is None or not text.strip().isdigit():
                return None
            values.append(int(text))
        if not _OPERATORS[self.op](values[0], values[1]):
            return None
        return f"{_side(self.left, values[0])} {self.op} {_side(self.right, values[1])}"


def _side(name: str, value: int) -> str:
    return name if name.isdigit() else f"{name} {value}"


@dataclass(frozen=True)
class Condition:
    """One alternative of a rule's `match`: every key present must hold."""

    type: tuple[str, ...] = ()
    message: Regex | None = None
    numbers: tuple[Comparison, ...] = ()
    status: frozenset[int] = frozenset()
    code: frozenset[str] = frozenset()
    provider: frozenset[str] = frozenset()
    frame: Regex | None = None
    host: Regex | None = None
    frames: Regex | None = None
    logger: Regex | None = None
    log: Regex | None = None
    level: frozenset[str] = frozenset()
    kind: frozenset[str] = frozenset()
    text: Regex | None = None

    @property
    def needs_exception(self) -> bool:
        return bool(self.type or self.message or self.status or self.code or self.frame)


@dataclass(frozen=True)
class Rule:
    """A rule: any of `match` (alternatives) and none of `unless` -> `label`."""

    id: str
    label: str
    priority: int
    match: tuple[Condition, ...]
    unless: tuple[Condition, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Taxonomy:
    """Labels by name, aliases, and rules sorted by priority (highest first)."""

    labels: Mapping[str, Label]
    rules: tuple[Rule, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    def resolve(self, name: str) -> Label:
        """A label by name or alias (case-insensitive); ConfigError for an unknown one."""
        key = name.strip().upper()
        key = self.aliases.get(key, key)
        if key not in self.labels:
            raise ConfigError(f"unknown label {name!r} (see `mosaic-diag labels`)")
        return self.labels[key]

    def is_label(self, name: str) -> bool:
        key = name.strip().upper()
        return self.aliases.get(key, key) in self.labels


def _fail(msg: str, path: str, obj: Any, key: str | int | None = None) -> ConfigError:
    return ConfigError(msg, path=path, line=line_of(obj, key))


# a regex with its sets in place is at most this long (the shipped rules' longest: ~1,100 characters): a rules file
# of a few kilobytes naming a set of long entries many times would make regexes of gigabytes
MAX_EXPANDED = 64 * 1024


class RuleSets:
    """The taxonomy's `sets:` (name -> alternatives) and the names of those a user's rules file added to: a shipped
    rule that names such a set runs the user's regexes too, so it is searched as theirs are (`UserRegex`: the `regex`
    engine, with time limits), not trusted as the shipped rules' own."""

    def __init__(self) -> None:
        self.alts: dict[str, tuple[str, ...]] = {}
        self.user: set[str] = set()
        self._expanded: dict[str, str] = {}

    def expanded(self, name: str) -> str:
        if name not in self._expanded:
            self._expanded[name] = "(?:" + "|".join(f"(?:{alt})" for alt in self.alts[name]) + ")"
        return self._expanded[name]


def _too_long(size: int, path: str, obj: Any, key: str) -> ConfigError:
    return _fail(f"`{key}` is {size:,} characters long with its sets in place (at most {MAX_EXPANDED:,})",
                 path, obj, key)


def _with_sets(item: str, sets: RuleSets, path: str, obj: Any, key: str, before: int = 0) -> tuple[str, list[str]]:
    """`item` with each `%{name}` replaced by the alternatives of the set `name`, `(?:a|b|…)`, and the names; at most
    MAX_EXPANDED characters with the `before` of the regex's items before it."""
    if "%{" not in item:
        return item, []
    names = _SET_REF.findall(item)
    for name in names:
        if name not in sets.alts:
            raise _fail(f"`{key}` names the set {name!r}, which no `sets:` defines (defined: "
                        f"{', '.join(sorted(sets.alts)) or 'none'})", path, obj, key)
    size = before + len(item) + sum(len(sets.expanded(name)) for name in names)
    if size > MAX_EXPANDED:  # (counted before it is built)
        raise _too_long(size, path, obj, key)
    return _SET_REF.sub(lambda m: sets.expanded(m.group(1)), item), names


def _regex(value: Any, path: str, obj: Any, key: str, validate: bool, sets: RuleSets | None = None) -> Regex:
    items = value if isinstance(value, list) else [value]
    parts = []
    user_sets: list[str] = []  # the user-extended sets a shipped regex names
    size, named = 0, False  # (a regex naming sets: its length with them in place)
    for item in items:
        if not isinstance(item, str) or not item:
            raise _fail(f"`{key}` must be a regex or a list of regexes", path, obj, key)
        item, names = _with_sets(item, sets or RuleSets(), path, obj, key, size)
        user_sets += [name for name in names if sets is not None and name in sets.user]
        size, named = size + len(item), named or bool(names)
        if named and size > MAX_EXPANDED:
            raise _too_long(size, path, obj, key)
        if validate:
            import regex

            try:
                regex.compile(item)
            except regex.error as exc:
                raise _fail(f"bad regex in `{key}`: {exc}", path, obj, key) from exc
        parts.append(f"(?:{item})")
    # a user's file (validated) is not trusted to be fast: its regexes are searched with a timeout; so is a shipped
    # regex holding a set a user's file added to
    trusted = not validate and not user_sets
    pattern = (Regex if trusted else UserRegex)("|".join(parts), path, line_of(obj, key))
    if not trusted:
        pattern.compile()
    return pattern


def _strings(value: Any, path: str, obj: Any, key: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(i, str) and i for i in items):
        raise _fail(f"`{key}` must be a string or a list of strings", path, obj, key)
    return tuple(items)


def _condition(raw: Any, path: str, validate: bool, sets: RuleSets) -> Condition:
    if not isinstance(raw, dict) or not raw:
        raise _fail("a match condition must be a non-empty mapping", path, raw)
    unknown = set(raw) - MATCH_KEYS
    if unknown:
        name = sorted(map(str, unknown))[0]
        raise _fail(f"unknown match key {name!r} (known: {', '.join(sorted(MATCH_KEYS))})",
                    path, raw, name)
    kw: dict[str, Any] = {}
    for key, value in raw.items():
        if key in {"message", "frame", "host", "frames", "logger", "log", "text"}:
            kw[key] = _regex(value, path, raw, key, validate, sets)
        elif key == "type":
            kw[key] = _strings(value, path, raw, key)
        elif key == "status":
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(i, int) and 100 <= i <= 999 for i in items):
                raise _fail("`status` must be HTTP status codes", path, raw, key)
            kw[key] = frozenset(items)
        elif key == "provider":
            names = _strings(value, path, raw, key)
            bad = [n for n in names if n not in PROVIDERS]
            if bad:
                raise _fail(f"unknown provider {bad[0]!r} (known: openai, anthropic)", path, raw, key)
            kw[key] = frozenset(names)
        elif key == "level":
            kw[key] = frozenset(s.upper() for s in _strings(value, path, raw, key))
        elif key == "numbers":
            kw[key] = _numbers(value, raw, path)
        else:  # code, kind
            kw[key] = frozenset(_strings(value, path, raw, key))
    return Condition(**kw)


def _numbers(value: Any, raw: dict[str, Any], path: str) -> tuple[Comparison, ...]:
    """A condition's `numbers` (a comparison or a list of them, all to hold), checked against the named groups of
    its `message` regex: a name it does not capture, or `numbers` without `message`, is an error of the file."""
    if "message" not in raw:
        raise _fail("`numbers` compares the numbers `message` captures: give `message` with named groups "
                    "((?P<name>\\d+))", path, raw, "numbers")
    messages = raw["message"] if isinstance(raw["message"], list) else [raw["message"]]
    names = [n for m in messages if isinstance(m, str) for n in _GROUP_NAME.findall(m)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise _fail(f"`message` names the group {twice[0]!r} twice (`numbers` reads each name once)",
                    path, raw, "message")
    out = []
    for text in _strings(value, path, raw, "numbers"):
        m = _COMPARISON.match(text)
        if m is None:
            raise _fail(f"bad comparison in `numbers`: {text!r} (NAME OP NAME, OP one of "
                        f"{' '.join(_OPERATORS)}; a side may be a whole number)", path, raw, "numbers")
        left, op, right = m.groups()
        unknown = [s for s in (left, right) if not s.isdigit() and s not in names]
        if unknown:
            raise _fail(f"`numbers` names {unknown[0]!r}, which `message` does not capture (its named groups: "
                        f"{', '.join(names) or 'none'})", path, raw, "numbers")
        if left.isdigit() and right.isdigit():
            raise _fail(f"`numbers` compares two numbers: {text!r} (one side names a group of `message`)",
                        path, raw, "numbers")
        out.append(Comparison(left, op, right))
    return tuple(out)


def _conditions(raw: Any, path: str, holder: Any, key: str, validate: bool,
                sets: RuleSets) -> tuple[Condition, ...]:
    if isinstance(raw, list):
        if not raw:
            raise _fail(f"`{key}` must not be empty", path, holder, key)
        return tuple(_condition(item, path, validate, sets) for item in raw)
    return (_condition(raw, path, validate, sets),)


def _parse_label(name: str, raw: Any, base: Label | None, path: str, holder: Any) -> Label:
    if not isinstance(name, str) or not _LABEL_NAME.match(name):
        raise _fail(f"label names are UPPER_SNAKE_CASE, got {name!r}", path, holder, name)
    if not isinstance(raw, dict):
        raise _fail(f"label {name} must be a mapping", path, holder, name)
    unknown = set(raw) - _LABEL_KEYS
    if unknown:
        key = sorted(map(str, unknown))[0]
        raise _fail(f"unknown key {key!r} in label {name}", path, raw, key)
    category = raw.get("category", base.category if base else None)
    severity = raw.get("severity", base.severity if base else None)
    if category not in CATEGORIES:
        raise _fail(f"label {name}: category must be one of {', '.join(CATEGORIES)}", path, raw,
                    "category")
    if severity not in SEVERITIES:
        raise _fail(f"label {name}: severity must be one of {', '.join(SEVERITIES)}", path, raw,
                    "severity")
    retryable = raw.get("retryable", base.retryable if base else False)
    if not isinstance(retryable, bool):
        raise _fail(f"label {name}: retryable must be true or false", path, raw, "retryable")
    provider_wide = raw.get("provider_wide", base.provider_wide if base else False)
    if not isinstance(provider_wide, bool):
        raise _fail(f"label {name}: provider_wide must be true or false", path, raw, "provider_wide")
    description = raw.get("description", base.description if base else "")
    if not isinstance(description, str):
        raise _fail(f"label {name}: description must be text", path, raw, "description")
    aliases = raw.get("aliases", list(base.aliases) if base else [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and _LABEL_NAME.match(a)
                                                for a in aliases):
        raise _fail(f"label {name}: aliases must be a list of UPPER_SNAKE_CASE names", path, raw,
                    "aliases")
    return Label(name, category, severity, retryable, description.strip(), tuple(aliases), provider_wide)


def _read_file(path: Path, text: str | None = None) -> dict[str, Any]:
    """The rules file `path` loaded (from `text`, its text, when read already)."""
    name = str(path)
    data = load_yaml(path) if text is None else load_yaml_text(text, name)
    if not isinstance(data, dict):
        raise ConfigError("a rules file must be a mapping with `labels` and/or `rules`", path=name,
                          line=line_of(data))
    unknown = set(data) - {"version", "sets", "labels", "rules"}
    if unknown:
        key = sorted(map(str, unknown))[0]
        raise _fail(f"unknown top-level key {key!r} (known: version, sets, labels, rules)", name, data, key)
    return data


def _add_sets(path: Path, data: dict[str, Any], sets: RuleSets) -> None:
    """The file's `sets:` (name -> regexes, alternatives) added to `sets`: a later file's set of the same name
    extends it (a user's rules file adds a job board for the shipped rules too)."""
    name = str(path)
    raw = data.get("sets") or {}
    if not isinstance(raw, dict):
        raise _fail("`sets` must be a mapping of set name to a list of regexes", name, data, "sets")
    validate = path != SHIPPED_RULES
    for set_name, items in raw.items():
        if not isinstance(set_name, str) or not _SET_NAME.match(set_name):
            raise _fail(f"set names are lower_snake_case, got {set_name!r}", name, raw, set_name)
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
            raise _fail(f"set {set_name} must be a non-empty list of regexes", name, raw, set_name)
        if validate:
            _regex(items, name, raw, set_name, True)
            sets.user.add(set_name)
        sets.alts[set_name] = tuple(dict.fromkeys((*sets.alts.get(set_name, ()), *items)))


def _parse_file(path: Path, data: dict[str, Any], labels: dict[str, Label], rules: dict[str, Rule],
                sets: RuleSets) -> None:
    name = str(path)
    raw_labels = data.get("labels") or {}
    if not isinstance(raw_labels, dict):
        raise _fail("`labels` must be a mapping of label name to fields", name, data, "labels")
    for label_name, raw in raw_labels.items():
        labels[label_name] = _parse_label(label_name, raw, labels.get(label_name), name, raw_labels)
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        raise _fail("`rules` must be a list", name, data, "rules")
    for index, raw in enumerate(raw_rules):
        if not isinstance(raw, dict):
            raise _fail("each rule must be a mapping", name, raw_rules, index)
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            key = sorted(map(str, unknown))[0]
            raise _fail(f"unknown rule key {key!r} (known: {', '.join(sorted(_RULE_KEYS))})", name,
                        raw, key)
        for key in ("id", "label", "match"):
            if key not in raw:
                raise _fail(f"rule without `{key}`", name, raw)
        rule_id, label = raw["id"], raw["label"]
        if not isinstance(rule_id, str) or not rule_id:
            raise _fail("rule `id` must be a non-empty string", name, raw, "id")
        if not rule_id.isprintable():  # (`classify --explain` prints it: a newline in it forged a line of its own)
            raise _fail(f"rule `id` must be one line of printable text, got {rule_id[:80]!r}", name, raw, "id")
        if not isinstance(label, str) or label.upper() not in labels:
            raise _fail(f"rule {rule_id}: unknown label {label!r}", name, raw, "label")
        priority = raw.get("priority", 50)
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise _fail(f"rule {rule_id}: priority must be an integer", name, raw, "priority")
        validate = path != SHIPPED_RULES  # the shipped file's regexes are checked by its tests
        match = _conditions(raw["match"], name, raw, "match", validate, sets)
        unless = _conditions(raw["unless"], name, raw, "unless", validate, sets) if "unless" in raw else ()
        shown = f"mosaic_diag/classifier/rules/{path.name}" if path == SHIPPED_RULES else name
        rules[rule_id] = Rule(rule_id, label.upper(), priority, match, unless,
                              f"{shown}:{line_of(raw)}")


def rules_key(extra_rules: Path | None) -> tuple[object, ...]:
    """What a user rules file is known by in the caches of loaded taxonomies and classifiers: its absolute path,
    size and modification time. The same relative name in another working directory, or the file edited since,
    is another taxonomy (the name alone gave the first one loaded for the rest of the process)."""
    if extra_rules is None:
        return ()
    path = Path(extra_rules)
    try:
        st = path.stat()
    except OSError:  # missing or unreadable: not cached as anything, the load says what is wrong
        return (str(path.absolute()),)
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def _load(paths: tuple[Path, ...]) -> Taxonomy:
    return _load_keyed(paths, rules_key(paths[1]) if len(paths) > 1 else ())


@lru_cache(maxsize=8)
def _load_keyed(paths: tuple[Path, ...], key: tuple[object, ...]) -> Taxonomy:
    """The taxonomy of `paths` (`key`: the user file's `rules_key`, only for the cache): the one built from the same
    texts by an earlier run when the on-disk cache keeps it (`taxcache`), else built and kept."""
    texts = _texts(paths)
    if texts is None:  # a file that cannot be read: the build says which, as it always did
        return _build(paths)
    from mosaic_diag.classifier import taxcache

    entry = taxcache.key_of(paths, texts)
    kept = taxcache.get(entry)
    if kept is not None:
        return kept
    taxonomy = _build(paths, texts)
    taxcache.put(entry, taxonomy)
    return taxonomy


def _texts(paths: tuple[Path, ...]) -> tuple[str, ...] | None:
    """The text of each rules file, or None when one cannot be read (missing, too large, not UTF-8...)."""
    try:
        return tuple(read_yaml_text(path) for path in paths)
    except ConfigError:
        return None


def _build(paths: tuple[Path, ...], texts: tuple[str, ...] | None = None) -> Taxonomy:
    """The taxonomy of the rules files `paths` (of the `texts` read from them, when given), built afresh."""
    labels: dict[str, Label] = {}
    rules: dict[str, Rule] = {}
    sets = RuleSets()
    files = [(path, _read_file(path, None if texts is None else texts[i])) for i, path in enumerate(paths)]
    for path, data in files:  # every file's sets first: a user's board reaches the shipped rules' `%{…}` too
        _add_sets(path, data, sets)
    for path, data in files:
        _parse_file(path, data, labels, rules, sets)
    if UNKNOWN not in labels:
        raise ConfigError(f"the taxonomy must define {UNKNOWN}", path=str(paths[0]))
    aliases: dict[str, str] = {}
    for label in labels.values():
        for alias in label.aliases:
            if alias in labels:
                raise ConfigError(f"alias {alias} of {label.name} is itself a label",
                                  path=str(paths[-1]))
            aliases[alias] = label.name
    ordered = sorted(enumerate(rules.values()), key=lambda item: (-item[1].priority, item[0]))
    return Taxonomy(labels, tuple(rule for _, rule in ordered), aliases,
                    tuple(str(p) for p in paths))


def load_taxonomy(extra_rules: Path | None = None) -> Taxonomy:
    """The shipped taxonomy, extended/overridden by `extra_rules` when given."""
    paths = (SHIPPED_RULES,) if extra_rules is None else (SHIPPED_RULES, Path(extra_rules))
    return _load(paths)
