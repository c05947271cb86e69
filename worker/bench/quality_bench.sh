#!/usr/bin/env bash
# The quality target, side by side on the same 80/20 split of the 100k real tweets: murmur's
# default small preset trained from scratch (2 local workers, bf16, a 16,000-token vocabulary
# trained on the corpus; by default its encoder first pretrained with masked-LM on the training
# texts, as the main job does) against TF-IDF + logistic regression (scikit-learn).
#
#   worker/bench/quality_bench.sh [--epochs N] [--workers N] [--batch B] [--lr X]
#                                 [--dropout P] [--vocab-size N] [--warmup-ratio R]
#                                 [--weight-decay W] [--token-dropout P] [--label-smoothing E]
#                                 [--seeds "S ..."]
#                                 [--pretrain-epochs N] [--pretrain-batch B] [--pretrain-lr X]
#                                 [--objective masked_lm|replaced_token_detection]
#                                 [--mask-probability P] [--keep DIR] [--init DIR]
#
# --pretrain-epochs N (default 4, as deploy/run_local.sh) first pretrains the encoder with
# masked-LM on the training split's texts (labels unused; same split, so no validation text is
# seen) and fine-tunes from its best checkpoint. Still "from scratch": no outside weights.
# 0 trains the classifier from random weights. --objective picks the pretraining (default: the
# main job's), --mask-probability its share of chosen tokens (default 0.4). --keep DIR keeps
# every run's files (checkpoints, logs) under DIR instead of a temporary directory. --init DIR
# fine-tunes from DIR/seed-S/pretrained (a kept run's pretraining: its best checkpoint, linked
# there) instead of pretraining again: how to try fine-tuning recipes on one pretraining.
# --epochs 0 stops after pretraining. Fine-tuning flags left out take the main job's
# values for the chosen start. --seeds (default "42 7", the issue's two splits; --seed S is one)
# picks the split, the initialisation and the data order.
#
# Prints, for each seed: murmur's validation accuracy and per-class F1 after every epoch,
# TF-IDF's, the seconds of each stage (split, TF-IDF, vocabulary, pretraining, fine-tuning),
# and murmur's best accuracy minus TF-IDF's with its standard error: the unpaired binomial one,
# sqrt(a(1-a)/n + b(1-b)/n) over the n validation tweets (an upper bound: both score the same
# tweets, which correlates their errors).
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
label_smoothing=0
seeds="42 7"
pretrain_epochs=4
pretrain_batch=128
pretrain_lr=1.5e-3
objective=masked_lm
mask_probability=0.4
keep=
init_from=
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
    --label-smoothing) label_smoothing="$2"; shift 2 ;;
    --seed) seeds="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --pretrain-epochs) pretrain_epochs="$2"; shift 2 ;;
    --pretrain-batch) pretrain_batch="$2"; shift 2 ;;
    --pretrain-lr) pretrain_lr="$2"; shift 2 ;;
    --objective) objective="$2"; shift 2 ;;
    --mask-probability) mask_probability="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    --init) init_from="$(cd "$2" && pwd)"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
if [ "$epochs" -eq 0 ] && { [ -n "$init_from" ] || [ "$pretrain_epochs" -eq 0 ]; }; then
  echo "--epochs 0 stops after pretraining: it needs --pretrain-epochs > 0 and no --init" >&2; exit 2
fi
if [ -n "$init_from" ] || [ "$pretrain_epochs" -gt 0 ]; then  # from a pretrained encoder
  : "${batch:=32}" "${lr:=3e-4}" "${dropout:=0.1}" "${token_dropout:=0}"
else  # from random weights
  : "${batch:=16}" "${lr:=3e-4}" "${dropout:=0.3}" "${token_dropout:=0.1}"
fi
data="${MURMUR_SHARED_DATA:-$(cd .. && pwd)/shared/data}/sentiment140_text_100k"
if [ -n "$keep" ]; then
  mkdir -p "$keep"
  work="$(cd "$keep" && pwd)"
else
  work="$(mktemp -d /tmp/murmur-quality.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
fi
bazel build //client:murmur >/dev/null 2>&1
murmur=bazel-bin/client/murmur

# stage NAME: seconds since the last stage, recorded as NAME=SECONDS.
stage_start=$(date +%s)
stages=""
stage() {
  local now
  now=$(date +%s)
  stages="$stages $1=$(( now - stage_start ))s"
  stage_start=$now
}

