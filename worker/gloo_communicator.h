// Communicator over Gloo through libtorch's c10d::ProcessGroupGloo (CPU tensors).
//
// Ranks find each other through a c10d::Store (the coordinator's store in production, a HashStore
// or FileStore in tests) under a per-generation prefix. Every collective is bounded by the
// timeout, so a dead peer costs seconds, not a hang. c10d exceptions are turned into
// absl::Status here and nowhere else in worker/. Not thread-safe (see Communicator).
#ifndef MURMUR_WORKER_GLOO_COMMUNICATOR_H_
#define MURMUR_WORKER_GLOO_COMMUNICATOR_H_

#include <c10/util/intrusive_ptr.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/communicator.h"

namespace c10d {
class Store;
class Work;
}

namespace murmur::worker {

struct GlooOptions {
  // Address this rank's Gloo transport binds to and peers connect to. Default 127.0.0.1.
  std::string host = "127.0.0.1";
  // Bound on connecting and on every collective. Default 10 s.
  std::chrono::milliseconds timeout{10000};
  // Gloo worker threads (collectives in flight at once). Default 2.
  int threads = 2;
  // Key prefix in the store, unique per generation (e.g. "gen-3/"). Default "".
  std::string store_prefix;
};

// Connects to the other world_size - 1 ranks (blocks until they all arrive or the timeout).
absl::StatusOr<std::unique_ptr<Communicator>> CreateGlooCommunicator(
    c10::intrusive_ptr<c10d::Store> store, int rank, int world_size, const GlooOptions& options);

// Waits for `work`, looking at `aborted` every `poll` (c10d's wait cannot be interrupted).
// OK when the collective completed; UNAVAILABLE when it failed, timed out, or was aborted. A
// poll that runs out as the collective completes is success: only the collective's own
// exception is a failure. Exposed for tests; the communicator's work items call it.
absl::Status WaitAbortable(c10d::Work& work, const std::atomic<bool>& aborted, const char* what,
                           std::chrono::milliseconds poll);

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_GLOO_COMMUNICATOR_H_
