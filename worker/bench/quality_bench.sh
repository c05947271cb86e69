#!/usr/bin/env bash
# The quality target, side by side on the same 80/20 split of the 100k real tweets: murmur's
# default small preset trained from scratch (2 local workers, bf16, a 16,000-token vocabulary
# trained on the corpus; by default its encoder first pretrained with masked-LM on the training
# texts, as the main job does) against TF-IDF + logistic regression (scikit-learn).
#
#   worker/bench/quality_bench.sh [--epochs N] [--workers N] [--batch B] [--lr X]
#                                 [--dropout P] [--vocab-size N] [--warmup-ratio R]
#                                 [--weight-decay W] [--token-dropout P] [--seed S]
#                                 [--pretrain-epochs N] [--pretrain-batch B] [--pretrain-lr X]
#
# --pretrain-epochs N (default 4, as deploy/run_local.sh) first pretrains the encoder with
# masked-LM on the training split's texts (labels unused; same split, so no validation text is
# seen) and fine-tunes from its best checkpoint. Still "from scratch": no outside weights.
# 0 trains the classifier from random weights. Fine-tuning flags left out take the main job's
# values for the chosen start.
#
# Prints both validation accuracies and murmur's training time (pretraining included).
set -euo pipefail
cd "$(dirname "$0")/../.."
# Defaults: the main job's settings (deploy/run_local.sh), the best measured.
epochs=2
workers=2
batch=
lr=
dropout=
vocab_size=16000
warmup=-1
decay=0.1
token_dropout=
seed=42
pretrain_epochs=4
pretrain_batch=64
pretrain_lr=1e-3
while [ $# -gt 0 ]; do
  case "$1" in
    --epochs) epochs="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --lr) lr="$2"; shift 2 ;;
    --dropout) dropout="$2"; shift 2 ;;
    --vocab-size) vocab_size="$2"; shift 2 ;;
    --warmup-ratio) warmup="$2"; shift 2 ;;
    --weight-decay) decay="$2"; shift 2 ;;
    --token-dropout) token_dropout="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --pretrain-epochs) pretrain_epochs="$2"; shift 2 ;;
    --pretrain-batch) pretrain_batch="$2"; shift 2 ;;
    --pretrain-lr) pretrain_lr="$2"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
if [ "$pretrain_epochs" -gt 0 ]; then  # from a pretrained encoder
  : "${batch:=32}" "${lr:=1e-4}" "${dropout:=0.1}" "${token_dropout:=0}"
else  # from random weights
  : "${batch:=16}" "${lr:=3e-4}" "${dropout:=0.3}" "${token_dropout:=0.1}"
fi
data="${MURMUR_SHARED_DATA:-$(cd .. && pwd)/shared/data}/sentiment140_text_100k"
work="$(mktemp -d /tmp/murmur-quality.XXXXXX)"
trap 'rm -rf "$work"' EXIT
bazel build //client:murmur >/dev/null 2>&1
murmur=bazel-bin/client/murmur

"$murmur" split --data "$data" --out "$work/split" --seed "$seed" >/dev/null
baseline=$(/usr/bin/python3 worker/bench/tfidf_baseline.py "$work/split" | sed -n 's/^tfidf_lr_accuracy=//p')
"$murmur" vocab build --corpus "$data/negative.txt" --corpus "$data/positive.txt" --size "$vocab_size" \
  --out "$work/vocab.txt" >/dev/null
start=$(date +%s)
init=()
if [ "$pretrain_epochs" -gt 0 ]; then
  "$murmur" train --objective masked_lm --data "$data" --vocab "$work/vocab.txt" --preset small \
    --local-workers "$workers" --batch-per-worker "$pretrain_batch" --epochs "$pretrain_epochs" \
    --max-len 64 --bf16 --lr "$pretrain_lr" --dropout 0.1 --seed "$seed" \
    --out "$work/pretrain" > "$work/pretrain.log" 2>&1
  grep -E "masked-token accuracy" "$work/pretrain.log"
  pretrained=$(sed -n 's/^best checkpoint: \(.*\) (step .*/\1/p' "$work/pretrain.log" | tail -1)
  echo "pretraining_seconds=$(( $(date +%s) - start )) best=$pretrained"
  init=(--init "$pretrained")
fi
"$murmur" train "${init[@]}" --data "$data" --vocab "$work/vocab.txt" --preset small --local-workers "$workers" \
  --batch-per-worker "$batch" --epochs "$epochs" --max-len 64 --bf16 --lr "$lr" --dropout "$dropout" \
  --warmup-ratio "$warmup" --weight-decay "$decay" --token-dropout "$token_dropout" --seed "$seed" \
  --out "$work/train" > "$work/train.log" 2>&1
seconds=$(( $(date +%s) - start ))
grep -E "validation accuracy" "$work/train.log"
murmur_accuracy=$(grep -E "validation accuracy" "$work/train.log" | tail -1 | sed -E 's/.*validation accuracy ([0-9.]+).*/\1/')
best=$(grep -E "validation accuracy" "$work/train.log" | sed -E 's/.*validation accuracy ([0-9.]+).*/\1/' | sort -n | tail -1)
echo "tfidf_lr_accuracy=$baseline"
echo "murmur_small_accuracy_last=$murmur_accuracy murmur_small_accuracy_best=$best"
echo "murmur_training_seconds=$seconds (epochs=$epochs workers=$workers batch_per_worker=$batch lr=$lr dropout=$dropout vocab=$vocab_size warmup_ratio=$warmup weight_decay=$decay token_dropout=$token_dropout seed=$seed pretrain_epochs=$pretrain_epochs pretrain_batch=$pretrain_batch pretrain_lr=$pretrain_lr)"
