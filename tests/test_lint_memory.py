"""What one lint run holds at once: a file's syntax tree is released once the file is linted, the trees kept
from reading the declared tables to linting them are bounded, and a big file is parsed in pieces (the parser's
own structures held for one piece, not for the whole text) into the very tree the whole text gives. (RSS and
time are measured in bench/, not here.)"""

from __future__ import annotations

import ast
import gc
import weakref
from collections.abc import Iterator

import pytest

from mosaic_diag.lint import engine
from mosaic_diag.lint.context import FileContext
from mosaic_diag.lint.engine import Source, lint_sources, module_pieces, parse_module
from mosaic_diag.lint.model import Hit, Rule

MARK = "tree-probe-"


class TreeProbe(Rule):
    """A rule that finds nothing: it notes, as each file is linted, which trees of the run are still alive."""

    code = "MD900"
    name = "tree-probe"

    def __init__(self) -> None:
        self.earlier: list[weakref.ref[ast.Module]] = []
        self.earlier_alive: list[int] = []  # trees of files linted before, alive when each file is linted
        self.others_alive: list[int] = []  # trees of the run's other files alive then (linted or not)

    def check(self, ctx: FileContext) -> Iterator[Hit]:
        self.earlier_alive.append(sum(ref() is not None for ref in self.earlier))
        self.others_alive.append(sum(1 for o in gc.get_objects() if type(o) is ast.Module and o is not ctx.tree
                                     and o.body and isinstance(o.body[0], ast.Assign)
                                     and str(getattr(o.body[0].value, "value", "")).startswith(MARK)))
        self.earlier.append(weakref.ref(ctx.tree))
        return iter(())


def test_a_files_tree_is_released_and_the_trees_kept_for_the_tables_are_bounded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Files that declare tables are parsed before any file is linted (their CREATE TABLEs first); their trees
    were all kept until the run ended (50 such files of 130 KB: 414 MB). Now each tree goes once its file is
    linted, and those kept meanwhile hold KEEP_TREES_BYTES of source at most (the others are parsed again)."""
    body = "".join(f"def f{i}(cur):\n    cur.execute('SELECT {i} FROM users')\n" for i in range(20))
    sources = [Source(f"m{n}.py", f"MARK = '{MARK}{n}'\nDDL = 'CREATE TABLE t{n} (id int PRIMARY KEY)'\n{body}")
               for n in range(10)]
    sources += [Source(f"plain{n}.py", f"MARK = '{MARK}p{n}'\n{body}") for n in range(3)]
    size = len(sources[0].text)
    monkeypatch.setattr(engine, "KEEP_TREES_BYTES", 4 * size)
    probe = TreeProbe()
    result = lint_sources(sources, rules=(probe,))
    assert result.files == 13 and len(probe.earlier) == 13
    assert probe.earlier_alive == [0] * 13
    assert max(probe.others_alive) <= 3, probe.others_alive  # 4 trees kept, the file being linted among them


CUTS = """import os


@first
@second(
    1)

@third
def decorated():
    return os.sep


class Kept:
    def method(self): return 1
if os.sep:
    def inside(): pass
else:
    def other(): pass
async def coroutine():
    await coroutine()
values = [
    1,
    2]
def after_a_list(): return values
"""
FALSE_STARTS = '''"""A module docstring that reads like code:

def not_a_function():
    pass
"""
class Kept:
    x = """
class NotAClass:
def nor_a_function(): pass
"""
def after(): pass
'''


@pytest.mark.parametrize("text", [CUTS, CUTS.replace("\n", "\r\n"), CUTS.replace("import os\n", "import os\rx = 1\r")],
                         ids=["lf", "crlf", "lone-cr"])
def test_a_module_cut_before_each_definition_is_the_tree_the_whole_text_gives(text: str) -> None:
    """The smallest pieces (a cut before every top-level definition, not after a one-line decorator; a
    piece cut after a decorator over lines is parsed with the next): the nodes, lines and columns of
    `ast.parse` of the whole text."""
    pieces = list(module_pieces(text, 1))
    assert len(pieces) == 6
    assert ast.dump(parse_module(text, piece=1), include_attributes=True) == ast.dump(ast.parse(text),
                                                                                       include_attributes=True)


@pytest.mark.parametrize("text", [
    FALSE_STARTS,
    "from __future__ import barry_as_FLUFL\ndef f(): return 1 <> 2\ndef g(): return 3\n",
    "def f():\n    pass\ndef g(:\n    pass\ndef h():\n    pass\n",
    "def f():\n    pass\ndef g():\n    return '\x00'\n",
], ids=["false-starts", "barry", "syntax-error", "nul"])
def test_a_module_whose_pieces_do_not_parse_is_parsed_whole(text: str) -> None:
    """A definition inside a string (a piece then does not parse), the future import that changes what
    parses, an error: the tree of the whole text, or its very error."""
    try:
        whole = ast.dump(ast.parse(text), include_attributes=True)
    except (SyntaxError, ValueError) as exc:
        with pytest.raises(type(exc)) as got:
            parse_module(text, piece=1)
        assert got.value.args == exc.args
        return
    assert ast.dump(parse_module(text, piece=1), include_attributes=True) == whole


def test_pieces_are_bounded_by_the_piece_size_and_the_longest_statement() -> None:
    defs = [f"def f{i}(x):\n" + "    x += 1\n" * (i % 7 + 1) + "\n\n" for i in range(2000)]
    text = "import os\n" + "".join(defs)
    pieces = list(module_pieces(text, 4096))
    assert "".join(part for _, part in pieces) == text and len(pieces) > 10
    assert max(len(part) for _, part in pieces) <= 4096 + max(map(len, defs))
    assert [line for line, _ in pieces] == [text.count("\n", 0, text.index(part)) + 1 for _, part in pieces]
