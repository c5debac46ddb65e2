"""Parse one log line of any supported shape into its parts (the slow path of the reader).

A line has an outer shape (render-text, render-api, syslog, json, or none) and, inside it, the
process's own line (stdlib logging with or without asctime, uvicorn, a Render ``==>`` line, a
traceback line, anything else). `parse_line` returns the parts the event assembler needs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, AnyStr, NamedTuple

from mosaic_diag.platform import recache
from mosaic_diag.platform.lazyre import LazyPattern


def _kept(pattern: AnyStr, flags: int = 0) -> re.Pattern[AnyStr]:
    """A pattern tried on every line, compiled at import (a plain compiled pattern, no LazyPattern) from the code kept
    for the log reader's patterns (`recache`, group "logs": a small bundle of their own)."""
    return recache.compile(pattern, flags, group="logs")

LEVELS = ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL")
_LEVEL_STARTS = (*LEVELS, "CRITI")  # (a level cut to five letters: "%(levelname)-5.5s")
ERROR_LEVELS = frozenset({"ERROR", "CRITICAL", "FATAL"})
_ALL_LEVELS = frozenset(LEVELS) | {"WARNING"}
_LEVEL_ALIASES = {"WARN": "WARNING", "ERR": "ERROR", "EXCEPTION": "ERROR", "CRIT": "CRITICAL",
                  "NOTICE": "INFO", "TRACE": "DEBUG", "ALERT": "CRITICAL", "EMERGENCY": "CRITICAL",
                  "SUCCESS": "INFO", "NOTSET": "DEBUG",
                  "ERRO": "ERROR", "DEBG": "DEBUG", "TRAC": "DEBUG", "BLAT": "DEBUG",  # (supervisord's four letters)
                  "WARNI": "WARNING", "CRITI": "CRITICAL"}  # (a level cut to five letters: "%(levelname)-5.5s")
TRACEBACK_HEADER = "Traceback (most recent call last):"

