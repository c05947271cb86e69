#include "coordinator/publisher.h"

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "proto/objectives.h"
#include "serving/client/serving_client.h"

namespace murmur::coordinator {

bool WasPublishedTo(const v1::CheckpointInfo& checkpoint, const std::string& target) {
  for (const v1::Publication& publication : checkpoint.publications()) {
    if (publication.target() == target) return true;
  }
  return false;
}

namespace {

class GrpcCheckpointPusher final : public CheckpointPusher {
 public:
  explicit GrpcCheckpointPusher(std::string token) : token_(std::move(token)) {}

  absl::StatusOr<int64_t> Push(const std::string& checkpoint_dir, const std::string& target,
                               const std::string& model) override {
    serving::ServingClient::Options client_options;
    client_options.targets = {target};
    client_options.token = token_;
    // A checkpoint is hundreds of MB: give the upload time (each attempt).
    client_options.timeout = absl::Minutes(10);
    auto serving = serving::ServingClient::Create(client_options);
    if (!serving.ok()) return serving.status();
    auto pushed = (*serving)->Push(checkpoint_dir, model);
    if (!pushed.ok()) return pushed.status();
    return pushed->version();
  }

 private:
  const std::string token_;
};

}  // namespace

std::unique_ptr<CheckpointPusher> CreateGrpcCheckpointPusher(std::string token) {
  return std::make_unique<GrpcCheckpointPusher>(std::move(token));
}

Publisher::Publisher(Job* job, Options options, std::unique_ptr<CheckpointPusher> pusher)
    : job_(job), options_(std::move(options)), pusher_(std::move(pusher)) {
  if (options_.run_background && !options_.auto_targets.empty()) {
    thread_ = std::thread([this] {
      while (!stop_.WaitForNotificationWithTimeout(options_.poll_interval)) PollOnce();
    });
  }
}

Publisher::~Publisher() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<std::pair<std::string, int64_t>> Publisher::Publish(const std::string& checkpoint,
                                                                   const std::string& target,
                                                                   const std::string& model) {
  if (target.empty()) return absl::InvalidArgumentError("publish: target (host:port) is required");
  if (IsPretrainingObjective(job_->spec().objective())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "publish: this job pretrains an encoder (", job_->spec().objective(),
        "); its checkpoints have no classification head. Fine-tune a classifier from one (job "
        "spec init_dir, murmur train --init) and publish that"));
  }
  std::string path = checkpoint;
  if (path.empty()) {
    auto best = job_->BestCheckpoint();
    if (!best.ok()) return best.status();
    path = best->path();
  }
  // Retention must not delete the directory while it is being sent.
  job_->PinCheckpoint(path);
  auto pushed = pusher_->Push(path, target, model.empty() ? options_.model_name : model);
  job_->UnpinCheckpoint(path);
  if (!pushed.ok()) {
    return absl::Status(pushed.status().code(),
                        absl::StrCat("publish: pushing ", path, " to ", target, ": ",
                                     pushed.status().message()));
  }
  job_->RecordPublished(path, target, *pushed);
  return std::make_pair(path, *pushed);
}

void Publisher::PollOnce() {
  absl::MutexLock polling(&poll_mu_);
  if (IsPretrainingObjective(job_->spec().objective())) return;  // nothing servable (Publish)
  auto best = job_->BestCheckpoint();
  if (!best.ok()) return;  // nothing to publish yet
  for (const std::string& target : options_.auto_targets) {
    if (WasPublishedTo(*best, target)) continue;
    auto published = Publish(best->path(), target, "");
    if (published.ok()) {
      Logf("published %s to %s as version %lld", best->path().c_str(),
           target.c_str(), static_cast<long long>(published->second));
    } else {
      // Serving may be starting or restarting: the next poll tries again.
      Logf("%s", published.status().message());
    }
  }
}

}  // namespace murmur::coordinator
