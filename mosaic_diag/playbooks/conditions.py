"""The closed condition language of `when` and `diagnose` checks: parsed once, never eval'ed.

Grammar (precedence lowest first)::

    expr     := or_expr
    or_expr  := and_expr ("or" and_expr)*
    and_expr := not_expr ("and" not_expr)*
    not_expr := "not" not_expr | compare
    compare  := operand [OP operand]        OP: == != < <= > >= in "not in" startswith endswith contains
    operand  := NUMBER | STRING | true | false | null | NAME | "[" [literal ("," literal)*] "]" | "(" expr ")"

NAME is a dotted name (`rate_5m`, `database_url.host`, `env.OPENAI_API_KEY.set`) that must be
in the vocabulary given to `parse`; a bare NAME is true when its value is truthy. `auto`,
`always` and `never` are whole conditions on their own. Evaluation is three-valued: a name that
has no value (not gathered) makes a comparison *unknown*, and unknown never lets an action run.
Every verdict carries a reason such as `rate_5m 3.2 > 1`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mosaic_diag.platform.lazyre import LazyPattern
from mosaic_diag.platform.redact import redact_cut, redact_text

MAX_LENGTH = 1000
MAX_DEPTH = 32
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in", "startswith", "endswith", "contains")
KEYWORDS = frozenset({"and", "or", "not", "in", "startswith", "endswith", "contains", "true", "false",
                      "null", "none"})
CONSTANTS = {"auto": True, "always": True, "never": False}
_NEGATED = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<", "in": "not in",
            "not in": "in", "startswith": "does not start with", "endswith": "does not end with",
            "contains": "does not contain"}
_TOKEN = LazyPattern(r"""
    (?P<ws>\s+)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[\[\](),])
""", re.VERBOSE)


class ConditionError(ValueError):
    """A condition that does not parse or names something outside the vocabulary."""


# -- the AST ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Const:
    """A literal of a condition."""

    value: Any  # bool, int, float, str, None, or a tuple of those


@dataclass(frozen=True)
class Name:
    """A fact named in a condition (`count_5m`, `env.X.set`)."""

    name: str


@dataclass(frozen=True)
class Compare:
    """`left op right`."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    """`not operand`."""

    operand: Node


@dataclass(frozen=True)
class BoolOp:
    """`a and b and …` / `a or b or …`."""

    op: str  # "and" | "or"
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Truthy:
    """A bare name used as a condition."""

    name: Name


@dataclass(frozen=True)
class Fixed:
    """`auto`, `always`, `never`."""

    word: str


Node = Const | Name | Compare | Not | BoolOp | Truthy | Fixed


@dataclass(frozen=True)
class Condition:
    """A parsed condition and its source text."""

    source: str
    root: Node

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the condition reads, in order of first appearance."""
        seen: dict[str, None] = {}
        _collect(self.root, seen)
        return tuple(seen)

    def evaluate(self, facts: Mapping[str, Any]) -> Verdict:
        return evaluate(self.root, facts)


@dataclass(frozen=True)
class Verdict:
    """True, False or None (unknown: a name had no value), with the reason."""

    value: bool | None
    reason: str

    @property
    def holds(self) -> bool:
        return self.value is True

    @property
    def state(self) -> str:
        return {True: "true", False: "false", None: "unknown"}[self.value]


def _collect(node: Node, seen: dict[str, None]) -> None:
    if isinstance(node, Name):
        seen.setdefault(node.name, None)
    elif isinstance(node, Truthy):
        seen.setdefault(node.name.name, None)
    elif isinstance(node, Compare):
        _collect(node.left, seen)
        _collect(node.right, seen)
    elif isinstance(node, Not):
        _collect(node.operand, seen)
    elif isinstance(node, BoolOp):
        for operand in node.operands:
            _collect(operand, seen)



# -- types ------------------------------------------------------------------------------------------
_TYPE_TEXT = {"number": "a number", "string": "a string", "bool": "true or false", "list": "a list"}


