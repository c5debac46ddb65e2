"""`watch`: live triage of a log source, with alerts (new groups, anomalies, restart loops) and the
matching playbooks planned (or executed) at most once per playbook + fingerprint per cool-down."""

from mosaic_diag.watch.run import Alert, Watcher, WatchOptions
from mosaic_diag.watch.state import WatchState

__all__ = ["Alert", "WatchOptions", "WatchState", "Watcher"]
