#!/usr/bin/env bash
# Run the test suite RUNS times in a row (default 3) while two busy loops keep both cores busy.
# Usage: bench/under_load.sh [RUNS] [pytest args...]      e.g. bench/under_load.sh 3 -x tests/
# Exit status: 0 when every run passed, else the first failing run's pytest status.
set -u
runs=${1:-3}
shift || true
cd "$(dirname "$0")/.."
burners=()
stop_burners() { for pid in "${burners[@]}"; do kill "$pid" 2>/dev/null; done; }
trap stop_burners EXIT
for _ in 1 2; do
  python3 -c 'while True: pass' &
  burners+=("$!")
done
echo "busy loops: ${burners[*]}"
status=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  python3 -m pytest -q -p no:cacheprovider "$@"
  rc=$?
  echo "run $i/$runs: pytest exit $rc in $(( $(date +%s) - start ))s"
  if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then status=$rc; fi
done
exit "$status"
