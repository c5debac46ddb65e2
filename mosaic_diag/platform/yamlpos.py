"""YAML loading that remembers line numbers, so every validation error can say `file:line:`.

Hostile files are refused with one `file:line:` error before anything is built: nesting deeper than
MAX_DEPTH (libyaml's composer recurses and crashes the process on a few thousand levels) and aliases
that expand to more than MAX_ALIAS_NODES nodes (a "billion laughs" bomb of a few hundred bytes), and an alias
inside the node it names (`&a [*a]`: a structure without end).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mosaic_diag.errors import ConfigError, no_such

MAX_DEPTH = 100
MAX_ALIAS_NODES = 50_000


class PosDict(dict[Any, Any]):
    """A mapping loaded from YAML: `.line` is its 1-based line, `.key_lines[key]` each key's."""

    line: int = 0
    key_lines: dict[str, int]


class PosList(list[Any]):
    """A sequence loaded from YAML: `.line` is its line, `.item_lines[i]` each item's."""

    line: int = 0
    item_lines: list[int]


def _convert(node: Any, path: str) -> Any:
    import yaml

    if isinstance(node, yaml.MappingNode):
        out = PosDict()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, path)
            if not isinstance(key, str | int | float | bool) or key is None:
                raise ConfigError("mapping keys must be scalars", path=path,
                                  line=key_node.start_mark.line + 1)
            if key in out:
                raise ConfigError(f"duplicate key {key!r}", path=path,
                                  line=key_node.start_mark.line + 1)
            out[key] = _convert(value_node, path)
            out.key_lines[str(key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = PosList(_convert(item, path) for item in node.value)
        seq.line = node.start_mark.line + 1
        seq.item_lines = [item.start_mark.line + 1 for item in node.value]
        return seq
    if node.tag == "tag:yaml.org,2002:str":
        return node.value
    if node.tag == "tag:yaml.org,2002:merge":
        raise ConfigError("YAML merge keys (`<<`) are not supported: write the keys out", path=path,
                          line=node.start_mark.line + 1)
    try:
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # an unknown tag, a date such as 2024-13-01
        reason = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"invalid YAML value: {reason}", path=path, line=node.start_mark.line + 1) from exc


def load_yaml(path: Path, *, max_bytes: int = 5_000_000) -> Any:
    """Load one YAML document with positions; a one-line ConfigError on any problem."""
    return load_yaml_text(read_yaml_text(path, max_bytes=max_bytes), str(path))


def read_yaml_text(path: Path, *, max_bytes: int = 5_000_000) -> str:
    """The text `load_yaml` loads: a regular file of at most `max_bytes` bytes of UTF-8; a one-line ConfigError
    otherwise."""
    import stat

    name = str(path)
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise no_such(name, kind=ConfigError) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=name) from exc
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError("is a directory, not a YAML file", path=name)
    if not stat.S_ISREG(st.st_mode):  # /dev/zero (size 0, endless), a FIFO (a read that never returns)
        raise ConfigError("not a regular file (a device, a FIFO, a socket): not read", path=name)
    if st.st_size > max_bytes:
        raise ConfigError(f"file too large ({st.st_size} bytes; limit {max_bytes})", path=name)
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)  # (it may have grown since)
        if len(data) > max_bytes:
            raise ConfigError(f"file too large (over {max_bytes} bytes)", path=name)
        text = data.decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=name) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason})", path=name) from exc
    return text


def _refuse_hostile(text: str, name: str, loader: Any) -> None:
    """Walk the event stream (flat, no recursion): refuse deep nesting and alias bombs with file:line."""
    import yaml

    depth = 0
    sizes: dict[str, int] = {}  # anchor -> nodes its value expands to
    open_nodes: list[list[Any]] = []  # [anchor, size] per open collection
    expanded = 0
    events = loader(text)
    try:
        while events.check_event():
            event = events.get_event()
            size = 0
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ConfigError(f"YAML nested deeper than {MAX_DEPTH} levels", path=name,
                                      line=event.start_mark.line + 1)
                open_nodes.append([event.anchor, 1])
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
                anchor, size = open_nodes.pop()
                if anchor is not None:
                    sizes[anchor] = size
            elif isinstance(event, yaml.ScalarEvent):
                size = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                if any(anchor == event.anchor for anchor, _ in open_nodes):  # `&a [*a]`: endless when built
                    raise ConfigError(f"YAML alias *{event.anchor} inside the node it names (a recursive "
                                      "structure)", path=name, line=event.start_mark.line + 1)
                size = sizes.get(event.anchor, 1)
                expanded += size
                if expanded > MAX_ALIAS_NODES:
                    raise ConfigError(f"YAML aliases expand to more than {MAX_ALIAS_NODES} nodes "
                                      f"(an alias bomb?) at *{event.anchor}", path=name, line=event.start_mark.line + 1)
            if open_nodes and size:
                open_nodes[-1][1] += size
    finally:
        events.dispose()


def load_yaml_text(text: str, name: str) -> Any:
    """Like load_yaml, from text; `name` is used in error messages. A text loaded before (the shipped
    taxonomy and playbooks, a user's rules file) comes from the on-disk cache (`yamlcache`)."""
    from mosaic_diag.platform import yamlcache

    key = yamlcache.key_of(text)
    found = yamlcache.get(key)
    if found is not yamlcache.MISS:
        return found
    data = _load_yaml_text(text, name)
    yamlcache.put(key, data)
    return data


def _load_yaml_text(text: str, name: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        _refuse_hostile(text, name, loader)
        node = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(f"invalid YAML: {exc.problem or exc.context}", path=name, line=line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=name) from exc
    if node is None:
        return None
    try:
        return _convert(node, name)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML value: {exc}", path=name, line=node.start_mark.line + 1) from exc


def line_of(obj: Any, key: str | int | None = None) -> int | None:
    """The line of a loaded mapping/sequence, or of one of its keys/items."""
    if key is not None:
        if isinstance(obj, PosDict):
            return obj.key_lines.get(str(key), obj.line)
        if isinstance(obj, PosList) and isinstance(key, int) and key < len(obj.item_lines):
            return obj.item_lines[key]
    return getattr(obj, "line", None)
