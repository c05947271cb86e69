#include "serving/version_manager.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/logging.h"

namespace murmur::serving {

std::vector<std::string> DefaultWarmupTexts() {
  return {"murmur warms up every model before it serves",
          "i love this so much",
          "worst day ever, nothing works",
          "just got home",
          "can't wait for the weekend!! going to the beach with friends",
          "my phone died again and i missed the bus",
          "thank you all for the birthday wishes, you made my day",
          "ugh, work tomorrow",
          "watching the game tonight",
          "so sad to hear the news about the show being cancelled",
          "best concert of my life",
          "i don't know what to think about the new update, it is slow and the battery drains "
          "faster than before"};
}

const char* VersionStateName(VersionState state) {
  switch (state) {
    case VersionState::kOnDisk:
      return "ON_DISK";
    case VersionState::kLoading:
      return "LOADING";
    case VersionState::kReady:
      return "READY";
    case VersionState::kUnloading:
      return "UNLOADING";
    case VersionState::kFailed:
      return "FAILED";
  }
  return "UNKNOWN";
}

absl::StatusOr<std::unique_ptr<VersionManager>> VersionManager::Create(
    Options options, const ServableLoader* loader) {
  if (options.model_name.empty()) return absl::InvalidArgumentError("model_name is required");
  if (loader == nullptr) return absl::InvalidArgumentError("a ServableLoader is required");
  return std::unique_ptr<VersionManager>(new VersionManager(std::move(options), loader));
}

VersionManager::~VersionManager() {
  for (int64_t version : ReadyVersions()) Unload(version).IgnoreError();
}

absl::StatusOr<std::shared_ptr<const ServedVersion>> VersionManager::Get(int64_t version) const {
  absl::MutexLock lock(&mu_);
  if (ready_.empty()) {
    return absl::UnavailableError(
        absl::StrCat("model '", options_.model_name, "' has no version ready"));
  }
  if (version == 0) return ready_.rbegin()->second;
  auto it = ready_.find(version);
  if (it == ready_.end()) {
    return absl::NotFoundError(
        absl::StrCat("model '", options_.model_name, "' version ", version, " is not ready"));
  }
  return it->second;
}

void VersionManager::SetState(int64_t version, VersionState state, std::string reason) {
  absl::MutexLock lock(&mu_);
  states_[version] = VersionInfo{version, state, std::move(reason)};
}

void VersionManager::NotifyChange() const {
  if (options_.on_change) options_.on_change();
}

absl::Status VersionManager::Warmup(const Servable& servable) const {
  if (options_.warmup_texts.empty()) return absl::OkStatus();
  std::vector<std::vector<int32_t>> one(1), full;
  servable.Tokenize(options_.warmup_texts[0], &one[0]);
  for (int i = 0; i < options_.batcher.max_batch_size; ++i) {
    std::vector<int32_t> ids;
    servable.Tokenize(options_.warmup_texts[i % options_.warmup_texts.size()], &ids);
    full.push_back(std::move(ids));
  }
  for (const auto* batch : {&one, &full}) {
    absl::StatusOr<std::vector<model::Prediction>> out = servable.Classify(*batch);
    if (!out.ok()) return out.status();
    if (out->size() != batch->size()) {
      return absl::InternalError(absl::StrCat("warm-up returned ", out->size(),
                                              " predictions for ", batch->size(), " texts"));
    }
  }
  return absl::OkStatus();
}

absl::Status VersionManager::Load(int64_t version, const std::string& dir) {
  absl::MutexLock lifecycle(&lifecycle_mu_);
  if (owned_.count(version) > 0) return absl::OkStatus();
  const std::string name = absl::StrCat("model '", options_.model_name, "' version ", version);
  SetState(version, VersionState::kLoading);
  LogLine(absl::StrCat(name, ": loading ", dir));

  auto fail = [&](const absl::Status& status) {
    SetState(version, VersionState::kFailed, std::string(status.message()));
    LogLine(absl::StrCat(name, ": rejected: ", status.ToString(),
                         "; the versions already serving keep serving"));
    return absl::Status(status.code(), absl::StrCat(name, ": ", status.message()));
  };
  absl::StatusOr<std::unique_ptr<Servable>> servable = loader_->Load(dir);
  if (!servable.ok()) return fail(servable.status());
  if (absl::Status warm = Warmup(**servable); !warm.ok()) {
    return fail(absl::Status(warm.code(), absl::StrCat("warm-up failed: ", warm.message())));
  }
  absl::StatusOr<std::unique_ptr<DynamicBatcher>> batcher =
      DynamicBatcher::Create(options_.batcher, servable->get(), options_.observer);
  if (!batcher.ok()) return fail(batcher.status());

  Owned owned;
  owned.version = std::make_unique<ServedVersion>(options_.model_name, version,
                                                  std::move(*servable), std::move(*batcher));
  owned.released = std::make_shared<absl::Notification>();
  // Requests get a non-owning handle whose "deleter" only signals that the last one is gone:
  // the version is destroyed by Unload on the lifecycle thread, never on the batcher thread that
  // happened to finish the last request (that thread could not join itself).
  std::shared_ptr<const ServedVersion> handle(
      owned.version.get(),
      [released = owned.released](const ServedVersion*) { released->Notify(); });
  owned_[version] = std::move(owned);
  {
    absl::MutexLock lock(&mu_);
    ready_[version] = std::move(handle);
    states_[version] = VersionInfo{version, VersionState::kReady, ""};
  }
  LogLine(absl::StrCat(name, ": ready"));
  NotifyChange();
  return absl::OkStatus();
}

absl::Status VersionManager::Unload(int64_t version) {
  absl::MutexLock lifecycle(&lifecycle_mu_);
  auto it = owned_.find(version);
  if (it == owned_.end()) {
    return absl::NotFoundError(absl::StrCat("model '", options_.model_name, "' version ",
                                            version, " is not loaded"));
  }
  std::shared_ptr<const ServedVersion> handle;
  {
    absl::MutexLock lock(&mu_);
    handle = std::move(ready_[version]);
    ready_.erase(version);
    states_[version] = VersionInfo{version, VersionState::kUnloading, ""};
  }
  NotifyChange();
  handle.reset();
  // Quiescing: requests that hold the version finish on it.
  it->second.released->WaitForNotification();
  it->second.version->batcher().Stop();
  owned_.erase(it);
  {
    absl::MutexLock lock(&mu_);
    states_.erase(version);
  }
  LogLine(absl::StrCat("model '", options_.model_name, "' version ", version, ": unloaded"));
  return absl::OkStatus();
}

void VersionManager::ForgetFailure(int64_t version) {
  absl::MutexLock lock(&mu_);
  auto it = states_.find(version);
  if (it != states_.end() && it->second.state == VersionState::kFailed) states_.erase(it);
}

std::vector<VersionInfo> VersionManager::Versions() const {
  absl::MutexLock lock(&mu_);
  std::vector<VersionInfo> out;
  for (const auto& [version, info] : states_) out.push_back(info);
  return out;
}

std::vector<int64_t> VersionManager::ReadyVersions() const {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> out;
  for (const auto& [version, handle] : ready_) out.push_back(version);
  return out;
}

bool VersionManager::IsFailed(int64_t version) const {
  absl::MutexLock lock(&mu_);
  auto it = states_.find(version);
  return it != states_.end() && it->second.state == VersionState::kFailed;
}

}  // namespace murmur::serving