_LEVEL_INITIALS = frozenset("DIWECF[")
# first characters of a Render text line's own text that may start a record: a level word's initial (or "[" of
# "[ERROR]"), "==> ", Heroku's "app[" / "heroku[" (digits: an app timestamp, looked at too)
RECORD_INITIALS = _LEVEL_INITIALS | frozenset("=ah")
# ... and those that may make it more than plain text: Render's own failure sentences without the marker
# ("Server unhealthy. Ran out of memory …", "Port scan …") too
NOT_PLAIN = RECORD_INITIALS | frozenset("SRP")
_LV = r"(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)"
# (a fraction twice: "%(asctime)s.%(msecs)03d" without a datefmt writes asctime's own ",029" and then ".029")
_TS = r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?"
# Render text export: ISO-8601 timestamp, one space, the process's own line.
_RENDER_TEXT = _kept(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ?(.*)", re.S)
# RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]
_SYSLOG = _kept(r"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (.*))?", re.S)
# BSD syslog (RFC 3164) with an RFC 3339 time, as rsyslog forwards it: "<131>2016-05-31T23:42:23.368785+00:00 host
# tag[pid]: message", one stream per host and tag
_SYSLOG_BSD = LazyPattern(r"<\d{1,3}>(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (\S+) ([^\s\[:]+)"
                          r"(?:\[\d+\])?: ?(.*)", re.S)
# "%(asctime)s %(levelname)s %(name)s: %(message)s", or the logger without its colon when it is a dotted module
# path ("2021-06-26 14:08:07,371 ERROR kube_hunter.modules.discovery Failed to ..."); "%(levelname)s - %(message)s"
# (Azure App Service's platform log: "2023-11-16T11:17:54.469Z ERROR - Container … has exited"); supervisord's own
# four-letter levels ("2015-02-13 01:32:25,470 CRIT Supervisor running as root", ERRO, DEBG, TRAC, BLAT); the logger
# padded to a column ("%(levelname)-8s %(name)-12s %(message)s": "ERROR    api.db       message", "ERROR    app
# message": a name of one word only when two blanks or more end it)
_ASC_LEVEL = _kept(rf"({_TS})\s+\[?(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL|CRIT|ERRO|DEBG|TRAC|BLAT)\]?\s+"
                        r"(?:- +)?(?:([^\s:]+):\s|"
                        r"([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+|[A-Za-z_][\w.-]{0,255}(?=  )) +(?=\S))?"
                        r"\s*(.*)", re.S)
_LINENO_COLUMN = LazyPattern(r"\d{1,6} +(?=\S)")
_ASC_DASHED = LazyPattern(rf"({_TS}) - (\S+) - {_LV} - (.*)", re.S)
_BASIC = _kept(rf"{_LV}:([^\s:]*): ?(.*)", re.S)
# a record in a layout no pattern here names (`_any_record`): a time stamp (a date and time in the common forms, with
# or without a zone after a space, or a time of day), up to three short words (a pid, a thread, a logger, bracketed
# or not), a level word (bracketed or not), then the message: stdlib logging's formats with another `datefmt` or
# field order. Django's "verbose" format starts with the level (`ERROR 2026-12-06 15:27:36,262 views 17 140 msg`).
# A `datefmt` that names the month (`%d-%b-%y %H:%M:%S`: quart's `12-Nov-18 09:33:04`; `%b-%d %H:%M:%S`: `Mar-03
# 23:49:27`), and a separator glued to the stamp (`%(asctime)s: %(name)s %(levelname)s: …`, `%(asctime)s--%(levelname)s
# …`: `Mar-03 23:49:27--ERROR  [name]: …`) are read too
_STAMP = (r"(?:\d{4}[-/]\d\d[-/]\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+(?:\.\d+)?)?(?: ?(?:Z|[+-]\d\d:?\d\d|UTC|GMT))?"
          r"|\d\d/[A-Z][a-z]{2}/\d{4}[: ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?: [+-]\d{4})?"
          r"|\d\d/\d\d/\d{4} \d\d:\d\d:\d\d(?:[.,]\d+)?(?: [AP]M)?"
          r"|(?:\d\d-[A-Z][a-z]{2}-\d\d(?:\d\d)?|[A-Z][a-z]{2}-\d\d) \d\d:\d\d:\d\d(?:[.,]\d+)?"
          r"|(?:\d\d-\d\d )?\d\d:\d\d:\d\d(?:[.,]\d+)?)")
_ANY_RECORD = LazyPattern(
    rf"\[?({_STAMP})\]?(?:-{{1,2}}|:|\|)?(?:((?:[ \t]+\S{{1,64}}){{0,3}}?)[ \t]+|(?<=[-:|]))"
    rf"[\[(]?{_LV} *[\])]?:?(?:[ \t]+|$)(.*)", re.S)
_MONTH_FIRST = LazyPattern(r"[A-Z][a-z]{2}-\d\d ")  # (`%b-%d %H:%M:%S`: a record of `_ANY_RECORD`'s)
_LEVEL_FIRST = LazyPattern(rf"{_LV}[ \t]+\[?({_STAMP})\]?(?:[ \t]+|$)(.*)", re.S)
_ANY_TAIL = LazyPattern(r"(?:[-:] +)?(?:([A-Za-z_][\w.]*)(?::\s| - ))?\s*(.*)", re.S)  # ("- " / ": " a separator)
# the logger's column between the level and the message when it is in brackets, or a code location's column: what
# `_ASC_LEVEL`, `_ANY_TAIL`, `_BRACKET_TS` and `_BRACKET_LEVEL` leave at the head of the message (`_column`).
# "[%(name)s] " ("2026-12-06 10:00:00,123 INFO [uvicorn.error] Started server process [7]"), "[%(module)s:%(lineno)d] ",
# "[%(name)s:%(funcName)s] ", "%(filename)s:%(lineno)d - "; a bracketed column that is a thread's (logback's
# "[%thread] %logger - %msg") is followed by a dotted logger and its ": " / " - ", which is the logger then. A bracket
# with a blank in it ("[Errno 111] …") or that starts with a digit ("[2026-…]", "[42]") is the message's own. A code
# location's column after a bracketed one ("[%(threadName)s] [%(filename)s:%(lineno)d] - ", Dify's) is the one read;
# a thread's name may carry its target ("[Thread-197 (worker_with_context)]", Python 3.10+).
_NAME_COLUMN = LazyPattern(r"(?:\[([A-Za-z_][\w.-]{0,255})(?: \([\w.<>-]{1,128}\))?(?::[\w<>.]{1,64}){0,2}\]"
                           r"|([A-Za-z_][\w.-]{0,255})\.pyw?:\d+)(?: -|:)?(?: +|$)")
# the names Python gives threads (`threading`'s "MainThread", "Thread-3", "Dummy-2", concurrent.futures'
# "ThreadPoolExecutor-0_1", asyncio's default executor's "asyncio_0"): a "%(threadName)s" column, never a logger's
_THREAD = r"MainThread|(?:Thread|Dummy)-\d+|ThreadPoolExecutor-\d+_\d+|asyncio_\d+"
THREAD_NAME = LazyPattern(_THREAD)
# a thread's column and a function's after a logger's in a format of " - " separated columns ("%(asctime)s -
# %(levelname)s - %(filename)s - %(threadName)s - %(funcName)s - %(message)s")
_DASHED_THREAD = LazyPattern(rf"(?:{_THREAD}) - (?:(?:[A-Za-z_]\w*|<module>) - (?=\S))?")
_NAME_WORD = LazyPattern(r"\[?[A-Za-z_][\w.-]{0,255}\]?")
_DOTTED_LOGGER = LazyPattern(r"([A-Za-z_][\w-]*(?:\.[A-Za-z_$][\w$-]*)+)(?::| -) +")
# "%(levelname)-5.5s [%(name)s] %(message)s" (Alembic's default, and apps that copy it: Open WebUI): the level cut to
# five letters and padded ("INFO  [alembic.runtime.migration] …", "WARNI […]", "ERROR […]"), the logger in brackets
# (the five-letter column exactly: "WARN [Ctx] …", another layout's, stays what it was)
# The full level names in that layout, padded or not ("%(levelname)s [%(name)s] %(message)s": "INFO [uvicorn.error]
# Started server process [7]", "WARNING […]", "%(levelname)-8s": "ERROR    […]"), are read too.
_LEVEL_LOGGER = LazyPattern(r"(DEBUG|INFO|WARNI(?:NG)?|ERROR|CRITI(?:CAL)?) +\[([^\[\]\s]{1,256})\] (.*)", re.S)
# stdlib logging's default format after an asctime: "2026-… ERROR:api.storage:message" (or "…,123:ERROR:…"; a blank
# after the logger's colon, "%(levelname)s:%(name)s: %(message)s", is no part of the message, here and in `_BASIC`)
_ASC_BASIC = LazyPattern(rf"({_TS})[ :]\s*{_LV}:([^\s:]*): ?(.*)", re.S)
# PostgreSQL's own log (log_line_prefix '%m [%p] '): "2024-09-27 13:40:00.833 UTC [277] FATAL:  message"; a
# server whose lc_messages is another language's writes its word ("… [277] FEHLER:  …", "… [277] 错误:  …"), read
# as the English one (`l10n.severity_words`, loaded at the first such line)
_PG_SERVER = LazyPattern(rf"({_TS})(?: [A-Z]{{2,5}})? \[\d+\](?: [^\s:]+)? "
                         r"(DEBUG\d?|LOG|INFO|NOTICE|WARNING|ERROR|FATAL|PANIC|[^\s:\[\]\d][^\s:\[\]]{1,24}):  (.*)",
                         re.S)
_PG_SEVERITIES = frozenset({"LOG", "INFO", "NOTICE", "WARNING", "ERROR", "FATAL", "PANIC"})
_PG_LEVELS = {"LOG": "INFO", "NOTICE": "INFO", "PANIC": "CRITICAL"}


def pg_severity(word: str) -> str | None:
    """PostgreSQL's severity `word` in English (`FEHLER` -> `ERROR`), or None when it is none."""
    if word in _PG_SEVERITIES or word.startswith("DEBUG"):
        return word
    from mosaic_diag.classifier.l10n import severity_words

    english = severity_words().get(word)
    return english if english in _PG_SEVERITIES or english == "DEBUG" else None
# Home Assistant's records ("%(asctime)s %(levelname)s (%(threadName)s) [%(name)s] %(message)s"): a two-digit year
# ("21-05-24 20:23:32 ERROR (MainThread) [asyncio] message", `%y-%m-%d`; newer ones write four digits and a fraction,
# read by _ASC_LEVEL, the thread and logger columns by _THREAD_LOGGER)
_HA_RECORD = LazyPattern(rf"(\d\d-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) {_LV} (.*)", re.S)
_THREAD_LOGGER = LazyPattern(r"\(([^()\s]+)\) \[([^\[\]\s]+)\] (.*)", re.S)
# "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s" (and without the " - ")
_BRACKET_COLUMNS = LazyPattern(rf"\[({_TS})\]\[([^\[\]\s]+)\]\[{_LV}\](?: -)? ?(.*)", re.S)
# loguru: "{time} | {level} | " in front; then, in its default format, "name:function:line - message"
# ("2026-12-06 08:27:44.208 | ERROR    | api.storage:save:42 - message": the logger is the name); in the
# common custom formats another code location field: a file ("app.py:294", quoted: "./app/llm.py:294"), a
# module ("api.storage:42"), maybe then a function ("./app/llm.py:294": generate_script - message). The
# message follows the " - " (or " | ") that ends that field, never one further on (a message's own
# "host:5432 - refused"); with no location field the message is the whole rest. (A message-only format
# whose message starts "db.example.com:5432 - " reads like "{name}:{line} - ": that host is taken as one.)
_LOGURU = LazyPattern(rf"({_TS}) \| (TRACE|DEBUG|INFO|SUCCESS|WARNING|ERROR|CRITICAL) *\| (.*)", re.S)
_LOGURU_DEFAULT = LazyPattern(r"([^\s:/\"|]+):([\w<>]+):\d+ [-|] ")
# (quoted, a file's path may hold blanks: `"/home/me/my project/app.py:294": generate_script - message`)
_LOGURU_LOCATION = LazyPattern(r'(?:"[^"|\n]*(?:\.pyw?|>):\d+"|"?(?:[^\s"|]*(?:\.pyw?|>)|[A-Za-z_][\w.]*):\d+"?)'
                               r'(?::? ?[\w<>.]+)? [-|] ')
# structlog's ConsoleRenderer: "[error    ] event   key=value [logger]" (after its timestamp, if any)
_STRUCTLOG = LazyPattern(r"\[(debug|info|warning|warn|error|exception|critical|fatal|notset) *\] ?(.*)", re.S)
# a timestamp in brackets first: gunicorn's "[2026-12-06 08:00:05 +0000] [7] [ERROR] message", Flask's
# "[2026-12-06 08:00:00,123] ERROR in app: message", and "[TS] LEVEL message" / "[TS] [LEVEL] message"
_BRACKET_TS = LazyPattern(rf"\[(\d{{4}}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+(?:\.\d+)?)?"
                          rf"(?: ?(?:Z|[+-]\d\d:?\d\d))?)\] "
                          rf"(?:\[\d+\] )?\[?{_LV}\]?(?: in ([\w.]+))?:? +(.*)", re.S)
_FRACTION_TWICE = LazyPattern(r"[^.,]*\d\d:\d\d[.,]\d+(\.\d+)")
_MDY = LazyPattern(r"(\d\d)/(\d\d)/(\d\d|\d{4}) (\d\d:\d\d:\d\d(?:[.,]\d+)?)(?: ([AP])M)?")
# rich.logging.RichHandler: "[12/06/26 08:29:26] ERROR    message     file.py:15": the time column in brackets
# (left blank when it repeats), the level padded to 8, the source at the right ("app.py:15", "<stdin>:3": the
# last word, cut off in Python, `rich_message`: a pattern looking for it after a lazy message would try every
# position of a long run of spaces against the rest of the run, quadratic in a hostile line)
_RICH_RECORD = LazyPattern(r"(?:\[(\d[^\]\n]{3,30})\]|( +)) ?(DEBUG|INFO|WARNING|ERROR|CRITICAL)( +)([^\s=].*)", re.S)
_RICH_SOURCE = LazyPattern(r"(?:[\w.-]+\.pyw?|<[\w-]+>):\d+")
_RICH_INITIALS = frozenset("DIWEC")  # (a level word's initial: a RichHandler record's line after its blank time column)
# Prefect 1's records ("[%(asctime)s] %(levelname)s - %(name)s | %(message)s"): after the bracketed timestamp
# and level, "- logger | " and a line of its own (a ShellTask logs each line its command prints, at INFO)
_PREFECT = LazyPattern(r"- ([\w.-]+) \| ?(.*)", re.S)
# Celery's worker: "[2019-02-20 13:58:35,634: ERROR/MainProcess] message" (a task's: "…/ForkPoolWorker-2] task[id]: …")
_CELERY = LazyPattern(rf"\[({_TS}): {_LV}/[^\]\s]+\] ?(.*)", re.S)
# the level first in brackets: "[ERROR] 25/Sep/2017:16:17:34 +0000 - …", AWS Lambda's "[ERROR]\t2019-…Z\t<id>\t…"
_BRACKET_LEVEL = LazyPattern(rf"\[{_LV}\][ \t]+(.*)", re.S)
# AWS Lambda's Node.js runtime: "TIME\tREQUEST_ID\tLEVEL\tmessage" (`console.error`; the request id `undefined` before
# the first invocation), after the time (`_RENDER_TEXT`): the record; a copy that lost the first two columns (Netlify's
# function log: "ERROR\tUncaught Exception \t{…}") is a level and a tab before the message (`_LEVEL_TAB`)
_LAMBDA_NODE = LazyPattern(r"\t[\w-]+\t(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\t(.*)", re.S)
_LEVEL_TAB = LazyPattern(rf"{_LV}\t(.*)", re.S)
# the level first, then a bar before the logger's column and the message ("%(levelname)s | %(name)s | %(message)s":
# "ERROR | root | Task exception was never retrieved"; loguru's columns without the time, the level padded)
_LEVEL_BAR = LazyPattern(rf"{_LV} *\| ([\w.-]+(?::[\w<>.-]+:\d+)?) (?:\||-) (.*)", re.S)
# `gh run view --log` / `--log-failed`: the job's and the step's names before the runner's line ("build\tRun tests\t
# 2026-06-22T03:21:15.1520896Z Traceback …"), one stream per job's step
_GH_RUN_LOG = LazyPattern(r"([^\t\n]{1,256})\t([^\t\n]{0,512})\t(?=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")
# (its message may start on the next line: a paste that wrapped it under the request id)
_LAMBDA_RECORD = LazyPattern(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)\t[\w-]+(?:\t(.*)|$)", re.S)
# AWS Lambda's own lines around every invocation: records of the platform, none of them an error
_LAMBDA_RUNTIME = ("START RequestId: ", "END RequestId: ", "REPORT RequestId: ", "INIT_START ", "INIT_REPORT ")
# ... and the line it writes when it ends an invocation that ran past the function's timeout ("2016-04-14T23:52:45.715Z
# <request id> Task timed out after 120.00 seconds"): a platform failure, as Render's "Timed out"
_LAMBDA_TIMEOUT = LazyPattern(r"\bTask timed out after [\d.]+ seconds")


# what the platforms' failure lines read wherever they stand in a line that is no record hold (the kernel's OOM kill,
# Lambda's timeout): the reader's candidates for them too
ANY_LINE_FAILURES = ("ut of memory: Kill", "Task timed out after ")


def _in_any_line(text: str) -> bool:
    """The text may hold one of the platforms' failure lines (`ANY_LINE_FAILURES`): worth reading as more than
    plain text."""
    return any(k in text for k in ANY_LINE_FAILURES)
# logfmt: "level=ERROR ts=2026-03-04 14:03:46,952 module=log … message=Internal Server Error: /",
# 'time=… level=error msg="…"' (a line starting with one of these keys)
_LOGFMT_START = LazyPattern(r"(?:level|lvl|severity|time|ts|timestamp)=")
_LOGFMT_INITIALS = frozenset("lst")  # (a set: "" is in every str)
# a key starts a word: tried inside a long word at each of its characters, the key pattern would run to the word's
# end from every one (quadratic in a line of one long word)
_LOGFMT_PAIR = LazyPattern(r'(?<![\w.-])([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)')
LOGFMT_LEVEL_KEYS = frozenset({"level", "lvl", "severity", "levelname", "log_level"})
_LOGFMT_MSG_KEYS = frozenset({"msg", "message", "event"})
_LOGFMT_TS_KEYS = frozenset({"time", "ts", "timestamp", "asctime"})
_LOGFMT_LOGGER_KEYS = frozenset({"logger", "name", "logger_name"})
_LOGFMT_ERROR_KEYS = frozenset({"error", "err", "exc", "exception"})
_TS_AT = LazyPattern(_TS)
_PIPE_NAME = LazyPattern(r"([\w.-]+) \| (.*)", re.S)
_STD_STREAMS = frozenset({"stdout", "stderr"})
# the rest of a CRI log line (containerd, CRI-O: `pieces.CRI`) after its timestamp: the stream, the tag (`F` a
# whole line or a split line's last piece, `P` a piece before it), the line
CRI_REST = LazyPattern(r"(stdout|stderr) ([PF])(?: (.*)|$)", re.S)
# `kubectl logs --prefix` (a pod's container) and Grafana Loki's `logcli query` (the stream's label set) in front of
# each line
_KUBECTL = LazyPattern(r"\[(pod/[\w.-]+/[\w.-]+)\] ?(.*)", re.S)
# a container's name in brackets before the runtime's RFC 3339 time stamp (`[medical-records-app]
# 2026-04-18T07:24:32.389431243Z …`: a log viewer's copy of several containers' `docker logs -t`), one stream per name
_NAMED_STAMP = LazyPattern(r"\[([A-Za-z0-9][\w.-]{0,127})\] (?=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")
# Flyte's app log names the container before the first line of its output (`Container [fastapi-single-script]: ERROR:
# File "…"`), not before the lines under it: no stream of its own (the lines after it are the same output's)
_CONTAINER_NAMED = LazyPattern(r"Container \[[A-Za-z0-9][\w.-]{0,127}\]: (?=\S)")
# Fluent Bit's `stdout` output: "[0] TAG: [EPOCH, {"log"=>"line", "stream"=>"stderr", …}]" (v2 writes
# "[[EPOCH, {}], {…}]"); the record is a Ruby-style hash whose strings are not escaped, so a value ends at a quote
# before the next key or the hash's end (or at the line's end: a multi-line value goes on, unprefixed)
_FLUENTBIT = LazyPattern(r"\[\d{1,9}\] ([^\s\[\]]{1,512}): \[\[?(\d{9,10}(?:\.\d{1,9})?)(?:, \{\}\])?, \{(.*)", re.S)
_FLUENTBIT_VALUE = LazyPattern(r'"(?:log|message)"=>"')
_FLUENTBIT_END = LazyPattern(r'"(?=, "[^"\s]{1,64}"=>|\}|$)')
_FLUENTBIT_STREAM = LazyPattern(r'"stream"=>"(stdout|stderr)"')
# where a value that went on past its record's line ends (Fluent Bit writes a value's newlines as they are): its quote
# before the record's next key or its end (`…boom\n", "stream"=>"stderr", …}]`, `…"}]`)
_FLUENTBIT_VALUE_END = LazyPattern(r'"(?=, "[^"\s]{1,64}"=>|\}+\]?\s*$)')
MAX_VALUE_LINES = 2000  # lines a Fluent Bit value that never closes is read on for
# a line of a pretty-printed JSON document read as lines (Elasticsearch's hits, an export cut mid-document): its
# message key's string is the app's line
_DOCUMENT_MESSAGE = LazyPattern(r'[ \t]*"(?:message|log|msg|@message|textPayload)"[ \t]*:[ \t]*"')
_LOKI = LazyPattern(r'\{([A-Za-z_]\w*="(?:[^"\\]|\\.)*"(?:, ?[A-Za-z_]\w*="(?:[^"\\]|\\.)*")*)\}(?: (.*)|$)', re.S)
# a time stamp (ISO, or day-first `15/07/2021 18:26:14.638`) and then a `key=value` pair: a logfmt record behind it
_STAMPED_LOGFMT = LazyPattern(rf"({_TS}|\d\d/\d\d/\d{{4}}[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?)[ \t]+(?=[A-Za-z_][\w.]*=\S)")
_LOGFMT_MSG_PAIR = LazyPattern(r"(?<![\w.-])(?:msg|message|event)=", re.I)
_STRUCTLOG_LOGGER = LazyPattern(r" \[([A-Za-z_][\w.]*)\](?= |$)")
_KEY_VALUE = LazyPattern(r" +[A-Za-z_][\w.-]*=")
# a platform's timestamp in front of the app's own line that starts with a timestamp too; a log viewer's time
# column may end in a bar ("api  | 2026-03-30 16:12:10.818 | [2026-03-30 14:12:10 +0000] [24] [ERROR] …")
_LEAD_TS = LazyPattern(rf"({_TS}) ?(?:\| ?)?")
# wrappers around every line of another shape: Docker Compose's "web-1  | " (padded service
# names, "web_1" with Compose v1), pm2's "0|app  | " (the process's id and name) and Heroku's "app[web.1]: " after
# its timestamp
_COMPOSE = LazyPattern(r"((?:\d+\|)?[A-Za-z0-9][\w.-]{0,62}) +\| ?(.*)", re.S)
_HEROKU = LazyPattern(r"(?:app|heroku)\[([\w.-]+)\]: ?(.*)", re.S)
# journald / BSD syslog (`journalctl -u app`, /var/log/syslog): "Jul 05 09:13:44 host tag[pid]: line", one
# stream per process (the lines of a traceback come from the process that logged its record); the month as the
# locale names it ("Dez 28 06:43:00": journalctl under LANG=de_DE; "déc. 28", "Mär 3")
_JOURNAL = _kept(r"([^\W\d_]{3,4}\.? [ \d]\d \d\d:\d\d:\d\d) (\S+) ([^\s\[:]+)(\[\d+\])?: ?(.*)", re.S)
# (under a Chinese, Japanese or Korean locale the month is its number and `月` / `월`:
# "12月 21 22:22:36 host tag[pid]: ")
_JOURNAL_CJK = LazyPattern(r"(\d\d?[月월] [ \d]\d \d\d:\d\d:\d\d) (\S+) ([^\s\[:]+)(\[\d+\])?: ?(.*)", re.S)
_CJK_MONTHS = frozenset(("月", "월"))
# Render's dashboard (a deploy's or a service's log copied out of the web page): "Nov 26 10:43:07 PM  line", the month's
# English name, a 12-hour time and two blanks before the process's line (no year: the line gets no time stamp)
_RENDER_DASHBOARD = LazyPattern(r"[A-Z][a-z]{2} {1,2}\d\d? \d\d?:\d\d:\d\d [AP]M  (.*)", re.S)
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = frozenset(_MONTH_NAMES)
_MONTH_NUMBER = {name: f"{i:02d}" for i, name in enumerate(_MONTH_NAMES, 1)}
# Apache httpd's error log: 2.4's default ErrorLogFormat ("[Mon Jun 29 06:14:08.188280 2020] [wsgi:error] [pid 14883:tid
# 1405…] [remote 169.…:17260] message", `[:error]` when the module has no name, `[client …]` for a request's) and 2.2's
# ("[Fri Jun 19 12:23:32 2015] [error] [client 29.0.14.79] message"): the time, the module and level, the process and
# thread (one stream: their lines interleave), the client; Apache appends ", referer: URL" when the request had one
_APACHE = LazyPattern(r"\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ([ \d]\d) (\d\d:\d\d:\d\d(?:\.\d+)?) "
                      r"(\d{4})\] "
                      r"\[(?:([\w-]*):)?(emerg|alert|crit|error|warn|notice|info|debug|trace\d)\]"
                      r"(?: \[(pid \d+(?::tid \d+)?)\])?(?: \[(?:client|remote) [^\]\s]+\])?(?: (.*)|$)", re.S)
_APACHE_LEVELS = {"emerg": "CRITICAL", "alert": "CRITICAL", "crit": "CRITICAL", "error": "ERROR", "warn": "WARNING",
                  "notice": "INFO", "info": "INFO"}  # (debug, trace1-8: DEBUG)
_APACHE_DAYS = frozenset(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))
_REFERER = ", referer: "
# Fly.io (`fly logs`): "TIMESTAMP app[MACHINE] REGION [level]line" (the timestamp with or without its zone; the
# machine's id one stream); `health[…]`, `runner[…]`, `proxy[…]` are the platform's own lines. The level is Fly's for
# the whole line: the app's output is always [info], its line may carry a level of its own
# (older flyctl writes no space after the level: "[info]  File …" keeps its indent; one space that is not an indent's
# is the separator of newer ones, "[info] INFO Starting init")
_FLY = LazyPattern(r"(app|health|runner|proxy)\[([\w.-]+)\] [a-z0-9]+ \[(\w+)\](?: (?! ))?(.*)", re.S)
_FLY_TS = _kept(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?) (?=[ahpr])")
_UVICORN = _kept(rf"{_LV}:\s+(.*)", re.S)
_ACCESS = LazyPattern(r'\S+ - "[A-Z]+ \S* HTTP/[\d.]+" \d{3}')
_STARTED = LazyPattern(r"Started server process \[\d+\]")
SEPARATORS = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
# Render's own deploy / runtime lines that report a failure (the others, like "==> Build
# successful" or "==> No open ports detected, continuing to scan...", are not events).
PLATFORM_FAILURES = (
    r"Build failed",
    r"Exited with status [1-9]\d*",
    r"Exited with status \d+ while (?:building|running)",
    r"Port scan timeout reached",
    r"Timed [Oo]ut",
    r"Deploy(?:ment)? failed",
    r"[Hh]ealth ?checks? (?:failed|timed out)",
    r"Out of memory",
    r"Instance failed",
)
_PLATFORM_FAILURE = LazyPattern("|".join(PLATFORM_FAILURES))
# Render's own failure sentences as its dashboard events and notification e-mails write them, without the "==> "
# marker of the deploy log: still a platform failure line when a line starts with one
_RENDER_BARE_FAILURE = LazyPattern(
    r"(?:Server unhealthy\. )?Ran out of memory \(used over [\d.]+\s*[MG]i?B\) while running your code"
    r"|Exited with status [1-9]\d* while (?:building|running) your code"
    r"|Port scan timeout reached, no open ports detected"
    r"|Deploy failed for \w+: ")
