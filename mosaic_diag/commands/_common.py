"""Helpers shared by the command modules: config, time arguments, label arguments."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from mosaic_diag.config import Config, config_root, find_root, load_config, unknown_key_warnings
from mosaic_diag.errors import UsageError
from mosaic_diag.platform.lazyre import LazyPattern

_DURATION = LazyPattern(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def own_repository() -> None:
    """Before a command that works on a repository (manifest, rollback, deploy): git's repository variables
    (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE…) are dropped from the environment, said on stderr, so that the
    repository is the one holding --repo (default: the current directory), never another one they name."""
    import sys

    from mosaic_diag.platform.gitops import ignore_repo_env

    dropped = ignore_repo_env()
    if dropped:
        sys.stderr.write(f"mosaic-diag: warning: {', '.join(dropped)} ignored: the repository is the one here "
                         "(or --repo), not the one they name\n")


def ask(question: str, stdin: TextIO | None = None) -> bool | None:
    """`question [y/N]: ` on stderr and the answer read from stdin, a terminal or a pipe alike (`echo y | ...`;
    y/yes: True; n/no or an empty line: False; anything else asks again); None when stdin ended with no answer
    (`</dev/null`, a closed pipe, Ctrl-D). An answer that came from no terminal is written after the question
    (a terminal echoes what is typed; a pipe does not, and the next line would follow the question). Ctrl-C and
    SIGTERM (`sigterm_as_interrupt`) are not turned into an answer: their KeyboardInterrupt goes on to the caller."""
    import sys

    from mosaic_diag.platform.terminal import one_line_escaped

    src = stdin if stdin is not None else sys.stdin
    isatty = getattr(src, "isatty", None)
    echo = not (callable(isatty) and isatty())
    try:
        while True:
            sys.stderr.write(f"{question} [y/N]: ")
            sys.stderr.flush()
            line = src.readline()
            if not line:
                sys.stderr.write("\n")
                return None
            answer = line.strip().lower()
            if echo:
                sys.stderr.write(one_line_escaped(line.strip()[:80]) + "\n")
            if answer in ("y", "yes"):
                return True
            if answer in ("", "n", "no"):
                return False
            sys.stderr.write("answer y or n\n")
    except KeyboardInterrupt:
        sys.stderr.write("\n")  # (what follows starts a line of its own, not after the question)
        raise


def confirmed(question: str) -> bool | None:
    """`ask(question)`, with Ctrl-C or SIGTERM at the prompt (not an answer) an `Interrupted` saying nothing was
    done (exit 130); None when stdin ended with no answer."""
    from mosaic_diag.errors import Interrupted

    try:
        return ask(question)
    except KeyboardInterrupt:
        raise Interrupted("interrupted at the confirmation: nothing was done") from None


def no_answer(nothing: str, act: str) -> str:
    """The line of a confirmation that got no answer (stdin ended: `</dev/null`, a script, Ctrl-D)."""
    return f"not confirmed: no answer (stdin ended): {nothing}; add --yes to {act} without asking"


def confirm_destructive(question: str, *, nothing: str, act: str) -> tuple[int, str] | None:
    """The one confirmation of every command that changes or deletes (rollback, `playbook run --execute`,
    `dlq purge`), asked when `--yes` was not given: the question on stderr, the answer from stdin whether a
    terminal or a pipe (`echo y | ...`). None: confirmed, go on. Otherwise the exit code and the line said
    on stderr (`mosaic-diag: LINE`): 1 for an answered "n" (`not confirmed: {nothing}`), 2 for no answer (stdin
    ended: `</dev/null`, cron, CI, Ctrl-D; the line names --yes, as a missing required flag). Ctrl-C or
    SIGTERM at the question: `Interrupted` (130)."""
    import sys

    from mosaic_diag.errors import ExitCode

    answer = confirmed(question)
    if answer:
        return None
    code, line = ((ExitCode.USAGE, no_answer(nothing, act)) if answer is None
                  else (ExitCode.FINDINGS, f"not confirmed: {nothing}"))
    sys.stderr.write(f"mosaic-diag: {line}\n")
    return int(code), line


def sigterm_as_interrupt() -> None:
    """SIGTERM (a CI cancel, `kill`, a container stop) handled as Ctrl-C is: the command's own handling of an
    interruption runs (the audit says 'interrupted', the report names the step, exit 130) instead of the process
    vanishing between the audit's intent and its outcome."""
    import signal
    import threading

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        if callable(signal.getsignal(signal.SIGTERM)):  # made Ctrl-C's already (`entry`, the CLI's count over it)
            return  # (replaced, a Typer run whose SIGINT is ignored, `nohup`, lost the count: a silent exit 130)
        # Ctrl-C's own handler where it is a function (the CLI's, which counts it: a Typer run that an interrupt
        # ended says so on its line, as after Ctrl-C, not a silent exit 130)
        ctrl_c = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGTERM, ctrl_c if callable(ctrl_c) else interrupt)


def config_here(root: Path | None = None) -> Config:
    """The config of the repository holding `root` (default: the current directory), read at its top
    level (`git rev-parse --show-toplevel`, found without starting git for the current directory) from any
    subdirectory; env overrides included. Its unknown keys (a typo is otherwise silently ignored) are warned
    about on stderr."""
    config = load_config(find_root(root) if root is not None else config_root(os.environ), os.environ)
    warn_unknown_keys(config)
    return config


_WARNED: set[str] = set()


