#!/usr/bin/env bash
# The long fault drill (not in CI): the multi-host random fault schedule of
# tests/multihost_test.cc with many faults (default 50) over a longer job, on private network
# namespaces (root needed). Prints every fault's TIMELINE line, then the median seconds to
# detection, regroup and resume per kind of fault, and the lineage check's verdict.
#
#   tests/fault_drill.sh [FAULTS] [SEED]      # e.g. tests/fault_drill.sh 60 7
set -euo pipefail
cd "$(dirname "$0")/.."
faults="${1:-50}"
seed="${2:-$(date +%s)}"
shared_data="${MURMUR_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
deploy/setup.sh >/dev/null
bazel build //tests:multihost_test >/dev/null
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
log="$scratch/drill.log"
echo "fault drill: $faults faults, seed $seed (logs in $scratch while it runs)"
status=0
(cd bazel-bin/tests/multihost_test.runfiles/murmur &&
  MURMUR_SHARED_DATA="$shared_data" MURMUR_FAULTS="$faults" MURMUR_FAULT_SEED="$seed" \
  TEST_TMPDIR="$scratch" ../../multihost_test --gtest_filter='*RandomFaultSchedule*') \
  >"$log" 2>&1 || status=$?
grep -E '^TIMELINE|^lineage check|^fault schedule|OK \]|FAILED' "$log" || true
grep -A6 'Failure$' "$log" | cut -c1-400 || true
/usr/bin/python3 - "$log" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"TIMELINE fault=(\S+) detect_s=(\S+) regroup_s=(\S+) resume_s=(\S+) steps_lost=(\d+)", line)
    if not m:
        continue
    kind = re.sub(r"_w\d+", "", m.group(1))
    kind = re.sub(r"_\d+s$", "", kind)
    rows.setdefault(kind, []).append(m.groups()[1:])
print("\n%-22s %6s %10s %10s %10s %10s" % ("fault", "count", "detect_s", "regroup_s", "resume_s", "lost_max"))
for kind, values in sorted(rows.items()):
    def median(i):
        xs = [float(v[i]) for v in values if v[i] not in ("n/a", "none")]
        return "%.2f" % statistics.median(xs) if xs else "n/a"
    print("%-22s %6d %10s %10s %10s %10d" % (kind, len(values), median(0), median(1), median(2),
                                             max(int(v[3]) for v in values)))
PY
exit "$status"