# Heroku's own error lines (its router's logfmt `at=error code=H12 desc="Request timeout" …`, the older router's and the
# dyno manager's `Error R14 (Memory quota exceeded)`, `Error H12 (Request timeout) -> …`): an error record of the
# platform, its message the whole line (the code and its description are the evidence); a syslog drain's copy may
# keep a space before it
_HEROKU_ERROR = LazyPattern(r" ?(?:at=error code=|Error [HRL]\d\d \()")
# Python's site.py when `sitecustomize` / `usercustomize` raised at start-up (no traceback unless PYTHONVERBOSE is set):
# this line, then the exception's `Type: message` (`SITE_ERROR_KEY`: the reader's candidate key)
SITE_ERROR_KEY = "customize; set PYTHONVERBOSE for traceback:"
_SITE_ERROR = LazyPattern(r"Error in (?:site|user)customize; set PYTHONVERBOSE for traceback:\s*")
# the GitHub Actions runner's annotations in a job log: "##[error]Process completed with exit code 1." (its `##[group]`,
# `##[endgroup]`, `##[section]`, `##[command]` lines are plain text)
_GHA_LEVEL = LazyPattern(r"##\[(error|warning)\](.*)", re.S)
# pytest's report (a CI job's log): a failure section's header `____ test_db ____` (`____ TestX.test_y[1] ____`,
# `____ ERROR at setup of test_z ____`, `____ ERROR collecting tests/test_x.py ____`: the title centred in underscores)
# starts an error event whose evidence is the section's `E   ` lines; the short summary's `FAILED tests/x.py::test_db -
# psycopg2.OperationalError: …` / `ERROR tests/x.py::test_z - …` is one when no section of that test was read
# (`--tb=no`)
_PYTEST_SECTION = LazyPattern(r"_+ ((?:(?:ERROR|FAILED) at (?:setup|teardown) of |ERROR collecting |\[doctest\] )?"
                              r"([\w./\\-]+(?:\[.*\])?)) _+")
_PYTEST_SUMMARY = LazyPattern(r"(FAILED|ERROR) ([\w./\\-]+\.py(?:::.+?)?)(?: - (.*))?")
# a line of pytest's report of the exception (`E       psycopg2.OperationalError: …`, `E       assert 1 == 2`) and the
# location line under it (`test_db.py:7: OperationalError`)
PYTEST_E = LazyPattern(r"E(?: +(.*)|\t(.*)|$)")
PYTEST_LOCATION = LazyPattern(r"\S+:\d+: ((?:[A-Za-z_]\w*\.)*[A-Z]\w*)")
PYTEST_BANNER = "=" * 4  # (a banner of pytest's, `==== short test summary info ====`: a section's end)


def pytest_key(title: str) -> str:
    """The test a failure section's title or a summary line's node id names (`TestX.test_y[1]` either way)."""
    for lead in ("ERROR at setup of ", "ERROR at teardown of ", "FAILED at setup of ", "FAILED at teardown of ",
                 "ERROR collecting "):
        if title.startswith(lead):
            return title[len(lead):]
    head, sep, rest = title.partition("::")
    return rest.replace("::", ".") if sep else head


# Ruby's Logger (unicorn, Rails on Heroku): "E, [2013-08-27T16:10:56.820747 #2] ERROR -- : message" (`progname: `)
_RUBY_LOGGER = LazyPattern(r"[DIWEF], \[(\d{4}-\d\d-\d\dT[\d:.]+) #\d+\] +(DEBUG|INFO|WARN|ERROR|FATAL) -- ([^:]*): "
                           r"(.*)", re.S)
# klog's / glog's header (Kubernetes' components, Go services): the level's initial, the month and day, the time of
# day, the thread id padded, then `file:line] ` ("E1218 10:39:50.481923       1 mysql.go:62] …")
_KLOG = LazyPattern(r"([IWEF])\d{4} (\d\d:\d\d:\d\d\.\d{6}) +\d{1,20} ([^\s:\]]{1,256}):\d{1,9}\] ?(.*)", re.S)
_KLOG_LEVELS = {"I": "INFO", "W": "WARNING", "E": "ERROR", "F": "CRITICAL"}
# Django's documented `verbose` format after its level and time, `{module} {process:d} {thread:d} {message}`
# ("ERROR 2018-05-24 05:46:01,284 base_events 22 140015681480448 Exception in callback …"): the ids are no message
_VERBOSE_IDS = LazyPattern(r"([A-Za-z_]\w{0,255}) \d{1,10} \d{4,20} (?=\S)")
# the kernel's OOM killer ending a process, anywhere in a line that is no record (after dmesg's uptime or `-T` time,
# journald's "kernel: ", Fly's "[info]"): the platform killed the app for memory (Fly's VMs, a container host)
_KERNEL_OOM = LazyPattern(r"[Oo]ut of memory: Kill(?:ed)? process \d+")  # ("Memory cgroup out of memory: …" too)
# the two commonest Render text records, each read with one pattern: stdlib logging's default format
# ("TIMESTAMP LEVEL:logger:message") and uvicorn's ("TIMESTAMP LEVEL:     message"); what _RENDER_TEXT and
# then parse_process's _BASIC / _UVICORN make of such a line (the timestamp part matches one way only)
_RENDER_TS = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) "
_RENDER_BASIC = _kept(rf"{_RENDER_TS}({_LV}:([^\s:]*): ?(.*))", re.S)
_RENDER_UVICORN = _kept(rf"{_RENDER_TS}({_LV}:\s+(.*))", re.S)

# the keys JSON log formatters write a record's parts under, first found first: stdlib-based formatters
# (python-json-logger's `levelname`/`message`/`exc_info`, json-log-formatter's `exc_info`, litellm's `stacktrace`,
# a custom `traceback`), structlog's JSONRenderer (`event`, `level`, `exception`), Google Cloud's `severity`, ECS
# (`log.level`, `error.stack_trace`, flattened or nested), Datadog (`error.stack`), AWS Lambda's runtime (`log_level`)
_JSON_LEVEL_KEYS = ("level", "levelname", "severity", "log.level", "lvl", "log_level")
_JSON_MSG_KEYS = ("event", "message", "msg", "textPayload")  # (Google Cloud Logging's LogEntry: `textPayload`)
_JSON_LOGGER_KEYS = ("logger", "name", "logger_name", "log.logger")
_JSON_TS_KEYS = ("timestamp", "time", "@timestamp", "asctime", "ts")
_JSON_EXC_KEYS = ("exception", "exc_info", "stack_trace", "stacktrace", "stack", "traceback", "exc_text",
                  "error.stack_trace", "error.stack")
_JSON_ERROR_EXC_KEYS = ("stack", "stack_trace", "traceback")  # inside a nested "error" object (ECS, Datadog)
# a record's error as text beside its message, no traceback (structlog's `log.error("db down", error=str(e))`, pino's
# and ECS's `err` / `error` object of `type` and `message`, Lambda's `errorMessage`): evidence of the record, read
# as `message: error` (as `logger.error(f"db down: {e}")` prints it)
_JSON_ERROR_KEYS = ("error", "err", "exc", "error_message", "errorMessage", "error.message")
# a record's whole formatted line, read as the process's own line when the record has no level key: loguru's
# `serialize=True` `text` (its `record` cut off or missing)
_JSON_LINE_KEYS = ("text",)
_DECODER = json.JSONDecoder()
_LENIENT = json.JSONDecoder(strict=False)  # raw control characters (a line break) inside strings
_JSON_WS = LazyPattern(r"[ \t\r]*")
_CUT_ESCAPE = LazyPattern(r"(?<!\\)((?:\\\\)*)\\(?:u[0-9a-fA-F]{0,3})?$")  # an escape the line's end cut


class Line:
    """The parts of one line (or one Render API entry)."""

    __slots__ = ("shape", "stream", "ts", "level", "logger", "text", "message", "record", "kind", "exc",
                 "corrupt", "via", "raw")

    def __init__(self, shape: str, stream: str | None, ts: str | None, level: str | None,
                 logger: str | None, text: str, message: str, record: bool, kind: str | None = None,
                 exc: str | None = None, corrupt: str | None = None, via: str | None = None) -> None:
        self.shape = shape          # outer shape, or plain/uvicorn for a bare process line
        self.stream = stream        # per-instance key for reassembly (None: one stream)
        self.ts = ts                # raw timestamp text
        self.level = level
        self.logger = logger
        self.text = text            # the process's own line, prefixes stripped
        self.message = message      # the record's message (prefixes and level stripped)
        self.record = record        # this line starts a new log record
        self.kind = kind            # None | access | platform | platform_failure | process_start | python_site
        self.exc = exc              # traceback text carried in a JSON field
        self.corrupt = corrupt      # why the line could not be read, or None
        self.via = via              # the logger of the tool (Prefect) whose record held this line of a command's output
        self.raw: str | None = None  # a JSON record read from its first pairs: its whole line (see `json_rejoined`)


