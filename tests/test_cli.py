"""The CLI as a user runs it: exit codes, one-line errors, no tracebacks, formats."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.cli_inproc import run_cli


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI run in this process (tests/cli_inproc.py); `run_process` and the tests below that start
    `python -m mosaic_diag` themselves keep whole processes (exit codes, a config found from the cwd, terminals)."""
    return run_cli(args, stdin=stdin)


def run_process(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mosaic_diag", *args], input=stdin, capture_output=True,
                          text=True, timeout=60)


def test_version_and_help():
    r = run_process("--version")
    assert r.returncode == 0 and r.stdout.startswith("mosaic-diag ")
    r = run_process("--help")
    assert r.returncode == 0
    for command in ("triage", "classify", "labels"):
        assert command in r.stdout


def test_unknown_flag_is_one_line_usage_error():
    r = run("triage", "--bogus", "x.log")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0
    assert "No such option: --bogus" in r.stderr and "Traceback" not in r.stderr


def test_unknown_format_is_a_usage_error():
    r = run("labels", "--format", "xml")
    assert r.returncode == 2 and "xml" in r.stderr and "Traceback" not in r.stderr


def test_a_bad_value_is_one_line_naming_its_option():
    """`--format pdf` said `Invalid value for '--format' / '-f': Value error, 'pdf' is not one of 'table', ...` and
    `--top x` `Input should be a valid integer, unable to parse string as an integer`: Typer's words. A bad value is
    said as every usage error is, `--option: what is wrong (command); see --help`, exit 2 (the fast paths too)."""
    cases = {("labels", "--format", "pdf"): "--format: 'pdf' is not one of table, json, markdown (mosaic-diag labels)",
             ("lint", "-f", "pdf", "."): "--format: 'pdf' is not one of table, text, json, markdown, sarif, github "
                                         "(mosaic-diag lint)",
             ("triage", "x.log", "--format", "pdf"): "--format: 'pdf' is not one of table, json, markdown, html "
                                                     "(mosaic-diag triage)",
             ("triage", "x.log", "--top", "x"): "--top: takes a whole number (mosaic-diag triage)",
             ("golden", "--repeat", "0"): "--repeat: takes 1 or more (mosaic-diag golden)",
             ("dlq", "show", "abc"): "ID: takes a whole number (mosaic-diag dlq show)",
             # NaN fails every bound: it is no number, not a value past the range
             ("golden", "--timeout", "nan"): "--timeout: takes a number, got nan (mosaic-diag golden)",
             ("golden", "--timeout", "1e20"): "--timeout: takes 3153600000 or less (mosaic-diag golden)",
             ("classify",): "Missing argument 'TEXT' (mosaic-diag classify)"}
    for args, said in cases.items():
        r = run(*args)
        assert r.returncode == 2 and r.stderr == f"mosaic-diag: error: {said}; see --help\n", (args, r.stderr)


def test_no_help_says_a_default_twice():
    """Every --format help said `table (default), json or markdown.  [default: table]`, `--repo` `(default: here).
    [default: .]`: an option's default is said once."""
    import re

    import typer.main

    from mosaic_diag.cli import app

    def paths(command: object, prefix: list[str]):  # noqa: ANN202
        yield prefix
        for name, sub in getattr(command, "commands", {}).items():
            yield from paths(sub, [*prefix, name])

    for args in paths(typer.main.get_command(app), []):
        text = run_cli([*args, "--help"], env={"COLUMNS": "80"}).stdout
        entries = [" ".join(entry.split()) for entry in re.split(r"\n(?=  -)", text)]  # (one option's, unwrapped)
        twice = [entry for entry in entries if re.search(r"\(default\b", entry) and "[default:" in entry]
        assert twice == [], (args, twice)


def test_labels_json_lists_the_whole_taxonomy():
    r = run("labels", "--format", "json")
    assert r.returncode == 0
    data = json.loads(r.stdout)
    names = {row["label"] for row in data}
    assert {"PG_SSL_REQUIRED", "OPENAI_QUOTA_EXCEEDED", "UNKNOWN_ERROR"} <= names
    row = next(row for row in data if row["label"] == "SQLITE_FALLBACK_ACTIVE")
    assert row["aliases"] == ["RAILWAY_DB_EPHEMERAL"] and row["severity"] == "critical"


def test_labels_unknown_category():
    r = run("labels", "--category", "weather")
    assert r.returncode == 2 and "unknown category 'weather'" in r.stderr