def _kind(value: Any) -> str | None:
    """The vocabulary type of a literal (None for null, which any fact may be compared with)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "list"


def type_problems(condition: Condition, type_of: Callable[[str], str | None]) -> list[str]:
    """Comparisons of a fact with a literal of another type (`count_5m > '5'`, `env.X.set == 'yes'`), which can
    never hold: each a reason, for the loader to refuse (at run time they are only ever `unknown`)."""
    found: list[str] = []
    _check_types(condition.root, type_of, found)
    return found


def _check_types(node: Node, type_of: Callable[[str], str | None], found: list[str]) -> None:
    if isinstance(node, Not):
        _check_types(node.operand, type_of, found)
    elif isinstance(node, BoolOp):
        for operand in node.operands:
            _check_types(operand, type_of, found)
    elif isinstance(node, Compare):
        found.extend(_compare_types(node, type_of))


def _compare_types(node: Compare, type_of: Callable[[str], str | None]) -> list[str]:
    name, const = (node.left, node.right) if isinstance(node.left, Name) else (node.right, node.left)
    if not isinstance(name, Name) or not isinstance(const, Const):
        return []
    kind = type_of(name.name)
    if kind not in _TYPE_TEXT:
        return []

    def mismatch(value: Any) -> list[str]:
        got = _kind(value)
        if got is None or got == kind:
            return []
        return [f"{name.name} is {_TYPE_TEXT[kind]}; {show(value)} is {_TYPE_TEXT[got]}: it never holds "
                f"(write the value as {_TYPE_TEXT[kind]})"]

    op, on_left = node.op, node.left is name
    if op in ("==", "!=", "<", "<=", ">", ">="):
        return [] if kind == "list" else mismatch(const.value)
    if op in ("in", "not in"):
        if not on_left:  # `'x' in name`: the fact is the container
            return [] if kind in ("list", "string") else \
                [f"{name.name} is {_TYPE_TEXT[kind]}: `{op}` reads a string or a list on its right"]
        if isinstance(const.value, tuple):
            return [] if kind == "list" else [m for item in const.value for m in mismatch(item)][:1]
        return mismatch(const.value) if isinstance(const.value, str) else []
    if not on_left:
        return []
    if op == "contains":
        if kind not in ("list", "string"):
            return [f"{name.name} is {_TYPE_TEXT[kind]}: `contains` reads a string or a list"]
        return mismatch(const.value) if kind == "string" else []
    if kind != "string":  # startswith / endswith
        return [f"{name.name} is {_TYPE_TEXT[kind]}: `{op}` reads a string"]
    return mismatch(const.value)

# -- tokenizer and parser ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Tok:
    """A token of a condition's text."""

    kind: str  # number, string, name, keyword, op, punct, end
    text: str
    pos: int


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ConditionError(f"unexpected character {text[pos]!r} at column {pos + 1}")
        kind = m.lastgroup or ""
        if kind != "ws":
            word = m.group()
            if kind == "name" and word.lower() in KEYWORDS:
                kind, word = "keyword", word.lower()
            tokens.append(_Tok(kind, word, pos))
        pos = m.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str, tokens: list[_Tok], is_name: Callable[[str], bool]) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.is_name = is_name

    @property
    def tok(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.tok.kind == kind and (text is None or self.tok.text == text)

    def fail(self, what: str) -> ConditionError:
        tok = self.tok
        found = "end of condition" if tok.kind == "end" else repr(tok.text)
        return ConditionError(f"{what}, found {found} at column {tok.pos + 1}")

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConditionError(f"condition nested deeper than {MAX_DEPTH}")
        node = self.bool_op("or", lambda: self.bool_op("and", self.not_expr))
        self.depth -= 1
        return node

    def bool_op(self, word: str, sub: Callable[[], Node]) -> Node:
        operands = [sub()]
        while self.at("keyword", word):
            self.take()
            operands.append(sub())
        return operands[0] if len(operands) == 1 else BoolOp(word, tuple(operands))

    def not_expr(self) -> Node:
        if self.at("keyword", "not"):
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ConditionError(f"condition nested deeper than {MAX_DEPTH}")
            node = Not(self.not_expr())
            self.depth -= 1
            return node
        return self.compare()

    def compare(self) -> Node:
        left = self.operand()
        op = None
        if self.at("op"):
            op = self.take().text
        elif self.at("keyword", "not") and self.tokens[self.i + 1].kind == "keyword" \
                and self.tokens[self.i + 1].text == "in":
            self.i += 2
            op = "not in"
        elif self.tok.kind == "keyword" and self.tok.text in ("in", "startswith", "endswith", "contains"):
            op = self.take().text
        if op is None:
            if isinstance(left, Name):
                return Truthy(left)
            if isinstance(left, Const) and not isinstance(left.value, bool):
                raise self.fail("a condition needs a comparison, a name or true/false")
            return left
        right = self.operand()
        if self.at("op") or (self.tok.kind == "keyword" and self.tok.text in COMPARISONS):
            raise self.fail("comparisons do not chain; join them with `and`")
        return Compare(op, left, right)

    def operand(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            self.take()
            value = float(tok.text)
            return Const(int(value) if value.is_integer() and "." not in tok.text and "e" not in
                         tok.text.lower() else value)
        if tok.kind == "string":
            self.take()
            return Const(_unquote(tok.text))
        if tok.kind == "keyword" and tok.text in ("true", "false", "null", "none"):
            self.take()
            return Const({"true": True, "false": False}.get(tok.text))
        if tok.kind == "name":
            self.take()
            if self.at("punct", "("):
                raise ConditionError(f"calls are not part of the condition language ({tok.text}(...)); "
                                     "use a comparison")
            if not self.is_name(tok.text):
                raise ConditionError(f"unknown name {tok.text!r} at column {tok.pos + 1}")
            return Name(tok.text)
        if self.at("punct", "["):
            return self.list_literal()
        if self.at("punct", "("):
            self.take()
            node = self.expr()
            if not self.at("punct", ")"):
                raise self.fail("expected ')'")
            self.take()
            return node
        raise self.fail("expected a value, a name or '('")

    def list_literal(self) -> Const:
        self.take()
        items: list[Any] = []
        while not self.at("punct", "]"):
            if self.at("punct", "[") or self.at("punct", "("):  # refused before recursing: no deep nesting
                raise ConditionError(f"list items must be numbers, strings, true, false or null "
                                     f"(lists do not nest), at column {self.tok.pos + 1}")
            node = self.operand()
            if not isinstance(node, Const) or isinstance(node.value, tuple):
                raise ConditionError("list items must be numbers, strings, true, false or null")
            items.append(node.value)
            if self.at("punct", ","):
                self.take()
            elif not self.at("punct", "]"):
                raise self.fail("expected ',' or ']' in a list")
        self.take()
        return Const(tuple(items))


def parse(text: str, is_name: Callable[[str], bool]) -> Condition:
    """Parse `text` against the vocabulary `is_name`; ConditionError says what is wrong and where."""
    if not isinstance(text, str):
        raise ConditionError("a condition must be a string")
    source = text.strip()
    if not source:
        raise ConditionError("empty condition")
    if len(source) > MAX_LENGTH:
        raise ConditionError(f"condition longer than {MAX_LENGTH} characters")
    if source.lower() in CONSTANTS:
        return Condition(source, Fixed(source.lower()))
    parser = _Parser(source, tokenize(source), is_name)
    root = parser.expr()
    if not parser.at("end"):
        raise parser.fail("expected `and`, `or` or the end of the condition")
    return Condition(source, root)


# -- evaluation -------------------------------------------------------------------------------------
class _Missing:
    def __repr__(self) -> str:
        return "<not gathered>"


MISSING = _Missing()


def lookup(facts: Mapping[str, Any], name: str) -> Any:
    """A fact by dotted name: a flat key first, then nested mappings; MISSING when absent."""
    if name in facts:
        return facts[name]
    node: Any = facts
    parts = name.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, Mapping):
            return MISSING
        rest = ".".join(parts[i:])
        if rest in node:
            return node[rest]
        if part not in node:
            return MISSING
        node = node[part]
    return node


def show(value: Any) -> str:
    """A value as the reason shows it: 3.2, 1, 'startup', ['a', 'b'], true, null; a string redacted, then cut (cut
    first, a DSN lost its `@` and its password showed in every output, the flags file and the incident note)."""
    if value is MISSING:
        return "(not gathered)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return repr(redact_text(value) if len(value) <= 60 else redact_cut(value, 57) + "...")
    if isinstance(value, tuple | list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return redact_text(repr(value))


def _value(node: Node, facts: Mapping[str, Any]) -> tuple[Any, str]:
    if isinstance(node, Const):
        return node.value, show(node.value)
    if isinstance(node, Name):
        value = lookup(facts, node.name)
        return value, (node.name if value is MISSING else f"{node.name} {show(value)}")
    verdict = evaluate(node, facts)
    return verdict.value, f"({verdict.reason})"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(op: str, left: Any, right: Any) -> bool | None:
    """The comparison's truth; None when the operands do not fit the operator."""
    if op in ("==", "!="):
        same = float(left) == float(right) if _is_number(left) and _is_number(right) else left == right
        return same if op == "==" else not same
    if op in ("<", "<=", ">", ">="):
        if not ((_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str))):
            return None
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    if op in ("in", "not in"):
        if isinstance(right, tuple | list):
            found = any(_compare("==", left, item) for item in right)
        elif isinstance(right, str) and isinstance(left, str):
            found = left in right
        else:
            return None
        return found if op == "in" else not found
    if op == "contains":
        if isinstance(left, str) and isinstance(right, str):
            return right in left
        if isinstance(left, tuple | list):
            return any(_compare("==", item, right) for item in left)
        return None
    if isinstance(left, str) and isinstance(right, str):
        return left.startswith(right) if op == "startswith" else left.endswith(right)
    return None


def evaluate(node: Node, facts: Mapping[str, Any]) -> Verdict:
    """Evaluate a parsed condition against `facts` (flat dotted keys or nested mappings)."""
    if isinstance(node, Fixed):
        return Verdict(CONSTANTS[node.word], node.word)
    if isinstance(node, Const):
        return Verdict(bool(node.value), show(node.value))
    if isinstance(node, Truthy | Name):
        name = node.name if isinstance(node, Name) else node.name.name
        value = lookup(facts, name)
        if value is MISSING or value is None:
            return Verdict(None, f"{name} not known" if value is MISSING else f"{name} is null")
        return Verdict(bool(value), f"{name} is {show(value)}")
    if isinstance(node, Not):
        inner = evaluate(node.operand, facts)
        value = None if inner.value is None else not inner.value
        return Verdict(value, inner.reason)  # the inner reason states the fact that decided
    if isinstance(node, BoolOp):
        verdicts = [evaluate(operand, facts) for operand in node.operands]
        decisive = node.op == "or"  # the value that decides: True for or, False for and
        hit = next((v for v in verdicts if v.value is decisive), None)
        if hit is not None:
            return Verdict(decisive, hit.reason)
        unknown = [v for v in verdicts if v.value is None]
        if unknown:
            return Verdict(None, "; ".join(v.reason for v in unknown))
        return Verdict(not decisive, f" {node.op} ".join(v.reason for v in verdicts))
    assert isinstance(node, Compare)
    left, left_text = _value(node.left, facts)
    right, right_text = _value(node.right, facts)
    missing = [n.name for n in (node.left, node.right) if isinstance(n, Name) and lookup(facts, n.name) is MISSING]
    if missing:
        return Verdict(None, " and ".join(missing) + " not known")
    result = _compare(node.op, left, right)
    if result is None:
        return Verdict(None, f"cannot apply {node.op} to {left_text} and {right_text}")
    shown = node.op if result else _NEGATED[node.op]
    return Verdict(result, f"{left_text} {shown} {right_text}")
