"""`mosaic-diag dlq list|show|stats|replay|purge|trim`: the answers the runtime schema guard rejected."""

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mosaic_diag.commands._options import FormatOption, OutputFormat

if TYPE_CHECKING:
    from mosaic_diag.runtime.guard import DeadLetter, DeadLetterStore, LetterStats

dlq_app = typer.Typer(help="Dead letters: model answers the schema guard rejected.", no_args_is_help=True)

DbOption = Annotated[str | None, typer.Option(
    "--db", help="A PostgreSQL DSN or a SQLite file (default: MOSAIC_DLQ, else DATABASE_URL).")]


def _store(db: str | None, *, must_exist: bool = True, read_only: bool = False) -> "DeadLetterStore":
    """The store named by --db / MOSAIC_DLQ / DATABASE_URL; `read_only` (list, stats, show): nothing made or written
    in it (the default is the app's own database: a read made the tables in whatever database it named)."""
    from pathlib import Path

    from mosaic_diag.errors import UsageError, no_such
    from mosaic_diag.runtime.guard import open_dead_letters

    target = db or os.environ.get("MOSAIC_DLQ") or os.environ.get("DATABASE_URL")
    if not target:
        raise UsageError("no dead-letter database: pass --db, or set MOSAIC_DLQ or DATABASE_URL")
    # (a long purge is the operator's to wait for)
    store = open_dead_letters(target, statement_timeout=None, read_only=read_only)
    if not store.postgres and must_exist and not Path(target).is_file():
        raise no_such(target, "SQLite dead-letter file")
    return store


MAX_CHARS = 4000  # of a stored error or answer shown; the rest is cut with a note (`--max-chars 0`: all)

MaxCharsOption = Annotated[int, typer.Option(
    "--max-chars", min=0, help="Show at most this many characters of the stored error and answer, each "
    "(0: all); a longer one is cut with a note.")]


REDACT_AHEAD = 1 << 18  # characters past the cut redacted with the part shown (see `_shown`)


def _shown(text: str, limit: int) -> tuple[str, bool]:
    """`text` redacted, then cut at `limit` characters (0: whole), and whether it was cut. Redacted first, so that a
    secret is never cut in two and left readable; a text longer than the cut by more than `REDACT_AHEAD` characters
    is redacted only that far past the cut (`show` redacted a stored answer of megabytes whole, ~0.3 s a megabyte,
    to print 4,000 characters of it): a secret that starts in the part shown runs on past the window only if it is
    longer than tens of thousands of characters, and a window whose redacted text ends within `REDACT_AHEAD // 2`
    characters of the cut (much of it masked) gives way to the whole text redacted."""
    from mosaic_diag.runtime.text import safe_output

    if limit and len(text) > limit + REDACT_AHEAD:
        window = safe_output(text[:limit + REDACT_AHEAD]).text
        if len(window) >= limit + REDACT_AHEAD // 2:
            return window[:limit], True
    clean = safe_output(text).text
    if not limit or len(clean) <= limit:
        return clean, False
    return clean[:limit], True


def _redacted(letter: "DeadLetter", *, payload: bool, limit: int = MAX_CHARS) -> dict[str, Any]:
    """The letter as a dict, its error (and payload) redacted, then cut at `limit` with a note; `error_chars` /
    `payload_chars` give their stored length when they were cut."""
    data = letter.to_dict(payload=payload)
    texts = {"error": data["error"], **({"payload": letter.payload} if payload else {})}
    for key, text in texts.items():
        stored = text or ""
        shown, cut = _shown(stored, limit)
        data[key] = shown
        if cut:
            data[key] += (f"\n[… the first {limit:,} characters shown, {len(stored):,} stored: --max-chars 0 shows "
                          "everything …]")
            data[f"{key}_chars"] = len(stored)
    return data


