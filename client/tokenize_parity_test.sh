#!/usr/bin/env bash
# `murmur tokenize` against Hugging Face's tokenizer (npm `tokenizers`) on all 100,000 real
# tweets: every line of ids must be identical. Also checks the CLI contract: empty line -> 101 102,
# --max-len keeps [SEP], bad flags exit 2.
set -euo pipefail
murmur="$1"
reference_js="$2"
data="${MURMUR_SHARED_DATA:?run through deploy/test.sh or pass --test_env=MURMUR_SHARED_DATA}"
modules="${MURMUR_HF_NODE_MODULES:?deploy/setup.sh --with-reference installs HF tokenizers}"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"

cat "$data/sentiment140_text_100k/negative.txt" "$data/sentiment140_text_100k/positive.txt" \
  > "$tmp/tweets.txt"
"$murmur" tokenize --vocab "$data/distilbert-base-uncased/vocab.txt" < "$tmp/tweets.txt" \
  > "$tmp/ours.ids"
NODE_PATH="$modules" node "$reference_js" "$data/distilbert-base-uncased/tokenizer.json" ids \
  "$tmp/tweets.txt" "$tmp/hf.ids"

lines=$(wc -l < "$tmp/ours.ids")
[ "$lines" -eq 100000 ] || { echo "expected 100000 lines of ids, got $lines"; exit 1; }
if ! cmp -s "$tmp/ours.ids" "$tmp/hf.ids"; then
  mismatches=$(paste -d '\t' "$tmp/ours.ids" "$tmp/hf.ids" | awk -F'\t' '$1 != $2' | wc -l)
  echo "$mismatches of 100000 tweets differ from Hugging Face; first ones:"
  paste -d '\t' "$tmp/tweets.txt" "$tmp/ours.ids" "$tmp/hf.ids" | awk -F'\t' '$2 != $3' | head -5
  exit 1
fi
echo "100000 of 100000 tweets: ids identical to Hugging Face tokenizers"

out=$(printf '\nHello World\n' | "$murmur" tokenize --vocab "$data/distilbert-base-uncased/vocab.txt")
[ "$out" = $'101 102\n101 7592 2088 102' ] || { echo "unexpected output: $out"; exit 1; }
out=$(echo "the quick brown fox" | "$murmur" tokenize --vocab "$data/distilbert-base-uncased/vocab.txt" --max-len 4)
[ "$out" = "101 1996 4248 102" ] || { echo "--max-len 4 gave: $out"; exit 1; }
set +e
"$murmur" tokenize --vocab "$data/distilbert-base-uncased/vocab.txt" --bogus < /dev/null 2>/dev/null
[ $? -eq 2 ] || { echo "an unknown flag must exit 2"; exit 1; }
"$murmur" tokenize --vocab /nonexistent/vocab.txt < /dev/null 2>/dev/null
[ $? -eq 1 ] || { echo "a missing vocab must exit 1"; exit 1; }
echo "CLI contract ok"
