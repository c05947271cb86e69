#!/usr/bin/env bash
# The classifier page (GET / of murmur-serve's HTTP port) in a real browser: Debian's chromium,
# headless, driven by puppeteer-core (page_check.js). A person's steps: type a tweet, press
# Classify, read the label shown; the label must be the one /v1/classify answers, and the page's
# versions table must show the model's version READY. Leaves a screenshot (page.png) in the
# test's outputs.
# Usage (Bazel passes these): page_browser_test.sh SERVE WRITE_CHECKPOINT PAGE_CHECK_JS CHROMIUM_JS
set -euo pipefail
serve="$1" write_checkpoint="$2" check_js="$3"
# The check's require("chromium") finds tools/browser/chromium.js through NODE_PATH.
helper_dir="$(cd "$(dirname "$4")" && pwd)"
: "${MURMUR_SHARED_DATA:?set MURMUR_SHARED_DATA to the shared data directory}"
: "${MURMUR_PUPPETEER_NODE_MODULES:?deploy/setup.sh --with-reference installs puppeteer-core (deploy/test.sh passes it)}"
chromium="${MURMUR_CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] || { echo "FAIL: no chromium at $chromium (deploy/setup.sh --with-reference)"; exit 1; }
work="${TEST_TMPDIR:-$(mktemp -d)}/page"
outputs="${TEST_UNDECLARED_OUTPUTS_DIR:-$work}"
rm -rf "$work" && mkdir -p "$work/repo/sentiment" "$outputs"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$write_checkpoint" --preset small --vocab "$MURMUR_SHARED_DATA/distilbert-base-uncased/vocab.txt" \
  --out "$work/repo/sentiment/1" --seed 3 >/dev/null
"$serve" --model-repository "$work/repo" --host 127.0.0.1 --port 0 --http-port 0 \
  --metrics-port -1 --precision fp32 2> "$work/serve.log" &
server_pid=$!
trap 'kill -9 $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 300); do grep -q "HTTP on :" "$work/serve.log" && break; sleep 0.1; done
port=$(grep -o "HTTP on :[0-9]*" "$work/serve.log" | head -1 | cut -d: -f2)
[ -n "$port" ] || { cat "$work/serve.log"; fail "server did not start"; }

tweet="i love this so much, best day ever"
expected=$(curl -sf -X POST "http://127.0.0.1:$port/v1/classify" -H 'Content-Type: application/json' \
  -d "{\"texts\": [\"$tweet\"]}" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["results"][0]["label"])')
[ -n "$expected" ] || fail "/v1/classify gave no label"

NODE_PATH="$MURMUR_PUPPETEER_NODE_MODULES:$helper_dir" node "$check_js" --url "http://127.0.0.1:$port/" \
  --chromium "$chromium" --tweet "$tweet" --expected-label "$expected" \
  --screenshot "$outputs/page.png" || fail "the page check failed"
[ -s "$outputs/page.png" ] || fail "no screenshot"
kill -TERM $server_pid; wait $server_pid || true
trap - EXIT
echo "PASS"
