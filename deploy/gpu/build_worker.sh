#!/usr/bin/env bash
# Builds the CUDA worker (murmur-worker with the NCCL communicator) and the GPU tests on the
# accelerator machine, from the bundle deploy/gpu/bundle.sh made (.gpu/): libtorch, CUDA and
# NCCL come from the machine's PyTorch, gRPC/Abseil/utf8proc/prometheus-cpp/cpp-httplib from the
# bundle.
# Bazel is not installed there; this compiles the very sources Bazel's graph lists, with the
# --config=cuda define. Output: .gpu/out/{murmur-worker,murmur,trainer_gpu_test} and the
# coordinator beside them (MURMUR_BIN_DIR=.gpu/out for `murmur train --backend nccl`).
set -euo pipefail
cd "$(dirname "$0")/../.."
G=$PWD/.gpu
TORCH=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')
SITE=$(dirname "$TORCH")
# libtorch's include directory ships its own protobuf headers; the worker's generated code
# needs the system's (3.21, as on Debian), so leave that one folder out.
mkdir -p "$G/torch_include" "$G/obj" "$G/out"
for e in "$TORCH"/include/*; do
  [ "$(basename "$e")" = google ] || ln -sfn "$e" "$G/torch_include/"
done
# The CPPHTTPLIB_* defines: the configuration Debian built cpp-httplib with (third_party:httplib).
CXXFLAGS=(-std=c++17 -O2 -w -fPIC -D_GLIBCXX_USE_CXX11_ABI=1 -DMURMUR_CUDA -DUSE_C10D_GLOO
  -DUSE_C10D_NCCL -DCPPHTTPLIB_OPENSSL_SUPPORT -DCPPHTTPLIB_ZLIB_SUPPORT -DCPPHTTPLIB_BROTLI_SUPPORT -I. -I"$G/gen" -I"$G/include" -I"$G/torch_include"
  -I"$TORCH/include/torch/csrc/api/include" -I"$SITE/nvidia/nccl/include"
  -I/usr/local/cuda/include)
export G
export CXXFLAGS_STR="${CXXFLAGS[*]}"
compile() {
  local src=$1 obj="$G/obj/$(echo "$1" | tr / _).o"
  g++ $CXXFLAGS_STR -c "$src" -o "$obj" || { echo "FAILED: $src"; return 1; }
}
export -f compile
start=$(date +%s)
BINARIES="murmur-worker trainer_gpu_test murmur"
sort -u $(for b in $BINARIES; do echo "$G/$b.sources"; done) |
  xargs -P "$(nproc)" -I{} bash -c 'compile {}'
echo "compiled in $(( $(date +%s) - start )) s"
objs() { for s in $(cat "$G/$1.sources"); do echo "$G/obj/$(echo "$s" | tr / _).o"; done; }
ABSL=$(ls "$G/lib" | sed -n 's/^lib\(absl_[a-z0-9_]*\)\.so$/-l\1/p')
# RPATH rather than RUNPATH (--disable-new-dtags): the bundle's gRPC finds its own
# dependencies (upb, re2, c-ares) there too.
LIBS=(-Wl,--no-as-needed -Wl,--disable-new-dtags -L"$G/lib" -Wl,-rpath,"$G/lib"
  -L"$TORCH/lib" -Wl,-rpath,"$TORCH/lib" -ltorch_cuda -lc10_cuda -ltorch -ltorch_cpu -lc10
  -L"$SITE/nvidia/nccl/lib" -Wl,-rpath,"$SITE/nvidia/nccl/lib" -l:libnccl.so.2
  -L"$SITE/nvidia/cu13/lib" -Wl,-rpath,"$SITE/nvidia/cu13/lib" -l:libcudart.so.13
  -lgrpc++ -lgrpc++_reflection -lgrpc -lgpr -lprotobuf -lprometheus-cpp-core -lutf8proc $ABSL
  -lcpp-httplib -lbrotlidec -lbrotlienc -lssl -lcrypto -lz -lpthread)
GTEST=(/usr/lib/x86_64-linux-gnu/libgtest_main.a /usr/lib/x86_64-linux-gnu/libgtest.a)
g++ -o "$G/out/murmur-worker" $(objs murmur-worker) "${LIBS[@]}"
g++ -o "$G/out/murmur" $(objs murmur) "${LIBS[@]}"
g++ -o "$G/out/trainer_gpu_test" $(objs trainer_gpu_test) "${LIBS[@]}" "${GTEST[@]}"
# The coordinator (CPU-only, built at home by Bazel) finds the bundle's libraries this way.
printf '#!/bin/sh\nLD_LIBRARY_PATH="%s/lib" exec "%s/bin/murmur-coordinator" "$@"\n' "$G" "$G" \
  > "$G/out/murmur-coordinator"
chmod +x "$G/out/murmur-coordinator"
if ldd "$G"/out/murmur* "$G"/out/trainer_gpu_test | grep "not found"; then exit 1; fi
echo "built in $(( $(date +%s) - start )) s: $(ls "$G/out" | tr '\n' ' ')"
