#!/usr/bin/env bash
# Training throughput, side by side in one run on the same data, preset, batch per worker and
# number of workers: `murmur train` (coordinator + worker processes, Gloo) against a PyTorch
# DistributedDataParallel script (Debian's python3-torch 1.13 = the same libtorch, Gloo, dynamic
# padding, AdamW; ranks started with MASTER_ADDR/PORT, RANK, WORLD_SIZE), in fp32 and with CPU
# bf16 autocast (the one line a speed-minded PyTorch user adds).
#
#   worker/bench/train_bench.sh [--presets "small base"] [--workers "1 2"] [--steps N]
#
# --steps (default 100; a third of it for the base preset, at least 4) timed steps after 3 untimed
# ones, on each side: both runtimes compile oneDNN kernels for each new matrix shape they meet,
# so a short run measures mostly compilation, not the steady state a training job runs in.
#
# Prints one table row per (preset, workers): samples/s of each, murmur bf16 over DDP bf16, and
# murmur bf16 over the stronger of the two DDP runs (the ratio that counts). murmur runs in bf16
# (its recipe on CPUs with native bf16) and, for reference, fp32.
set -euo pipefail
cd "$(dirname "$0")/../.."
presets="small base"
worker_counts="1 2"
steps=100
while [ $# -gt 0 ]; do
  case "$1" in
    --presets) presets="$2"; shift 2 ;;
    --workers) worker_counts="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
data="${MURMUR_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
vocab="$data/distilbert-base-uncased/vocab.txt"
corpus="$data/sentiment140_text_100k"
batch=32
max_len=64
work="$(mktemp -d /tmp/murmur-train-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

bazel build -c opt //client:murmur //coordinator:murmur-coordinator //worker:murmur-worker \
  //worker/bench:export_ids >/dev/null 2>&1
murmur=bazel-bin/client/murmur
bazel-bin/client/murmur ingest --data "$corpus" --vocab "$vocab" --max-len "$max_len" \
  --cache "$work/tokens.bin" >/dev/null
bazel-bin/worker/bench/export_ids "$work/tokens.bin" "$work/ids.txt"
cores=$(nproc)

printf '%-6s %-8s %-16s %-16s %-14s %-14s %-10s %-10s\n' preset workers murmur_bf16_s/s \
  murmur_fp32_s/s ddp_fp32_s/s ddp_bf16_s/s vs_ddp_bf16 vs_stronger
for preset in $presets; do
  for workers in $worker_counts; do
    threads=$(( cores / workers > 0 ? cores / workers : 1 ))
    # Fewer steps for the base preset: each takes seconds on 2 cores.
    n=$steps; [ "$preset" = base ] && n=$(( steps / 3 > 4 ? steps / 3 : 4 ))
    run_murmur() {
      "$murmur" train --data "$corpus" --vocab "$vocab" --preset "$preset" \
        --local-workers "$workers" --batch-per-worker "$batch" --max-len "$max_len" \
        --max-steps $(( n + 3 )) --skip-eval --threads-per-worker "$threads" \
        --out "$work/run-$preset-$workers-$1" $2 2>/dev/null | sed -n 's/^samples_per_s=//p'
    }
    bf16=$(run_murmur bf16 --bf16)
    fp32=$(run_murmur fp32 "")
    run_ddp() {  # $1: fp32 or bf16
      local port=$(( 29500 + RANDOM % 1000 )) pids=() flag=""
      [ "$1" = bf16 ] && flag="--bf16"
      for rank in $(seq 0 $(( workers - 1 ))); do
        MASTER_ADDR=127.0.0.1 MASTER_PORT=$port RANK=$rank WORLD_SIZE=$workers \
          /usr/bin/python3 worker/bench/ddp_baseline.py --data "$work/ids.txt" --preset "$preset" \
          --batch-per-worker "$batch" --steps "$n" --threads "$threads" $flag \
          > "$work/ddp-$1-$rank.log" 2>&1 &
        pids+=($!)
      done
      for pid in "${pids[@]}"; do wait "$pid"; done
      sed -n 's/^ddp_samples_per_s=//p' "$work/ddp-$1-0.log"
    }
    ddp_fp32=$(run_ddp fp32)
    ddp_bf16=$(run_ddp bf16)
    ratios=$(awk -v a="$bf16" -v f="$ddp_fp32" -v b="$ddp_bf16" 'BEGIN {
      strong = f > b ? f : b
      if (b > 0 && strong > 0) printf "%.1fx %.1fx", a / b, a / strong; else print "n/a n/a" }')
    printf '%-6s %-8s %-16s %-16s %-14s %-14s %-10s %-10s\n' "$preset" "$workers" "$bf16" \
      "$fp32" "$ddp_fp32" "$ddp_bf16" ${ratios}
  done
done
