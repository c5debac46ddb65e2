"""A triage run: raw log events in, classified events out (streamed), then groups, anomalies, summary.

Streaming: `TriageRun.process` yields each classified event as it is read and keeps only
per-group and per-minute counters, so memory does not grow with the length of the log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.classifier.taxonomy import SEVERITY_RANK, UNKNOWN
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.platform.redact import redact_text
from mosaic_diag.platform.terminal import one_line_escaped
from mosaic_diag.triage.anomaly import MAX_WINDOW_MINUTES, AnomalySettings, RateSeries
from mosaic_diag.triage.events import EventClassifier
from mosaic_diag.triage.fingerprint import template
from mosaic_diag.triage.model import (
    RESTART_LABEL,
    ErrorEvent,
    Group,
    Marker,
    Timeline,
    TriageOptions,
    TriageReport,
)
from mosaic_diag.triage.restarts import RestartLoops
from mosaic_diag.triage.workers import WorkerTimeouts

MAX_MARKERS = 500


@dataclass
class _GroupAcc:
    """An error group as the triage gathers it."""

    label: str
    category: str
    severity: str
    exception_type: str | None
    message: str
    sample_line: int
    sample_source: str | None = None
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    minutes: Counter[int] | None = None  # events per minute (for the group's sparkline)
    starts: int = 0  # process starts in the group's restart loops (RENDER_RESTART_LOOP)


def rate_facts(rates: RateSeries, label: str) -> dict[str, float]:
    """The playbook facts of `label`'s rates, each with its unit: `count_Nm` the most errors in any N-minute
    window (a count), `rate_Nm` the same per minute (count / N)."""
    counts = {minutes: rates.peak(label, minutes) for minutes in (1, 5, 15)}
    return {**{f"count_{m}m": float(n) for m, n in counts.items()},
            **{f"rate_{m}m": round(n / m, 3) for m, n in counts.items()}}


class TriageRun:
    """One pass over a log: feed raw events, get classified events; then `finish()`."""

    def __init__(self, classifier: Classifier, options: TriageOptions | None = None) -> None:
        self.classifier = classifier
        self.options = options or TriageOptions()
        self.rates = RateSeries()
        self.groups: dict[str, _GroupAcc] = {}
        self.label_counts: dict[str, int] = {}
        self.events = 0
        self.filtered_out = 0
        self.untimed = 0
        self.markers: list[Marker] = []
        # the input file being read, when a run reads several (events, samples and markers name it), and
        # the files in the order read (to order samples and markers of different files)
        self.source: str | None = None
        self.sources: dict[str | None, int] = {None: 0}
        self._events = EventClassifier(classifier)
        self._restarts = RestartLoops(classifier, self.options.restart_count, self.options.restart_window)
        self._workers = WorkerTimeouts(classifier)
        min_sev = self.options.min_severity
        self._min_rank = SEVERITY_RANK[min_sev] if min_sev else 0

    def read_from(self, source: str) -> None:
        """Events processed from now on come from the input file `source` (a run over several files)."""
        self.source = self._restarts.source = source
        self.sources.setdefault(source, len(self.sources))

    def process(self, raws: Iterable[RawEvent]) -> Iterator[ErrorEvent]:
        """Classify each error event, update the counters, yield those that pass the filters (an event names
        the file `source` at the time it is taken: a run over several files sets it as their events come)."""
        for raw in raws:
            if raw.kind == "deploy":
                self._mark("deploy", raw)
                continue
            if raw.kind == "process_start":
                self._mark("start", raw)
                loop = self._restarts.start_seen(raw)
                if loop is not None:
                    if self._keep(loop):
                        self._count(loop)
                        yield loop
                    else:
                        self.filtered_out += 1
                continue
            if raw.kind not in ("error", "platform"):
                continue
            event = self._workers.seen(self._events.event(raw))
            source = self.source
            if source is not None:
                event = replace(event, source=source)
            self._restarts.error_seen(raw.instance)
            if self._keep(event):
                self._count(event)
                yield event
            else:
                self.filtered_out += 1

    def _mark(self, kind: str, raw: RawEvent) -> None:
        """Keep a timeline marker (the first MAX_MARKERS of the time range asked for)."""
        ts = raw.timestamp
        opts = self.options
        if ts is None or len(self.markers) >= MAX_MARKERS:
            return
        if (opts.since and ts < opts.since) or (opts.until and ts > opts.until):
            return
        self.markers.append(Marker(kind, ts, raw.line, redact_text(raw.message), self.source))

    def prune_before(self, minute: int) -> None:
        """Forget per-minute counts (per label and per group) before `minute`: a live watch keeps a
        bounded tail."""
        self.rates.prune_before(minute)
        for acc in self.groups.values():
            if acc.minutes:
                for old in [m for m in acc.minutes if m < minute]:
                    del acc.minutes[old]

    def _keep(self, event: ErrorEvent) -> bool:
        opts = self.options
        if opts.since or opts.until:
            if event.timestamp is None:
                self.untimed += 1
                return False
            if opts.since and event.timestamp < opts.since:
                return False
            if opts.until and event.timestamp > opts.until:
                return False
        if opts.labels and event.label not in opts.labels:
            return False
        if opts.categories and event.category not in opts.categories:
            return False
        return SEVERITY_RANK[event.severity] >= self._min_rank

    def _count(self, event: ErrorEvent) -> None:
        self.events += 1
        self.label_counts[event.label] = self.label_counts.get(event.label, 0) + 1
        acc = self.groups.get(event.fingerprint)
        if acc is None:
            acc = self.groups[event.fingerprint] = _GroupAcc(
                event.label, event.category, event.severity, event.exception_type,
                event.message.strip().splitlines()[0] if event.message.strip() else "",
                event.line, event.source)
        acc.count += 1
        if event.label == RESTART_LABEL:  # each loop is `restart_count` starts with errors between
            acc.starts += self.options.restart_count
        ts = event.timestamp
        if ts is not None:
            acc.first = ts if acc.first is None or ts < acc.first else acc.first
            acc.last = ts if acc.last is None or ts > acc.last else acc.last
            minute = self.rates.add(event.label, ts)
            if acc.minutes is None:
                acc.minutes = Counter()
            acc.minutes[minute] += 1

    def finish(self, extra_summary: Mapping[str, Any] | None = None) -> TriageReport:
        """Groups (worst first), anomalies and a summary of the whole run."""
        groups = []
        for fp, acc in self.groups.items():
            rates = rate_facts(self.rates, acc.label)
            groups.append(Group(acc.label, acc.category, acc.severity, fp, acc.count, acc.first,
                                acc.last, acc.sample_line, acc.exception_type, acc.message,
                                template(acc.message), rates=rates, sample_source=acc.sample_source,
                                starts=acc.starts or None))
        order = self.sources
        groups.sort(key=lambda g: (-SEVERITY_RANK[g.severity], -g.count, order.get(g.sample_source, 0),
                                   g.sample_line))
        anomalies = tuple(self.rates.detect(self.options.anomaly))
        summary: dict[str, Any] = {
            "events": self.events,
            "groups": len(groups),
            "labels": dict(sorted(self.label_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
            "unknown_events": self.label_counts.get(UNKNOWN, 0),
            "anomalies": len(anomalies),
            "filtered_out": self.filtered_out,
        }
        if self.untimed:
            summary["untimed_excluded"] = self.untimed
        summary.update(extra_summary or {})
        timeline = Timeline(self.rates.first, self.rates.last,
                            {label: dict(c) for label, c in self.rates.minutes.items()},
                            {fp: dict(acc.minutes) for fp, acc in self.groups.items() if acc.minutes},
                            tuple(sorted(self.markers, key=lambda m: (m.timestamp, order.get(m.source, 0), m.line))))
        return TriageReport(tuple(groups), anomalies, summary, timeline)


@dataclass
class TriageSession:
    """An open input and its run: iterate `events`, then call `finish()`."""

    run: TriageRun
    stats: Any
    name: str
    events: Iterator[ErrorEvent]

    def finish(self) -> TriageReport:
        st = self.stats
        extra: dict[str, Any] = {
            "input": self.name,
            "lines": st.lines,
            "bytes": st.bytes,
            "corrupt_lines": st.corrupt,
            "corrupt_samples": [list(s) for s in st.corrupt_samples],
            "warnings": list(st.warnings),
            "shapes": dict(st.shapes),
            "levels": dict(st.levels),
            "first_timestamp": st.first_ts.isoformat() if st.first_ts else None,
            "last_timestamp": st.last_ts.isoformat() if st.last_ts else None,
        }
        for ts in (st.first_ts, st.last_ts):
            if ts is not None:
                self.run.rates.observe(ts)
        return self.run.finish(extra)


def build_options(*, since: datetime | None = None, until: datetime | None = None,
                  labels: Iterable[str] = (), categories: Iterable[str] = (),
                  min_severity: str | None = None, taxonomy: Any, config: Any = None
                  ) -> TriageOptions:
    """Validated TriageOptions (labels by name or alias; config `anomaly.*` applied)."""
    from mosaic_diag.classifier.taxonomy import CATEGORIES, SEVERITIES
    from mosaic_diag.errors import UsageError

    resolved = frozenset(taxonomy.resolve(name).name for name in labels)
    cats = frozenset(c.lower() for c in categories)
    bad = sorted(cats - set(CATEGORIES))
    if bad:
        raise UsageError(f"unknown category {bad[0]!r} (known: {', '.join(CATEGORIES)})")
    if min_severity is not None and min_severity.lower() not in SEVERITIES:
        raise UsageError(f"unknown severity {min_severity!r} (known: {', '.join(SEVERITIES)})")
    if since and until and since > until:
        raise UsageError("--since is after --until")
    base = AnomalySettings()
    if config is None:
        anomaly = base
    else:
        anomaly = AnomalySettings(
            # (at most a day: the threshold is corrected over a day of windows, and a window of millennia ran past
            # the last date a datetime holds)
            window_minutes=config.number("anomaly.window_minutes", base.window_minutes, minimum=1,
                                         maximum=MAX_WINDOW_MINUTES, integer=True),
            alpha=config.number("anomaly.alpha", base.alpha, positive=True, maximum=1),
            threshold=config.number("anomaly.threshold", base.threshold, positive=True),
            min_count=config.number("anomaly.min_count", base.min_count, minimum=1, integer=True),
            min_history=config.number("anomaly.min_history", base.min_history, minimum=0, integer=True),
        )
    return TriageOptions(since, until, resolved, cats,
                         min_severity.lower() if min_severity else None, anomaly)


@dataclass
class LogFile:
    """One input of a run over several: the path given ("-": stdin), its name in the output, the first
    timestamp of its head, its size (None: not a regular file) and, for stdin or a pipe (read once only),
    the open stream its head is read again from."""

    path: str
    name: str
    first: datetime | None
    size: int | None
    stream: Any = None


def plan_inputs(paths: Sequence[str], stack: ExitStack, stdin: Any = None) -> list[LogFile]:
    """The files of a run over several, in the order they are read (`read_order`: a rotation set's names and the
    first timestamp of each file's head, so that time runs forward across them: logrotate's names glob newest
    first). Each is opened to peek at it, then closed; stdin and a pipe (`<(zcat
    x.gz)`) stay open in `stack`, their head kept to be read again. A missing, unreadable or undecodable
    file, a file given twice or stdin given twice is a UsageError naming it, before anything is read."""
    import os
    import stat as st

    from mosaic_diag.errors import UsageError
    from mosaic_diag.logs import open_source
    from mosaic_diag.logs.reader import first_timestamp
    from mosaic_diag.logs.source import ByteStream, Rewindable, UnreadableInput

    if sum(1 for p in paths if p == "-") > 1:
        raise UsageError("- (stdin) is given more than once")
    files: list[LogFile] = []
    seen: dict[tuple[int, int], str] = {}
    for path in paths:
        # (its name in every output, a report or a warning, on one line: a newline or a terminal control in a
        # file's name is written `\\n`, `\\u001b`, and cannot forge a line of the report)
        name = "<stdin>" if path == "-" else one_line_escaped(path)
        opened = open_source(path, stdin=stdin)
        raw = opened.__enter__()
        try:
            info = os.fstat(raw.fileno())
        except (AttributeError, OSError, ValueError):
            info = None
        regular = info is not None and st.S_ISREG(info.st_mode)
        src: ByteStream = raw
        kept = None
        if path == "-" or not regular:  # read once only: kept open, its head read again
            stack.push(opened)
            src = kept = Rewindable(raw)
        try:
            if kept is None:
                other = seen.setdefault((info.st_dev, info.st_ino), path)  # type: ignore[union-attr]
                if other != path or any(f.path == path for f in files):
                    raise UsageError(f"given twice (as {other})" if other != path else "given twice", path=path)
            try:
                first = first_timestamp(src)
            except UnreadableInput as exc:
                raise UnreadableInput(str(exc), path=name) from None
        finally:
            if kept is None:
                opened.__exit__(None, None, None)
        if kept is not None:
            kept.rewind()
        files.append(LogFile(path, name, first, info.st_size if regular else None, kept))  # type: ignore[union-attr]
    return read_order(files)


def read_order(files: list[LogFile]) -> list[LogFile]:
    """`files` (in the order given) in the order they are read. The files of one log's rotation set (`NAME.N`,
    `NAME.N.gz`, `NAME-YYYYMMDD[.gz]` and the bare `NAME`: `logs.source.rotation_name`) are read one after another
    in the rotation's order (`_rotation_order`), so that a traceback that rotation cut is joined whatever file is
    given among them; the set stands where its first file given stands. The sets and the other files are ordered by
    their first timestamps (a set's: its first file's that has one); a set or a file without any keeps its place in
    the order given, and the others are put in time order in the places left."""
    import os

    from mosaic_diag.logs.source import rotation_name

    names = [rotation_name(f.path) if f.path != "-" else None for f in files]
    bases = {n[0] for n in names if n is not None}
    units: dict[str, list[int]] = {}  # a rotation set (by its log's path) or a file alone (by its index)
    for i, (f, n) in enumerate(zip(files, names, strict=True)):
        if n is not None:
            key = n[0]
        elif f.path != "-" and os.path.normpath(f.path) in bases:
            key = os.path.normpath(f.path)
        else:
            key = f"\0{i}"
        units.setdefault(key, []).append(i)
    ordered = [_rotation_order(files, names, members) for members in units.values()]  # (in the order given)
    firsts = [next((files[i].first for i in unit if files[i].first is not None), None) for unit in ordered]
    timed = iter(sorted((t.timestamp(), k) for k, t in enumerate(firsts) if t is not None))
    placed = [k if firsts[k] is None else next(timed)[1] for k in range(len(ordered))]
    return [files[i] for k in placed for i in ordered[k]]


def _rotation_order(files: list[LogFile], names: list[tuple[str, int | None, str | None] | None],
                    members: list[int]) -> list[int]:
    """The indexes `members` of one rotation set (or one file alone) oldest first: the numbered names by number
    (a higher N older), the dated ones by date, the bare NAME last. Where a set mixes numbered and dated names (its
    logrotate's `dateext` turned on or off), the two runs are merged by the first timestamps of their files; where
    one of the two files compared has none, the numbered name is read first."""
    numbers: list[tuple[int, int]] = []  # (its number, the index) of each numbered name
    dates: list[tuple[int, int]] = []  # (its date, the index) of each dated one
    bare: list[int] = []
    for i in members:
        n = names[i]
        if n is None:
            bare.append(i)
        elif n[1] is not None:
            numbers.append((n[1], i))
        else:
            dates.append((int(n[2] or 0), i))
    numbered = [i for _, i in sorted(numbers, key=lambda ni: -ni[0])]
    dated = [i for _, i in sorted(dates)]
    merged: list[int] = []
    while numbered and dated:
        a, b = files[numbered[0]].first, files[dated[0]].first
        merged.append((dated if a is not None and b is not None and b.timestamp() < a.timestamp()
                       else numbered).pop(0))
    return merged + numbered + dated + bare


class MultiTriageSession:
    """A run over several files read one after another as one log (each decompressed on its own; a last
    line without a newline stays in its file; a record or traceback that rotation cut goes on in the next file's
    leading lines that carry no record prefix, as in the files joined: `logs.reader.Handover`, the event named by
    the file and line it starts on, its end line counted on from there): iterate `events`, then call `finish()`."""

    def __init__(self, run: TriageRun, files: list[LogFile],
                 on_progress: Callable[[int, int | None], None] | None = None) -> None:
        self.run = run
        self.files = files
        self.name = ", ".join(f.name for f in files)
        self.reads: list[tuple[LogFile, Any]] = []
        self.not_text: dict[str, str] = {}  # the inputs that are not text logs (binary files): why, by name
        self.on_progress = on_progress
        self.events: Iterator[ErrorEvent] = self._events()

    def _events(self) -> Iterator[ErrorEvent]:
        from mosaic_diag.logs import ReadStats, open_source, read_events
        from mosaic_diag.logs.reader import Handover
        from mosaic_diag.logs.source import ProgressStream

        sizes = [f.size for f in self.files]
        total = None if None in sizes else sum(s or 0 for s in sizes)
        done = 0   # bytes of the files read before this one
        lines = 0  # lines of the files read before this one
        handover = Handover()
        for i, f in enumerate(self.files):
            stats = ReadStats()
            handover.more = i + 1 < len(self.files)
            self.reads.append((f, stats))
            with nullcontext(f.stream) if f.stream is not None else open_source(f.path) as src:
                report = self.on_progress
                if report is not None:
                    def step(n: int, _: int | None, before: int = done, lines_before: int = lines,
                             stats: Any = stats, report: Callable[[int, int | None], None] = report) -> None:
                        if total is not None:
                            report(before + n, total)
                        else:
                            report(lines_before + stats.lines, None)
                    src = ProgressStream(src, step)
                self.run.read_from(f.name)
                raws = self._judged(read_events(src, stats, name=f.path, handover=handover), f, stats)
                yield from self.run.process(self._placed(raws))
            done += f.size or 0
            lines += stats.lines
        if len(self.not_text) == len(self.files):  # not one text log: nothing to report on (as for one file)
            from mosaic_diag.logs.reader import NotTextLog

            raise NotTextLog("; ".join(f"{name}: {why}" for name, why in self.not_text.items())
                             + "; nothing was judged")

    def _judged(self, raws: Iterator[RawEvent], f: LogFile, stats: Any) -> Iterator[RawEvent]:
        """`raws`; a file that is not a text log (`logs.reader.not_a_text_log`) is noted in `not_text`."""
        from mosaic_diag.logs.reader import not_a_text_log

        read = False
        for raw in raws:
            read = read or raw.line > 0  # (lines 0 and below: an event of the file before, handed on)
            yield raw
        why = not_a_text_log(stats, read)
        if why is not None:
            self.not_text[f.name] = why

    def _placed(self, raws: Iterator[RawEvent]) -> Iterator[RawEvent]:
        """The events of the file being read; one that started in a file before (its lines 0 and below, handed
        on) renumbered to that file's lines and named by it while it is taken."""
        run = self.run
        here = self.reads[-1][0].name
        for raw in raws:
            if raw.line > 0:
                yield raw
                continue
            shift, k = 0, len(self.reads) - 1
            while raw.line + shift <= 0 and k > 0:
                k -= 1
                shift += self.reads[k][1].lines
            run.read_from(self.reads[k][0].name)
            yield replace(raw, line=raw.line + shift, end_line=raw.end_line + shift)
            run.read_from(here)

    def close(self) -> None:
        """Close the file being read, if a consumer stopped before the end."""
        self.events.close()  # type: ignore[attr-defined]

    def finish(self) -> TriageReport:
        from mosaic_diag.logs.model import MAX_CORRUPT_SAMPLES

        inputs: list[dict[str, Any]] = []
        shapes: Counter[str] = Counter()
        levels: Counter[str] = Counter()
        samples: list[list[Any]] = []
        warnings: list[str] = []
        stamps: list[datetime] = []
        for f, st in self.reads:
            inputs.append({"input": f.name, "lines": st.lines, "bytes": st.bytes,
                           "first_timestamp": st.first_ts.isoformat() if st.first_ts else None,
                           "last_timestamp": st.last_ts.isoformat() if st.last_ts else None})
            if f.name in self.not_text:  # said once, its lines not counted as a log's corrupt lines
                inputs[-1]["not_text"] = True
                warnings.append(f"{f.name}: {self.not_text[f.name]}; nothing was judged")
                continue
            shapes.update(st.shapes)
            levels.update(st.levels)
            samples += [[line, reason, f.name] for line, reason in st.corrupt_samples]
            warnings += [f"{f.name}: {w}" for w in st.warnings]
            stamps += [ts for ts in (st.first_ts, st.last_ts) if ts is not None]
        for ts in stamps:
            self.run.rates.observe(ts)
        extra: dict[str, Any] = {
            "input": self.name,
            "inputs": inputs,
            "lines": sum(st.lines for _, st in self.reads),
            "bytes": sum(st.bytes for _, st in self.reads),
            "corrupt_lines": sum(st.corrupt for f, st in self.reads if f.name not in self.not_text),
            "not_text_inputs": list(self.not_text),
            "corrupt_samples": samples[:MAX_CORRUPT_SAMPLES],
            "warnings": warnings,
            "shapes": dict(shapes),
            "levels": dict(levels),
            "first_timestamp": min(stamps).isoformat() if stamps else None,
            "last_timestamp": max(stamps).isoformat() if stamps else None,
        }
        return self.run.finish(extra)


@contextmanager
def open_triage(source: str | Sequence[str], *, stdin: Any = None, stream: Any = None, since: datetime | None = None,
                until: datetime | None = None, labels: Iterable[str] = (),
                categories: Iterable[str] = (), min_severity: str | None = None,
                rules: Any = None, config: Any = None,
                on_progress: Callable[[int, int | None], None] | None = None
                ) -> Iterator[TriageSession | MultiTriageSession]:
    """Open `source` (a path or "-"; or read `stream`, a binary stream named `source`; or several paths, one
    of them "-" at most, read as one log: `plan_inputs`, `MultiTriageSession`) and set up a triage run over
    it: iterate the session's `events`, then call its `finish()`. Options are validated before the source
    is opened.

    `on_progress(done, total)` is called after each block read from the source: bytes read so far
    and the size of the file (compressed bytes for gzip); for a pipe or a stream (no size to read
    towards) `(lines read so far, None)`."""
    from mosaic_diag.logs import ReadStats, open_source, read_events
    from mosaic_diag.logs.reader import text_log
    from mosaic_diag.logs.source import ProgressStream

    classifier = Classifier.default(rules)
    options = build_options(since=since, until=until, labels=labels, categories=categories,
                            min_severity=min_severity, taxonomy=classifier.taxonomy, config=config)
    if not isinstance(source, str):
        if len(source) != 1:
            with ExitStack() as stack:
                files = plan_inputs(source, stack, stdin)
                session = MultiTriageSession(TriageRun(classifier, options), files, on_progress)
                try:
                    yield session
                finally:
                    session.close()
            return
        source = source[0]
    with nullcontext(stream) if stream is not None else open_source(source, stdin=stdin) as src:
        stats = ReadStats()
        if on_progress is not None:
            report = on_progress
            src = ProgressStream(src, lambda done, total: report(done, total) if total is not None
                                 else report(stats.lines, None))
        run = TriageRun(classifier, options)
        name = "<stdin>" if source == "-" and stream is None else one_line_escaped(source)  # (as above)
        yield TriageSession(run, stats, name, run.process(text_log(read_events(src, stats, name=source), stats,
                                                                   source)))
