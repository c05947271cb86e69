#include "coordinator/publisher.h"

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/serving_client.h"

namespace murmur::coordinator {

bool WasPublishedTo(const v1::CheckpointInfo& checkpoint, const std::string& target) {
  const std::string prefix = absl::StrCat(target, " -> ");  // Job::RecordPublished's format
  for (const std::string& entry : checkpoint.published()) {
    if (absl::StartsWith(entry, prefix)) return true;
  }
  return false;
}

Publisher::Publisher(Job* job, Options options) : job_(job), options_(std::move(options)) {
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
  if (job_->spec().objective() == "masked_lm") {
    return absl::FailedPreconditionError(
        "publish: this job pretrains a masked-LM encoder; its checkpoints have no classification "
        "head. Fine-tune a classifier from one (job spec init_dir, murmur train --init) and "
        "publish that");
  }
  std::string path = checkpoint;
  if (path.empty()) {
    auto best = job_->BestCheckpoint();
    if (!best.ok()) return best.status();
    path = best->path();
  }
  client::ServingClient::Options client_options;
  client_options.targets = {target};
  client_options.token = options_.token;
  // A checkpoint is hundreds of MB: give the upload time (each attempt).
  client_options.timeout = absl::Minutes(10);
  auto serving = client::ServingClient::Create(client_options);
  if (!serving.ok()) return serving.status();
  auto pushed = (*serving)->Push(path, model.empty() ? options_.model_name : model);
  if (!pushed.ok()) {
    return absl::Status(pushed.status().code(),
                        absl::StrCat("publish: pushing ", path, " to ", target, ": ",
                                     pushed.status().message()));
  }
  job_->RecordPublished(path, target, pushed->version());
  return std::make_pair(path, pushed->version());
}

void Publisher::PollOnce() {
  absl::MutexLock polling(&poll_mu_);
  if (job_->spec().objective() == "masked_lm") return;  // nothing servable (see Publish)
  auto best = job_->BestCheckpoint();
  if (!best.ok()) return;  // nothing to publish yet
  for (const std::string& target : options_.auto_targets) {
    if (WasPublishedTo(*best, target)) continue;
    auto published = Publish(best->path(), target, "");
    if (published.ok()) {
      std::fprintf(stderr, "published %s to %s as version %lld\n", best->path().c_str(),
                   target.c_str(), static_cast<long long>(published->second));
    } else {
      // Serving may be starting or restarting: the next poll tries again.
      std::fprintf(stderr, "%s\n", std::string(published.status().message()).c_str());
    }
  }
}

}  // namespace murmur::coordinator
