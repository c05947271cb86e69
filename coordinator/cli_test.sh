#!/bin/bash
# The murmur-coordinator binary and the operator CLI end to end: start on port 0, status,
# scale, drain errors, watch, SIGKILL + restart from the journal, SIGTERM shutdown.
# Usage: cli_test.sh MURMUR_COORDINATOR MURMUR
set -u
coordinator_bin="$1"
murmur="$2"
data="${MURMUR_SHARED_DATA:?MURMUR_SHARED_DATA must point at the shared data directory}"
work="${TEST_TMPDIR:-$(mktemp -d)}/cli"
rm -rf "$work" && mkdir -p "$work/corpus"
head -100 "$data/sentiment140_text_100k/negative.txt" > "$work/corpus/negative.txt"
head -100 "$data/sentiment140_text_100k/positive.txt" > "$work/corpus/positive.txt"
cat > "$work/job.json" <<JSON
{"corpus_path": "$work/corpus", "vocab_path": "$data/distilbert-base-uncased/vocab.txt",
 "batch_per_worker": 8}
JSON
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

start() {
  "$coordinator_bin" --spec "$work/job.json" --journal-dir "$work/journal" --port 0 \
    --metrics-port 0 \
    > "$work/out.log" 2> "$work/err.log" &
  pid=$!
  for _ in $(seq 1 200); do
    grep -q "listening on" "$work/out.log" 2>/dev/null && break
    sleep 0.1
  done
  address=$(sed -n 's/^listening on //p' "$work/out.log")
  [ -n "$address" ] || { cat "$work/err.log"; echo "FAIL: coordinator did not start"; exit 1; }
  [ "$(cat "$work/journal/port")" = "${address##*:}" ] || fail "DIR/port differs from the printed port"
}

start
metrics_port=$(sed -n 's|^metrics on http://127.0.0.1:\([0-9]*\)/metrics|\1|p' "$work/out.log")
[ -n "$metrics_port" ] || fail "no metrics line: $(cat "$work/out.log")"
# A plain HTTP GET over bash's /dev/tcp (no curl needed).
metrics=$(exec 3<>"/dev/tcp/127.0.0.1/$metrics_port" &&
          printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 && timeout 10 cat <&3)
echo "$metrics" | grep -q '^murmur_coordinator_state{state="waiting"} 1' ||
  fail "metrics: $(echo "$metrics" | head -30)"
echo "$metrics" | grep -q '^murmur_coordinator_epoch_duplicated_samples{epoch="0"} 0' ||
  fail "metrics lack the accounting"
"$murmur" status --coordinator "$address" > "$work/status.txt" || fail "status exited $?"
grep -q "waiting" "$work/status.txt" || fail "status does not say waiting: $(cat "$work/status.txt")"
"$murmur" scale --coordinator "$address" --min 2 --max 3 > "$work/scale.txt" || fail "scale exited $?"
grep -q "min_workers 2, max_workers 3" "$work/scale.txt" || fail "scale output: $(cat "$work/scale.txt")"
"$murmur" scale --coordinator "$address" --min 5 --max 3 2> "$work/scale_err.txt"
[ $? -eq 1 ] || fail "bad limits should exit 1"
grep -q "max_workers (3) must be >= min_workers (5)" "$work/scale_err.txt" || fail "bad limits message"
"$murmur" scale --coordinator "$address" 2>/dev/null
[ $? -eq 2 ] || fail "scale without limits should be a usage error"
"$murmur" drain --coordinator "$address" --worker w-404 2> "$work/drain_err.txt"
[ $? -eq 1 ] || fail "draining an unknown worker should exit 1"
grep -q "unknown worker id 'w-404'" "$work/drain_err.txt" || fail "drain message: $(cat "$work/drain_err.txt")"
timeout 20 "$murmur" watch --coordinator "$address" --until limits > "$work/watch.txt" || fail "watch exited $?"
grep -q "min_workers 2, max_workers 3" "$work/watch.txt" || fail "watch output: $(cat "$work/watch.txt")"

# SIGKILL: the limits survive in the journal.
kill -9 "$pid"; wait "$pid" 2>/dev/null
start
"$murmur" status --coordinator "$address" --json > "$work/status.json" || fail "status --json exited $?"
grep -q '"max_workers": 3' "$work/status.json" || fail "limits lost across SIGKILL: $(head -20 "$work/status.json")"
timeout 20 "$murmur" watch --coordinator "$address" --until restarted > /dev/null || fail "no restarted event"

# SIGTERM: graceful exit, status 0.
kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then fail "still running 10 s after SIGTERM"; kill -9 "$pid"; fi
wait "$pid"; rc=$?
[ $rc -eq 0 ] || fail "exit status $rc after SIGTERM"

"$murmur" status --coordinator 127.0.0.1:1 2> "$work/unreachable.txt"
[ $? -eq 1 ] || fail "unreachable coordinator should exit 1"
grep -q "cannot reach the coordinator" "$work/unreachable.txt" || fail "unreachable message"

[ $failures -eq 0 ] && echo PASS
exit $failures
