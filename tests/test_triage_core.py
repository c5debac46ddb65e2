"""TriageRun on reader events: classification, grouping, filters, the derived restart loop."""

from __future__ import annotations

import sqlite3
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.classifier.taxonomy import load_taxonomy
from mosaic_diag.triage import TriageRun, build_options

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Raw:  # mosaic_diag.logs.RawEvent with defaults, for brevity
    kind: str
    line: int
    end_line: int
    timestamp: datetime | None
    shape: str = "render-text"
    instance: str | None = "srv-1"
    level: str | None = "ERROR"
    logger: str | None = "api.storage"
    message: str = ""
    traceback: str | None = None
    detail: str | None = None


def sqlite_traceback(table: str) -> str:
    con = sqlite3.connect(":memory:")
    try:
        con.execute(f"SELECT * FROM {table}")
    except sqlite3.OperationalError as exc:
        return "".join(traceback.format_exception(exc))
    raise AssertionError("no error")


def start(line: int, minutes: float, instance: str = "srv-1") -> Raw:
    return Raw("process_start", line, line, T0 + timedelta(minutes=minutes), instance=instance, level="INFO",
               logger="uvicorn.error", message="Started server process [7]")


def error(line: int, minutes: float, table: str = "sessions", instance: str = "srv-1") -> Raw:
    tb = sqlite_traceback(table)
    return Raw("error", line, line + tb.count("\n"), T0 + timedelta(minutes=minutes), instance=instance,
               message="Database query failed", traceback=tb)


def test_groups_by_fingerprint_and_counts():
    run = TriageRun(Classifier.default())
    events = list(run.process([error(1, 0, "sessions"), error(20, 1, "users"), error(40, 2, "sessions")]))
    assert [e.label for e in events] == ["SQLITE_FALLBACK_ACTIVE"] * 3
    assert [e.exception_type for e in events] == ["sqlite3.OperationalError"] * 3
    report = run.finish()
    assert [(g.count, g.template) for g in report.groups] == [(2, "no such table: sessions"),
                                                              (1, "no such table: users")]
    group = report.groups[0]
    assert group.sample_line == 1 and group.fingerprint == events[0].fingerprint == events[2].fingerprint
    assert group.first_seen == T0 and group.last_seen == T0 + timedelta(minutes=2)
    # 3 errors in the busiest 5 minutes = 0.6 per minute; 1 in the busiest minute
    assert group.rates["count_5m"] == 3.0 and group.rates["rate_5m"] == 0.6
    assert group.rates["count_1m"] == 1.0 and group.rates["rate_1m"] == 1.0
    assert group.rates["count_15m"] == 3.0 and group.rates["rate_15m"] == 0.2
    assert report.summary["labels"] == {"SQLITE_FALLBACK_ACTIVE": 3}


def test_restart_loop_is_derived_with_errors_between():
    raws = [start(1, 0), error(5, 1), start(30, 2), error(35, 3), start(60, 4), error(70, 5)]
    run = TriageRun(Classifier.default())
    events = list(run.process(raws))
    loops = [e for e in events if e.label == "RENDER_RESTART_LOOP"]
    assert len(loops) == 1
    assert loops[0].line == 1 and loops[0].end_line == 60
    assert loops[0].rule == "derived.restart-loop"


def test_a_restart_loops_alert_counts_its_process_starts() -> None:
    """The playbook's alert says how many times the process started, as the loop's event does (not the
    group's count of loop events)."""
    from mosaic_diag.plans import attach_plans, playbook_planner
    from mosaic_diag.triage.model import TriageOptions

    raws = [start(1, 0), error(5, 1), start(30, 2), error(35, 3), start(60, 4), error(70, 5), start(80, 6)]
    for count in (3, 4):
        run = TriageRun(Classifier.default(), TriageOptions(restart_count=count))
        [loop] = [e for e in run.process(raws) if e.label == "RENDER_RESTART_LOOP"]
        assert loop.message.startswith(f"process started {count} times")
        report = attach_plans(run.finish(), playbook_planner())
        [group] = [g for g in report.groups if g.label == "RENDER_RESTART_LOOP"]
        assert group.count == 1 and group.starts == count and group.to_dict()["starts"] == count
        alert = next(a for a in group.plan["actions"] if a["action"] == "alert_ops")
        assert f"({count} process starts with errors between)" in alert["description"], alert