def warn(text: str) -> None:
    """`mosaic-diag: warning: TEXT` on stderr."""
    import sys

    sys.stderr.write(f"mosaic-diag: warning: {text}\n")


def warn_unknown_keys(config: Config) -> None:
    """`mosaic-diag: warning: FILE:LINE: unknown configuration key …` on stderr, once per process."""
    import sys

    for line in unknown_key_warnings(config):
        if line not in _WARNED:
            _WARNED.add(line)
            sys.stderr.write(f"mosaic-diag: warning: {line}\n")


def parse_time(value: str | None, option: str, *, now: datetime | None = None) -> datetime | None:
    """An ISO-8601 time (naive = UTC) or a duration ago (`30m`, `2h`, `1d`)."""
    if value is None:
        return None
    text = value.strip()
    m = _DURATION.match(text)
    if m:
        now = now or datetime.now(UTC)
        try:
            return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        except OverflowError:  # (`--since 9999999d`: before year 1, or past what a timedelta holds)
            raise UsageError(f"{option} {value!r} reaches before year 1") from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"{option} takes an ISO-8601 time or a duration such as 30m, 2h, 1d; "
                         f"got {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check_output(fmt: object, output: Path | None, junit: Path | None = None,
                 inputs: Iterable[Path | str] = ()) -> None:
    """`--output` goes with `--format html` only (the other formats stream to stdout; `-o -` is stdout);
    `--junit` takes a file, never `-` (which would be a file named `-`: stdout carries the report); neither is one of
    the `inputs` (`check_not_inputs`)."""
    if junit is not None and str(junit) == "-":
        raise UsageError("--junit takes a file name (`-` is not stdout here: stdout carries the report)")
    if output is not None and str(output) != "-" and str(getattr(fmt, "value", fmt)) != "html":
        raise UsageError("--output/-o is for --format html (the other formats write to stdout)")
    for path in (output, junit):
        if path is not None and str(path) != "-":
            check_writable(path)
    check_not_inputs((output, junit), inputs)


def check_not_inputs(outputs: Iterable[Path | None], inputs: Iterable[Path | str]) -> None:
    """A UsageError when a file a command writes at its end replaces a file it reads (the file an input name leads
    to, through whatever links) or another file it writes: `triage app.log -f html -o app.log` replaced the log with
    its report, `golden -o golden/cases.yml` the cases, `-o report.html --junit report.html` one report with the
    other. (An output that is a symlink is replaced itself, not followed: its target is no loss.)"""
    def entry(path: Path) -> Path:  # the directory entry a write replaces
        return Path(os.path.realpath(path.parent)) / path.name

    read = {Path(os.path.realpath(given)): Path(given) for given in inputs if str(given) != "-"}
    seen: dict[Path, Path] = {}
    for path in outputs:
        if path is None or str(path) == "-":
            continue
        where = entry(path)
        if where in seen:
            raise UsageError(f"is named twice ({seen[where]} too): one report would replace the other", path=str(path))
        seen[where] = path
        if where in read:
            given = read[where]
            shown = "" if str(given) == str(path) else f" ({given})"
            raise UsageError(f"is an input of this run{shown}: the report would replace it; write it elsewhere",
                             path=str(path))


def check_writable(path: Path) -> None:
    """A file the command writes at its end, checked before it starts, so that a run of minutes is not lost to a
    typo (`--junit /tmp`, `--state-dir` naming a file): not a directory, under no file, in a directory that
    exists or can be made, and that this user may write (the file's own write is atomic, at the end)."""
    if path.is_dir():
        raise UsageError("cannot write (Is a directory)", path=str(path))
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"cannot write ({parent} is not a directory)", path=str(path))
            if not os.access(parent, os.W_OK | os.X_OK):
                raise UsageError("cannot write (Permission denied)", path=str(path))
            return


def write_report(text: str, output: Path | None) -> None:
    """A whole report to `output` (atomically: the old file or the new one, never half) or stdout."""
    import sys

    if output is None or str(output) == "-":
        sys.stdout.write(text)
        return
    from mosaic_diag.platform.atomic import write_atomic
    from mosaic_diag.platform.redact import redact_text
    from mosaic_diag.platform.terminal import neutralize_controls

    text = neutralize_controls(redact_text(text), keep_csi=False)  # no terminal reads a file: nothing is kept

    umask = os.umask(0)
    os.umask(umask)
    try:
        write_atomic(output, text, mode=0o666 & ~umask, to_device=True)  # a report to share: the usual file mode
    except OSError as exc:  # (write_atomic's own errors say `cannot write (why)` already)
        said = exc.strerror or str(exc)
        raise UsageError(said if said.startswith("cannot write") else f"cannot write ({said})",
                         path=str(output)) from None


from mosaic_diag.config import MAX_SECONDS as MAX_DURATION_S  # noqa: E402 - past it, a deadline overflows


def parse_duration(value: str, option: str) -> float:
    """Seconds of a duration such as `90s`, `30m`, `2h`, `1d` (a bare number is seconds), at most 100 years."""
    text = value.strip()
    if text.replace(".", "", 1).isdigit():
        seconds = float(text)
    else:
        m = _DURATION.match(text)
        if not m:
            raise UsageError(f"{option} takes a duration such as 90s, 30m, 2h; got {value!r}")
        seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    if seconds > MAX_DURATION_S:
        raise UsageError(f"{option} {value!r} is longer than 100 years")
    return float(seconds)
