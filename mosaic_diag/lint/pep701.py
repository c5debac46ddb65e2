"""Python 3.12's f-strings (PEP 701) written in Python 3.11's grammar, so that the linter running on 3.11 still
reads a project's 3.12 code: `f"{ts.strftime("%Y")}"` (a quote of its own inside a field) and a one-line f-string
whose field spans lines. Lines are kept (a field over lines makes the f-string triple-quoted: two columns more
on its first and last lines); anything else 3.11 cannot say (a backslash or a comment inside a field, quotes run
out) is left as it is, and the file stays unparsable."""

from __future__ import annotations

_PREFIX = frozenset("rRbBuUfF")


class _GiveUp(Exception):
    """A construct this rewrite does not handle."""


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.changed = False

    def prefix(self, at: int, floor: int) -> str:
        """The string prefix (`f`, `rb`, ...) written just before the quote at `at` (not the end of a name)."""
        k = at
        while k > floor and at - k < 2 and self.text[k - 1] in _PREFIX:
            k -= 1
        if k > floor and (self.text[k - 1].isalnum() or self.text[k - 1] == "_"):
            return ""
        return self.text[k:at]

    def string(self, at: int, prefix: str, forbidden: frozenset[str]) -> tuple[int, str]:
        """The string literal opening at `at`: (its end, its text in 3.11's grammar, quotes included). `forbidden`:
        the quote characters the enclosing f-strings end with (the literal must not use them)."""
        text = self.text
        quote = text[at]
        triple = text.startswith(quote * 3, at)
        if (triple and quote in forbidden) or (not triple and len(forbidden) >= 2):
            raise _GiveUp
        mark = quote * 3 if triple else quote
        if "f" not in prefix.lower():
            j = at + len(mark)
            while not text.startswith(mark, j):
                if j >= len(text) or (text[j] == "\n" and not triple):
                    raise _GiveUp
                j += 2 if text[j] == "\\" else 1
            end = j + len(mark)
            body = text[at + len(mark): j]
            if forbidden and "\\" in body:
                raise _GiveUp  # (3.11 allows no backslash inside a field)
            if quote in forbidden:  # `"%Y"` inside `f"..."`: the other quote
                other = "'" if quote == '"' else '"'
                if other in body or other in forbidden:
                    raise _GiveUp
                self.changed = True
                return end, other + body + other
            return end, text[at:end]
        return self.fstring(at, quote, triple, forbidden)

    def fstring(self, at: int, quote: str, triple: bool, forbidden: frozenset[str]) -> tuple[int, str]:
        text = self.text
        if not triple and quote in forbidden:
            other = "'" if quote == '"' else '"'
            if other in forbidden:
                raise _GiveUp
            chosen, swapped = other, True
        else:
            chosen, swapped = quote, False
        mark = quote * 3 if triple else quote
        inner = forbidden | {chosen} if not triple else forbidden
        j = at + len(mark)
        out: list[str] = []
        multiline = False
        while not text.startswith(mark, j):
            if j >= len(text):
                raise _GiveUp
            ch = text[j]
            if ch == "\\":
                out.append(text[j: j + 2])
                j += 2
            elif ch == "\n" and not triple:
                raise _GiveUp
            elif ch in "{}" and text.startswith(ch * 2, j):
                out.append(ch * 2)
                j += 2
            elif ch == "{":
                j, field, spans = self.field(j + 1, inner)
                out.append("{" + field)
                multiline = multiline or spans
            else:
                out.append(ch)
                j += 1
        body = "".join(out)
        end = j + len(mark)
        if (forbidden and "\\" in body) or (swapped and chosen in body):
            raise _GiveUp  # (3.11 allows no backslash inside a field; the new quote would end it)
        if multiline and not triple:  # a field over lines: a triple-quoted f-string holds it in 3.11
            if chosen * 3 in body or body.endswith(chosen) or forbidden:
                raise _GiveUp
            self.changed = True
            return end, chosen * 3 + body + chosen * 3
        if swapped:
            self.changed = True
        return end, chosen + body + chosen if not triple else mark + body + mark

    def field(self, at: int, forbidden: frozenset[str]) -> tuple[int, str, bool]:
        """A replacement field from just after its `{`: (the end past its `}`, its text to the `}` included, whether
        it spans lines)."""
        text = self.text
        j, depth, out, spans = at, 0, [], False
        while j < len(text):
            ch = text[j]
            if ch in "([{":
                depth += 1
            elif ch in ")]":
                depth -= 1
            elif ch == "}":
                if depth == 0:
                    out.append("}")
                    return j + 1, "".join(out), spans
                depth -= 1
            elif ch in "\\#":
                raise _GiveUp
            elif ch == "\n":
                spans = True
            elif ch in "'\"":
                prefix = self.prefix(j, at)
                j, literal = self.string(j, prefix, forbidden)
                out.append(literal)
                continue
            elif ch == ":" and depth == 0:  # the format spec: text, and fields of its own
                out.append(":")
                j += 1
                while j < len(text) and text[j] != "}":
                    if text[j] == "{":
                        j, inner, more = self.field(j + 1, forbidden)
                        out.append("{" + inner)
                        spans = spans or more
                    elif text[j] in "\\'\"\n":
                        raise _GiveUp
                    else:
                        out.append(text[j])
                        j += 1
                continue
            out.append(ch)
            j += 1
        raise _GiveUp


def downgrade(text: str) -> str | None:
    """`text` with its Python 3.12 f-strings rewritten in 3.11's grammar (see the module); None when nothing was
    rewritten or something could not be."""
    scanner = _Scanner(text)
    out: list[str] = []
    i, n = 0, len(text)
    try:
        while i < n:
            ch = text[i]
            if ch == "#":
                j = text.find("\n", i)
                j = n if j < 0 else j
                out.append(text[i:j])
                i = j
            elif ch in "'\"":
                i, literal = scanner.string(i, scanner.prefix(i, 0), frozenset())
                out.append(literal)
            else:
                out.append(ch)
                i += 1
    except _GiveUp:
        return None
    return "".join(out) if scanner.changed else None
