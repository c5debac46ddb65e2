"""LazyPattern: compiled at first use, then the compiled pattern's own answers."""

from __future__ import annotations

import re

import pytest

from mosaic_diag.platform.lazyre import LazyPattern


def test_nothing_is_compiled_before_the_first_use() -> None:
    bad = LazyPattern(r"(unclosed")  # compiling it would raise
    assert bad.pattern == "(unclosed"
    with pytest.raises(re.error):
        bad.search("text")


@pytest.mark.parametrize("first", ["match", "search", "fullmatch", "finditer", "findall", "sub", "subn", "split",
                                   "compiled", "flags", "groups", "groupindex"])
def test_every_method_answers_as_the_compiled_pattern(first: str) -> None:
    source, flags = r"(?P<word>[a-z]+)-(\d+)", re.IGNORECASE
    lazy, real = LazyPattern(source, flags), re.compile(source, flags)
    getattr(lazy, first)  # whichever is used first compiles it
    text = "Ab-12 cd-3 x-"
    assert lazy.compiled == real  # (the same flags, pattern and engine code)
    assert lazy.match(text).group(0) == "Ab-12"  # type: ignore[union-attr]
    assert lazy.search(text, 3).span() == real.search(text, 3).span()  # type: ignore[union-attr]
    assert lazy.fullmatch("cd-3") is not None and lazy.fullmatch(text) is None
    assert [m.span() for m in lazy.finditer(text)] == [m.span() for m in real.finditer(text)]
    assert lazy.findall(text) == [("Ab", "12"), ("cd", "3")]
    assert lazy.sub("#", text) == "# # x-" and lazy.subn("#", text, count=1) == ("# cd-3 x-", 1)
    assert lazy.split(text) == real.split(text)
    assert (lazy.pattern, lazy.flags, lazy.groups, dict(lazy.groupindex)) == (
        real.pattern, real.flags, real.groups, dict(real.groupindex))


def test_after_the_first_use_the_methods_are_the_compiled_patterns_own() -> None:
    lazy = LazyPattern(r"\d+")
    lazy.search("a1")
    assert lazy.search == lazy.compiled.search and lazy.sub == lazy.compiled.sub


def test_a_bytes_pattern_is_one_too() -> None:
    lazy = LazyPattern(rb"\x1b\[[0-9;]*m")
    assert lazy.sub(b"", b"\x1b[31mred\x1b[0m") == b"red" and lazy.pattern == rb"\x1b\[[0-9;]*m"


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'scanner'"):
        LazyPattern("x").scanner  # noqa: B018