def test_a_source_naming_a_new_instance_per_line_keeps_restart_state_bounded() -> None:
    """A live source names its instances (a syslog header's host): one naming a new instance on every start line
    grew the restart state for as long as a watch ran. The instances whose latest start is oldest are forgotten;
    a loop of an instance that keeps starting is still found among them."""
    from mosaic_diag.triage import restarts

    run = TriageRun(Classifier.default())
    raws: list[Raw] = []
    for i in range(restarts.MAX_INSTANCES * 3):
        raws.append(start(10 * i, i / 1000, instance=f"flood-{i}"))
        if i % 2000 == 0:  # the real instance: starts with errors between, now and then
            raws.append(start(10 * i + 1, i / 1000, instance="srv-1"))
            raws.append(error(10 * i + 2, i / 1000 + 0.0001, instance="srv-1"))
    loops = [e for e in run.process(raws) if e.label == "RENDER_RESTART_LOOP"]
    assert len(run._restarts._starts) <= restarts.MAX_INSTANCES
    assert loops and {e.instance for e in loops} == {"srv-1"}


def test_no_restart_loop_without_errors_or_outside_the_window():
    quiet = [start(1, 0), start(2, 1), start(3, 2)]
    assert not [e for e in TriageRun(Classifier.default()).process(quiet)]
    slow = [start(1, 0), error(5, 1), start(30, 8), error(35, 9), start(60, 16)]
    assert not [e for e in TriageRun(Classifier.default()).process(slow) if e.label == "RENDER_RESTART_LOOP"]
    other_instances = [start(1, 0, "a"), error(5, 1, instance="a"), start(30, 2, "b"), error(35, 3, instance="b"),
                       start(60, 4, "c")]
    assert not [e for e in TriageRun(Classifier.default()).process(other_instances)
                if e.label == "RENDER_RESTART_LOOP"]


def test_filters_since_label_alias_and_severity():
    tax = load_taxonomy()
    opts = build_options(since=T0 + timedelta(minutes=1), labels=["RAILWAY_DB_EPHEMERAL"], taxonomy=tax)
    run = TriageRun(Classifier.default(), opts)
    kept = list(run.process([error(1, 0), error(20, 1), error(40, 2)]))
    assert [e.line for e in kept] == [20, 40]
    opts = build_options(min_severity="critical", categories=["data"], taxonomy=tax)
    assert list(TriageRun(Classifier.default(), opts).process([error(1, 0)])) == []


def test_a_derived_restart_loop_the_filters_hide_is_counted_filtered_out() -> None:
    """Shown + `filtered_out` is every event found, the derived restart loop too (README: the events the filters
    hide are counted)."""
    raws = [start(1, 0), error(5, 1), start(30, 2), error(35, 3), start(60, 4), error(70, 5)]
    found = len(list(TriageRun(Classifier.default()).process(raws)))
    assert found == 4  # three errors and the loop
    tax = load_taxonomy()
    for opts in (build_options(labels=["SQLITE_FALLBACK_ACTIVE"], taxonomy=tax),
                 build_options(since=T0 + timedelta(hours=1), taxonomy=tax),
                 build_options(labels=["RENDER_RESTART_LOOP"], taxonomy=tax)):
        run = TriageRun(Classifier.default(), opts)
        shown = len(list(run.process(raws)))
        assert shown + run.finish().summary["filtered_out"] == found, opts


def test_timeline_per_label_and_group_markers_and_pruning():
    deploy = Raw("deploy", 1, 1, T0, level=None, logger="render", message="Deploying...")
    raws = [deploy, start(2, 0.1), error(3, 0, "sessions"), error(20, 1, "users"), error(40, 1.5, "sessions"),
            error(60, 30, "sessions")]
    run = TriageRun(Classifier.default())
    events = list(run.process(raws))
    report = run.finish()
    tl = report.timeline
    m0 = int(T0.timestamp() // 60)
    assert (tl.first_minute, tl.last_minute) == (m0, m0 + 30)
    assert tl.labels == {"SQLITE_FALLBACK_ACTIVE": {m0: 1, m0 + 1: 2, m0 + 30: 1}}
    sessions = events[0].fingerprint
    assert tl.groups[sessions] == {m0: 1, m0 + 1: 1, m0 + 30: 1}
    assert [(m.kind, m.line) for m in tl.markers] == [("deploy", 1), ("start", 2)]
    assert tl.buckets(tl.groups[sessions], 4) == [2, 0, 0, 1]  # cells of 8 minutes
    run.prune_before(m0 + 2)  # a live watch keeps only a tail of per-minute counts
    assert run.finish().timeline.groups[sessions] == {m0 + 30: 1}
    assert run.rates.minutes["SQLITE_FALLBACK_ACTIVE"] == {m0 + 30: 1}
