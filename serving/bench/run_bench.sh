#!/usr/bin/env bash
# Serving benchmark, side by side in one run on one model directory:
#   - murmur predict: offline batch throughput (the ceiling serving is measured against);
#   - murmur-serve under C concurrent clients (`murmur bench serve`), its peak;
#   - murmur-serve at half of that peak (open-loop --rate), for p99 latency;
#   - a per-request Python gRPC server (python_server.py: grpcio + PyTorch fp32, one forward per
#     request) under the same C clients.
# Texts are real tweets from $MURMUR_SHARED_DATA/sentiment140_text_100k.
#
# bazel run //serving/bench:run_bench -- [--preset base] [--duration 20] [--concurrency 64]
#   [--bf16] [--max-batch-size 32] [--max-queue-delay-us 2000] [--instances 1] [--threads 2]
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/murmur"
serve="$runfiles/serving/murmur-serve"
murmur="$runfiles/client/murmur"
write_checkpoint="$runfiles/serving/bench/write_checkpoint"
python_server="$runfiles/serving/bench/python_server.py"
proto_root="$runfiles"
py=/usr/bin/python3  # Debian's, with python3-grpcio and python3-torch

preset=base duration=20 concurrency=64 bf16="" batch=32 delay_us=2000 instances=1
threads=$(nproc) texts_n=4000
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --bf16) bf16="--bf16"; shift ;;
    --max-batch-size) batch="$2"; shift 2 ;;
    --max-queue-delay-us) delay_us="$2"; shift 2 ;;
    --instances) instances="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
data="${MURMUR_SHARED_DATA:-$BUILD_WORKSPACE_DIRECTORY/../shared/data}"
work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

echo "== setup: $preset checkpoint, $texts_n real tweets, $(nproc) cores"
"$write_checkpoint" --preset "$preset" --vocab "$data/distilbert-base-uncased/vocab.txt" \
  --out "$work/repo/sentiment/1" >/dev/null
"$py" - "$data/sentiment140_text_100k" "$texts_n" > "$work/texts.txt" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
neg = open(d + "/negative.txt", encoding="utf-8").read().splitlines()[: n // 2]
pos = open(d + "/positive.txt", encoding="utf-8").read().splitlines()[: n // 2]
for a, b in zip(neg, pos):
    print(a)
    print(b)
PY

echo "== murmur predict (offline, batch $batch, $threads threads $bf16)"
head -n 1 "$work/texts.txt" > "$work/one.txt"
t0=$(date +%s.%N)
"$murmur" predict --model "$work/repo/sentiment/1" --batch "$batch" --threads "$threads" $bf16 \
  < "$work/one.txt" > /dev/null
t1=$(date +%s.%N)
"$murmur" predict --model "$work/repo/sentiment/1" --batch "$batch" --threads "$threads" $bf16 \
  < "$work/texts.txt" > /dev/null
t2=$(date +%s.%N)
# Subtract the run on one text: what is left is classification, not model loading.
predict_tps=$("$py" -c "print('%.1f' % (($texts_n - 1) / (($t2 - $t1) - ($t1 - $t0))))")
echo "predict: $predict_tps texts/s"

wait_for() {  # log pattern
  for _ in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  cat "$1"; return 1
}

echo "== murmur-serve (max batch $batch, delay ${delay_us}us, $instances instance(s), $threads threads)"
"$serve" --model-repository "$work/repo" --host 127.0.0.1 --port 0 --max-batch-size "$batch" \
  --max-queue-delay-us "$delay_us" --instances "$instances" --threads "$threads" $bf16 \
  --max-queue-size 4096 --http-port -1 2> "$work/serve.log" &
pids+=($!)
wait_for "$work/serve.log" "serving on"
target="127.0.0.1:$(grep -o 'serving on 127.0.0.1:[0-9]*' "$work/serve.log" | cut -d: -f2)"
"$murmur" bench serve --target "$target" --concurrency "$concurrency" --duration "$duration" \
  --warmup 3 --texts "$work/texts.txt" --json | tee "$work/serve_peak.txt"
peak_rps=$(tail -n 1 "$work/serve_peak.txt" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["requests_per_s"])')
half=$("$py" -c "print('%.1f' % ($peak_rps / 2))")
echo "== murmur-serve at half of peak: $half requests/s offered (open loop)"
"$murmur" bench serve --target "$target" --concurrency "$concurrency" --duration "$duration" \
  --warmup 2 --rate "$half" --texts "$work/texts.txt" --json | tee "$work/serve_half.txt"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true

echo "== Python per-request server (grpcio, PyTorch fp32, one forward per request)"
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$py" "$python_server" --model "$work/repo/sentiment/1" --port "$port" --protos "$proto_root" \
  --threads "$threads" > "$work/python.log" 2>&1 &
pids+=($!)
wait_for "$work/python.log" "python server on"
"$murmur" bench serve --target "127.0.0.1:$port" --concurrency "$concurrency" \
  --duration "$duration" --warmup 3 --texts "$work/texts.txt" --json | tee "$work/python.txt"

echo
echo "== summary ($preset preset, $concurrency clients, ${duration}s per measurement, $(nproc) cores)"
"$py" - "$predict_tps" "$work/serve_peak.txt" "$work/serve_half.txt" "$work/python.txt" "$half" <<'PY'
import json, sys
predict = float(sys.argv[1])
peak, half, python = (json.loads(open(p).read().splitlines()[-1]) for p in sys.argv[2:5])
print("%-44s %14s %9s %9s" % ("", "classif./s", "p50 ms", "p99 ms"))
print("%-44s %14.1f %9s %9s" % ("murmur predict (offline batch)", predict, "-", "-"))
for name, r in (("murmur-serve, peak", peak),
                ("murmur-serve, half of peak (%s req/s)" % sys.argv[5], half),
                ("python per-request server", python)):
    errors = (" errors: %s" % r["errors"]) if r["errors"] else ""
    print("%-44s %14.1f %9.1f %9.1f%s" % (name, r["classifications_per_s"], r["p50_ms"],
                                           r["p99_ms"], errors))
print("murmur-serve / python server: %.1fx (target >= 10x)" %
      (peak["classifications_per_s"] / max(python["classifications_per_s"], 1e-9)))
print("murmur-serve / murmur predict: %.0f%% (target >= 70%%)" %
      (100 * peak["classifications_per_s"] / predict))
PY
