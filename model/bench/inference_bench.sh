#!/usr/bin/env bash
# Inference throughput, side by side in one run on the same model, CPU and tweets: murmur's
# DistilBERT-base (fp32 and bf16; model_bench) against ONNX Runtime (onnxruntime-node's CPU
# provider, all graph optimizations) running the same weights exported with torch.onnx.export
# (Debian's python3-torch; export_onnx.py, dynamic batch and sequence axes).
#
#   model/bench/inference_bench.sh [--iters N] [--threads N] [--repeat N]
#
# Both time the very same batches: tweets sorted by length and cut into batches of 1, 8 and 32,
# each padded to its longest for ONNX Runtime (murmur packs them), with the same thread count
# (default: the cores). The checkpoint has random weights (base preset; speed does not depend
# on the values). Each side runs --repeat times (default 2), alternating, and the table shows
# the median tweets/s of each and murmur over ONNX Runtime. It also checks that both compute
# the same model: the largest difference between murmur fp32's and ONNX Runtime's class
# probabilities on the first 64 tweets of the batch-32 run.
set -euo pipefail
cd "$(dirname "$0")/../.."
iters=20
threads=$(nproc)
repeat=2
while [ $# -gt 0 ]; do
  case "$1" in
    --iters) iters="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
deploy/setup.sh --with-bench >/dev/null
MURMUR_CACHE="${MURMUR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/murmur}"
ort_modules="$(ls -d "$MURMUR_CACHE"/onnxruntime-node-*/node_modules | tail -n 1)"
data="${MURMUR_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
work="$(mktemp -d /tmp/murmur-inference-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

bazel build -c opt //model/bench:model_bench //serving/bench:write_checkpoint >/dev/null 2>&1
bazel-bin/serving/bench/write_checkpoint --preset base --vocab "$data/distilbert-base-uncased/vocab.txt" \
  --out "$work/checkpoint" >/dev/null
/usr/bin/python3 model/bench/export_onnx.py --checkpoint "$work/checkpoint" --out "$work/model.onnx" \
  2>/dev/null
echo "ONNX Runtime $(node -e "console.log(require('$ort_modules/onnxruntime-node/package.json').version)"), $threads threads; murmur: model_bench --checkpoint"
for i in $(seq "$repeat"); do
  MURMUR_SHARED_DATA="$data" bazel-bin/model/bench/model_bench --threads "$threads" --iters "$iters" \
    --checkpoint "$work/checkpoint" --peer-batches "$work/batches.json" \
    --probabilities "$work/murmur_probabilities.json" | tee -a "$work/murmur.txt" | grep "infer base" | grep -v ceiling
  NODE_PATH="$ort_modules" node model/bench/ort_bench.js --model "$work/model.onnx" \
    --batches "$work/batches.json" --threads "$threads" --iters "$iters" \
    --probabilities "$work/ort_probabilities.json" | tee -a "$work/ort.txt"
done
python3 - "$work" <<'PY'
import json, re, statistics, sys
work = sys.argv[1]
rates = {}  # (runtime, batch) -> [tweets/s]
pattern = re.compile(r"infer base (\w+)\s+batch\s+(\d+):\s+([\d.]+) tweets/s")
for name in ("murmur.txt", "ort.txt"):
    for line in open(f"{work}/{name}"):
        m = pattern.search(line)
        # model_bench prints each row twice: skip the repeat with its fraction of the ceiling.
        if m and "ceiling" not in line:
            rates.setdefault((m[1], int(m[2])), []).append(float(m[3]))
print()
print("tweets/s (median of the runs)   murmur fp32   murmur bf16   ONNX Runtime fp32   fp32 / ORT   bf16 / ORT")
for batch in (1, 8, 32):
    fp32, bf16, ort = (statistics.median(rates[(k, batch)]) for k in ("fp32", "bf16", "ort"))
    print(f"batch {batch:>3}                      {fp32:>11.1f}   {bf16:>11.1f}   {ort:>17.1f}   {fp32 / ort:>9.2f}x   {bf16 / ort:>9.2f}x")
murmur = json.load(open(f"{work}/murmur_probabilities.json"))
ort = json.load(open(f"{work}/ort_probabilities.json"))
diff = max(abs(a - b) for p, q in zip(murmur, ort) for a, b in zip(p, q))
print(f"same model: largest |p_murmur_fp32 - p_ort| over {len(murmur)} tweets = {diff:.2e}")
PY