def _write_rows(rows: list[dict[str, Any]], fmt: OutputFormat, title: str) -> None:
    columns = ("id", "count", "created_at", "last_seen_at", "provider", "prompt_id", "label", "model", "replayed_at")
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    elif fmt is OutputFormat.markdown:
        from mosaic_diag.platform.mdtext import md_text

        sys.stdout.write(f"**{md_text(title)}**\n\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n")
        for row in rows:  # stored answers are text, never Markdown
            sys.stdout.write("| " + " | ".join(md_text(str(row.get(c) or "")) for c in columns) + " |\n")
    else:
        from rich.table import Table
        from rich.text import Text

        from mosaic_diag.render.console import out, print_table

        table = Table(title=Text(title), title_justify="left")
        for name in columns:
            table.add_column(name, overflow="fold")
        from mosaic_diag.platform.terminal import one_line_escaped

        for row in rows:  # stored answers and errors are text, never Rich markup; a field is one line (a prompt id
            # "x\nlabel: …" forged a field of its own where the listing is written as `name: value` lines)
            table.add_row(*(Text(one_line_escaped(str(row.get(c) or ""))) for c in columns))
        print_table(out(), table)


@dlq_app.command("list")
def list_letters(
    db: DbOption = None,
    label: Annotated[str | None, typer.Option(help="Only this label.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="At most this many, the last seen first.")] = 50,
    max_chars: MaxCharsOption = MAX_CHARS,
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """List dead letters, the last seen first, with how many times each answer was rejected (payloads not shown:
    see `dlq show`)."""
    store = _store(db, read_only=True)
    try:
        rows = [_redacted(r, payload=False, limit=max_chars) for r in store.list(limit=limit, label=label)]
        stats = store.stats()
    finally:
        store.close()
    _write_rows(rows, fmt, f"{len(rows)} dead letters in {store.shown}: {_stats_text(stats, store.absent)}")
    return 0


def _stats_text(stats: "LetterStats", absent: bool = False) -> str:
    """`523 kept (at most 10,000), 12 evicted, the oldest first, last at …` (what `list`'s title and `stats` say)."""
    if absent:
        return "no dead-letter table there (none stored yet, or not the app's database)"
    bound = f" (at most {stats.max_letters:,})" if stats.max_letters is not None else ""
    if stats.evicted is None:
        return f"{stats.letters:,} kept{bound}, not bounded: the evictions table cannot be made or written"
    if not stats.evicted:
        return f"{stats.letters:,} kept{bound}, none evicted"
    last = stats.last_evicted_at.isoformat() if stats.last_evicted_at else "-"
    return f"{stats.letters:,} kept{bound}, {stats.evicted:,} evicted, the oldest first, last at {last}"


@dlq_app.command("stats")
def stats(
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """How many dead letters are kept, the bound the writers keep them to (max_letters, MOSAIC_DLQ_MAX_LETTERS), and
    how many the bound evicted, the oldest first, and when last."""
    store = _store(db, read_only=True)
    try:
        found = store.stats()
    finally:
        store.close()
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps({"database": store.shown, "table": not store.absent, **found.to_dict()},
                                    indent=2) + "\n")
    elif fmt is OutputFormat.markdown:
        from mosaic_diag.platform.mdtext import md_text

        sys.stdout.write(f"Dead letters in {md_text(store.shown)}: {md_text(_stats_text(found, store.absent))}.\n")
    else:
        sys.stdout.write(f"dead letters in {store.shown}: {_stats_text(found, store.absent)}\n")
    return 0


@dlq_app.command("show")
def show(
    row_id: Annotated[int, typer.Argument(metavar="ID", help="The dead letter's id.")],
    db: DbOption = None,
    max_chars: MaxCharsOption = MAX_CHARS,
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """Show one dead letter: payload and validation error, secrets and personal data redacted, each cut at
    --max-chars with a note."""
    from mosaic_diag.errors import UsageError

    store = _store(db, read_only=True)
    try:
        letter = store.get(row_id)
    finally:
        store.close()
    if letter is None:
        raise UsageError(f"no dead letter {row_id} in {store.shown}")
    data = _redacted(letter, payload=True, limit=max_chars)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif fmt is OutputFormat.markdown:
        from mosaic_diag.platform.mdtext import md_fence, md_text

        sys.stdout.write(f"### Dead letter {letter.id}\n\n")
        for key in ("count", "created_at", "last_seen_at", "provider", "prompt_id", "label", "model", "replayed_at"):
            sys.stdout.write(f"- **{key}**: {md_text(data[key] or '')}\n")
        sys.stdout.write(f"\nError:\n\n{md_fence(data['error'])}\n\nPayload:\n\n{md_fence(data['payload'])}\n")
    else:
        from rich.markup import escape

        from mosaic_diag.platform.terminal import one_line_escaped
        from mosaic_diag.render.console import out

        console = out()
        console.print(f"[bold]Dead letter {letter.id}[/] " + escape(one_line_escaped(
            f"{data['label']} ({data['model']}, provider {data['provider'] or '-'}, prompt {data['prompt_id'] or '-'}, "
            f"{data['created_at']})")), markup=True, highlight=False)
        console.print(_seen_line(data), markup=False, highlight=False)
        console.print("error:", data["error"], markup=False, highlight=False)
        console.print("payload:", data["payload"], markup=False, highlight=False)
    return 0


def _seen_line(data: dict[str, Any]) -> str:
    """`rejected 3 times, last at …` (once: `rejected once`)."""
    count = int(data.get("count") or 1)
    if count == 1:
        return "rejected once"
    return f"rejected {count} times, last at {data['last_seen_at']}"


def _validator(spec: str) -> type[Any]:
    import importlib

    from mosaic_diag.errors import UsageError

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UsageError(f"--validator takes module:Model, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"--validator: cannot import {module_name}: {exc}") from exc
    model = getattr(module, attr, None)
    if not isinstance(model, type) or not hasattr(model, "model_validate_json"):
        raise UsageError(f"--validator: {spec} is not a Pydantic model")
    return model


def _safe_value(value: Any) -> Any:
    """A validated value (JSON data) with secrets and personal data redacted, still JSON data. The dumped text is
    redacted whole (a key names its value a secret: `"password": "…"`), its numbers that a detector masks (an order
    id of ten digits is a phone number to it, a card's digits a card) written as text first: masked in place, such a
    number was no JSON (`{"order_id": [phone]}`, a JSONDecodeError traceback after the letter was marked replayed).
    Should the redacted text still not read as JSON, each string, key and number is redacted on its own."""
    from mosaic_diag.runtime.text import safe_output

    def walk(item: Any, redact: bool) -> Any:
        if isinstance(item, dict):
            return {(safe_output(k).text if redact else k): walk(v, redact) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v, redact) for v in item]
        if isinstance(item, str):
            return safe_output(item).text if redact else item
        if isinstance(item, int | float) and not isinstance(item, bool):
            shown = safe_output(json.dumps(item))
            return shown.text if shown.changed else item
        return item

    try:
        return json.loads(safe_output(json.dumps(walk(value, False))).text)
    except ValueError:
        return walk(value, True)


@dlq_app.command("replay")
def replay(
    row_id: Annotated[int, typer.Argument(metavar="ID", help="The dead letter's id.")],
    validator: Annotated[str, typer.Option("--validator", help="The Pydantic model, as module:Model.")],
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """Validate a dead letter's payload again, against a fixed model; exit 1 if it is still rejected."""
    from pydantic import ValidationError

    from mosaic_diag.errors import UsageError
    from mosaic_diag.runtime.guard import describe_error, validate
    from mosaic_diag.runtime.text import safe_output

    model = _validator(validator)
    store = _store(db)
    try:
        letter = store.get(row_id)
        if letter is None:
            raise UsageError(f"no dead letter {row_id} in {store.shown}")
        try:
            value = validate(model, letter.payload)
        except ValidationError as exc:
            result: dict[str, Any] = {"id": row_id, "valid": False, "error": safe_output(describe_error(exc)).text}
        else:  # (the value shown first: a letter is marked replayed only once its replay is reported)
            result = {"id": row_id, "valid": True, "value": _safe_value(json.loads(value.model_dump_json()))}
            store.mark_replayed(row_id)
    finally:
        store.close()
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    elif fmt is OutputFormat.markdown:
        from mosaic_diag.platform.mdtext import md_code, md_fence

        sys.stdout.write(f"Dead letter {row_id}: **{'valid' if result['valid'] else 'still rejected'}** "
                         f"by {md_code(validator)}\n\n"
                         f"{md_fence(result.get('error') or json.dumps(result.get('value')))}\n")
    else:
        sys.stdout.write(f"dead letter {row_id}: {'valid' if result['valid'] else 'still rejected'} by {validator}\n"
                         f"{result.get('error') or json.dumps(result.get('value'))}\n")
    return 0 if result["valid"] else 1


@dlq_app.command("purge")
def purge(
    older_than: Annotated[str, typer.Option("--older-than", help="Delete rows last seen before this: 7d, 12h, or a "
                                            "time.")],
    db: DbOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (scripts, cron).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say how many would be deleted.")] = False,
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """Delete dead letters last seen longer ago than a duration (or before an ISO-8601 time): asks first, `--yes`
    for scripts.

    A time in the future is refused (it would delete every dead letter). The answer is read from stdin, a
    terminal or a pipe (`echo y |`); "n" deletes nothing (exit 1), and so does no answer (stdin ended:
    `</dev/null`, cron; exit 2, naming --yes)."""
    from datetime import UTC, datetime

    from mosaic_diag.commands._common import parse_time
    from mosaic_diag.errors import UsageError

    cutoff = parse_time(older_than, "--older-than")
    assert cutoff is not None
    if cutoff > datetime.now(UTC):
        raise UsageError(f"--older-than {older_than!r} is in the future ({cutoff.isoformat()}): it would delete "
                         "every dead letter; give a duration (7d) or a past time")
    store = _store(db)
    try:
        found = store.count_before(cutoff)
        declined = _declined(found and not (yes or dry_run), f"delete {found} dead letter(s) last seen before "
                             f"{cutoff.isoformat()} from {store.shown}?", "nothing deleted", "delete them")
        if declined is not None:
            return declined
        deleted = store.purge(cutoff) if found and not dry_run else 0
    finally:
        store.close()
    verb = "would purge" if dry_run else "purged"
    count = found if dry_run else deleted
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps({"deleted": deleted, "older_than": cutoff.isoformat(),
                                     **({"would_delete": found} if dry_run else {})}) + "\n")
    elif fmt is OutputFormat.markdown:
        sys.stdout.write(f"{verb.capitalize()} **{count}** dead letters last seen before {cutoff.isoformat()}.\n")
    else:
        sys.stdout.write(f"{verb} {count} dead letters last seen before {cutoff.isoformat()}\n")
    return 0


def _declined(ask: object, question: str, nothing: str, act: str) -> int | None:
    """When `ask`: the exit code of a declined (or unanswered) `question`, None when confirmed; None unasked."""
    if not ask:
        return None
    from mosaic_diag.commands._common import confirm_destructive

    declined = confirm_destructive(question, nothing=nothing, act=act)
    return None if declined is None else declined[0]


@dlq_app.command("trim")
def trim(
    max_letters: Annotated[str, typer.Option("--max-letters", metavar="N", help="Keep this many dead letters, the "
                                             "last seen (a whole number from 1 to 2,147,483,647); evict the others "
                                             "now (counted as the bound's evictions).")],
    db: DbOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (scripts, cron).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say how many would be evicted.")] = False,
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """Evict now the dead letters past --max-letters, the oldest (last seen) first, counted with the bound's
    evictions: a table that grew before its bound, or whose bound was lowered, is otherwise brought under it a
    thousand letters per new letter. Asks first, as `purge`; `--yes` for scripts."""
    from mosaic_diag.runtime.guard import max_letters_of

    keep = max_letters_of(max_letters, where="--max-letters")  # (the writers' bound's own reading: ASCII digits)
    store = _store(db)
    try:
        over = max(store.stats().letters - keep, 0)
        declined = _declined(over and not (yes or dry_run), f"evict {over} dead letter(s), the oldest, keeping "
                             f"{keep} in {store.shown}?", "nothing evicted", "evict them")
        if declined is not None:
            return declined
        evicted = store.trim(keep) if over and not dry_run else 0
        after = store.stats()
    finally:
        store.close()
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps({"evicted": evicted, "max_letters": keep, **({"would_evict": over}
                                     if dry_run else {}), "stats": after.to_dict()}) + "\n")
    else:
        verb, count = ("would evict", over) if dry_run else ("evicted", evicted)
        text = f"{verb} {count} dead letters, keeping {keep}: {_stats_text(after)}"
        sys.stdout.write((f"{text[0].upper()}{text[1:]}." if fmt is OutputFormat.markdown else text) + "\n")
    return 0


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")