def parse_ts(text: str | None) -> datetime | None:
    """An aware UTC datetime from ISO-8601 / asctime text, or Rich's `12/06/26 08:29:26` (its default `%x %X`
    in the C locale: month/day/year); naive times are taken as UTC. A time of day alone: see logs.clock."""
    if not text:
        return None
    try:
        ts = datetime.fromisoformat(text.replace(",", ".", 1) if "," in text else text)
    except ValueError:
        m = _FRACTION_TWICE.match(text)
        if m is not None:  # ("2026-12-06 10:00:00,029.029": "%(asctime)s.%(msecs)03d" without a datefmt)
            return parse_ts(text[:m.start(1)] + text[m.end(1):])
        if text[4:5] == "/":  # (2026/12/06 15:27:36)
            return parse_ts(text.replace("/", "-", 2))
        if text[2:3] == "-" and text[6:7] == "-" and text[3:6] in _MONTH_NUMBER:  # (`%d-%b-%y`: 12-Nov-18 09:33:04)
            day, sep, rest = text.partition(" ")
            year = day[7:]
            if not sep or len(year) not in (2, 4) or not year.isdigit():
                return None
            return parse_ts(f"{'20' + year if len(year) == 2 else year}-{_MONTH_NUMBER[day[3:6]]}-{day[:2]} {rest}")
        if text[2:3] == "/" and text[3:4].isalpha():  # (06/Dec/2026 15:27:36, 06/Dec/2026:15:27:36 +0000)
            try:
                head = text[:20]
                ts = datetime.strptime(head[:11] + " " + head[12:] if head[11:12] == ":" else head, "%d/%b/%Y %H:%M:%S")
            except ValueError:
                return None
            return in_range(ts.replace(tzinfo=UTC))
        m = _MDY.fullmatch(text) if text[2:3] == "/" else None
        if m is None:
            return None
        mo, d, y, rest, half = m.groups()
        if int(mo) > 12 and len(y) == 4:  # (day first, as `%d/%m/%Y` writes it: 15/07/2021; Rich's `%x` is month first)
            mo, d = d, mo
        if half is not None:  # a 12-hour clock (`%I:%M:%S %p`, the logging HOWTO's datefmt; `%X` in an en_US locale)
            hour = int(rest[:2])
            if not 1 <= hour <= 12:
                return None
            rest = f"{hour % 12 + (12 if half == 'P' else 0):02d}{rest[2:]}"
        try:
            ts = datetime.fromisoformat(f"{int(y) + 2000 if len(y) == 2 else y}-{mo}-{d} {rest.replace(',', '.')}")
        except ValueError:
            return None
    try:
        return in_range(ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC))
    except OverflowError:  # an offset that moves it outside years 1-9999 (0001-01-01T00:00+01:00)
        return None


def in_range(ts: datetime | None) -> datetime | None:
    """`ts` when it leaves a year of room on both sides of what a datetime can hold, else None: a timestamp
    of year 1 or 9999 is no log's (corrupt or hostile), and the reader and the report count days, minutes
    and windows on from the timestamps read (the next day of a time of day, a timeline's last cell)."""
    return ts if ts is not None and 1 < ts.year < 9999 else None


def norm_level(level: str | None) -> str | None:
    if not level:
        return None
    up = level.upper()
    return _LEVEL_ALIASES.get(up, up)


def _record_kind(msg: str) -> str | None:
    c = msg[:1]
    if c.isdigit() and _ACCESS.match(msg):
        return "access"
    if c == "S" and _STARTED.match(msg):
        return "process_start"
    return None


MAX_WRAPPERS = 4  # wrappers (a leading timestamp, a Compose prefix) unwrapped per line: a hostile line of
# thousands of them is read as text, not recursed into


def parse_process(text: str, shape: str, stream: str | None, ts: str | None,
                  label_level: str | None = None, _depth: int = 0) -> Line:
    """The parts of a process's own line (after any Render / syslog wrapper was stripped)."""
    c = text[:1]
    if c == " " and text[1:2] == "[" and _depth < MAX_WRAPPERS:
        m = _BRACKET_LEVEL.match(text, 1)
        if m and _LAMBDA_RECORD.match(m.group(2)):
            # AWS Lambda's Python runtime record copied out of the console with a blank in front of it
            # (" [WARNING]\tTIME\tREQUEST_ID\t…"): the record (its tabs and stamp are no traceback's or message's line)
            rec = parse_process(text[1:], shape, stream, ts, label_level, _depth + 1)
            rec.text = text
            return rec
    if c.isdigit():
        m = _ASC_LEVEL.match(text)
        if m:
            msg, logger = m.group(5), m.group(3) or m.group(4)
            if msg[:1] == "(" and logger is None:
                tl = _THREAD_LOGGER.match(msg)  # Home Assistant's "(MainThread) [asyncio] message"
                if tl:
                    logger, msg = tl.group(2), tl.group(3)
            logger, msg = _column(logger, msg)
            if logger is not None and logger.endswith(".py") and msg[:1].isdigit():
                # a code location's columns, "%(filename)s %(lineno)d" ("ERROR base_events.py 1729 Task exception …"):
                # the line number is no part of the message
                n = _LINENO_COLUMN.match(msg)
                if n is not None:
                    msg = msg[n.end():]
            return Line(shape or "plain", stream, ts or m.group(1), norm_level(m.group(2)), logger,
                        text, msg, True, _record_kind(msg))
        m = _ASC_DASHED.match(text)
        if m:
            msg = m.group(4)
            return Line(shape or "plain", stream, ts or m.group(1), norm_level(m.group(3)), m.group(2), text,
                        msg, True, _record_kind(msg))
        m = _ASC_BASIC.match(text)
        if m:
            msg = m.group(4)
            return Line(shape or "plain", stream, ts or m.group(1), norm_level(m.group(2)), m.group(3) or "root",
                        text, msg, True, _record_kind(msg))
        m = _LOGURU.match(text)
        if m:
            msg, logger = m.group(3), None
            loc = _LOGURU_DEFAULT.match(msg)
            if loc:
                logger = loc.group(1)
            else:
                loc = _LOGURU_LOCATION.match(msg)
                col = _PIPE_NAME.match(msg) if loc is None and " | " in msg else None
                if col:  # FastChat's "TS | LEVEL | name | message": the third column is the logger
                    if col.group(1) in _STD_STREAMS and _depth < MAX_WRAPPERS:
                        # a redirected stdout / stderr logs each line it gets at one level: the line is the
                        # process's own (a record of its own, or a traceback's line continuing the one before)
                        return _wrapped(col.group(2), col.group(1), ts or m.group(1), "INFO", shape or "plain", stream,
                                        _depth)
                    logger, msg = col.group(1), col.group(2)
            if loc:
                msg = msg[loc.end():]
            return Line(shape or "plain", stream, ts or m.group(1), norm_level(m.group(2)), logger, text, msg, True,
                        _record_kind(msg))
        m = _PG_SERVER.match(text)
        level = pg_severity(m.group(2)) if m else None
        if m and level:
            msg = m.group(3)
            return Line(shape or "plain", stream, ts or m.group(1),
                        "DEBUG" if level.startswith("DEBUG") else _PG_LEVELS.get(level, level), "postgres", text, msg,
                        True)
        m = _HA_RECORD.match(text) if text[2:3] == "-" else None
        if m:
            msg, logger = m.group(3), None
            tl = _THREAD_LOGGER.match(msg)
            if tl:
                logger, msg = tl.group(2), tl.group(3)
            return Line(shape or "plain", stream, ts or "20" + m.group(1), norm_level(m.group(2)), logger, text, msg,
                        True, _record_kind(msg))
        m = _STAMPED_LOGFMT.match(text)
        if m:  # a time stamp, then logfmt pairs with a level key ("15/07/2021 18:26:14.638 Log_Level=ERROR Process=…")
            line = _logfmt(text[m.end():], shape, stream, ts or m.group(1))
            if line is not None:
                line.text = text
                at = text.find(" - ", m.end())
                if at >= 0 and not _LOGFMT_MSG_PAIR.search(text, m.end(), at):
                    # no message key: the message follows the pairs after " - " (its own pairs are its text)
                    line.message = text[at + 3:]
                    line.kind = _record_kind(line.message)
                return line
        m = _LEAD_TS.match(text) if _depth < MAX_WRAPPERS else None
        if m:  # a platform's timestamp before the app's own line: read that line
            inner = parse_process(text[m.end():], shape, stream, ts or m.group(1), label_level, _depth + 1)
            if inner.ts is None:
                inner.ts = m.group(1)
            if inner.record:
                return inner
            return _any_record(text, shape, stream, ts) or inner
        line = _any_record(text, shape, stream, ts)
        if line is not None:
            return line
    elif c.isupper() and text.startswith(_LEVEL_STARTS):  # these patterns start with a level word
        m = _BASIC.match(text)
        if m:
            msg = m.group(3)
            return Line(shape or "plain", stream, ts, norm_level(m.group(1)), m.group(2) or "root", text,
                        msg, True, _record_kind(msg))
        m = _UVICORN.match(text)
        if m:
            msg = m.group(2)
            level = norm_level(m.group(1))
            named, msg = _column(None, msg) if msg[:1] == "[" else (None, msg)  # ("%(levelprefix)s [%(name)s] …")
            kind = _record_kind(msg)
            logger = named or ("uvicorn.access" if kind == "access" else "uvicorn.error")
            return Line(shape or "uvicorn", stream, ts, level, logger, text, msg, True, kind)
        m = _LEVEL_FIRST.match(text)
        if m:
            rest = m.group(3)
            v = _VERBOSE_IDS.match(rest) if rest[:1].isalpha() else None
            logger, msg = (v.group(1), rest[v.end():]) if v else _any_tail(rest)
            return Line(shape or "plain", stream, ts or m.group(2), norm_level(m.group(1)), logger, text, msg,
                        True, _record_kind(msg))
        m = _LEVEL_TAB.match(text)
        if m:  # ("%(levelname)s\t%(message)s", Lambda's Node.js record without its time and request id)
            msg = m.group(2)
            return Line(shape or "plain", stream, ts, norm_level(m.group(1)), None, text, msg, True, _record_kind(msg))
        m = _LEVEL_BAR.match(text) if " | " in text[:16] else None
        if m:
            msg = m.group(3)
            return Line(shape or "plain", stream, ts, norm_level(m.group(1)), m.group(2).split(":", 1)[0], text, msg,
                        True, _record_kind(msg))
        m = _LEVEL_LOGGER.match(text)
        if m:
            logger, msg = m.group(2), m.group(3)
            if THREAD_NAME.fullmatch(logger):  # ("%(levelname)s [%(threadName)s] …": the column after it, if any)
                logger, msg = _column(None, msg, False)
            return Line(shape or "plain", stream, ts, norm_level(m.group(1).rstrip()), logger, text, msg, True,
                        _record_kind(msg))
    elif c.isupper() and text[3:4] == "-" and text[:3] in _MONTHS and _MONTH_FIRST.match(text):
        line = _any_record(text, shape, stream, ts)  # (`%b-%d %H:%M:%S`: "Mar-03 23:49:27--ERROR  [name]: …")
        if line is not None:
            return line
    elif c == "[" and text[1:2].isupper():
        m = _APACHE.match(text) if text[4:5] == " " and text[1:4] in _APACHE_DAYS and _depth < MAX_WRAPPERS else None
        if m:
            return _apache(m, text, shape, stream, _depth)
        m = _BRACKET_LEVEL.match(text)
        if m:
            msg = m.group(2)
            own = _LAMBDA_RECORD.match(msg) if msg[:1].isdigit() else None
            if own:  # AWS Lambda's Python runtime: "[LEVEL]\tTIME\tREQUEST_ID\tmessage"
                ts, msg = ts or own.group(1), own.group(2) or ""
            logger, msg = _column(None, msg)
            return Line(shape or "plain", stream, ts, norm_level(m.group(1)), logger, text, msg, True,
                        _record_kind(msg))
    elif c == "[" and text[1:2].islower():
        m = _STRUCTLOG.match(text)
        if m:
            msg = m.group(2)
            lm = _STRUCTLOG_LOGGER.search(msg)
            if lm and (lm.end() == len(msg) or _KEY_VALUE.match(msg, lm.end())):
                # the logger's column after the event (padded to 30), before the key=value pairs: no part of the
                # message ("Started server process [7]     [uvicorn.error] port=8000")
                msg = msg[:lm.start()].rstrip(" ") + msg[lm.end():]
            return Line(shape or "plain", stream, ts, norm_level(m.group(1)), lm.group(1) if lm else None, text,
                        msg, True, _record_kind(msg))
    elif c == " " and text[1:2].isdigit() and _depth < MAX_WRAPPERS:
        # a record behind one blank (a paste indented by a space: " 2022-06-01 19:37:14,799 - asyncio - ERROR - …"): the
        # record, when the rest reads as one with its timestamp
        inner = parse_process(text[1:], shape, stream, ts, label_level, _depth + 1)
        if inner.record and inner.ts:
            return inner
    elif (c == "[" and text[1:2].isdigit()) or (c == " " and text.lstrip()[:1] in "DIWEC"):
        m = _BRACKET_TS.match(text) if c == "[" else None
        if m:
            msg = m.group(4)
            if msg[:2] == "- " and _depth < MAX_WRAPPERS:
                w = _PREFECT.match(msg)
                if w:
                    return _wrapped(w.group(2), w.group(1), ts or m.group(1), norm_level(m.group(2)) or "INFO",
                                    shape, stream, _depth)
            logger, msg = _column(m.group(3), msg)
            return Line(shape or "plain", stream, ts or m.group(1), norm_level(m.group(2)), logger, text, msg,
                        True, _record_kind(msg))
        m = _BRACKET_COLUMNS.match(text) if c == "[" else None
        if m:
            msg = m.group(4)
            return Line(shape or "plain", stream, ts or m.group(1), norm_level(m.group(3)), m.group(2), text, msg, True,
                        _record_kind(msg))
        m = _CELERY.match(text) if c == "[" else None
        if m:
            msg = m.group(3)
            return Line(shape or "plain", stream, ts or m.group(1), norm_level(m.group(2)), None, text, msg, True,
                        _record_kind(msg))
        m = _RICH_RECORD.match(text)
        if m and len(m.group(3)) + len(m.group(4)) == 9:  # RichHandler's level column: 8 wide, then a space
            msg = rich_message(m.group(5))
            return Line(shape or "rich", stream, ts or m.group(1), m.group(3), None, text, msg, True,
                        _record_kind(msg))
        line = _any_record(text, shape, stream, ts) if c == "[" else None
        if line is not None:
            return line
    elif c in _LOGFMT_INITIALS and _LOGFMT_START.match(text):
        line = _logfmt(text, shape, stream, ts)
        if line is not None:
            return line
    elif c == "#" and text.startswith("##["):
        m = _GHA_LEVEL.match(text)
        if m:
            msg = m.group(2)
            return Line(shape or "plain", stream, ts, norm_level(m.group(1)), "github-actions", text, msg, True)
    elif c == "=" and text.startswith("==> "):
        kind = "platform_failure" if _PLATFORM_FAILURE.search(text) else "platform"
        return Line(shape or "plain", stream, ts, None, "render", text, text[4:], True, kind)
    if c in "SEIR" and text.startswith(_LAMBDA_RUNTIME):
        kind = "platform_failure" if c == "R" and "\tStatus: timeout" in text else None  # (newer runtimes' REPORT)
        return Line(shape or "plain", stream, ts, None, "lambda", text, text, True, kind)
    if c in "SREPD" and _RENDER_BARE_FAILURE.match(text):
        return Line(shape or "plain", stream, ts, None, "render", text, text, True, "platform_failure")
    if (c in "aE" or (c == " " and text[1:2] in "aE")) and _HEROKU_ERROR.match(text):
        msg = text.strip()
        return Line(shape or "plain", stream, ts, "ERROR", "heroku", text, msg, True)
    if c == "E" and text[:9] == "Error in " and _SITE_ERROR.fullmatch(text):
        # Python's own error record at start-up: the exception's line under it is its only line (`Assembler`)
        return Line(shape or "plain", stream, ts, "ERROR", None, text, text.rstrip(), True, "python_site")
    if c == "_" and text[-1:] == "_":
        m = _PYTEST_SECTION.fullmatch(text)
        if m:
            return Line(shape or "plain", stream, ts, "ERROR", "pytest", text, m.group(1), True, "pytest_section")
    if c in "FE" and text.startswith(("FAILED ", "ERROR ")):
        m = _PYTEST_SUMMARY.fullmatch(text)
        if m:
            return Line(shape or "plain", stream, ts, "ERROR", "pytest", text, m.group(3) or text, True,
                        "pytest_summary")
    if c in "IWEF" and text[5:6] == " " and text[1:5].isdigit():
        m = _KLOG.match(text)
        if m:
            msg = m.group(4)
            return Line(shape or "plain", stream, ts or m.group(2), _KLOG_LEVELS[m.group(1)], m.group(3), text, msg,
                        True, _record_kind(msg))
    if text[1:4] == ", [" and c in "DIWEF":
        m = _RUBY_LOGGER.match(text)
        if m:
            msg = m.group(4)
            return Line(shape or "plain", stream, ts or m.group(1), norm_level(m.group(2)), m.group(3) or None, text,
                        msg, True, _record_kind(msg))
    if _in_any_line(text) and (_KERNEL_OOM.search(text) or _LAMBDA_TIMEOUT.search(text)):
        return Line(shape or "plain", stream, ts, None, "platform", text, text, True, "platform_failure")
    if label_level is not None and c not in (" ", "\t", ""):
        # no level of its own: a Render API entry still carries the level label Render gave it
        return Line(shape, stream, ts, label_level, None, text, text, False, "labelled")
    return Line(shape, stream, ts, None, None, text, text, False)