for seed in $seeds; do
  run="$work/seed-$seed"
  mkdir -p "$run"
  stages=""
  stage_start=$(date +%s)
  "$murmur" split --data "$data" --out "$run/split" --seed "$seed" >/dev/null
  stage split
  /usr/bin/python3 worker/bench/tfidf_baseline.py "$run/split" > "$run/tfidf.txt"
  stage tfidf
  if [ -n "$init_from" ]; then  # the pretrained encoder's vocabulary
    cp "$init_from/seed-$seed/vocab.txt" "$run/vocab.txt"
  else
    "$murmur" vocab build --corpus "$data/negative.txt" --corpus "$data/positive.txt" \
      --size "$vocab_size" --out "$run/vocab.txt" >/dev/null
  fi
  stage vocab
  init=()
  if [ -n "$init_from" ]; then
    pretrained="$init_from/seed-$seed/pretrained"
    [ -d "$pretrained" ] || { echo "seed $seed: no $pretrained (a --keep run's)" >&2; exit 1; }
    cp "$init_from/seed-$seed/pretrain.log" "$run/pretrain.log" 2>/dev/null || true
    init=(--init "$pretrained")
  elif [ "$pretrain_epochs" -gt 0 ]; then
    "$murmur" train --objective "$objective" --data "$data" --vocab "$run/vocab.txt" --preset small \
      --local-workers "$workers" --batch-per-worker "$pretrain_batch" --epochs "$pretrain_epochs" \
      --max-len 64 --bf16 --lr "$pretrain_lr" --dropout 0.1 --seed "$seed" \
      --mask-probability "$mask_probability" --max-eval-samples 4000 --out "$run/pretrain" \
      > "$run/pretrain.log" 2>&1
    pretrained=$(sed -n 's/^best checkpoint: \(.*\) (step .*/\1/p' "$run/pretrain.log" | tail -1)
    [ -n "$pretrained" ] || { echo "seed $seed: pretraining left no checkpoint" >&2; exit 1; }
    ln -sfn "$pretrained" "$run/pretrained"
    init=(--init "$pretrained")
    stage pretrain
  fi
  if [ "$epochs" -eq 0 ]; then
    echo "== seed $seed: pretrained $pretrained (objective=$objective pretrain_epochs=$pretrain_epochs mask_probability=$mask_probability)"
    grep -E "masked-token accuracy" "$run/pretrain.log" | sed 's/^/pretraining /' || true
    echo "seconds:$stages"
    continue
  fi
  "$murmur" train "${init[@]}" --data "$data" --vocab "$run/vocab.txt" --preset small \
    --local-workers "$workers" --batch-per-worker "$batch" --epochs "$epochs" --max-len 64 --bf16 \
    --lr "$lr" --dropout "$dropout" --warmup-ratio "$warmup" --weight-decay "$decay" \
    --token-dropout "$token_dropout" --label-smoothing "$label_smoothing" --seed "$seed" \
    --out "$run/train" > "$run/train.log" 2>&1
  stage finetune
  # With --init the pretraining flags were the kept run's, not this one's: name the run instead.
  if [ -n "$init_from" ]; then
    pretraining="init=$init_from"
  else
    pretraining="pretrain_epochs=$pretrain_epochs objective=$objective mask_probability=$mask_probability pretrain_batch=$pretrain_batch pretrain_lr=$pretrain_lr"
  fi
  echo "== seed $seed (epochs=$epochs workers=$workers batch_per_worker=$batch lr=$lr dropout=$dropout vocab=$vocab_size warmup_ratio=$warmup weight_decay=$decay token_dropout=$token_dropout label_smoothing=$label_smoothing $pretraining)"
  grep -E "masked-token accuracy" "$run/pretrain.log" 2>/dev/null | sed 's/^/pretraining /' || true
  /usr/bin/python3 - "$run/train.log" "$run/tfidf.txt" "$stages" <<'PY'
import math, re, sys
train_log, tfidf_file, stages = sys.argv[1], sys.argv[2], sys.argv[3]
epochs = []
pattern = re.compile(r"^epoch (\d+) \(step (\d+)\): validation accuracy ([\d.]+), loss ([\d.]+), "
                     r"precision \S+, recall \S+, f1 ([\d.]+)/([\d.]+) on (\d+) examples")
for line in open(train_log):
    m = pattern.match(line)
    if m:
        epochs.append(m.groups())
tfidf = dict(line.strip().split("=", 1) for line in open(tfidf_file) if "=" in line and " " not in line.strip())
tfidf_line = open(tfidf_file).read()
n = int(re.search(r"validation_rows=(\d+)", tfidf_line).group(1))
b = float(tfidf["tfidf_lr_accuracy"])
print("%-6s %-6s %-9s %-8s %-8s" % ("epoch", "step", "accuracy", "f1_neg", "f1_pos"))
for epoch, step, accuracy, loss, f1_neg, f1_pos, examples in epochs:
    print("%-6s %-6s %-9s %-8s %-8s" % (epoch, step, accuracy, f1_neg, f1_pos))
print("tfidf  -      %-9.4f %-8s %-8s" % (b, tfidf["tfidf_lr_f1_negative"], tfidf["tfidf_lr_f1_positive"]))
if not epochs:
    print("no evaluation in %s" % train_log)
    sys.exit(1)
a = max(float(e[2]) for e in epochs)
se = math.sqrt(a * (1 - a) / n + b * (1 - b) / n)
print("murmur best - tfidf = %+.4f (standard error %.4f, %.1f standard errors; n=%d)"
      % (a - b, se, (a - b) / se, n))
print("seconds:%s" % stages)
PY
done
