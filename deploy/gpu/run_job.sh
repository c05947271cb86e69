#!/usr/bin/env bash
# A real training job on the accelerator machine: the coordinator (CPU build from the bundle)
# and N CUDA workers (deploy/gpu/build_worker.sh), worker i on GPU i, backend nccl, on the
# bundle's tweets. Prints the workers' progress, evaluation and throughput summary.
# Usage: run_job.sh NAME PRESET BATCH EPOCHS MAX_STEPS [BACKEND=nccl] [WORKERS=1]
# With KILL_AFTER=S: worker 0 is killed (SIGKILL) S seconds in and a new worker takes its GPU;
# the job's status (per-epoch accounting) is printed at the end.
set -uo pipefail
cd "$(dirname "$0")/../.."
G=$PWD/.gpu
name=$1 preset=$2 batch=$3 epochs=$4 max_steps=$5 backend=${6:-nccl} workers=${7:-1}
dir=/tmp/jobs/$name
rm -rf "$dir" && mkdir -p "$dir/logs"
cat > "$dir/job.json" <<JSON
{"corpus_path": "$G/data/tweets.csv", "vocab_path": "$G/data/vocab.txt",
 "model_preset": "$preset", "backend": "$backend", "batch_per_worker": $batch,
 "epochs": $epochs, "max_steps": $max_steps, "max_length": 64, "bf16": true, "seed": 42,
 "min_workers": $workers, "max_workers": $workers, "threads_per_worker": 8,
 "checkpoint_every_steps": 50}
JSON
LD_LIBRARY_PATH=$G/lib "$G/bin/murmur-coordinator" --spec "$dir/job.json" --journal-dir "$dir" \
  --port 0 > "$dir/logs/coordinator.log" 2>&1 &
coordinator=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
address=127.0.0.1:$(cat "$dir/port")
start=$(date +%s.%N)
pids=()
for i in $(seq 0 $((workers - 1))); do
  "$G/out/murmur-worker" --coordinator "$address" --name "gpu-$i" --cuda-device "$i" \
    --cache-dir "$dir/cache" --summary "$dir/summary-$i.json" --threads 8 \
    > "$dir/logs/worker-$i.log" 2>&1 &
  pids+=($!)
done
if [ -n "${KILL_AFTER:-}" ]; then
  sleep "$KILL_AFTER"
  kill -9 "${pids[0]}"
  echo "killed worker gpu-0 (SIGKILL) after $KILL_AFTER s: $(grep -c '^\[train\]' "$dir/logs/worker-0.log") progress lines"
  wait "${pids[0]}" 2>/dev/null
  "$G/out/murmur-worker" --coordinator "$address" --name "gpu-0-replacement" --cuda-device 0 \
    --cache-dir "$dir/cache" --summary "$dir/summary-r.json" --threads 8 \
    > "$dir/logs/worker-r.log" 2>&1 &
  pids=($! "${pids[@]:1}")
fi
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
"$G/out/murmur" status --coordinator "$address" 2>&1 | tail -n 25
end=$(date +%s.%N)
kill "$coordinator" 2>/dev/null
echo "== $name: $preset batch $batch, backend $backend, $workers worker(s): exit $status," \
  "$(python3 -c "print(round($end - $start, 1))") s"
grep -v "^\[train\]" "$dir/logs/worker-0.log" | tail -n 12
grep "^\[train\]" "$dir/logs/worker-0.log" | tail -n 3
cat "$dir"/summary-0.json 2>/dev/null; echo
[ -n "${KILL_AFTER:-}" ] && grep -v "^\[train\]" "$dir/logs/worker-r.log" | tail -n 8
tar -C "$dir" -czf "$OUT/$name.tgz" logs job.json $(cd "$dir" && ls summary-*.json 2>/dev/null)
exit $status
