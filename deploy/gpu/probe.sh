#!/usr/bin/env bash
# One-off census of the accelerator machine (tool library `device`): toolchain, libtorch, CUDA,
# NCCL; brings back libtorch's and CUDA's headers so the GPU build can be compile-checked on the
# development machine. Writes into $OUT.
set -u
exec > >(tee "$OUT/probe.log") 2>&1
cat /etc/os-release | head -2; uname -m; nproc; g++ --version | head -1; nvcc --version | tail -2
nvidia-smi -L
TORCH=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__))")
SITE=$(dirname "$TORCH")
echo "TORCH=$TORCH"
python3 -c "import torch;print(torch.__version__, torch.version.cuda, torch._C._GLIBCXX_USE_CXX11_ABI, torch.cuda.nccl.version())"
ls "$TORCH/lib"; ls "$SITE/nvidia" 2>/dev/null
find "$SITE/nvidia" /usr/local/cuda/ /usr/lib /usr/include -name 'nccl.h' -o -name 'libnccl.so*' -o -name 'libcudart.so*' 2>/dev/null
ls /usr/local/cuda/include | wc -l
for d in grpcpp absl google/protobuf gtest utf8proc.h nlohmann openssl; do ls -d /usr/include/$d 2>&1; done
ls /usr/lib/x86_64-linux-gnu | grep -E 'ssl|crypto|libz\.|utf8proc|grpc|protobuf|absl|gtest|re2|cares' | head -20
ldd "$TORCH/lib/libtorch_cuda.so" | grep -v "=> $TORCH" | head -20
grep -rn "CXX_STANDARD\|cxx_std" "$TORCH/share/cmake/Torch/"*.cmake | head -5
which cmake ninja bazel java
# Can two NCCL ranks share the one GPU?
cat > /tmp/two_ranks.py <<'PY'
import os, torch, torch.distributed as dist, torch.multiprocessing as mp
def run(rank):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29511")
    dist.init_process_group("nccl", rank=rank, world_size=2, device_id=torch.device("cuda", 0))
    t = torch.ones(4, device="cuda") * (rank + 1)
    dist.all_reduce(t); torch.cuda.synchronize(); print("rank", rank, t.tolist(), flush=True)
    dist.destroy_process_group()
if __name__ == "__main__":
    mp.spawn(run, nprocs=2)
PY
timeout 90 python3 /tmp/two_ranks.py 2>&1 | tail -5
# Headers for compile checks at home.
(cd "$TORCH" && tar cf - include) | xz -T16 -6 > /tmp/torch_include.tar.xz
NCCLH=$(find "$SITE/nvidia" /usr/local/cuda/ /usr/include -name nccl.h 2>/dev/null | head -1)
mkdir -p /tmp/cuda_inc && cp -r /usr/local/cuda/include/. /tmp/cuda_inc/ && cp "$NCCLH" /tmp/cuda_inc/
(cd /tmp/cuda_inc && tar cf - --exclude=./thrust --exclude=./cub --exclude=./cccl .) | xz -T16 -6 > "$OUT/cuda_include.tar.xz"
split -b 15m /tmp/torch_include.tar.xz "$OUT/torch_include.tar.xz.part-"
ls -la "$OUT"
