#!/usr/bin/env bash
# Prepares .gpu/ for building and running the CUDA worker on the accelerator machine (tool
# library `device`), which has a CUDA libtorch, nvcc and NCCL but neither Bazel nor Debian's
# gRPC/Abseil/utf8proc/prometheus-cpp/cpp-httplib: those headers and shared libraries travel from this
# Debian machine, with the list of the worker's sources (from Bazel's own dependency graph),
# the generated protobuf code, the CPU-only coordinator binary and the data of a short job.
# .gpu/ is ignored by git; `device` carries it (carry: [".gpu"]). Then run
# deploy/gpu/build_worker.sh there.
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${MURMUR_SHARED_DATA:-$(cd .. && pwd)/shared/data}
EXCLUDE=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$EXCLUDE")"
grep -qx '/.gpu/' "$EXCLUDE" 2>/dev/null || echo '/.gpu/' >> "$EXCLUDE"
rm -rf .gpu && mkdir -p .gpu/include .gpu/lib .gpu/gen .gpu/bin .gpu/data
bazel build //coordinator:murmur-coordinator //proto:all 2>&1 | tail -1

# The sources each binary links (its deps, not the binaries it runs), from Bazel's graph in the
# default configuration: the CUDA build swaps the Gloo communicator for the NCCL one, as
# --config=cuda's select() does. Generated protobuf code is listed under .gpu/gen/.
sources() {
  local targets="deps(labels(deps, $1)) + labels(srcs, $1)"
  bazel query "kind('source file', $targets) intersect //...:*" 2>/dev/null |
    grep '\.cc$' | sed -e 's|^//||' -e 's|:|/|' | grep -v gloo_communicator || true
  bazel query "kind('generated file', $targets) intersect //...:*" 2>/dev/null |
    grep '\.cc$' | sed -e 's|^//|.gpu/gen/|' -e 's|:|/|' || true
  [[ $1 == //worker:* ]] && echo worker/nccl_communicator.cc || true
}
sources //worker:murmur-worker | sort -u > .gpu/murmur-worker.sources
sources //worker:trainer_gpu_test | sort -u > .gpu/trainer_gpu_test.sources
sources //client:murmur | sort -u > .gpu/murmur.sources
for f in bazel-bin/proto/*.pb.* bazel-bin/coordinator/*.pb.*; do
  install -D -m 644 "$f" ".gpu/gen/${f#bazel-bin/}"
done

# Headers and libraries of the Debian packages the worker links.
for d in absl grpc grpcpp grpc++ utf8proc.h prometheus httplib.h; do
  [ -e "/usr/include/$d" ] && cp -rL "/usr/include/$d" .gpu/include/
done
LIBDIR=/usr/lib/x86_64-linux-gnu
libs=$(ls $LIBDIR | sed -n -e 's/^\(libabsl_[a-z0-9_]*\)\.so$/\1/p')
libs="$libs libgrpc++ libgrpc++_reflection libgrpc libgpr libupb libaddress_sorting libre2 libcares
      libutf8proc libprotobuf libprometheus-cpp-core libcpp-httplib libbrotlidec libbrotlienc
      libbrotlicommon"
for lib in $libs; do
  real=$(readlink -f "$LIBDIR/$lib.so")
  soname=$(objdump -p "$real" | awk '/SONAME/ {print $2}')
  cp "$real" ".gpu/lib/$soname"
  ln -sf "$soname" ".gpu/lib/$lib.so"
done
cp bazel-bin/coordinator/murmur-coordinator .gpu/bin/
chmod -R u+w .gpu

# A short job's data: the real tweets and the real vocabulary (never committed).
cp "$SHARED/sentiment140_sample_20k/training.1600000.processed.noemoticon.csv" .gpu/data/tweets.csv
cp "$SHARED/distilbert-base-uncased/vocab.txt" .gpu/data/vocab.txt
du -sh .gpu
