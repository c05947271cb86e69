#!/usr/bin/env bash
# Serving benchmark, side by side in one run on one model directory:
#   - murmur predict: offline batch throughput (the ceiling serving is measured against);
#   - murmur-serve with its default flags under each concurrency C of single-tweet clients
#     (`murmur bench serve`, closed loop): classifications/s, p50, p99;
#   - murmur-serve at half of the peak of the largest C (open-loop --rate), for p99 latency;
#   - a per-request Python gRPC server (python_server.py: grpcio + PyTorch fp32, one forward per
#     request) under the same clients.
# Texts are real tweets from $MURMUR_SHARED_DATA/sentiment140_text_100k. The precision is
# murmur's default (--precision auto: bf16 where the CPU runs bf16 matrix work natively, fp32
# elsewhere) for predict and serve alike, unless --precision says otherwise.
#
# bazel run //serving/bench:run_bench -- [--preset base] [--duration 20] [--concurrency "8 64"]
#   [--precision auto|fp32|bf16] [--max-batch-size 32] [--max-queue-delay-us 2000]
#   [--instances 1] [--threads 2]
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/murmur"
serve="$runfiles/serving/murmur-serve"
murmur="$runfiles/client/murmur"
write_checkpoint="$runfiles/serving/bench/write_checkpoint"
python_server="$runfiles/serving/bench/python_server.py"
proto_root="$runfiles"
py=/usr/bin/python3  # Debian's, with python3-grpcio and python3-torch

preset=base duration=20 concurrencies="8 64" precision=auto batch=32 delay_us=2000 instances=1
threads=$(nproc) texts_n=4000
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --concurrency) concurrencies="$2"; shift 2 ;;
    --precision) precision="$2"; shift 2 ;;
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

echo "== murmur predict (offline, batch $batch, $threads threads, precision $precision)"
head -n 1 "$work/texts.txt" > "$work/one.txt"
t0=$(date +%s.%N)
"$murmur" predict --model "$work/repo/sentiment/1" --batch "$batch" --threads "$threads" \
  --precision "$precision" < "$work/one.txt" > /dev/null
t1=$(date +%s.%N)
"$murmur" predict --model "$work/repo/sentiment/1" --batch "$batch" --threads "$threads" \
  --precision "$precision" < "$work/texts.txt" > /dev/null
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
  --max-queue-delay-us "$delay_us" --instances "$instances" --threads "$threads" \
  --precision "$precision" \
  --max-queue-size 4096 --http-port -1 2> "$work/serve.log" &
pids+=($!)
wait_for "$work/serve.log" "serving on"
target="127.0.0.1:$(grep -o 'serving on 127.0.0.1:[0-9]*' "$work/serve.log" | cut -d: -f2)"
grep -o "precision [a-z0-9]*[^,]*" "$work/serve.log" | head -n 1 || true
for c in $concurrencies; do
  "$murmur" bench serve --target "$target" --concurrency "$c" --duration "$duration" \
    --warmup 3 --texts "$work/texts.txt" --json | tee "$work/serve_$c.txt"
  concurrency=$c
done
peak_rps=$(tail -n 1 "$work/serve_$concurrency.txt" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["requests_per_s"])')
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
for c in $concurrencies; do
  "$murmur" bench serve --target "127.0.0.1:$port" --concurrency "$c" \
    --duration "$duration" --warmup 3 --texts "$work/texts.txt" --json | tee "$work/python_$c.txt"
done

echo
echo "== summary ($preset preset, precision $precision, ${duration}s per measurement, $(nproc) cores)"
"$py" - "$predict_tps" "$work" "$half" $concurrencies <<'PY'
import json, sys
predict, work, half, concurrencies = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
last = lambda path: json.loads(open(path).read().splitlines()[-1])
print("%-48s %14s %9s %9s" % ("", "classif./s", "p50 ms", "p99 ms"))
print("%-48s %14.1f %9s %9s" % ("murmur predict (offline batch)", predict, "-", "-"))
def row(name, r):
    errors = (" errors: %s" % r["errors"]) if r["errors"] else ""
    print("%-48s %14.1f %9.1f %9.1f%s" % (name, r["classifications_per_s"], r["p50_ms"],
                                           r["p99_ms"], errors))
for c in concurrencies:
    row("murmur-serve, %s clients" % c, last("%s/serve_%s.txt" % (work, c)))
row("murmur-serve, half of peak (%s req/s, open loop)" % half, last(work + "/serve_half.txt"))
for c in concurrencies:
    row("python per-request server, %s clients" % c, last("%s/python_%s.txt" % (work, c)))
top = concurrencies[-1]
serve, python = last("%s/serve_%s.txt" % (work, top)), last("%s/python_%s.txt" % (work, top))
print("at %s clients: murmur-serve / python server: %.1fx (target >= 10x)" %
      (top, serve["classifications_per_s"] / max(python["classifications_per_s"], 1e-9)))
print("at %s clients: murmur-serve / murmur predict: %.0f%% (target >= 80%%)" %
      (top, 100 * serve["classifications_per_s"] / predict))
PY