def test_classify_explain_from_stdin_traceback():
    import traceback

    try:
        import csv
        import io

        list(csv.reader(io.StringIO('a,"b\nc'), strict=True))
    except csv.Error as exc:
        text = "".join(traceback.format_exception(exc)).replace("<string>", "api/prompts_loader.py")
    r = run("classify", "-", "--explain", "--format", "json", stdin=text)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["label"] == "PROMPT_CSV_CORRUPT"
    assert data["exception_type"] == "_csv.Error"
    assert data["rule"] == "prompt.csv"


def test_classify_explain_shows_brackets_of_the_text_as_they_are():
    """A pasted error's `[/]` or `[red]` is its text: printed as it is, not read as Rich markup (nor a crash)."""
    r = run("classify", 'column "x[/]y [red]z" does not exist', "--explain")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "MISSING_COLUMN" in r.stdout and 'column "x[/]y [red]z" does not exist' in r.stdout


def test_labels_table_shows_a_rules_files_brackets_as_they_are(tmp_path):
    rules = tmp_path / "r.yml"
    rules.write_text("labels:\n  MY_LABEL:\n    category: data\n    severity: low\n"
                     "    description: 'the [bold]x[/] field'\n")
    r = run("labels", "--rules", str(rules), "--category", "data")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "the [bold]x[/] field" in " ".join(r.stdout.replace("│", " ").split())


def test_classify_empty_text_is_a_usage_error():
    r = run("classify", "  ")
    assert r.returncode == 2 and "empty" in r.stderr


def test_classify_bad_rules_file_names_file_and_line(tmp_path):
    rules = tmp_path / "r.yml"
    rules.write_text("rules:\n  - id: a\n    label: PG_AUTH_FAILED\n    match: {message: ['(']}\n")
    r = run("classify", "x", "--rules", str(rules))
    assert r.returncode == 2
    assert f"{rules}:4: bad regex" in r.stderr and "Traceback" not in r.stderr


