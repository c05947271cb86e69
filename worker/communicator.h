// Collective communication between the data-parallel workers of one generation.
//
// One small interface, several backends (as c10d's ProcessGroup): Gloo through libtorch's c10d on
// CPUs (gloo_communicator.h), NCCL through nccl.h on GPUs (nccl_communicator.h, behind
// --config=cuda), and an in-process fake for unit tests (fake_communicator.h).
//
// A communicator belongs to one generation: when a collective fails (a peer died, or the
// collective timeout passed) it returns UNAVAILABLE and the communicator is unusable; the worker
// regroups and builds a new one. Collectives must be issued in the same order on every rank.
// Not thread-safe, but for Abort(): one thread issues collectives (the returned work may be
// waited on from any).
#ifndef MURMUR_WORKER_COMMUNICATOR_H_
#define MURMUR_WORKER_COMMUNICATOR_H_

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace murmur::worker {

enum class ReduceOp { kSum, kMax };

// A collective in flight.
class CollectiveWork {
 public:
  virtual ~CollectiveWork() = default;
  // Blocks until the collective completed on this rank. UNAVAILABLE when a peer failed or the
  // timeout passed.
  virtual absl::Status Wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // "gloo", "nccl", "fake".
  virtual std::string backend() const = 0;

  // Gives up on the group: collectives in flight and later ones fail with UNAVAILABLE promptly
  // instead of after the collective timeout. For when the coordinator says a member is gone, so
  // that survivors regroup after the failure detector's timeout, not after that plus a
  // collective timeout. Thread-safe (the only method that is), non-blocking.
  virtual void Abort() = 0;

  // Reduces `tensor` (contiguous) across ranks in place; every rank ends with the result.
  virtual std::unique_ptr<CollectiveWork> AllReduce(at::Tensor tensor, ReduceOp op) = 0;
  // Copies `tensor` of rank `root` into `tensor` of every rank.
  virtual std::unique_ptr<CollectiveWork> Broadcast(at::Tensor tensor, int root) = 0;
  // outputs[r] (shaped like input) receives rank r's input; outputs.size() == world_size().
  virtual std::unique_ptr<CollectiveWork> AllGather(at::Tensor input,
                                                    std::vector<at::Tensor> outputs) = 0;

  // Synchronous conveniences.
  absl::Status AllReduceSync(at::Tensor tensor, ReduceOp op) {
    return AllReduce(std::move(tensor), op)->Wait();
  }
  absl::Status BroadcastSync(at::Tensor tensor, int root) {
    return Broadcast(std::move(tensor), root)->Wait();
  }
  absl::Status AllGatherSync(at::Tensor input, std::vector<at::Tensor> outputs) {
    return AllGather(std::move(input), std::move(outputs))->Wait();
  }
};

// A work item that is already finished with `status` (for synchronous backends and errors).
std::unique_ptr<CollectiveWork> FinishedWork(absl::Status status);

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_COMMUNICATOR_H_
