// Communicator over NCCL, called directly through nccl.h (CUDA tensors, one GPU per worker).
//
// Rank 0 creates the NCCL unique id and publishes it in the generation's store (the
// coordinator's, like Gloo's addresses); the others read it and all call ncclCommInitRank.
// Collectives run on a dedicated CUDA stream that first waits for the caller's current stream
// (where the inputs were written). CPU tensors (loss sums, evaluation counts, token-id lists)
// are copied to the GPU and back, so callers need no device-specific code. Wait() polls the
// stream and ncclCommGetAsyncError and, past the timeout, aborts the communicator
// (ncclCommAbort) so that a dead peer costs seconds, not a hang, and returns UNAVAILABLE
// (regroup).
//
// Built only in the CUDA build (--config=cuda, deploy/gpu/build_worker.sh: nccl.h, the CUDA
// runtime and a CUDA libtorch); the CPU build and CI never compile it. Verified on an H200 with
// one rank (NCCL allows one rank per GPU). Not thread-safe.
#ifndef MURMUR_WORKER_NCCL_COMMUNICATOR_H_
#define MURMUR_WORKER_NCCL_COMMUNICATOR_H_

#include <c10/util/intrusive_ptr.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/communicator.h"

namespace c10d {
class Store;
}

namespace murmur::worker {

struct NcclOptions {
  // CUDA device of this worker. Default 0.
  int device = 0;
  // Bound on forming the communicator and on every collective. Default 10 s.
  std::chrono::milliseconds timeout{10000};
  // Key prefix in the store, unique per generation. Default "".
  std::string store_prefix;
};

absl::StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator(
    c10::intrusive_ptr<c10d::Store> store, int rank, int world_size, const NcclOptions& options);

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_NCCL_COMMUNICATOR_H_
