"""Exit codes and the errors that map onto them (no traceback ever reaches a user)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes shared by every command (design.md)."""

    OK = 0
    FINDINGS = 1
    USAGE = 2
    UNREACHABLE = 3
    INTERRUPTED = 130


@dataclass(frozen=True)
class FileProblem:
    """One problem found in an input file (a playbook, a golden case file): where and why."""

    path: str
    line: int | None  # 1-based; None: the file as a whole
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


class DiagError(Exception):
    """An error with a one-line message and an exit code; the CLI prints it and exits."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class Interrupted(DiagError):
    """Ctrl-C or SIGTERM cut a command short: the message says what state it left things in (exit 130)."""

    exit_code = ExitCode.INTERRUPTED


class UsageError(DiagError):
    """Bad flag, bad argument value, missing input file."""

    exit_code = ExitCode.USAGE


class ConfigError(DiagError):
    """Malformed configuration, rules, playbooks, cases."""

    exit_code = ExitCode.USAGE


def no_such(path: object, what: str = "file", kind: type[DiagError] | None = None) -> DiagError:
    """`PATH: no such <what>`; for `-` where only files are read, that stdin is not (a hurried `lint -`,
    `--context -`, `--rules -` said `-: no such file`, as if `-` were a file's name)."""
    error = kind or UsageError
    if str(path) == "-":
        return error(f"stdin is not read here: give a {what.split(' or ')[0]} name", path="-")
    if os.path.isdir(str(path)):  # (there, but not a file: `--db /tmp` said "no such file")
        return error(f"is a directory, not a {what.split(' or ')[0]}", path=str(path))
    if os.path.islink(str(path)) and not os.path.exists(str(path)):  # (a typo in the link: "no such" misled)
        return error("is a symlink that leads nowhere (dangling, or a loop)", path=str(path))
    if os.path.exists(str(path)):  # (a device, a FIFO: there, but never read as a file)
        return error("not a regular file (a device, a FIFO, a socket): not read", path=str(path))
    return error(f"no such {what}", path=str(path))


class UnreachableError(DiagError):
    """A target (database, app URL, git remote) could not be reached."""

    exit_code = ExitCode.UNREACHABLE
