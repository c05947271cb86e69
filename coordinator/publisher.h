// Publishes checkpoints to serving replicas over gRPC (the serving tier's chunked, sha256-checked
// push; no shared filesystem): on an operator's request (JobControl.Publish) and, when targets
// are configured, automatically each time the job's best checkpoint changes — so serving always
// answers with the best model trained so far.
//
// Borrows the Job (must outlive it); owns its CheckpointPusher. Thread-safe; PollOnce is what the
// background thread runs, so tests can drive it by hand.
#ifndef MURMUR_COORDINATOR_PUBLISHER_H_
#define MURMUR_COORDINATOR_PUBLISHER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "coordinator/job.h"

namespace murmur::coordinator {

// True when `checkpoint`'s record lists a publication to `target` (CheckpointInfo.publications).
// The journal keeps that list, so automatic publishing derives "already sent" from it: a
// restarted coordinator does not push the same checkpoint to a replica again.
bool WasPublishedTo(const v1::CheckpointInfo& checkpoint, const std::string& target);

// Sends a checkpoint directory to one serving replica as a new version of a model. The real one
// is the serving tier's gRPC push (CreateGrpcCheckpointPusher); tests give a fake.
// Implementations are thread-safe.
class CheckpointPusher {
 public:
  virtual ~CheckpointPusher() = default;
  // The version the replica assigned to the checkpoint.
  virtual absl::StatusOr<int64_t> Push(const std::string& checkpoint_dir,
                                       const std::string& target, const std::string& model) = 0;
};

// Pushes through serving/client's ServingClient (chunked, sha256 of every file), with the
// repository API's bearer token (may be empty).
std::unique_ptr<CheckpointPusher> CreateGrpcCheckpointPusher(std::string token);

class Publisher {
 public:
  struct Options {
    // Serving replicas (host:port) that receive every new best checkpoint. Default none.
    std::vector<std::string> auto_targets;
    // Model name in the serving repository. Default "sentiment".
    std::string model_name = "sentiment";
    // How often to look for a new best checkpoint. Default 1 s.
    absl::Duration poll_interval = absl::Seconds(1);
    // Run PollOnce on a background thread (only with auto_targets). Default true.
    bool run_background = true;
  };

  Publisher(Job* job, Options options, std::unique_ptr<CheckpointPusher> pusher);
  ~Publisher();

  // Pushes `checkpoint` (empty: the best so far) to `target` as a new version of `model`
  // ("" for the default). Returns the checkpoint path and the serving version.
  absl::StatusOr<std::pair<std::string, int64_t>> Publish(const std::string& checkpoint,
                                                          const std::string& target,
                                                          const std::string& model);
  // Publishes the best checkpoint to every auto target that has not received it yet.
  void PollOnce();

 private:
  Job* const job_;
  const Options options_;
  const std::unique_ptr<CheckpointPusher> pusher_;
  // Held through a whole PollOnce, so the background thread and a final poll at shutdown never
  // push the same checkpoint twice.
  absl::Mutex poll_mu_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_PUBLISHER_H_