def _apache(m: re.Match[str], text: str, shape: str, stream: str | None, depth: int) -> Line:
    """A line of Apache's error log (`_APACHE`'s match). mod_wsgi writes every line its app prints to stderr (a
    traceback's, a logging record's) as a line of its own at `error` (module `wsgi`, none in 2.2, `[:error]` in older
    builds): such a line is read as the app's own (a record of the app's level, a traceback's line, plain text), its own
    `mod_wsgi (pid=N): …` lines (`Exception occurred processing WSGI script …`) are its records. Any other line is a
    record of Apache's at its level, the module its logger. The process and thread are the line's stream."""
    mon, day, clock, year, module, level, proc, msg = m.groups()
    ts = f"{year}-{_MONTH_NUMBER.get(mon, '01')}-{day.strip():0>2} {clock}"
    key = proc if stream is None or proc is None else f"{stream}/{proc}"
    msg = msg or ""
    at = msg.rfind(_REFERER)
    if at >= 0 and " " not in msg[at + len(_REFERER):]:
        msg = msg[:at]
    if msg[-2:] == "\\r":  # (the CR a Windows app wrote, escaped by Apache)
        msg = msg[:-2]
    if level == "error" and module in (None, "", "wsgi") and not msg.startswith("mod_wsgi ("):
        inner = parse_process(msg, "apache", key if stream is None or proc is not None else stream, ts, None,
                              depth + 1)
        if inner.ts is None:
            inner.ts = ts
        return inner
    msg = msg.rstrip(" ")
    return Line(shape or "apache", key if proc is not None else stream, ts, _APACHE_LEVELS.get(level, "DEBUG"),
                "mod_wsgi" if msg.startswith("mod_wsgi (") else module or "apache", text, msg, True)


def _column(logger: str | None, msg: str, thread: bool = True) -> tuple[str | None, str]:
    """The logger and the message of a record whose message may still begin with the logger's (or a code
    location's) column (`_NAME_COLUMN`): `logger` and `msg` as they are when a logger was read or none is there.
    A bracketed name Python gives a thread (`THREAD_NAME`) is the thread's column, no logger's: the column after it
    is read instead (`thread`: once)."""
    if logger is not None or not (msg[:1] == "[" or msg[:1].isalpha()):
        return logger, msg
    m = _NAME_COLUMN.match(msg)
    if m is None:
        return None, msg
    rest = msg[m.end():]
    if m.group(1):  # a bracketed column: a thread's when a logger's or a code location's column follows it
        d = _DOTTED_LOGGER.match(rest)
        if d is not None:  # "[thread] com.example.Service: message"
            return d.group(1), rest[d.end():]
        loc = _NAME_COLUMN.match(rest) if rest[:1] == "[" or rest[:1].isalpha() else None
        if loc is not None and ":" in rest[:loc.end()]:  # Dify's "[Dummy-2] [app.py:875] - message"
            m, rest = loc, rest[loc.end():]
        elif thread and THREAD_NAME.fullmatch(m.group(1)):  # "[MainThread] message", "[MainThread] [name] message"
            return _column(None, rest, False)
    name = m.group(1) or m.group(2)
    return name[:-3] if name.endswith(".py") else name, rest


_EXC_ENDINGS = ("Error", "Exception", "Warning", "Exit", "Interrupt", "Group")  # (an exception class's name)


def _any_tail(rest: str) -> tuple[str | None, str]:
    """The logger and the message of what follows a record's level and time (`_ANY_TAIL`, `_column`). A level word
    or an exception's name before ": " is the message's own (`ERROR 2020-03-06 07:47:03,718 ERROR: Backup aborted …`,
    a traceback's exception line logged as a record of its own), no logger's."""
    t = _ANY_TAIL.match(rest)
    logger, msg = t.group(1), t.group(2)  # type: ignore[union-attr]  # (_ANY_TAIL matches any text)
    if logger is not None and (logger in _ALL_LEVELS or logger.endswith(_EXC_ENDINGS)):
        return None, rest[t.start(1):]  # type: ignore[union-attr]
    return _column(logger, msg)


def _any_record(text: str, shape: str, stream: str | None, ts: str | None) -> Line | None:
    """A record of a layout no other pattern names (`_ANY_RECORD`), else None."""
    m = _ANY_RECORD.match(text)
    if m is None:
        return None
    logger, msg = _any_tail(m.group(4))
    if logger is not None and msg[:1] in "MTDa":
        th = _DASHED_THREAD.match(msg)
        if th is not None:
            msg = msg[th.end():]
    if logger is None and m.group(2):
        # the one word between the time stamp and the level, separators apart, when it reads as a name: the logger
        # ("%(asctime)s [%(name)s] %(levelname)s: …", "%(asctime)s %(name)-15s %(levelname)-8s …", "… - %(name)s - ")
        words = [w for w in m.group(2).split() if w not in ("-", "|")]
        if len(words) == 1 and _NAME_WORD.fullmatch(words[0]) and not THREAD_NAME.fullmatch(words[0].strip("[]")):
            logger = words[0].strip("[]")
    return Line(shape or "plain", stream, ts or m.group(1), norm_level(m.group(3)), logger, text, msg, True,
                _record_kind(msg))


def is_rich_record(text: str) -> bool:
    """`text` is a RichHandler record's line (its time column, maybe left blank, and its level column 8 wide)."""
    m = _RICH_RECORD.match(text)
    return m is not None and len(m.group(3)) + len(m.group(4)) == 9


def rich_message(text: str) -> str:
    """A RichHandler record's message column: `text` without its source column (a last word `app.py:15`
    after spaces) and the padding (linear in the text's length)."""
    msg = text.rstrip(" ")
    sp = msg.rfind(" ")
    if sp > 0 and _RICH_SOURCE.fullmatch(msg, sp + 1):
        msg = msg[:sp].rstrip(" ")
    return msg


def rich_join(first: str, message: str, detail: list[str]) -> str:
    """A RichHandler record's message wrapped onto the lines under its first line (`first`, its message
    `message`) one message again. Rich breaks between words, but a word longer than the message column (a
    URL, a DSN, a key) it folds: cut at the column's edge, each piece a line of its own, that word's pieces
    are joined without a space (a secret stays whole, so that it is redacted whole). The column's width: up
    to the source column of the first line (`app.py:15`), else the width lines are padded to."""
    pieces = [message.rstrip(), *(d.strip() for d in detail if d.strip())]
    m = _RICH_RECORD.match(first)
    if m is None or len(pieces) < 2:
        return " ".join(pieces)
    left = m.start(5)
    text = first.rstrip(" ")
    sp = text.rfind(" ")
    if sp > left and _RICH_SOURCE.fullmatch(text, sp + 1):
        width = sp - left
    else:
        width = max(len(first), *(len(d) for d in detail)) - left
    out = [pieces[0]]
    for prev, piece in zip(pieces, pieces[1:], strict=False):
        folded = len(prev) == width and len(prev.split(None, 1)) == 1
        out.append(piece if folded else " " + piece)
    return "".join(out)


def _wrapped(text: str, via: str, ts: str, level: str, shape: str, stream: str | None, depth: int) -> Line:
    """The line inside another tool's record (Prefect's "[TS] LEVEL - logger | line"): a record of its own
    (a structlog / loguru / stdlib line a command printed) keeps its level when the outer one is only INFO,
    the one its tool gave it else; other text is the tool's own record when that is a warning or worse, else
    a line without a record prefix (a traceback's, a Rich box's). Lines of the command's output carry the
    tool's logger (`via`): such a line continues only an event opened by that logger's output (Assembler)."""
    inner = parse_process(text, shape or "prefect", stream, None, None, depth + 1)
    inner.via = via
    if inner.ts is None:
        inner.ts = ts
    if inner.record:
        if level != "INFO" or not inner.level:
            inner.level = level
        if inner.logger is None:
            inner.logger = via
        return inner
    if level in ("INFO", "DEBUG"):
        return inner
    # the tool's own record (its message, then maybe its traceback on lines of no record): not "via" it
    return Line(shape or "prefect", stream, ts, level, via, text, text, True, _record_kind(text))


def _logfmt(text: str, shape: str, stream: str | None, ts: str | None) -> Line | None:
    """A logfmt record (`key=value` pairs, a level among them), else None. An unquoted message runs to the
    next ` key=` (or the line's end: custom formats put a message with spaces last)."""
    level = msg = logger = when = err = None
    for m in _LOGFMT_PAIR.finditer(text):
        key, value = m.group(1).lower(), m.group(2)
        if key in _LOGFMT_ERROR_KEYS and err is None:
            err = value[1:-1].replace('\\"', '"') if value.startswith('"') else value
        elif key in LOGFMT_LEVEL_KEYS:
            level = level or value.strip('"')
        elif key in _LOGFMT_MSG_KEYS and msg is None:
            if value.startswith('"'):
                msg = value[1:-1].replace('\\"', '"')
            else:
                nxt = _LOGFMT_PAIR.search(text, m.end())
                while nxt is not None and text[nxt.start() - 1] not in " \t":
                    nxt = _LOGFMT_PAIR.search(text, nxt.end())
                msg = text[m.start(2):nxt.start() if nxt else len(text)].rstrip()
        elif key in _LOGFMT_TS_KEYS and when is None:
            t = _TS_AT.match(text, m.start(2) + (value[:1] == '"'))
            when = t.group(0) if t else value.strip('"')
        elif key in _LOGFMT_LOGGER_KEYS and logger is None:
            logger = value.strip('"')
    if level is None or norm_level(level) not in _ALL_LEVELS:
        return None
    msg = msg or ""
    if err and err not in msg:  # (the record's error beside its message: `msg="db down" err="…"`)
        msg = f"{msg}: {err}" if msg else err
    return Line(shape or "plain", stream, ts or when, norm_level(level), logger, text, msg, True, _record_kind(msg))


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> object:
    for k in keys:
        v = obj.get(k)
        if v is not None:
            return v
    return None


def _str(v: object) -> str | None:
    if v is None:
        return None
    return v if isinstance(v, str) else str(v)


