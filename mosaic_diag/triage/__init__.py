"""Triage: raw log events -> classified events, groups by fingerprint, anomalous rates.

    with open_triage("app.log") as session:
        for event in session.events: ...      # streamed, constant memory
        report = session.finish()             # groups, anomalies, summary

The core of every log-reading command; it knows nothing of playbooks (`mosaic_diag.plans`
joins groups to their plans, above both).
"""

from mosaic_diag.triage.model import ErrorEvent, Group, TriageOptions, TriageReport
from mosaic_diag.triage.run import TriageRun, TriageSession, build_options, open_triage

__all__ = ["ErrorEvent", "Group", "TriageOptions", "TriageReport", "TriageRun", "TriageSession", "build_options",
           "open_triage"]
