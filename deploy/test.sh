#!/usr/bin/env bash
# Runs murmur's whole test suite: installs what is missing, builds, runs every Bazel test, and
# ends with the line "N passed, M failed" (test cases, counted from the JUnit XML of each test).
# Extra arguments go to `bazel test` (e.g. a narrower target pattern after `--`).
set -uo pipefail
cd "$(dirname "$0")/.."
deploy/setup.sh --with-reference || exit 1

MURMUR_CACHE="${MURMUR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/murmur}"
shared_data="${MURMUR_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
if [ ! -d "$shared_data" ]; then
  echo "test: $shared_data not found: tests that read the real data will fail (set MURMUR_SHARED_DATA)" >&2
fi
hf_modules="$(ls -d "$MURMUR_CACHE"/hf-tokenizers-*/node_modules 2>/dev/null | tail -n 1)"
puppeteer_modules="$(ls -d "$MURMUR_CACHE"/puppeteer-core-*/node_modules 2>/dev/null | tail -n 1)"

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(//...)

events="$(mktemp)"
trap 'rm -f "$events"' EXIT
bazel test --keep_going --build_event_json_file="$events" \
  --test_env=MURMUR_SHARED_DATA="$shared_data" \
  --test_env=MURMUR_HF_NODE_MODULES="$hf_modules" \
  --test_env=MURMUR_PUPPETEER_NODE_MODULES="$puppeteer_modules" \
  "${targets[@]}"
bazel_rc=$?

python3 tools/test_summary.py "$events" "${targets[@]}"
summary_rc=$?
# Bazel exit 4 means "no tests ran"; anything but 0 is a failure of the suite.
[ "$bazel_rc" -eq 0 ] && [ "$summary_rc" -eq 0 ]
