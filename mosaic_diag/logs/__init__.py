"""Log readers: every supported shape, mixed, plain or gzip, from a path or stdin -> RawEvents.

    with open_source(path_or_dash, stdin=sys.stdin.buffer) as src:
        stats = ReadStats()
        for ev in read_events(src, stats, name=path_or_dash): ...
"""

from mosaic_diag.logs.model import RawEvent, ReadStats
from mosaic_diag.logs.reader import read_events
from mosaic_diag.logs.source import open_source

__all__ = ["RawEvent", "ReadStats", "open_source", "read_events"]
