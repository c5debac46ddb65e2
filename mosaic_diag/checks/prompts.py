"""Prompt files: `ps101_steps.json` (10 steps, 1..10, title, non-empty string prompts) and
`prompts.csv` (parseable, prompt and response columns, no empty rows, no oversize field).
Every error points at file:line:col."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message
from mosaic_diag.lint.sqltext import line_col

IDS = (
    CheckId("MD-PROMPT001", "error", "A prompt file is missing or unreadable",
            "commit it, or set predeploy.ps101_steps / predeploy.prompts_csv"),
    CheckId("MD-PROMPT002", "error", "ps101_steps.json is not valid JSON (PS101_STEP_MALFORMED)",
            "fix the JSON at the position shown (`python -m json.tool` shows the same)"),
    CheckId("MD-PROMPT003", "error", "ps101_steps.json does not have the PS101 shape",
            "a list of exactly 10 objects with step 1..10 in order, a title and a non-empty list of string prompts"),
    CheckId("MD-PROMPT004", "error", "prompts.csv does not parse (PROMPT_CSV_CORRUPT)",
            "fix the quoting at the line shown"),
    CheckId("MD-PROMPT005", "error", "prompts.csv lacks a prompt/question or a response/completion column",
            "the header must name a prompt (or question) column and a response (or completion) column"),
    CheckId("MD-PROMPT006", "error", "prompts.csv has an empty row or an empty prompt/response",
            "remove the row or fill it in"),
    CheckId("MD-PROMPT007", "warning", "prompts.csv has an oversize field",
            "shorten it or raise predeploy.prompts_max_field"),
)
STEPS, PROMPT_COLS, RESPONSE_COLS = 10, ("prompt", "question"), ("response", "completion")


def _elements(text: str) -> list[tuple[int, Any]] | None:
    """(offset, value) of each element of a top-level JSON array, or None if it is not an array."""
    decoder = json.JSONDecoder()
    ws = " \t\r\n"
    i = len(text) - len(text.lstrip(ws))
    if not text.startswith("[", i):
        return None
    out: list[tuple[int, Any]] = []
    i += 1
    while True:
        while i < len(text) and text[i] in ws:
            i += 1
        if text.startswith("]", i):
            return out
        value, end = decoder.raw_decode(text, i)
        out.append((i, value))
        i = end
        while i < len(text) and text[i] in ws:
            i += 1
        if text.startswith(",", i):
            i += 1


def _read(path: Path, shown: str, encoding: str) -> str | Message:
    """The file's text, or MD-PROMPT001: unreadable, or not text in `encoding` (at the line and column of its first
    bad byte)."""
    try:
        return path.read_text(encoding=encoding)
    except OSError as exc:
        return Message("MD-PROMPT001", f"{shown}: cannot read: {exc}", location=shown)
    except UnicodeDecodeError as exc:
        raw = bytes(exc.object)
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return Message("MD-PROMPT001", f"{shown}: not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line}, "
                       f"column {col} ({exc.reason})", location=f"{shown}:{line}:{col}")


def check_steps(path: Path, shown: str) -> Iterator[Message]:
    text = _read(path, shown, "utf-8")
    if isinstance(text, Message):
        yield text
        return
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        yield Message("MD-PROMPT002", f"{shown}: {exc.msg}", location=f"{shown}:{exc.lineno}:{exc.colno}",
                      exc=exc, label="PS101_STEP_MALFORMED")
        return
    except RecursionError:  # `[[[[…` thousands deep: json's decoder recurses
        yield Message("MD-PROMPT002", f"{shown}: arrays or objects nested too deeply to read",
                      location=f"{shown}:1:1", label="PS101_STEP_MALFORMED")
        return
    elements = _elements(text)
    if elements is None:
        yield Message("MD-PROMPT003", f"{shown}: the top level must be a list of steps", location=f"{shown}:1:1",
                      label="PS101_STEP_MALFORMED")
        return
    if len(elements) != STEPS:
        yield Message("MD-PROMPT003", f"{shown}: {len(elements)} steps, expected {STEPS}", location=f"{shown}:1:1",
                      label="PS101_STEP_MALFORMED")
    for index, (offset, step) in enumerate(elements, 1):
        line, col = line_col(text, offset)
        where = f"{shown}:{line}:{col}"
        for problem in _step_problems(step, index):
            yield Message("MD-PROMPT003", f"{shown}: step #{index}: {problem}", location=where,
                          label="PS101_STEP_MALFORMED")


def _step_problems(step: Any, index: int) -> Iterator[str]:
    if not isinstance(step, dict):
        yield f"not an object ({type(step).__name__})"
        return
    for key in ("step", "title", "prompts"):
        if key not in step:
            yield f"missing {key!r}"
    number = step.get("step")
    if "step" in step and (not isinstance(number, int) or isinstance(number, bool) or number != index):
        yield f"step number is {number!r}, expected {index} (numbered 1..{STEPS} without gaps)"
    if "title" in step and (not isinstance(step["title"], str) or not step["title"].strip()):
        yield "title must be a non-empty string"
    prompts = step.get("prompts")
    if "prompts" in step and (not isinstance(prompts, list) or not prompts
                              or not all(isinstance(p, str) and p.strip() for p in prompts)):
        yield "prompts must be a non-empty list of non-empty strings"


def check_csv(path: Path, shown: str, max_field: int) -> Iterator[Message]:
    text = _read(path, shown, "utf-8-sig")
    if isinstance(text, Message):
        yield text
        return
    # csv's own field limit (131,072 characters) raised to the file's size: a long field is MD-PROMPT007's (a
    # warning, against predeploy.prompts_max_field), not a file that "does not parse" (only ever raised: the limit
    # is the process's)
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            yield Message("MD-PROMPT005", f"{shown}: empty file", location=f"{shown}:1:1")
            return
        names = [h.strip().lower() for h in header]
        prompt_i = next((names.index(c) for c in PROMPT_COLS if c in names), None)
        response_i = next((names.index(c) for c in RESPONSE_COLS if c in names), None)
        if prompt_i is None or response_i is None:
            yield Message("MD-PROMPT005", f"{shown}: header {header!r} has no "
                          f"{'prompt/question' if prompt_i is None else 'response/completion'} column",
                          location=f"{shown}:1:1", label="PROMPT_CSV_CORRUPT")
            return
        start = reader.line_num + 1
        for row in reader:
            where = f"{shown}:{start}:1"
            if not any(cell.strip() for cell in row):
                yield Message("MD-PROMPT006", f"{shown}: empty row", location=where)
            elif len(row) <= max(prompt_i, response_i) or not row[prompt_i].strip() or not row[response_i].strip():
                yield Message("MD-PROMPT006", f"{shown}: row without a prompt or a response", location=where)
            for cell in row:
                if len(cell) > max_field:
                    yield Message("MD-PROMPT007", f"{shown}: a field of {len(cell)} characters (limit {max_field})",
                                  location=where)
            start = reader.line_num + 1
    except csv.Error as exc:
        yield Message("MD-PROMPT004", f"{shown}: {exc}", location=f"{shown}:{reader.line_num}:1", exc=exc,
                      label="PROMPT_CSV_CORRUPT")


def run(ctx: CheckContext) -> Iterator[Message]:
    files = {key: (ctx.config.path(key, default), str(ctx.config.get(key, default)))
             for key, default in (("predeploy.ps101_steps", "prompts/ps101_steps.json"),
                                  ("predeploy.prompts_csv", "prompts/prompts.csv"))}
    # (never None: the default is a number and a TOML file has no null)
    max_field = int(ctx.config.number("predeploy.prompts_max_field", 10_000, minimum=1, integer=True) or 10_000)
    (steps, steps_shown), (table, table_shown) = files.values()
    todo: tuple[tuple[Path | None, str, Callable[[Path, str], Iterator[Message]]], ...] = (
        (steps, steps_shown, lambda p, s: check_steps(p, s)),
        (table, table_shown, lambda p, s: check_csv(p, s, max_field)))
    for path, shown, fn in todo:
        if path is None or not path.is_file():
            what = "is a directory, not a file" if path is not None and path.is_dir() else "no such file"
            yield Message("MD-PROMPT001", f"{shown}: {what}", location=shown)
            continue
        yield from fn(path, shown)


CHECK = Check("prompts", ("prompts",), IDS, run, "The PS101 steps and the prompts CSV are well formed.")
