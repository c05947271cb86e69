// In-process Communicator for unit tests: the ranks are threads of one process that meet in a
// shared FakeCollectiveHub. Same semantics as the real backends (collectives in the same order
// on every rank, results visible to all), plus fault injection: Break() makes every collective
// in flight or to come fail with UNAVAILABLE, as a dead peer would.
//
// The hub is thread-safe and must outlive its communicators; a communicator is used by one
// thread (its rank).
#ifndef MURMUR_WORKER_FAKE_COMMUNICATOR_H_
#define MURMUR_WORKER_FAKE_COMMUNICATOR_H_

#include <chrono>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "worker/communicator.h"

namespace murmur::worker {

class FakeCollectiveHub {
 public:
  // `timeout` bounds how long a rank waits for the others.
  explicit FakeCollectiveHub(int world_size,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));

  std::unique_ptr<Communicator> Join(int rank);
  void Break();
  // Collectives completed (counted once per collective, not per rank).
  int64_t completed() const;

 private:
  friend class FakeCommunicator;
  enum class Kind { kAllReduceSum, kAllReduceMax, kBroadcast, kAllGather };
  // Runs one collective for `rank`: contributes `input`, waits for all ranks, then returns the
  // inputs of every rank in rank order (or an error).
  absl::Status Exchange(int rank, Kind kind, const at::Tensor& input,
                        std::vector<at::Tensor>* all_inputs);

  const int world_size_;
  const std::chrono::milliseconds timeout_;
  mutable absl::Mutex mu_;
  int64_t round_ ABSL_GUARDED_BY(mu_) = 0;
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
  int departed_ ABSL_GUARDED_BY(mu_) = 0;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  Kind kind_ ABSL_GUARDED_BY(mu_) = Kind::kAllReduceSum;
  std::vector<at::Tensor> inputs_ ABSL_GUARDED_BY(mu_);
  int64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_FAKE_COMMUNICATOR_H_
