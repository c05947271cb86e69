#!/usr/bin/env bash
# Installs what murmur needs on Debian 12: the apt packages to build and run it and, with
# --with-reference, what the tests compare against or drive: Hugging Face's tokenizers (npm) for
# the parity tests and benchmarks, Debian's chromium and puppeteer-core (npm) for the browser
# tests; with --with-bench, the benchmarks' peers beyond those: ONNX Runtime (npm
# onnxruntime-node, whose CPU library ships in the package). Idempotent and quiet when
# everything is already there.
set -euo pipefail

APT_PACKAGES=(
  bazel-bootstrap bazel-rules-java g++ python3 git ca-certificates
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev libabsl-dev
  libtorch-dev libgloo-dev libdnnl-dev libopenblas0-pthread libtcmalloc-minimal4
  libgtest-dev libgmock-dev libutf8proc-dev nlohmann-json3-dev libssl-dev prometheus-cpp-dev prometheus
  unicode-data python3-yaml iproute2 libcpp-httplib-dev curl
  python3-grpcio python3-protobuf python3-torch python3-sklearn
)
HF_TOKENIZERS_VERSION=0.23.2
# Drives Debian's chromium in the browser test of murmur-serve's page (no browser download).
PUPPETEER_CORE_VERSION=24.43.1
# model/bench/inference_bench.sh's peer.
ONNXRUNTIME_NODE_VERSION=1.30.0
MURMUR_CACHE="${MURMUR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/murmur}"

with_reference=0 with_bench=0
for arg in "$@"; do
  case "$arg" in
    --with-reference) with_reference=1 ;;
    --with-bench) with_bench=1 ;;
    *) echo "usage: deploy/setup.sh [--with-reference] [--with-bench]" >&2; exit 2 ;;
  esac
done

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if [ "$with_reference" -eq 1 -o "$with_bench" -eq 1 ] && ! command -v node >/dev/null; then
  missing+=(nodejs npm)
fi
if [ "$with_reference" -eq 1 ] && ! command -v chromium >/dev/null; then
  missing+=(chromium)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# npm_install FOLDER PACKAGE VERSION [--ignore-scripts]: the npm package into
# $MURMUR_CACHE/FOLDER-VERSION (deploy/test.sh and the benchmarks look there), unless it is there.
npm_install() {
  local dir="$MURMUR_CACHE/$1-$3"
  [ -f "$dir/node_modules/$2/package.json" ] && return 0
  echo "setup: installing $2 $3 (npm) into $dir"
  mkdir -p "$dir"
  (cd "$dir" && npm install --silent --no-save --no-package-lock --no-audit --no-fund "${@:4}" \
    "$2@$3" >/dev/null)
}

if [ "$with_reference" -eq 1 ]; then
  npm_install hf-tokenizers tokenizers "$HF_TOKENIZERS_VERSION"
  # --ignore-scripts: nothing may fetch a browser; the tests drive Debian's chromium.
  npm_install puppeteer-core puppeteer-core "$PUPPETEER_CORE_VERSION" --ignore-scripts
fi
if [ "$with_bench" -eq 1 ]; then
  # --ignore-scripts: its install script only fetches GPU binaries; the CPU library ships in
  # the package.
  npm_install onnxruntime-node onnxruntime-node "$ONNXRUNTIME_NODE_VERSION" --ignore-scripts
fi
