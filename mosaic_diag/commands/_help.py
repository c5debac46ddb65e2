"""The end of each command's `--help`: examples (from the README) and what its exit codes mean, as data, put
on the commands once they are registered (cli.py)."""

from __future__ import annotations

from typing import Any

# command (as typed after `mosaic-diag`) -> (examples, exit codes); README's "Exit codes" and each section's.
HELP_ENDS: dict[str, tuple[tuple[str, ...], str]] = {
    "triage": ((
        "mosaic-diag triage app.log",
        "mosaic-diag triage logs/app.log*          # rotated logs, as one",
        "mosaic-diag triage app.log --since 2h --min-severity high",
        "mosaic-diag triage app.log --format html -o incident.html",
        "render logs -r srv-... -o json | mosaic-diag triage -",
        "mosaic-diag triage --render --since 2h",
    ), "0 no error events; 1 error events found; 2 usage, a file missing or unreadable, or an input that is not a "
       "text log (nothing judged); 3 Render's log API could not be reached (--render); 130 interrupted."),
    "classify": ((
        "mosaic-diag classify 'column \"last_login\" does not exist' --explain",
        "pbpaste | mosaic-diag classify - --explain",
    ), "0 classified (UNKNOWN_ERROR when no rule matches); 2 usage or a bad --rules file."),
    "labels": ((
        "mosaic-diag labels",
        "mosaic-diag labels --category data --format json",
    ), "0 listed; 2 an unknown category or a bad --rules file."),
    "predeploy": ((
        "mosaic-diag predeploy",
        "mosaic-diag predeploy --only db,prompts --format json",
        "mosaic-diag predeploy --fail-level warning --junit predeploy.xml",
    ), "0 all good; 1 a check failed at the fail level (an unreachable database is a failed check); 2 usage or "
       "configuration."),
    "lint": ((
        "mosaic-diag lint .",
        "mosaic-diag lint --fix .                  # the certainly-safe rewrites",
        "mosaic-diag lint --diff .",
        "mosaic-diag lint --format sarif > lint.sarif",
    ), "0 clean; 1 findings (--diff: rewrites to make); 2 a file that does not parse, or a configuration error."),
    "rollback": ((
        "mosaic-diag rollback a1b2c3d --dry-run",
        "mosaic-diag rollback --previous",
        "mosaic-diag rollback --auto --log app.log --window 15m",
    ), "0 done, nothing to do, a dry run, or --auto within budget; 1 refused, answered \"n\", rejected by the "
       "remote, the remote moved, or --auto over budget in a dry run; 2 usage or configuration (no answer to the "
       "question: add --yes); 3 the remote, /health, the database or Render unreachable; 130 interrupted."),
    "watch": ((
        "mosaic-diag watch --file app.log",
        "mosaic-diag watch --render --interval 10",
        "mosaic-diag watch --syslog 0.0.0.0:6514 --tls-cert c.pem --tls-key k.pem",
        "mosaic-diag watch --syslog 0.0.0.0:6514 --syslog-allow 203.0.113.0/24",
    ), "0 stopped (Ctrl-C, SIGTERM) or its source closed; 2 a bad source (a missing file, a HOST:PORT that cannot "
       "be bound, an unreadable certificate), --execute on a reachable --syslog without --syslog-allow, or a state "
       "file held by another watch; 130 a second Ctrl-C, or one "
       "while it starts."),
    "deploy": ((
        "mosaic-diag deploy",
        "mosaic-diag deploy --dry-run             # the plan; nothing pushed",
        "mosaic-diag deploy --watch 10m --no-rollback --format json",
    ), "0 good (or a dry run); 1 bad (rolled back or not) or blocked before the push; 2 usage or configuration; "
       "3 the remote, Render's API or /health unreachable, not seen serving within --wait-timeout, or superseded; "
       "130 interrupted."),
    "playbook": ((
        "mosaic-diag playbook show PG_CONNECTION_FAILED",
        "mosaic-diag playbook validate playbooks/",
        "mosaic-diag playbook run OPENAI_RATE_LIMIT --dry-run",
    ), "0 fine; 1 run: a failed diagnose check, a failed action, or answered \"n\"; 2 a playbook that does not "
       "validate, an unknown label or stage, a bad context file, or no answer to the question (add --yes)."),
    "playbook run": ((
        "mosaic-diag playbook run PG_CONNECTION_FAILED --stage startup --dry-run",
        "mosaic-diag playbook run OPENAI_QUOTA_EXCEEDED --execute --yes",
    ), "0 fine; 1 a failed diagnose check, a failed action, or answered \"n\"; 2 a playbook that does not "
       "validate, an unknown label or stage, a bad context file, or no answer to the question (add --yes)."),
    "golden": ((
        "mosaic-diag golden --app examples.mosaic_app.main:app --junit golden.xml",
        "mosaic-diag golden --url http://127.0.0.1:8000 --repeat 5 --min-pass 4",
        "mosaic-diag golden validate",
    ), ""),  # (its exit codes are in its description)
    "hook": ((
        "mosaic-diag hook install",
        "mosaic-diag hook run",
    ), "0 done (run: nothing found); 1 run: findings; 2 usage or configuration (a global core.hooksPath without "
       "--global-hooks-path)."),
    "manifest": ((
        "mosaic-diag manifest generate > manifest.json",
        "mosaic-diag manifest diff HEAD~3 HEAD",
        "mosaic-diag manifest record",
        "mosaic-diag manifest history",
    ), "0 done; 1 generate: the working tree is dirty; diff: a finding at --fail-on or above; 2 usage or "
       "configuration (a deploy record that cannot be read)."),
    "dlq": ((
        "mosaic-diag dlq list",
        "mosaic-diag dlq show 42",
        "mosaic-diag dlq purge --older-than 7d",
        "mosaic-diag dlq stats",
        "mosaic-diag dlq trim --max-letters 5000",
    ), "0 done; 1 replay: still rejected; purge, trim: answered \"n\"; 2 usage or configuration (a bound that "
       "is no whole number from 1 to 2,147,483,647 too; a grant the role lacks, named; no table; a read-only "
       "database), or purge, trim with no answer (stdin ended: add --yes); 3 PostgreSQL unreachable or timing out."),
}


ROOT_END = ("Exit codes (every command): 0 all good; 1 findings (error events, failed checks or cases); 2 usage or "
            "configuration; 3 a target could not be reached (database, app, git remote, Render); 130 interrupted. "
            "Each command's --help says what they mean for it, with examples.")


def help_end(command: str) -> str | None:
    """The epilog of `command`'s help: its examples as written (click keeps a paragraph after a \\b line as it
    is), then its exit codes (wrapped to the terminal)."""
    entry = HELP_ENDS.get(command)
    if entry is None:
        return None
    examples, codes = entry
    text = "\b\nExamples:\n" + "\n".join(f"  {line}" for line in examples)
    return text + (f"\n\nExit codes: {codes}" if codes else "")


def apply(app: Any, prefix: str = "") -> None:
    """Give every registered command and group of `app` (a Typer) the help end HELP_ENDS has for it."""
    for info in app.registered_commands:
        name = f"{prefix}{info.name or info.callback.__name__}"
        end = help_end(name)
        if end is not None and not info.epilog:
            info.epilog = end
    for group in app.registered_groups:
        name = f"{prefix}{group.name}"
        end = help_end(name)
        if end is not None:
            group.epilog = end
        apply(group.typer_instance, f"{name} ")