def test_every_command_has_a_format_option():
    """Every leaf command takes `--format` (issue 2, part 1); groups only route."""
    import typer.main

    from mosaic_diag.cli import app

    def leaves(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from leaves(sub, [*path, name])
        else:
            yield " ".join(path), cmd

    found = dict(leaves(typer.main.get_command(app), []))
    assert {"triage", "hook run", "playbook validate", "manifest generate", "rollback"} <= set(found)
    missing = [name for name, cmd in found.items() if not any("--format" in p.opts for p in cmd.params)]
    assert missing == []


def test_config_paths_are_relative_to_the_repository_root(tmp_path):
    """`rules` and `playbooks.dir` in mosaic-diag.toml name files from the repository root, whatever
    subdirectory the command runs in (they used to be read from the current directory)."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "app").mkdir()
    (tmp_path / "diag" / "playbooks").mkdir(parents=True)
    (tmp_path / "mosaic-diag.toml").write_text('rules = "diag/rules.yml"\n[playbooks]\ndir = "diag/playbooks"\n')
    (tmp_path / "diag" / "rules.yml").write_text(
        "rules:\n  - id: zebra\n    label: PG_AUTH_FAILED\n    match: {message: ['zebra-unicorn']}\n")
    (tmp_path / "diag" / "playbooks" / "zebra.yml").write_text(
        "- id: zebra-playbook\n  match:\n    label: PG_AUTH_FAILED\n  severity: critical\n"
        "  remediate:\n    - action: alert_ops\n      when: always\n      message: zebra\n")
    (tmp_path / "app" / "x.log").write_text("2026-11-27T00:00:00Z ERROR:api.app:zebra-unicorn failure\n")

    def here(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mosaic_diag", *args], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path / "app")

    r = here("triage", "x.log", "--format", "json")
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert [(e["label"], e["rule"]) for e in report["events"]] == [("PG_AUTH_FAILED", "zebra")], r.stdout
    groups = report["groups"]
    assert [g["playbook"] for g in groups] == ["zebra-playbook"], r.stdout
    assert groups[0]["plan"]["source"] == f"{tmp_path / 'diag' / 'playbooks' / 'zebra.yml'}:1"
    r = here("playbook", "validate", "--format", "json")
    assert r.returncode == 0, r.stderr
    (tmp_path / "diag" / "playbooks" / "zebra.yml").write_text("- id: broken\n")
    r = here("playbook", "validate")
    assert r.returncode == 2 and f"{tmp_path / 'diag' / 'playbooks' / 'zebra.yml'}:1:" in r.stdout


def test_a_command_group_without_its_subcommand_shows_its_help_not_an_error():
    for args in ([], ["playbook"], ["manifest"], ["dlq"], ["hook"]):
        r = run(*args)
        assert r.returncode == 2, args
        assert "mosaic-diag: error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.startswith(f"Usage: {' '.join(['mosaic-diag', *args])} [OPTIONS] COMMAND"), r.stderr
        assert "Commands:" in r.stderr


def test_tables_at_a_narrow_width_stack_their_rows_whole():
    """COLUMNS=20: a squeezed table showed `c…`, `PG_SSL…` and columns zero cells wide (Count and Line of
    triage, every column of labels but one); now each row is `Header: value` lines, every value whole."""
    import os
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "examples" / "logs" / "render-sample.log"
    env = {**os.environ, "COLUMNS": "20", "NO_COLOR": "1", "TERM": "dumb"}
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", str(sample)], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert all(len(line) <= 20 for line in lines), [line for line in lines if len(line) > 20]
    assert "PG_SSL…" not in r.stdout and "│ c… │" not in r.stdout and "\x1b[" not in r.stdout
    # (a value's lines after the first, here all of it, indented under its header: never a `Header:` line itself)
    assert "  PG_SSL_REQUIRED" in lines and "Severity: critical" in lines and "Count: 4" in lines
    assert "Line: 977" in lines
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "labels"], capture_output=True, text=True,
                       timeout=60, env=env)
    assert r.returncode == 0 and "  PG_AUTH_FAILED" in r.stdout.splitlines() and "Retry: no" in r.stdout
    assert all(len(line) <= 20 for line in r.stdout.splitlines())
    wide = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", str(sample)], capture_output=True,
                          text=True, timeout=120, env={**env, "COLUMNS": "120"})
    assert "┃ Severity ┃ Label" in wide.stdout  # where it fits, still a table


def test_run_options_of_golden_before_a_subcommand_are_refused_not_ignored(tmp_path):
    """`golden --cases mine.yml validate` validated golden/ (the default) and said ok: the options before the
    subcommand are the run's, and were silently dropped."""
    (tmp_path / "mine.yml").write_text("cases:\n  - id: a\n    path: /x\n    expect: {latncy_ms: {p95: 5}}\n")
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "golden", "--cases", "mine.yml", "--format", "json",
                        "validate"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == ("mosaic-diag: error: --cases, --format before `validate` are options of the golden run, "
                        "not of `validate`: put the ones it takes after it (mosaic-diag golden validate --help)\n")
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "golden", "validate", "mine.yml"],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2 and "mine.yml:4: unknown key 'latncy_ms'" in r.stdout + r.stderr


