#!/usr/bin/env bash
# The coordinator's dashboard in a real browser during a real job: a coordinator with
# --http-port 0 and two workers (real processes, Gloo) on 4,000 tweets; Debian's chromium,
# headless, driven by puppeteer-core (dashboard_check.js), watches the page as a person would:
# both members active, then, after one worker is SIGKILLed, a new generation with one active
# member and the dead one marked, then the first epoch's validation metrics and confusion matrix.
# The JSON routes are checked with curl beside it. Leaves three screenshots (members.png,
# generation.png, metrics.png) in the test's outputs.
# Usage (Bazel passes these):
#   dashboard_browser_test.sh COORDINATOR WORKER MURMUR DASHBOARD_CHECK_JS CHROMIUM_JS
set -euo pipefail
coordinator="$1" worker="$2" murmur="$3" check_js="$4"
# The check's require("chromium") finds tools/browser/chromium.js through NODE_PATH.
helper_dir="$(cd "$(dirname "$5")" && pwd)"
: "${MURMUR_SHARED_DATA:?set MURMUR_SHARED_DATA to the shared data directory}"
: "${MURMUR_PUPPETEER_NODE_MODULES:?deploy/setup.sh --with-reference installs puppeteer-core (deploy/test.sh passes it)}"
chromium="${MURMUR_CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] || { echo "FAIL: no chromium at $chromium (deploy/setup.sh --with-reference)"; exit 1; }
work="${TEST_TMPDIR:-$(mktemp -d)}/dashboard"
outputs="${TEST_UNDECLARED_OUTPUTS_DIR:-$work}"
rm -rf "$work" && mkdir -p "$work/corpus" "$outputs"
fail() { echo "FAIL: $*" >&2; for f in "$work"/*.log; do echo "== $f"; tail -20 "$f"; done >&2; exit 1; }
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done' EXIT

head -2000 "$MURMUR_SHARED_DATA/sentiment140_text_100k/negative.txt" > "$work/corpus/negative.txt"
head -2000 "$MURMUR_SHARED_DATA/sentiment140_text_100k/positive.txt" > "$work/corpus/positive.txt"
cat > "$work/job.json" <<JSON
{"corpus_path": "$work/corpus", "vocab_path": "$MURMUR_SHARED_DATA/distilbert-base-uncased/vocab.txt",
 "model_preset": "tiny", "batch_per_worker": 8, "epochs": 2, "max_length": 32,
 "learning_rate": 0.001, "heartbeat_timeout_ms": 3000, "collective_timeout_ms": 4000,
 "threads_per_worker": 1, "min_workers": 1, "max_workers": 2}
JSON
"$coordinator" --spec "$work/job.json" --journal-dir "$work/journal" --host 127.0.0.1 --port 0 \
  --http-port 0 > "$work/coordinator.out" 2> "$work/coordinator.log" &
pids+=($!)
for _ in $(seq 600); do [ -s "$work/journal/port" ] && break; sleep 0.1; done
[ -s "$work/journal/port" ] || fail "the coordinator did not start"
port=$(cat "$work/journal/port") http_port=$(cat "$work/journal/http_port")
grep -q "^dashboard on http://127.0.0.1:$http_port/$" "$work/coordinator.out" ||
  fail "no dashboard line: $(cat "$work/coordinator.out")"
api="http://127.0.0.1:$http_port"

for name in a b; do
  "$worker" --coordinator "127.0.0.1:$port" --name "$name" --cache-dir "$work/cache-$name" \
    --threads 1 > /dev/null 2> "$work/worker-$name.log" &
  pids+=($!)
done
victim=${pids[2]}

# The JSON beside the page: what a script would read.
status=$(curl -sf "$api/api/v1/status") || fail "GET /api/v1/status"
echo "$status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert int(s["train_samples"]) + int(s["validation_samples"]) > 3900 and s["max_workers"] == 2, s' ||
  fail "status JSON: $status"
curl -sf "$api/metrics" | grep -q '^murmur_coordinator_' || fail "no coordinator metrics on the dashboard port"
code=$(curl -s -o "$work/bad.json" -w '%{http_code}' "$api/api/v1/events?after=x")
[ "$code" = 400 ] && grep -q '"error"' "$work/bad.json" || fail "a bad event index answered $code"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$api/nope")" = 404 ] || fail "an unknown route is not 404"

NODE_PATH="$MURMUR_PUPPETEER_NODE_MODULES:$helper_dir" node "$check_js" --url "$api/" --chromium "$chromium" \
  --kill-pid "$victim" --outputs "$outputs" || fail "the dashboard check failed"
for shot in members generation metrics; do [ -s "$outputs/$shot.png" ] || fail "no $shot.png"; done

# What the page showed is what the job recorded: the dead worker's event, and no sample twice.
curl -sf "$api/api/v1/events?after=0" | python3 -c '
import json, sys
kinds = [e["kind"] for e in json.load(sys.stdin)["events"]]
assert "worker_dead" in kinds and "evaluation" in kinds, kinds' || fail "events lack worker_dead or evaluation"
curl -sf "$api/api/v1/status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert all(a["duplicated"] == "0" for a in s["accounting"]), s["accounting"]' || fail "duplicated samples"

# `murmur status --json` and the dashboard's status are one JSON. The surviving worker is
# stopped (SIGSTOP) so that no step lands between the two reads; only the heartbeat ages.
kill -STOP "${pids[1]}" 2>/dev/null || true  # it may have finished the job already
"$murmur" status --coordinator "127.0.0.1:$port" --json > "$work/cli.json" || fail "murmur status --json"
curl -sf "$api/api/v1/status" > "$work/api.json" || fail "GET /api/v1/status"
kill -CONT "${pids[1]}" 2>/dev/null || true
python3 - "$work/cli.json" "$work/api.json" <<'PY' || fail "murmur status --json and /api/v1/status differ"
import json, sys
cli, api = (json.load(open(path)) for path in sys.argv[1:])
for status in (cli, api):
    for worker in status["workers"]:
        del worker["seconds_since_heartbeat"]
    del status["eta_seconds"]
assert cli == api, (cli, api)
assert cli["evaluations"][0]["confusion"], cli["evaluations"]
PY
echo "PASS"
