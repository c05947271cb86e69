#!/usr/bin/env bash
# The main job on one machine. Today: the data pipeline end to end on the real tweets (vocabulary
# training, tokenization); the training cluster and serving tier replace this as they land.
# Installs what is missing and builds first. Output goes to ./run/<timestamp>/.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/setup.sh

data="${MURMUR_DATA:-$(cd .. && pwd)/shared/data/sentiment140_text_100k}"
vocab="$(cd .. && pwd)/shared/data/distilbert-base-uncased/vocab.txt"
run_dir="run/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$run_dir"

bazel build -c opt //client:murmur
murmur=bazel-bin/client/murmur

if [ ! -d "$data" ]; then
  echo "run_local: no corpus at $data (set MURMUR_DATA to a directory with negative.txt/positive.txt)" >&2
  exit 1
fi
echo "== training an 8,000-token WordPiece vocabulary on $data"
"$murmur" vocab build --corpus "$data/negative.txt" --corpus "$data/positive.txt" --size 8000 \
  --out "$run_dir/vocab.txt"
echo "== tokenizing example tweets with the distilbert-base-uncased vocabulary"
printf '%s\n' "I love this new phone, best day ever!" "@user ugh my flight got cancelled :(" |
  tee "$run_dir/examples.txt" | "$murmur" tokenize --vocab "$vocab" --max-len 32
echo "== done: $run_dir"