def json_exception(obj: dict[str, Any]) -> str | None:
    """The traceback text of a JSON log record (exception / exc_info / stack_trace / error.stack)."""
    v = _first(obj, _JSON_EXC_KEYS)
    if v is None:
        err = obj.get("error")
        if isinstance(err, dict):
            v = _first(err, _JSON_ERROR_EXC_KEYS)
    if isinstance(v, list):  # some formatters emit the traceback as a list of lines
        v = _structlog_traceback(v) if v and isinstance(v[0], dict) else \
            "".join(x if x.endswith("\n") else x + "\n" for x in v if isinstance(x, str))
    if not isinstance(v, str) or not v.strip() or v in ("true", "True"):
        return None
    return v.rstrip("\n")


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def _structlog_traceback(stacks: list[Any]) -> str:
    """structlog's `dict_tracebacks` (`[{"exc_type", "exc_value", "is_cause", "frames": [{"filename", "lineno",
    "name", "line"}]}, …]`, the raised exception first, then its cause or context) written as Python prints it."""
    parts: list[str] = []
    for i in range(len(stacks) - 1, -1, -1):
        st = stacks[i]
        if not isinstance(st, dict) or not isinstance(st.get("exc_type"), str):
            continue
        if parts:
            parts.append(_CAUSE if stacks[i + 1].get("is_cause") else _CONTEXT)
        parts.append(TRACEBACK_HEADER + "\n")
        frames = st.get("frames")
        for fr in frames if isinstance(frames, list) else ():
            if isinstance(fr, dict) and fr.get("filename") is not None:
                parts.append(f'  File "{fr["filename"]}", line {fr.get("lineno")}, in {fr.get("name")}\n')
                if isinstance(fr.get("line"), str) and fr["line"].strip():
                    parts.append(f"    {fr['line'].strip()}\n")
        value = st.get("exc_value")
        parts.append(f"{st['exc_type']}: {value}\n" if isinstance(value, str) and value else f"{st['exc_type']}\n")
    return "".join(parts)


def render_entry(obj: dict[str, Any], default_stream: str | None = None) -> Line:
    """A Render log API entry: its message is the process's own line."""
    labels = obj.get("labels")
    inst = res = label_level = None
    if isinstance(labels, list):
        for lab in labels:
            if isinstance(lab, dict):
                name = lab.get("name")
                if name == "instance":
                    inst = _str(lab.get("value"))
                elif name == "resource":
                    res = _str(lab.get("value"))
                elif name == "level":
                    label_level = norm_level(_str(lab.get("value")))
    msg = _str(obj.get("message")) or ""
    if msg.endswith("\n"):
        msg = msg.rstrip("\r\n")
    return parse_process(msg, "render-api", inst or res or default_stream, _str(obj.get("timestamp")),
                         label_level)


# the keys only CloudWatch Logs' events carry beside `timestamp` (epoch ms) and `message` (get-log-events,
# filter-log-events, a subscription's `logEvents`)
CLOUDWATCH_KEYS = ("ingestionTime", "logStreamName", "eventId")


def is_cloudwatch_event(obj: dict[str, Any]) -> bool:
    """A CloudWatch Logs event: its `message` is what the process wrote, `timestamp` its epoch milliseconds; or a
    row of a Logs Insights query (`@message`, `@timestamp` as text, `@logStream`)."""
    if any(k in obj for k in _JSON_LEVEL_KEYS):
        return False
    if isinstance(obj.get("@message"), str):
        return True
    return isinstance(obj.get("message"), str) and any(k in obj for k in CLOUDWATCH_KEYS) \
        and isinstance(obj.get("timestamp"), int)


def cloudwatch_event(obj: dict[str, Any]) -> list[Line]:
    """The lines of a CloudWatch Logs event's message (one or several: Lambda's runtime writes a logged
    traceback into one event), each read as the process's own line, stamped with the event's time when
    the line has none; its stream is the event's log stream."""
    insights = isinstance(obj.get("@message"), str)
    if insights:
        message, ts, stream = obj["@message"], _str(obj.get("@timestamp")), _str(obj.get("@logStream"))
    else:
        message, stream = obj["message"], _str(obj.get("logStreamName"))
        try:
            ts = datetime.fromtimestamp(obj["timestamp"] / 1000, tz=UTC).isoformat()
        except (OverflowError, OSError, ValueError, TypeError):
            ts = None
    out = []
    for part in message.rstrip("\r\n").split("\n"):
        for ln in parse_line(part.rstrip("\r")):
            if ln.ts is None:
                ln.ts = ts
            out.append(ln if stream is None else _in_stream(ln, stream, ""))
    return out


def _loguru_json(text: str, rec: dict[str, Any]) -> Line:
    """A record of loguru's `serialize=True`: the formatted `text` (traceback included) and its `record`."""
    level, when = rec.get("level"), rec.get("time")
    level = level.get("name") if isinstance(level, dict) else level
    ts = when.get("repr") if isinstance(when, dict) else when
    msg = (_str(rec.get("message")) or "").split("\n", 1)[0]
    at = text.find(TRACEBACK_HEADER) if rec.get("exception") is not None else -1
    exc = text[at:].rstrip("\n") if at >= 0 else None
    return Line("json", None, _str(ts), norm_level(_str(level)), _str(rec.get("name")), msg, msg, True,
                _record_kind(msg), exc)


def json_record(obj: dict[str, Any]) -> Line:
    """A structlog / python-json-logger / loguru (`serialize=True`) record."""
    rec = obj.get("record")
    if isinstance(rec, dict) and isinstance(obj.get("text"), str):
        return _loguru_json(obj["text"], rec)
    level = _first(obj, _JSON_LEVEL_KEYS)
    if level is None and isinstance(obj.get("log"), dict):
        level = obj["log"].get("level")
    exc = json_exception(obj)
    if level is None:
        line = _json_line_record(obj, exc)
        if line is not None:
            return line
    whole = json_message(obj)
    first = whole.split("\n", 1)[0]
    if exc is None and first != whole:
        # no traceback key: a traceback written into the message itself (Twisted's / eliot's `"message": "main
        # function encountered error\nTraceback (most recent call last):\n…"`) is the record's traceback
        at = whole.find(TRACEBACK_HEADER)
        if at > 0 and whole[at - 1] == "\n":
            exc = whole[at:].rstrip("\n")
        elif at == 0:
            # the message is a traceback and nothing else (a platform's entry of a process's stderr: Cloud Logging's
            # textPayload, a CloudWatch message): its exception line is the record's message
            exc = whole.rstrip("\n")
            first = next((ln for ln in reversed(exc.split("\n")) if ln[:1] not in ("", " ", "\t")), first)
    msg = first
    if exc is None and level is not None:  # (a record's: an error body printed after a text record has no level)
        err = _json_error_text(obj)
        if err and err not in whole:
            msg = f"{first}: {err}" if first else err
    return Line("json", None, _str(_first(obj, _JSON_TS_KEYS)), norm_level(_str(level)),
                _str(_first(obj, _JSON_LOGGER_KEYS)), msg, msg, True, _record_kind(msg), exc)


def _json_error_text(obj: dict[str, Any]) -> str | None:
    """The text of a record's error field (`_JSON_ERROR_KEYS`): a string, or an object's `type: message`."""
    for key in _JSON_ERROR_KEYS:
        v = obj.get(key)
        if isinstance(v, dict):
            m, t = v.get("message"), v.get("type") or v.get("kind")
            if isinstance(m, str) and m.strip():
                return f"{t}: {m}".strip() if isinstance(t, str) and t and not m.startswith(t) else m.strip()
        elif isinstance(v, str) and v.strip() and v.strip().lower() not in ("none", "null", "false"):
            return v.strip()
    return None


def json_message(obj: dict[str, Any]) -> str:
    """The whole message of a JSON log record (all its lines), or ""."""
    return _str(_first(obj, _JSON_MSG_KEYS)) or ""


def _json_line_record(obj: dict[str, Any], exc: str | None) -> Line | None:
    """A record with no level key whose formatted line (`_JSON_LINE_KEYS`) is a record with a level: that
    record, a traceback after its first line its traceback; else None."""
    v = _first(obj, _JSON_LINE_KEYS)
    if not isinstance(v, str):
        return None
    head, _, rest = v.partition("\n")
    inner = parse_process(head, "json", None, None)
    if not inner.record or inner.level is None:
        return None
    at = rest.find(TRACEBACK_HEADER[:9])  # ("Traceback": the header itself may be cut)
    if exc is None and at >= 0:
        exc = rest[at:].rstrip("\n")
    ts = _str(_first(obj, _JSON_TS_KEYS)) or inner.ts
    return Line("json", None, ts, inner.level, inner.logger, inner.message, inner.message, True, inner.kind, exc)


def json_prefix(text: str) -> dict[str, Any]:
    """The whole `"key": value` pairs at the start of a `{` line that is not one whole JSON object (cut off by
    the paste's or a line limit's end, broken over lines inside a string, a user's `...` in it); a string, array
    or object value that the line's end cuts is taken as far as it goes (structlog's `exception` list cut inside
    its frames keeps its `exc_type` and `exc_value`). Stops at the first pair it cannot read."""
    obj = _cut_pairs(text, 1, 0)[0]
    return {k: v for k, v in obj.items() if v is not None}


_CUT_DEPTH = 8  # (how deep a cut value's arrays and objects are read: a hostile line of brackets stops there)


def _cut_value(text: str, pos: int, depth: int) -> tuple[Any, int, bool]:
    """The JSON value at `pos`: (value, end, whole); a value the line's end cuts as far as it goes, not whole."""
    try:
        value, end = _DECODER.raw_decode(text, pos)
        return value, end, True
    except (ValueError, RecursionError):  # mosaic-diag: ignore[MD006] -- cut: read it as far as it goes, below
        pass
    head = text[pos:pos + 1]
    if head == '"':
        return _cut_string(text[pos:]), len(text), False
    if depth >= _CUT_DEPTH:
        return None, pos, False
    if head == "{":
        obj, end, _ = _cut_pairs(text, pos + 1, depth + 1)
        return obj or None, end, False  # (a value the cut left empty is none: a line of brackets gives nothing)
    if head == "[":
        items: list[Any] = []
        end = pos + 1
        while True:
            end = _skip_ws(text, end)
            if text[end:end + 1] in ("", "]"):
                break
            value, end, whole = _cut_value(text, end, depth + 1)
            if value is not None or whole:
                items.append(value)
            end = _skip_ws(text, end)
            if not whole or text[end:end + 1] != ",":
                break
            end += 1
        return items or None, end, False
    return None, pos, False


def _cut_pairs(text: str, pos: int, depth: int) -> tuple[dict[str, Any], int, bool]:
    """The whole `"key": value` pairs from `pos` (inside an object's `{`) and a last value the line's end cuts:
    (pairs, end, whole)."""
    obj: dict[str, Any] = {}
    try:
        while True:
            pos = _skip_ws(text, pos)
            if text[pos:pos + 1] != '"':
                break
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _skip_ws(text, pos)
            if text[pos:pos + 1] != ":":
                break
            pos = _skip_ws(text, pos + 1)
            obj[key], pos, whole = _cut_value(text, pos, depth)
            if not whole:
                break
            pos = _skip_ws(text, pos)
            if text[pos:pos + 1] != ",":
                break
            pos += 1
    except (ValueError, RecursionError):  # mosaic-diag: ignore[MD006] -- the pairs read so far are the answer
        pass
    return obj, pos, False


def json_cut_document(text: str) -> dict[str, Any] | None:
    """The pairs of a JSON object pretty-printed over lines (`{` alone on its first line) that the text's end cuts (a
    paste cut inside it, before its closing `}`), read as a cut line's are (`json_prefix`), its line breaks as blanks;
    None when the text goes on past where its pairs can be read (a document broken inside it, then other lines)."""
    start = len(text) - len(text.lstrip())
    nl = text.find("\n", start)
    if text[start:start + 1] != "{" or nl < 0 or text[start + 1:nl].strip():
        return None
    flat = text.replace("\r", " ").replace("\n", " ")
    obj, pos, _ = _cut_pairs(flat, start + 1, 0)
    return obj if obj and pos >= len(flat.rstrip()) else None


def _skip_ws(text: str, pos: int) -> int:
    m = _JSON_WS.match(text, pos)
    return pos if m is None else m.end()


def _cut_string(quoted: str) -> str | None:
    """A JSON string value the line's end cut (`"…` with no closing quote), as far as it goes, or None."""
    try:
        value = json.loads(_CUT_ESCAPE.sub(r"\1", quoted.rstrip()) + '"')
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def json_rejoined(raw: str, more: list[str]) -> tuple[dict[str, Any], str] | None:
    """A JSON record broken over lines inside a string (a formatter that writes a traceback's newlines as they
    are, a console or viewer that wraps long lines): its first line `raw` and the lines after it read as one
    object; that object and the text after its end, else None. Lines of one width but the last are a terminal's
    hard wrap: joined as they were before it (a break inside a word or a number); else each break is the text's."""
    pieces = [raw, *more]
    fixed = len(pieces) > 2 and len({len(p) for p in pieces[:-1]}) == 1 and len(pieces[-1]) <= len(raw)
    for sep in ("", "\n") if fixed else ("\n", ""):
        text = sep.join(pieces)
        try:
            obj, end = _LENIENT.raw_decode(text)
        except (ValueError, RecursionError):  # mosaic-diag: ignore[MD006] -- not one object this way
            continue
        if isinstance(obj, dict):
            return obj, text[end:]
    return None


