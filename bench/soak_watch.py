"""Soak: feed `mosaic-diag watch --syslog` a million lines over loopback TCP and report its RSS.

    python bench/generate.py --lines 1000000 --shapes syslog    # bench/out/syslog-1M.log
    python bench/soak_watch.py bench/out/syslog-1M.log [--lines 1000000]

The watch runs as a child process (`--format json --no-playbooks --flush-after 600`, its JSON
lines counted and thrown away); the lines are sent octet-counted in batches, and after each
batch of 100,000 the child's RSS is read from /proc. The run is bounded: it stops after
`--lines` lines, sends SIGTERM, and prints one JSON object of figures. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", type=Path, help="a syslog-shaped log (bench/generate.py --shapes syslog)")
    ap.add_argument("--lines", type=int, default=1_000_000)
    args = ap.parse_args()
    lines = args.log.read_bytes().splitlines()
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "watch", "--syslog", "127.0.0.1:0", "--format",
                             "json", "--no-playbooks", "--flush-after", "600", "--state-file",
                             str(Path("bench/out/soak-state.json").resolve())],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    status = json.loads(proc.stdout.readline())
    port = int(status["source"].rsplit(":", 1)[1])
    counts = {"event": 0, "alert": 0, "other": 0}

    def pump() -> None:
        for out in proc.stdout:  # type: ignore[union-attr]
            kind = json.loads(out).get("type")
            counts[kind if kind in counts else "other"] += 1

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    samples = []
    t0 = time.perf_counter()
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        while sent < args.lines:
            start = sent % len(lines)
            batch = lines[start:start + min(100_000, args.lines - sent)]
            sock.sendall(b"".join(b"%d %s" % (len(ln), ln) for ln in batch))
            sent += len(batch)
            samples.append((sent, round(rss_mb(proc.pid), 1)))
    while counts["event"] == 0 or time.perf_counter() - t0 < 1:
        time.sleep(0.5)
    settle = time.perf_counter()
    last = -1
    while counts["event"] != last and time.perf_counter() - settle < 300:
        last = counts["event"]
        time.sleep(2)
    samples.append(("settled", round(rss_mb(proc.pid), 1)))
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    reader.join(timeout=60)
    print(json.dumps({"lines": sent, "seconds": round(time.perf_counter() - t0, 1), **counts,
                      "rss_mb": samples, "exit": proc.returncode}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
