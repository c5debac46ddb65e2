"""Regular expressions compiled on first use: a module that defines many patterns for rare inputs (a log
layout, a kind of traceback line) need not compile them all at import, where every run pays for them.

    _FLUENTBIT = LazyPattern(r"\\[\\d{1,9}\\] ...", re.S)
    m = _FLUENTBIT.match(line)        # compiled here, once; the compiled pattern's own method from then on

After the first use the matching methods are the compiled pattern's own bound methods, kept in slots:
a call costs one slot lookup more than on a compiled pattern (about a tenth of a short match), so a
pattern tried on most lines of a common input is better compiled at import."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, AnyStr, Generic

from mosaic_diag.platform import recache

_METHODS = ("match", "search", "fullmatch", "finditer", "findall", "sub", "subn", "split")


class LazyPattern(Generic[AnyStr]):
    """`re.compile(pattern, flags)` done at the first call of one of its methods (or `compiled`); str or bytes."""

    __slots__ = ("_compiled", "_flags", "_source", *_METHODS)

    match: Callable[..., re.Match[AnyStr] | None]
    search: Callable[..., re.Match[AnyStr] | None]
    fullmatch: Callable[..., re.Match[AnyStr] | None]
    finditer: Callable[..., Iterator[re.Match[AnyStr]]]
    findall: Callable[..., list[Any]]
    sub: Callable[..., AnyStr]
    subn: Callable[..., tuple[AnyStr, int]]
    split: Callable[..., list[Any]]

    def __init__(self, pattern: AnyStr, flags: int = 0) -> None:
        self._source: AnyStr = pattern
        self._flags = flags
        self._compiled: re.Pattern[AnyStr] | None = None

    @property
    def compiled(self) -> re.Pattern[AnyStr]:
        """The compiled pattern (compiled now if it was not yet)."""
        if self._compiled is None:
            compiled = recache.compile(self._source, self._flags)
            for name in _METHODS:
                setattr(self, name, getattr(compiled, name))
            self._compiled = compiled
        return self._compiled

    @property
    def pattern(self) -> AnyStr:
        return self._source

    @property
    def flags(self) -> int:
        return self.compiled.flags

    @property
    def groups(self) -> int:
        return self.compiled.groups

    @property
    def groupindex(self) -> Mapping[str, int]:
        return self.compiled.groupindex

    def __getattr__(self, name: str) -> Any:
        """Only reached for a method not yet bound: compile, then answer from the compiled pattern."""
        if name not in _METHODS:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(self.compiled, name)

    def __repr__(self) -> str:
        return f"LazyPattern({self._source!r}, {self._flags!r})"