def parse_json(text: str) -> list[Line]:
    """The record(s) of a JSON line: a log record, a Render API entry or an API page of entries."""
    try:
        obj = json.loads(text)
    except ValueError as e:
        why = f"invalid JSON: {getattr(e, 'msg', e)}"
        # a record cut off or broken over lines: still a record when its first pairs give it a level (or a traceback)
        part = json_prefix(text)
        line = json_record(part) if part else None
        if line is not None and (line.level is not None or line.exc is not None):
            line.corrupt = why
            line.raw = text
            return [line]
        return [Line("json", None, None, None, None, text, text, True, None, None, why)]
    except RecursionError:  # a hostile line of nested brackets
        return [Line("json", None, None, None, None, text, text, True, None, None, "invalid JSON: nested too deeply")]
    if not isinstance(obj, dict):
        return [Line("json", None, None, None, None, text, text, True, None, None, "JSON line is not an object")]
    if not RECORD_KEYS & obj.keys():  # (a record's own field named so is no page: `log.error(…, entries=[…])`)
        for key in DOCUMENT_ARRAYS:
            entries = obj.get(key)
            if isinstance(entries, list):  # an API page or an export of entries, on one line
                return [ln for e in entries for ln in (entry_lines(e, key) if isinstance(e, dict) else [
                    Line("render-api" if key == "logs" else "json", None, None, None, None, "", "", False, None,
                         None, "page entry is not an object")])]
    return entry_lines(obj)


# the arrays of entries an export wraps in an object: Render's log API pages (`logs`), CloudWatch Logs'
# get-log-events / filter-log-events (`events`), Google Cloud Logging's entries.list (`entries`)
DOCUMENT_ARRAYS = ("logs", "events", "entries")
# the keys of a log record (its level, message, time): an object with one is a record, whatever lists it holds
RECORD_KEYS = frozenset(_JSON_LEVEL_KEYS + _JSON_MSG_KEYS + _JSON_TS_KEYS)


def entry_lines(obj: dict[str, Any], key: str | None = None) -> list[Line]:
    """The line(s) of one JSON entry: a Render API entry (any entry of a `logs` page), a CloudWatch Logs event
    (the lines of its message), the record a search hit or a platform's entry wraps (`ENVELOPES`), else a log
    record."""
    if key == "logs" or ("labels" in obj and "message" in obj):
        return [render_entry(obj)]
    inner = envelope(obj)
    if inner is not None:
        return envelope_lines(inner)
    if is_cloudwatch_event(obj):
        return cloudwatch_event(obj)
    if "log" in obj and is_docker_json(obj):
        return docker_json_lines(obj)
    if "Log" in obj and is_container_apps_entry(obj):
        return container_apps_lines(obj)
    return [json_record(obj)]


# the keys under which a log tool's entry holds the record itself: an Elasticsearch / OpenSearch hit's `_source`,
# Google Cloud Logging's `jsonPayload` (its `severity` and `timestamp` beside it)
ENVELOPES = ("_source", "jsonPayload")
_PAYLOAD_KEYS = ("message", "log", "msg", "textPayload")  # (Fluent Bit's and Filebeat's `log` too)


