#!/usr/bin/env bash
# Fetches the official Sentiment140 corpus (Go, Bhayani and Huang, 2009; 1.6M tweets labelled
# by emoticons) where a network exists, verifies it, and unpacks the training CSV:
#
#   deploy/get_sentiment140.sh [--out DIR] [--archive ZIP]
#
#   --out DIR       where training.1600000.processed.noemoticon.csv goes
#                   (default: ${MURMUR_CACHE:-~/.cache/murmur}/sentiment140)
#   --archive ZIP   use an already downloaded trainingandtestdata.zip instead of downloading
#                   (e.g. one copied onto a machine without a network); it is verified the same way
#
# The archive is served over plain http, so its sha256 is checked against the published value
# and the script refuses anything else (nothing is unpacked from an archive that does not match).
# Environment: MURMUR_SENTIMENT140_URL overrides the address (a mirror; file:// works with curl);
# MURMUR_SENTIMENT140_SHA256 overrides the expected digest and exists for tests only (a fake
# archive), never set it to make a mismatching download pass.
# Needs curl or wget (for downloading) and python3 (to unpack; no unzip needed).
set -euo pipefail

OFFICIAL_URL="http://cs.stanford.edu/people/alecmgo/trainingandtestdata.zip"
OFFICIAL_SHA256="004a3772c8a7ff9bbfeb875880f47f0679d93fc63e5cf9cff72d54a8a6162e57"
CSV_NAME="training.1600000.processed.noemoticon.csv"
ZIP_NAME="trainingandtestdata.zip"

url="${MURMUR_SENTIMENT140_URL:-$OFFICIAL_URL}"
expected="${MURMUR_SENTIMENT140_SHA256:-$OFFICIAL_SHA256}"
out="${MURMUR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/murmur}/sentiment140"
archive=""

usage() { echo "usage: deploy/get_sentiment140.sh [--out DIR] [--archive ZIP]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || usage; out="$2"; shift 2 ;;
    --archive) [ $# -ge 2 ] || usage; archive="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) usage ;;
  esac
done
if [ "$expected" != "$OFFICIAL_SHA256" ]; then
  echo "get_sentiment140: WARNING: MURMUR_SENTIMENT140_SHA256 overrides the official digest (tests only)" >&2
fi

mkdir -p "$out"
out="$(cd "$out" && pwd)"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -z "$archive" ]; then
  archive="$out/$ZIP_NAME"
  if [ -f "$archive" ] && [ "$(sha256_of "$archive")" = "$expected" ]; then
    echo "get_sentiment140: $archive is already here and verified"
  else
    partial="$archive.partial"
    rm -f "$partial"
    echo "get_sentiment140: downloading $url (about 80 MB)"
    if command -v curl >/dev/null; then
      curl --fail --location --silent --show-error --retry 3 --output "$partial" "$url"
    elif command -v wget >/dev/null; then
      wget --quiet --tries=3 --output-document="$partial" "$url"
    else
      echo "get_sentiment140: needs curl or wget (apt-get install curl)" >&2
      exit 1
    fi
    mv "$partial" "$archive"
  fi
fi
[ -f "$archive" ] || { echo "get_sentiment140: $archive: no such file" >&2; exit 1; }

actual="$(sha256_of "$archive")"
if [ "$actual" != "$expected" ]; then
  echo "get_sentiment140: REFUSED: $archive has sha256 $actual," >&2
  echo "get_sentiment140: expected $expected. Nothing was unpacked." >&2
  exit 1
fi
echo "get_sentiment140: sha256 verified ($actual)"

# Unpack only the training CSV (the test CSV of 498 hand-labelled tweets is not used), through a
# temporary name so an interrupted run never leaves a truncated CSV behind.
python3 - "$archive" "$CSV_NAME" "$out/$CSV_NAME.partial" <<'PY'
import shutil, sys, zipfile
archive, member, target = sys.argv[1:4]
with zipfile.ZipFile(archive) as z:
    if member not in z.namelist():
        sys.exit(f"get_sentiment140: {archive} holds no {member}")
    with z.open(member) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
mv "$out/$CSV_NAME.partial" "$out/$CSV_NAME"
rows="$(wc -l < "$out/$CSV_NAME")"
echo "get_sentiment140: $out/$CSV_NAME ($rows rows)"
cat <<MSG

Train the main job on it:
  MURMUR_DATA=$out/$CSV_NAME deploy/run_local.sh
(a CSV corpus uses distilbert-base-uncased's vocab.txt from ../shared/data).
On Kubernetes, copy it and a vocab.txt onto the murmur-data volume (docs/operations.md).
MSG