def test_a_dumb_terminal_keeps_its_width():
    """TERM=dumb on a terminal: Rich takes any dumb terminal for 80 columns, whatever COLUMNS or the terminal
    says, so a 20-column terminal got 80-column tables; the width given is kept (and no colour is sent)."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    from tests.ptyread import read_until_closed

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 20, 0, 0))
    env = {**os.environ, "TERM": "dumb", "COLUMNS": "20"}
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "labels"], stdout=slave, stderr=slave,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    text = read_until_closed(master).decode()
    assert proc.wait(timeout=60) == 0
    lines = text.replace("\r", "").splitlines()
    assert "  PG_AUTH_FAILED" in lines and all(len(line) <= 20 for line in lines), lines[:5]  # (under `Label:`)
    assert "\x1b[" not in text


def test_no_command_has_string_annotations() -> None:
    """Typer reads every command's signature at each start: string annotations would be compiled and evaluated
    there (cli.py's COMMAND_MODULES note)."""
    from collections.abc import Iterator
    from typing import Any

    from mosaic_diag.cli import app

    def callbacks(typer_app: Any) -> Iterator[Any]:
        for info in typer_app.registered_commands:
            yield info.callback
        for group in typer_app.registered_groups:
            yield from callbacks(group.typer_instance)

    found = [f for f in callbacks(app) if f is not None]
    assert len(found) > 20
    quoted = [(f.__module__, f.__name__, k) for f in found for k, v in f.__annotations__.items() if isinstance(v, str)]
    assert quoted == []


def test_identifiers_in_list_tables_are_never_split_across_lines():
    """`labels` and `playbook list` at 80 columns folded `PG_AUTH_FAIL|ED` and `infrastructu|re`: a wrapping column
    is at least as wide as its widest word, and a table that cannot be is printed as `Header: value` lines."""

    from mosaic_diag.classifier.taxonomy import load_taxonomy

    names = list(load_taxonomy().labels)
    for width in ("60", "80", "100", "130", "200"):
        env = {"COLUMNS": width, "NO_COLOR": "1"}
        for args, words in ((["labels"], [*names, "infrastructure"]),
                            (["playbook", "list"], ["anthropic-credit-exhausted", "ANTHROPIC_CREDIT_EXHAUSTED"])):
            r = run_cli(args, env=env)  # (in this process; the COLUMNS=20 and terminal cases above run whole)
            assert r.returncode == 0, r.stderr
            assert all(len(line) <= int(width) for line in r.stdout.splitlines()), (args, width)
            for word in words:  # (a category where its column is shown: at 80 it is left out, test below)
                assert word in r.stdout or (word == "infrastructure" and "Category" not in r.stdout), (args, width)


def test_list_tables_drop_their_optional_columns_before_stacking():
    """`labels` and `playbook list` at 80 columns printed ~370 lines of `Header: value` blocks (every column did not
    fit): they leave out their least needed columns first, and stack rows only below about 75 columns."""
    wanted = {("labels",): (["Label", "Severity", "Description"], ["Aliases", "Retry", "Category"]),
              ("playbook", "list"): (["Playbook", "Labels", "Severity"], ["Source", "Actions", "Stage"])}
    for args, (kept, optional) in wanted.items():
        for width in (76, 80, 100, 120, 200):
            r = run_cli(list(args), env={"COLUMNS": str(width), "NO_COLOR": "1"})
            lines = r.stdout.splitlines()
            # (the table's top edge after its title: `54 playbooks in <the checkout's playbooks folder>` takes more
            # than a line where the checkout's path is long)
            top = next((k for k, line in enumerate(lines[:6]) if line.startswith("┏")), None)
            assert r.returncode == 0 and top is not None, (args, width, lines[:4])
            headers = lines[top + 1].strip("┃ ").split()
            assert headers[:1] == kept[:1] and set(kept) <= set(headers), (args, width, headers)
            assert all(len(line) <= width for line in lines), (args, width)
            gone = [name for name in optional if name not in headers]
            assert gone == optional[:len(gone)], (args, width, headers)  # in their order
        assert len(run_cli(list(args), env={"COLUMNS": "80"}).stdout.splitlines()) < 150, args
        wide = run_cli(list(args), env={"COLUMNS": "200"}).stdout.splitlines()
        assert set(optional) <= set(next(wide[k + 1] for k, line in enumerate(wide) if line.startswith("┏")).split())
        stacked = run_cli(list(args), env={"COLUMNS": "60"}).stdout  # every column, as lines
        assert all(f"\n{name}: " in stacked for name in kept[1:] + optional[-1:]), args


def test_manifest_history_refuses_a_limit_below_one():
    for value in ("-1", "0"):
        r = run("manifest", "history", "--limit", value)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "--limit" in r.stderr and "Traceback" not in r.stderr


def test_a_directory_where_a_file_is_read_is_named_so(tmp_path):
    """`dlq list --db /tmp` said `/tmp: no such SQLite dead-letter file`, though /tmp is there."""
    r = run("dlq", "list", "--db", str(tmp_path))
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{tmp_path}: is a directory, not a SQLite dead-letter file" in r.stderr, r.stderr


def test_a_table_that_fits_only_by_wrapping_keeps_its_right_edge_and_every_word():
    """predeploy's table at 80 columns: Rich shaved the wrapping columns evenly below their widest word, laid the
    table out wider than the terminal, and the edge cut the hint column off (`manifest genera`, no `│`)."""
    import io

    from rich.console import Console
    from rich.table import Table

    from mosaic_diag.render.console import print_table

    message = ("commit bdb58393ad4d on master, clean tree, 2 prompt file(s), 4 golden file(s), schema 68e65cd12373, "
               "models: none pinned")
    hint = "`mosaic-diag manifest generate` prints it whole; `manifest record` after the deploy"
    skipped = "no app URL or import path configured (predeploy.golden_url, MOSAIC_APP_URL or predeploy.golden_app)"
    for width in (60, 80, 100, 130):
        table = Table(pad_edge=False)
        for column in ("check", "status", "id"):
            table.add_column(column, no_wrap=True)
        for column in ("message", "hint"):
            table.add_column(column, overflow="fold", ratio=1)
        table.add_row("manifest", "info", "MD-MANIFEST001", message, hint)
        table.add_row("golden", "skipped", "", skipped, "")
        buffer = io.StringIO()
        print_table(Console(file=buffer, width=width, color_system=None), table)
        lines = buffer.getvalue().splitlines()
        assert all(len(line) <= width for line in lines), (width, lines)
        if width >= 80:  # a table (narrower, its rows are stacked as `Header: value` lines)
            assert lines[0].startswith("┏") and all(line[-1] in "┓┃┩│┘" for line in lines), (width, lines)
        words = " ".join(part for line in lines for part in line.split("│")).split()
        for word in (message + " " + hint + " " + skipped).split():
            assert word in words, (width, word)


def _on_a_terminal(args: list[str], columns: int) -> tuple[int, str]:
    """(exit code, what it wrote) of `python -m mosaic_diag ARGS` on a pseudo-terminal `columns` wide."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    from tests.ptyread import read_until_closed

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1", "TERM": "xterm-256color"}
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", *args], stdout=slave, stderr=slave,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    text = read_until_closed(master).decode()
    return proc.wait(timeout=60), text.replace("\r\n", "\n")


@pytest.mark.parametrize("columns", [40, 80])
def test_playbook_show_and_run_wrap_at_words_on_a_terminal(columns: int) -> None:
    """`playbook show` and `playbook run` wrote each item as one long line, which the terminal cut wherever its
    edge fell (`-> PG_CONNECTI` / `ON_FAILED`, `(Availab` / `le`) and went on at the left edge: on a terminal
    they wrap at words, a wrapped line indented under its item. Piped, each item stays one line."""
    import re

    code, text = _on_a_terminal(["playbook", "show", "PG_CONNECTION_FAILED"], columns)
    assert code == 0, text
    lines = text.splitlines()
    assert all(len(line) <= columns for line in lines), [line for line in lines if len(line) > columns]
    words = " ".join(text.split())
    for word in ("PG_CONNECTION_FAILED", "(Available, disk not full).", "SQLITE_FALLBACK_ACTIVE"):
        assert word in words, word
    tail = lines[lines.index("remediate:") + 1:]
    assert tail[0].startswith("  1. retry when ") and all(re.match(r"  \d\. |     \S", line) for line in tail), tail
    code, text = _on_a_terminal(["playbook", "run", "OPENAI_RATE_LIMIT", "--dry-run", "--no-gather"], columns)
    assert code == 0 and all(len(line) <= columns for line in text.splitlines()), text
    assert "Re-run with --execute to act." in " ".join(text.split())
    piped = run("playbook", "show", "PG_CONNECTION_FAILED")
    assert "  server-answers: postgres.reachable or postgres.error contains 'does not exist' or postgres.error " \
           "contains 'too many clients' -> PG_CONNECTION_FAILED\n" in piped.stdout


def test_every_commands_help_ends_with_examples_and_its_exit_codes() -> None:
    """No `--help` gave an example, and only golden's said what its exit codes mean (triage's, watch's, deploy's,
    rollback's did not, though the README documents them); `dlq --help` listed replay as `Validate a dead letter's
    payload again (e.g.`, its summary cut at the 'e.g.' click took for the end of a sentence. Each command (and each
    command group) ends its help with examples and its exit codes, within 80 columns; no summary is cut open."""
    import re

    from mosaic_diag.cli import app
    from mosaic_diag.commands._help import HELP_ENDS

    top = {info.name for info in app.registered_commands} | {g.name for g in app.registered_groups}
    assert top <= set(HELP_ENDS), top - set(HELP_ENDS)  # a new command gets its examples and exit codes
    root = run_cli(["--help"], env={"COLUMNS": "80"})
    assert root.returncode == 0 and "Exit codes (every command): 0 all good;" in root.stdout
    for command, (examples, codes) in HELP_ENDS.items():
        r = run_cli([*command.split(), "--help"], env={"COLUMNS": "80"})
        assert r.returncode == 0, (command, r.stderr)
        lines = r.stdout.splitlines()
        assert all(len(line) <= 80 for line in lines), (command, [line for line in lines if len(line) > 80])
        shown = lines[lines.index("  Examples:") + 1:]
        assert [line.split("#")[0].strip() for line in shown[:len(examples)]] == \
               [line.split("#")[0].strip() for line in examples], command
        if codes:
            assert "Exit codes: " + " ".join(codes.split()) in " ".join(r.stdout.split()), command
        else:
            assert "Exit codes: 0 " in " ".join(r.stdout.split()), command  # (in its description: golden)
    for group in ("playbook", "golden", "hook", "manifest", "dlq"):
        text = run_cli([group, "--help"], env={"COLUMNS": "80"}).stdout
        listed = text.split("Commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
        cut = [line for line in listed if line.count("(") > line.count(")") and not line.endswith("...")]
        assert listed and cut == [], (group, cut)
        assert all(re.match(r"  [a-z]+ +\S", line) for line in listed), listed


def test_no_help_shows_typer_type_names() -> None:
    """`--label <list[str]>`, `--top <int range>`, `paths... <list[Path]>`, `Usage: ... {text}`: --help named values
    by Typer's internal types. Every option and argument says what it takes (`--label LABEL`, `--timeout SECONDS`,
    `[PATH]...`); only a choice lists its values (`--format <table|json|markdown>`)."""
    import re
    from collections.abc import Iterator
    from typing import Any

    import typer.main

    from mosaic_diag.cli import app

    def paths(command: Any, prefix: list[str]) -> Iterator[list[str]]:
        yield prefix
        for name, sub in getattr(command, "commands", {}).items():
            yield from paths(sub, [*prefix, name])

    every = list(paths(typer.main.get_command(app), []))
    assert len(every) > 25
    for args in every:
        r = run_cli([*args, "--help"], env={"COLUMNS": "80"})
        assert r.returncode == 0, (args, r.stderr)
        text = r.stdout
        bad = [line for line in text.splitlines() if re.search(r"list\[|range>|[{}]|<(str|int|float|path)>", line)
               or re.search(r"<(?![a-z]+(\|[a-z]+)+>)[^>]*>", line)]
        assert bad == [], (args, bad)
    shown = run_cli(["golden", "--help"], env={"COLUMNS": "80"}).stdout
    for expected in ("--cases PATH", "--timeout SECONDS", "--repeat N", "--app MODULE:ATTR", "-t, --tag TAG"):
        assert expected in shown, expected
    shown = run_cli(["manifest", "diff", "--help"], env={"COLUMNS": "80"}).stdout
    assert "Usage: mosaic-diag manifest diff [OPTIONS] OLD_REF NEW_REF" in shown and "\n  OLD_REF  " in shown


def _csv_traceback() -> str:
    import csv
    import io
    import traceback

    try:
        list(csv.reader(io.StringIO('a,"b\nc'), strict=True))
    except csv.Error as exc:
        return "".join(traceback.format_exception(exc)).replace("<string>", "api/prompts_loader.py")
    raise AssertionError("csv accepted the text")


def test_classify_stdin_keeps_only_a_long_inputs_start_and_end():
    """`classify -` read all of stdin into memory (a 50 MB log piped in took 316 MB): of an input over 2 x 4 MiB it
    keeps the whole lines of the first and last 4 MiB, which hold what the classifier reads (`evidence.bounded`),
    and says how many bytes were not read; the traceback at the end still gives the label."""
    import io

    from mosaic_diag.logs.source import PASTE_CAP, read_paste

    filler = b"".join(b"2026-11-27T00:00:%02d.000Z INFO:api.app:User %d logged in\n" % (i % 60, i)
                      for i in range(300_000))
    text = _csv_traceback().encode()
    data = filler + text
    assert len(data) > 2 * PASTE_CAP
    read = read_paste(io.BytesIO(data))
    assert len(read) < 2 * PASTE_CAP + (64 << 10) + 100 and read.endswith(text.decode())
    head, marker, tail = read.partition("[... ")
    skipped = int(marker and tail.split(" bytes not read ...]\n", 1)[0].replace(",", ""))
    rest = tail.split("]\n", 1)[1]
    assert head.endswith("\n") and filler.startswith(head.encode()) and data.endswith(rest.encode())
    assert len(head.encode()) + skipped + len(rest.encode()) == len(data)  # every byte kept or counted
    r = run("classify", "-", "--format", "json", stdin=data)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["label"] == "PROMPT_CSV_CORRUPT"


def test_classify_stdin_short_input_is_read_whole():
    import io

    from mosaic_diag.logs.source import read_paste

    text = _csv_traceback()
    assert read_paste(io.BytesIO(text.encode()), cap=len(text.encode()) // 2 + 1, chunk=7) == text
    assert read_paste(io.BytesIO(b"ValueError: \xff\n")) == "ValueError: \ufffd\n"