def envelope(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The record an entry wraps (`ENVELOPES`), the entry's own level and time added where it has none; else None."""
    for key in ENVELOPES:
        inner = obj.get(key)
        if isinstance(inner, dict):
            out = dict(inner)
            for keys in (_JSON_LEVEL_KEYS, _JSON_TS_KEYS):
                if _first(out, keys) is None:
                    v = _first(obj, keys)
                    if v is not None:
                        out[keys[0]] = v
            return out
    return None


def envelope_lines(rec: dict[str, Any]) -> list[Line]:
    """The line(s) of a wrapped record: a record with a level, or a Docker / CloudWatch entry, as such; else (a
    shipper's `message` / `log` holding the process's line: Filebeat's, Fluent Bit's) the lines of that text, each
    read as the process's own line (a traceback's lines, a text record's), stamped with the record's time."""
    level = _first(rec, _JSON_LEVEL_KEYS)
    if level is not None or is_cloudwatch_event(rec) or ("log" in rec and is_docker_json(rec)):
        return entry_lines(rec)
    text = _first(rec, _PAYLOAD_KEYS)
    if not isinstance(text, str):
        return [json_record(rec)]
    ts = _str(_first(rec, _JSON_TS_KEYS))
    out = []
    for part in text.rstrip("\r\n").split("\n"):
        for ln in parse_line(part.rstrip("\r")):
            out.append(_stamped(ln, ts) if ts is not None else ln)
    return out


def is_docker_json(obj: dict[str, Any]) -> bool:
    """A line of Docker's json-file log driver (`/var/lib/docker/containers/<id>/<id>-json.log`): `log` is one line
    the container wrote (its newline kept), `stream` its stdout or stderr, `time` when Docker read it."""
    stream = obj.get("stream")  # (any JSON value: a list or an object is no stream, and unhashable)
    return isinstance(obj.get("log"), str) and isinstance(stream, str) and stream in _STD_STREAMS and "time" in obj


def is_container_apps_entry(obj: dict[str, Any]) -> bool:
    """An entry of Azure Container Apps' log stream (`az containerapp logs show`, its default JSON): `Log` is one line,
    the container's (behind the container runtime's `F` / `P` tag) or the platform's own, `TimeStamp` its time."""
    return isinstance(obj.get("Log"), str) and "TimeStamp" in obj


# the container runtime's tag of a full (`F`) or partial (`P`) line, which Container Apps' stream keeps in `Log`
_CRI_TAG = LazyPattern(r"[FP] ")


def container_apps_lines(obj: dict[str, Any]) -> list[Line]:
    """The line of a Container Apps log stream entry, its runtime tag dropped, read as any line is (a traceback's
    line, a record, a JSON record), stamped with the entry's time when it has none."""
    text = obj["Log"].rstrip("\r\n")
    if _CRI_TAG.match(text):
        text = text[2:]
    ts = _str(obj.get("TimeStamp"))
    return [_stamped(ln, ts) for ln in parse_line(text)]


def docker_json_lines(obj: dict[str, Any]) -> list[Line]:
    """The container's own line of a json-file entry, read as any line is (a traceback's line, a record, a JSON
    record), stamped with Docker's time when it has none; stdout and stderr are streams of their own."""
    ts = _str(obj.get("time"))
    return [_stamped(_in_stream(ln, obj["stream"], "docker"), ts) for ln in parse_line(obj["log"].rstrip("\r\n"))]


def parse_line(text: str, _depth: int = 0) -> list[Line]:
    """The parts of one decoded line (a list: a Render API page line holds many entries)."""
    c = text[:1]
    if c == "{":
        return parse_json(text)
    if c == "<":
        m = _SYSLOG.match(text)
        if m:
            stream = f"{m.group(3)}/{m.group(4)}"
            ts = m.group(2)
            return [parse_process(m.group(8) or "", "syslog", stream, None if ts == "-" else ts)]
        m = _SYSLOG_BSD.match(text)
        if m:
            return [parse_process(m.group(4), "syslog", f"{m.group(2)}/{m.group(3)}", m.group(1))]
    elif c.isdigit():
        line = _render_record(text)
        if line is not None:
            return [line]
        m = _RENDER_TEXT.match(text)
        if m:
            inner = m.group(2)
            first = inner[:1]
            if first == "\t":
                n = _LAMBDA_NODE.match(inner)
                if n:  # Lambda's Node.js runtime: "TIME\tREQUEST_ID\tLEVEL\tmessage"
                    msg = n.group(2)
                    return [Line("plain", None, m.group(1), norm_level(n.group(1)), None, inner[1:], msg, True,
                                 _record_kind(msg))]
            if first == "{" and _depth < MAX_WRAPPERS:
                if inner[1:2] == '"':  # a JSON record behind the platform's timestamp (an app that logs JSON)
                    return [_stamped(ln, m.group(1)) for ln in parse_json(inner)]
                k = _LOKI.match(inner)
                if k:  # Grafana Loki's logcli: "TIMESTAMP {app="web", pod="…"} line", one stream per label set
                    return [_stamped(_in_stream(ln, k.group(1), "loki"), m.group(1))
                            for ln in parse_line(k.group(2) or "", _depth + 1)]
            if first == "s" and _depth < MAX_WRAPPERS:
                cri = CRI_REST.match(inner)
                if cri:  # containerd / CRI-O: "TIMESTAMP STREAM F|P line", stdout and stderr streams of their own
                    return [_stamped(_in_stream(ln, cri.group(1), "cri"), m.group(1))
                            for ln in parse_line(cri.group(3) or "", _depth + 1)]
            if not first or (first not in NOT_PLAIN and not first.isdigit()):
                f = _FLY.match(inner) if first in "rp" else None  # (Fly's platform lines: `runner[…]`, `proxy[…]`)
                if f:
                    return [_fly(f, m.group(1))]
                if (first == "#" and inner[:3] == "##[") or _in_any_line(inner) or (
                        first in _LOGFMT_INITIALS and _LOGFMT_START.match(inner)) or (
                        first == "_" and inner[-1:] == "_"):
                    # (the GitHub Actions runner's `##[error]…`; a platform's failure line: Lambda's timeout; a
                    # logfmt record behind the platform's timestamp; pytest's failure section in a CI job's log)
                    return [parse_process(inner, "render-text", None, m.group(1))]
                if _depth < MAX_WRAPPERS:
                    streamed = _stream_token(inner, m.group(1), _depth)
                    if streamed is not None:
                        return streamed
                if first == " " and inner.lstrip(" ")[:1] in _RICH_INITIALS and is_rich_record(inner):
                    # RichHandler's record whose time column it left blank (the second repeats): a record
                    return [parse_process(inner, "render-text", None, m.group(1))]
                # what parse_process makes of a line that cannot start a record (a traceback's exception
                # line, a blank, a chain separator): its plain text
                return [Line("render-text", None, m.group(1), None, None, inner, inner, False)]
            if first in "ah":
                h = _HEROKU.match(inner)
                if h:  # Heroku: "TIMESTAMP app[web.1]: line", one stream per dyno
                    ln = parse_process(h.group(2), "heroku", h.group(1), m.group(1))
                    if ln.ts is None or not ln.record:
                        ln.ts = m.group(1)
                    if first == "h" and not ln.record and ln.text[:1] not in (" ", "\t", ""):
                        # the platform's own line (`heroku[web.1]: State changed from up to crashed`) is a record of
                        # its own: it continues no record or traceback of the dyno's
                        ln.record = True
                    return [ln]
                f = _FLY.match(inner)
                if f:
                    return [_fly(f, m.group(1))]
            line = parse_process(inner, "render-text", None, m.group(1))
            if not line.record and _depth < MAX_WRAPPERS:
                streamed = _stream_token(inner, m.group(1), _depth)
                if streamed is not None:
                    return streamed
            if line.record or inner[:1] not in _LEVEL_INITIALS or not _ASC_LEVEL.match(text):
                return [line]
        else:
            t = _FLY_TS.match(text)  # Fly's timestamp without its zone
            if t is not None:
                f = _FLY.match(text, t.end())
                if f:
                    return [_fly(f, t.group(1))]
            if (text[1:2] in _CJK_MONTHS or text[2:3] in _CJK_MONTHS) and _depth < MAX_WRAPPERS:
                m = _JOURNAL_CJK.match(text)
                if m:  # journald's line under a CJK locale (`_JOURNAL`)
                    return [_in_stream(ln, m.group(3) + (m.group(4) or ""), "journal")
                            for ln in parse_line(m.group(5), _depth + 1)]
    elif c == "s" and text[3:8] in ("err: ", "out: ") and text[:3] == "std" and _depth < MAX_WRAPPERS:
        # a runner that tags each line of a child process with its stream ("stderr: Traceback …"): the child's line,
        # its stdout and stderr streams of their own (as Docker's json-file entries)
        return [_in_stream(ln, text[:6], "plain") for ln in parse_line(text[8:], _depth + 1)]
    elif c.isalpha() and _depth < MAX_WRAPPERS:
        m = _JOURNAL.match(text)
        if m:
            return [_in_stream(ln, m.group(3) + (m.group(4) or ""), "journal")
                    for ln in parse_line(m.group(5), _depth + 1)]
        m = _RENDER_DASHBOARD.match(text) if text[3:4] == " " and text[:3] in _MONTHS else None
        if m:
            return [_in_shape(ln, "render-dashboard") for ln in parse_line(m.group(1), _depth + 1)]
    if c == "[" and text[1:2].isdigit() and _depth < MAX_WRAPPERS:
        m = _FLUENTBIT.match(text)
        if m:
            return _fluent_bit(m, _depth)
    if c == "[" and _depth < MAX_WRAPPERS:
        if text.startswith("[pod/"):
            m = _KUBECTL.match(text)
            if m:  # `kubectl logs --prefix`: "[pod/NAME/CONTAINER] line", one stream per pod's container
                return [_in_stream(ln, m.group(1), "kubectl") for ln in parse_line(m.group(2), _depth + 1)]
        m = _NAMED_STAMP.match(text) if text.find("] ", 2, 131) > 0 else None
        if m and m.group(1).upper() not in _ALL_LEVELS and m.group(1).upper() not in _LEVEL_ALIASES:
            # (`[ERROR] 2024-…`: a level in brackets is no container's name)
            return [_in_stream(ln, m.group(1), "kubectl") for ln in parse_line(text[m.end():], _depth + 1)]
    if c == "C" and text.startswith("Container [") and _depth < MAX_WRAPPERS:
        m = _CONTAINER_NAMED.match(text)
        if m:  # Flyte's app log: `Container [NAME]: ` before the first line of a container's output (none after it)
            return [_in_shape(ln, "flyte") for ln in parse_line(text[m.end():], _depth + 1)]
    if text.find("\t", 0, 257) > 0 and _depth < MAX_WRAPPERS:
        m = _GH_RUN_LOG.match(text)
        if m:  # `gh run view --log`: "JOB\tSTEP\tTIMESTAMP line", one stream per job's step (a command of its own)
            return [_in_stream(ln, f"{m.group(1)}/{m.group(2)}", "github-actions")
                    for ln in parse_line(text[m.end():], _depth + 1)]
    if " |" in text[:80] and _depth < MAX_WRAPPERS:
        m = _COMPOSE.match(text)
        if m and not m.group(1).isdigit() and not (m.group(1) in _ALL_LEVELS and _LEVEL_BAR.match(text)):
            # (a level word before the bar and a logger's column after it is a record's, no Compose service)
            return [_in_stream(ln, m.group(1)) for ln in parse_line(m.group(2), _depth + 1)]
    if (c == '"' or (c in " \t" and text.lstrip(" \t")[:1] == '"')) and _depth < MAX_WRAPPERS:
        m = _DOCUMENT_MESSAGE.match(text)
        if m:
            return _document_message(text, m.end() - 1, _depth)
    return [parse_process(text, "", None, None)]


_HEX = "0123456789abcdef"


def _stream_token(inner: str, ts: str, depth: int) -> list[Line] | None:
    """The app's line behind a platform's timestamp and one token that names its log stream (`aws logs tail`'s
    `TIMESTAMP STREAM message`: ECS's `ecs/web/8fdf80d5…`, Lambda's `2022/09/02/[$LATEST]4190…`, an instance's
    `i-0abc…`): a token with a `/` (or an EC2 instance's `i-`) that ends in an id of 8 hex digits or more. Each
    token is a stream of its own (as Docker Compose's prefixes are); None when the line has no such token."""
    sp = inner.find(" ", 0, 257)
    if sp < 10:
        return None
    token = inner[:sp]
    if ("/" not in token and token[:2] != "i-") or len(token) - len(token.rstrip(_HEX)) < 8:
        return None
    return [_stamped(_in_stream(ln, token, "cloudwatch"), ts) for ln in parse_line(inner[sp + 1:], depth + 1)]


def _document_message(text: str, quote: int, depth: int) -> list[Line]:
    """A pretty-printed JSON document's `"message": "…"` line (`_DOCUMENT_MESSAGE`) read as lines (a paste of search
    hits cut mid-document): the record its string holds (decoded, as far as it goes when the line cuts it), else the
    line as it is (a traceback's line there has the document's other lines around it, no traceback's)."""
    try:
        value, _ = _DECODER.raw_decode(text, quote)
    except (ValueError, RecursionError):
        value = _cut_string(text[quote:])
    if isinstance(value, str):
        lines = parse_line(value.rstrip("\r\n"), depth + 1)
        if any(ln.record for ln in lines):
            return lines
    return [parse_process(text, "", None, None)]


def _fluent_bit(m: re.Match[str], depth: int) -> list[Line]:
    """The app's line in a Fluent Bit `stdout` record (`_FLUENTBIT`'s match), one stream per tag (and its
    stdout / stderr), stamped with the record's time; a record without a `log` / `message` value is plain text."""
    rest = m.group(3)
    v = _FLUENTBIT_VALUE.search(rest)
    try:
        ts = datetime.fromtimestamp(float(m.group(2)), UTC).isoformat()
    except (OverflowError, ValueError):
        ts = None
    if v is None:
        return [Line("fluent-bit", m.group(1), ts, None, None, rest, rest, True)]
    e = _FLUENTBIT_END.search(rest, v.end())
    value = rest[v.end():] if e is None else rest[v.end():e.start()]
    s = _FLUENTBIT_STREAM.search(rest)
    stream = m.group(1) if s is None else f"{m.group(1)}/{s.group(1)}"
    out = [_in_stream(ln, stream, "fluent-bit") for ln in parse_line(value, depth + 1)]
    return [ln if ts is None else _stamped(ln, ts) for ln in out]


def fluent_bit_open(text: str) -> str | None:
    """The stream of a Fluent Bit `stdout` record whose `log` / `message` value goes on past the line (no closing
    quote on it: the app's line held newlines, a multiline filter joined a traceback), else None."""
    m = _FLUENTBIT.match(text)
    if m is None:
        return None
    rest = m.group(3)
    v = _FLUENTBIT_VALUE.search(rest)
    if v is None or _FLUENTBIT_END.search(rest, v.end()) is not None:
        return None
    s = _FLUENTBIT_STREAM.search(rest)
    return m.group(1) if s is None else f"{m.group(1)}/{s.group(1)}"


def fluent_bit_more(text: str, stream: str) -> tuple[list[Line], bool]:
    """A line of a Fluent Bit value that went on past its record's line (`fluent_bit_open`): the app's lines in it, in
    the record's stream, and whether the value ends on it."""
    e = _FLUENTBIT_VALUE_END.search(text)
    value = text if e is None else text[:e.start()]
    lines = [_in_stream(ln, stream, "fluent-bit") for ln in parse_line(value)] if value or e is None else []
    return lines, e is not None


def _stamped(ln: Line, ts: str | None) -> Line:
    """A wrapped line stamped with the wrapper's time (if any) when it has none of its own."""
    if ln.ts is None:
        ln.ts = ts
    return ln


def _fly(f: re.Match[str], ts: str) -> Line:
    """The line of a Fly.io log line (`_FLY`'s match): the process's own line, in its machine's stream (the platform's
    lines in one of their own). Fly's level stands for the line's when it is a warning or worse (`health[…]
    [error] Health check … has failed`); [info] says nothing (all of the app's output is)."""
    source, machine, level = f.group(1), f.group(2), norm_level(f.group(3))
    label = level if level == "WARNING" or level in ERROR_LEVELS else None
    ln = parse_process(f.group(4), "fly", machine if source == "app" else f"{source}/{machine}", ts, label)
    if ln.ts is None or not ln.record:
        ln.ts = ts
    return ln


def _render_record(text: str) -> Line | None:
    """`parse_line(text)`'s one Line for a Render text line holding a stdlib logging record without asctime or
    a uvicorn record (the shortcut for the commonest records), else None."""
    m = _RENDER_BASIC.match(text)
    if m is not None:  # parse_process tries _BASIC first
        msg = m.group(5)
        return Line("render-text", None, m.group(1), norm_level(m.group(3)), m.group(4) or "root", m.group(2), msg,
                    True, _record_kind(msg))
    m = _RENDER_UVICORN.match(text)
    if m is not None:  # _BASIC does not match the same text after the same timestamp
        msg = m.group(4)
        named, msg = _column(None, msg) if msg[:1] == "[" else (None, msg)
        kind = _record_kind(msg)
        return Line("render-text", None, m.group(1), norm_level(m.group(3)),
                    named or ("uvicorn.access" if kind == "access" else "uvicorn.error"), m.group(2), msg, True, kind)
    return None


def _in_shape(ln: Line, shape: str) -> Line:
    """A wrapped line that has no shape of its own in its wrapper's."""
    if not ln.shape:
        ln.shape = shape
    return ln


def _in_stream(ln: Line, service: str, shape: str = "compose") -> Line:
    """A line behind a Docker Compose (or journald) prefix: its stream is the service (and the inner stream)."""
    ln.stream = service if ln.stream is None else f"{service}/{ln.stream}"
    if not ln.shape:
        ln.shape = shape
    return ln


def is_frame(text: str) -> bool:
    """A traceback frame line (`  File "…", line N, in f`), indented as Python prints it, or loguru's
    marked frame (`> File "…", line N, in f`: where the exception was caught), one behind an exception
    group's gutter (`  |   File …`), or one that lost its indentation (a log service that strips lines:
    `app[web.1]: File "…", line 231, in run`)."""
    if text[:1] in (" ", "\t", "|"):
        s = text.lstrip()
        if s[:1] == "|":  # a frame behind an exception group's gutter (`  |   File "…", line 8, in f`, unindented too)
            s = s[1:].lstrip()
        return s.startswith('File "') and '", line ' in text
    return text.startswith(('> File "', 'File "')) and '", line ' in text


def is_rich_header(text: str) -> bool:
    """The top edge of a Rich traceback box (`╭──── Traceback (most recent call last) ────╮`)."""
    s = text.lstrip()
    return s[:1] == "╭" and "Traceback" in s


def traceback_at(text: str) -> int:
    """Where a traceback header starts in `text`: 0 at the start (an exception group's `  + Exception Group
    Traceback (most recent call last):` too), > 0 glued to the end of another line (Django's
    `Applying app.0099_x...Traceback (most recent call last):`), -1 for none."""
    if text.startswith(TRACEBACK_HEADER):
        return 0
    if text.endswith(TRACEBACK_HEADER) or text.rstrip().endswith(TRACEBACK_HEADER):
        at = text.rfind(TRACEBACK_HEADER)
        if text[at - 16:at] == "Exception Group " and not text[:at - 16].strip(" +|"):
            return 0  # an exception group's header (`  + Exception Group Traceback …`): the whole line is the header
        return at
    return -1


_GROUP_EDGE = LazyPattern(r"\+-[-+]*(?: (?:\d+|\.\.\.) -+)?")


def in_group_gutter(text: str) -> bool:
    """A line of an exception group's traceback whose indentation was stripped (a paste, a log shipper that strips
    lines): behind its gutter (`| …`, a nested group's `| + Exception Group Traceback …` too) or a box's edge
    (`+-+---------------- 1 ----------------`, `+---------------- 2 ----------------`, `+------------`)."""
    c = text[:1]
    if c == "|":
        return text[1:2] in (" ", "")
    return c == "+" and _GROUP_EDGE.fullmatch(text.rstrip()) is not None


def is_group_end(text: str) -> bool:
    """The line that closes an exception group's last sub-exception box (`    +------------------------------------`):
    a group's last line, a chain's separator may follow it after a blank."""
    s = text.strip()
    return len(s) > 20 and s[0] == "+" and s.count("-") == len(s) - 1


def flattened_traceback_at(text: str) -> int:
    """Where a traceback flattened onto one line starts inside other text (a dashboard's copy that lost the line
    breaks: `…(ASGI)[ERROR] AttributeError: …Traceback (most recent call last):  File "…", line 288, in …`): its
    header, followed by a frame; -1 for none."""
    at = text.find(TRACEBACK_HEADER, 1)
    if at > 0 and text[at + len(TRACEBACK_HEADER):at + len(TRACEBACK_HEADER) + 12].lstrip(" ").startswith('File "'):
        return at
    return -1


def line_timestamp(text: str) -> datetime | None:
    """The timestamp of a line of any shape, or None (used for first/last timestamps)."""
    lines = parse_line(text)
    for ln in lines:
        if ln.ts:
            return parse_ts(ln.ts)
    return None


# a log tool's CSV export (Datadog's Log Explorer: `Date,Host,Service,Message`; CloudWatch Logs Insights:
# `@timestamp,@message`; a download of `timestamp,message`): its header's column names, lower-cased
CSV_MESSAGE_COLUMNS = ("message", "@message", "content", "log", "msg", "textpayload", "jsonpayload.message", "body")
CSV_TIME_COLUMNS = ("date", "timestamp", "@timestamp", "time", "datetime", "date (utc)")
CSV_LEVEL_COLUMNS = ("status", "level", "log_level", "@log_level", "severity", "levelname", "log level")
CSV_STREAM_COLUMNS = ("host", "service", "@logstream", "logstreamname", "container", "pod")
_CSV_NAME = _kept(r"[@\w][\w@. ()-]{0,40}")


class CsvColumns(NamedTuple):
    """Where an export's message, time, level and stream columns are (-1: none)."""

    message: int
    time: int
    level: int
    streams: tuple[int, ...]


def _column_at(names: list[str], wanted: tuple[str, ...]) -> int:
    return next((names.index(w) for w in wanted if w in names), -1)


def csv_header(line: str) -> CsvColumns | None:
    """The columns of a CSV export whose first line is `line` (its header: plain names, quoted or not, a message
    column among them, and a time or a level column), else None."""
    names = [n.strip().strip('"').strip().lower() for n in line.lstrip("\ufeff").rstrip("\r\n").split(",")]
    if len(names) < 2 or len(names) > 64 or not all(_CSV_NAME.fullmatch(n) for n in names):
        return None
    cols = CsvColumns(_column_at(names, CSV_MESSAGE_COLUMNS), _column_at(names, CSV_TIME_COLUMNS),
                      _column_at(names, CSV_LEVEL_COLUMNS),
                      tuple(names.index(n) for n in CSV_STREAM_COLUMNS if n in names))
    return cols if cols.message >= 0 and (cols.time >= 0 or cols.level >= 0) else None


def csv_row_lines(row: list[str], cols: CsvColumns) -> Iterator[tuple[int, Line]]:
    """The lines of one row of a CSV export: each line of its message cell read as the process's own line (a
    traceback's lines, a record), with its offset from the row's first line, stamped with the row's time; a
    first line that is no record and no traceback takes the row's level (Datadog's `Status`) as a Render API
    entry takes its label. Rows of one host / service are a stream of their own."""
    n = len(row)
    cell = row[cols.message] if cols.message < n else ""
    ts = row[cols.time].strip() or None if 0 <= cols.time < n else None
    level = norm_level(row[cols.level].strip().upper() or None) if 0 <= cols.level < n else None
    stream = "/".join(row[i] for i in cols.streams if i < n and row[i]) or None
    skip = sum(row[i].count("\n") for i in range(min(cols.message, n)))  # (line breaks in the columns before it)
    for i, part in enumerate(cell.split("\n")):
        part = part.rstrip("\r")
        for ln in parse_line(part):
            if ln.ts is None:
                ln.ts = ts
            if i == 0 and level is not None and ln.level is None and not ln.record and part[:1] not in ("", " ", "\t") \
                    and not part.startswith(TRACEBACK_HEADER):
                ln.level, ln.kind = level, "labelled"
            yield skip + i, (ln if stream is None else _in_stream(ln, stream, "csv"))
