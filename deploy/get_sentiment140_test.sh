#!/usr/bin/env bash
# get_sentiment140.sh without a network: a fake trainingandtestdata.zip (made here) is accepted
# with its own sha256 passed through the test-only override, and refused with any other digest.
# Also pins the official address and digest in the script.
set -euo pipefail
script="${TEST_SRCDIR:?run me with bazel test}/${TEST_WORKSPACE:-murmur}/deploy/get_sentiment140.sh"
work="${TEST_TMPDIR:-$(mktemp -d)}"
fail() { echo "FAIL: $*" >&2; exit 1; }

grep -q '^OFFICIAL_URL="http://cs.stanford.edu/people/alecmgo/trainingandtestdata.zip"$' "$script" ||
  fail "official URL changed"
grep -q '^OFFICIAL_SHA256="004a3772c8a7ff9bbfeb875880f47f0679d93fc63e5cf9cff72d54a8a6162e57"$' \
  "$script" || fail "official sha256 changed"

csv='"0","1467810369","Mon Apr 06 22:19:45 PDT 2009","NO_QUERY","_TheSpecialOne_","is upset"'
/usr/bin/python3 - "$work/trainingandtestdata.zip" "$csv" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("training.1600000.processed.noemoticon.csv", sys.argv[2] + "\n" + sys.argv[2] + "\n")
    z.writestr("testdata.manual.2009.06.14.csv", "unused\n")
PY
digest="$(sha256sum "$work/trainingandtestdata.zip" | cut -d' ' -f1)"
export MURMUR_CACHE="$work/cache"   # the default --out must not touch the real cache

# 1. The wrong digest (here: the official one, which the fake cannot match) is refused.
if "$script" --archive "$work/trainingandtestdata.zip" --out "$work/refused" > "$work/refused.log" 2>&1; then
  fail "a mismatching archive was accepted"
fi
grep -q REFUSED "$work/refused.log" || fail "no REFUSED message: $(cat "$work/refused.log")"
[ ! -e "$work/refused/training.1600000.processed.noemoticon.csv" ] || fail "unpacked despite mismatch"

# 2. --archive with the matching digest: unpacks the training CSV only and says how to use it.
MURMUR_SENTIMENT140_SHA256="$digest" "$script" --archive "$work/trainingandtestdata.zip" \
  --out "$work/out" > "$work/ok.log" 2>&1 || fail "refused a matching archive: $(cat "$work/ok.log")"
cmp <(printf '%s\n%s\n' "$csv" "$csv") "$work/out/training.1600000.processed.noemoticon.csv" ||
  fail "unpacked CSV differs"
[ ! -e "$work/out/testdata.manual.2009.06.14.csv" ] || fail "unpacked more than the training CSV"
grep -q "MURMUR_DATA=$work/out/training.1600000.processed.noemoticon.csv deploy/run_local.sh" \
  "$work/ok.log" || fail "no MURMUR_DATA hint: $(cat "$work/ok.log")"

# 3. The download path, through a file:// "mirror" (curl only), into the default --out.
if command -v curl > /dev/null; then
  MURMUR_SENTIMENT140_URL="file://$work/trainingandtestdata.zip" \
    MURMUR_SENTIMENT140_SHA256="$digest" "$script" > "$work/dl.log" 2>&1 ||
    fail "download path failed: $(cat "$work/dl.log")"
  [ -s "$work/cache/sentiment140/training.1600000.processed.noemoticon.csv" ] ||
    fail "download path unpacked nothing"
  [ ! -e "$work/cache/sentiment140/trainingandtestdata.zip.partial" ] || fail "partial file left"
  # A corrupted download is refused.
  echo garbage >> "$work/cache/sentiment140/trainingandtestdata.zip"
  cp "$work/cache/sentiment140/trainingandtestdata.zip" "$work/corrupt.zip"
  if MURMUR_SENTIMENT140_SHA256="$digest" "$script" --archive "$work/corrupt.zip" \
      --out "$work/corrupt" > /dev/null 2>&1; then
    fail "a corrupted archive was accepted"
  fi
fi

# 4. Bad usage exits 2.
set +e
"$script" --bogus > /dev/null 2>&1
[ $? -eq 2 ] || fail "bad usage should exit 2"
echo "get_sentiment140_test: passed"
