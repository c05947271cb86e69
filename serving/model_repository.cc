#include "serving/model_repository.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <optional>
#include <set>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/logging.h"
#include "serving/version_policy.h"

namespace murmur::serving {
namespace fs = std::filesystem;
namespace {

// A version directory's name: a positive decimal integer, nothing else (so `.tmp`, `3.old`,
// `.upload-...` are invisible).
std::optional<int64_t> ParseVersion(const std::string& name) {
  if (name.empty() || name.size() > 18) return std::nullopt;
  for (char c : name) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  int64_t value = std::stoll(name);
  if (value <= 0) return std::nullopt;
  return value;
}

bool IsDirectory(const std::string& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

// Subdirectory names of `dir` (none when it cannot be read).
std::vector<std::string> Subdirectories(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    std::error_code type_error;
    if (it->is_directory(type_error)) out.push_back(it->path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::set<int64_t> VersionsOnDisk(const std::string& model_dir) {
  std::set<int64_t> out;
  for (const std::string& name : Subdirectories(model_dir)) {
    if (std::optional<int64_t> version = ParseVersion(name)) out.insert(*version);
  }
  return out;
}

std::atomic<int> staging_counter{0};

}  // namespace

absl::Status CheckEntryName(const std::string& what, const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name[0] == '.' ||
      name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", what, " name '", name, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::Create(
    Options options, const ServableLoader* loader) {
  if (options.root.empty()) return absl::InvalidArgumentError("a repository root is required");
  if (loader == nullptr) return absl::InvalidArgumentError("a ServableLoader is required");
  if (options.keep_versions < 1) return absl::InvalidArgumentError("keep_versions must be >= 1");
  if (absl::Status s = CheckEntryName("model", options.default_model); !s.ok()) return s;
  if (absl::Status s = MakeDirectories(options.root); !s.ok()) return s;
  return std::unique_ptr<ModelRepository>(new ModelRepository(std::move(options), loader));
}

ModelRepository::~ModelRepository() {
  Stop();
  absl::MutexLock reconcile(&reconcile_mu_);
  std::map<std::string, std::unique_ptr<VersionManager>> managers;
  {
    absl::MutexLock lock(&mu_);
    managers.swap(managers_);
  }
  managers.clear();  // each unloads its versions
}

void ModelRepository::Start() {
  absl::MutexLock lock(&worker_mu_);
  if (started_ || stopping_) return;
  started_ = true;
  worker_ = std::thread([this] { WorkerLoop(); });
}

void ModelRepository::Stop() {
  {
    absl::MutexLock lock(&worker_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  worker_cv_.SignalAll();
  if (worker_.joinable()) worker_.join();
}

void ModelRepository::RunInBackground(std::function<void()> task) {
  {
    absl::MutexLock lock(&worker_mu_);
    if (started_ && !stopping_) {
      tasks_.push_back(std::move(task));
      worker_cv_.Signal();
      return;
    }
  }
  task();
}

void ModelRepository::WorkerLoop() {
  absl::Time next_poll = absl::Now() + options_.poll_interval;
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&worker_mu_);
      while (!stopping_ && tasks_.empty()) {
        if (!options_.poll) {
          worker_cv_.Wait(&worker_mu_);
        } else if (absl::Now() >= next_poll) {
          break;
        } else {
          worker_cv_.WaitWithDeadline(&worker_mu_, next_poll);
        }
      }
      if (!tasks_.empty()) {
        task = std::move(tasks_.front());
        tasks_.pop_front();
      } else if (stopping_) {
        return;
      }
    }
    if (task) {
      task();
      continue;
    }
    Poll().IgnoreError();  // failures are logged and recorded per version
    next_poll = absl::Now() + options_.poll_interval;
  }
}

std::string ModelRepository::VersionDir(const std::string& model, int64_t version) const {
  return absl::StrCat(ModelDir(model), "/", version);
}

std::string ModelRepository::ResolveModel(const std::string& model) const {
  return model.empty() ? options_.default_model : model;
}

VersionManager* ModelRepository::FindManager(const std::string& model) const {
  absl::MutexLock lock(&mu_);
  auto it = managers_.find(model);
  return it == managers_.end() ? nullptr : it->second.get();
}

absl::StatusOr<VersionManager*> ModelRepository::Manager(const std::string& model) {
  if (absl::Status s = CheckEntryName("model", model); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto& manager = managers_[model];
  if (manager == nullptr) {
    VersionManager::Options options = options_.manager;
    options.model_name = model;
    options.on_change = options_.on_change;
    absl::StatusOr<std::unique_ptr<VersionManager>> created =
        VersionManager::Create(std::move(options), loader_);
    if (!created.ok()) {
      managers_.erase(model);
      return created.status();
    }
    manager = std::move(*created);
  }
  return manager.get();
}

absl::Status ModelRepository::Poll() {
  absl::MutexLock reconcile(&reconcile_mu_);
  absl::Status first_error;
  std::set<std::string> models;
  for (const std::string& name : Subdirectories(options_.root)) {
    if (CheckEntryName("model", name).ok()) models.insert(name);
  }
  for (const std::string& name : Models()) models.insert(name);  // directories that went away
  for (const std::string& model : models) {
    absl::Status status = Reconcile(model);
    if (first_error.ok()) first_error = status;
  }
  return first_error;
}

absl::Status ModelRepository::Reconcile(const std::string& model) {
  absl::StatusOr<VersionManager*> manager_or = Manager(model);
  if (!manager_or.ok()) return manager_or.status();
  VersionManager& manager = **manager_or;
  VersionFacts facts;
  facts.on_disk = VersionsOnDisk(ModelDir(model));
  {
    absl::MutexLock lock(&mu_);
    facts.pins = pins_[model];
  }
  for (const VersionInfo& info : manager.Versions()) {
    if (info.state == VersionState::kFailed && facts.on_disk.count(info.version) == 0) {
      manager.ForgetFailure(info.version);
    }
  }
  absl::Status first_error;
  // One action at a time, asking again after each: a failed load moves the policy down to an
  // older version.
  while (true) {
    facts.failed.clear();
    for (const VersionInfo& info : manager.Versions()) {
      if (info.state == VersionState::kFailed) facts.failed.insert(info.version);
    }
    const std::optional<VersionAction> action =
        NextVersionAction(AspiredVersions(facts, options_.keep_versions), manager.ReadyVersions());
    if (!action) break;
    if (action->kind == VersionAction::Kind::kLoad) {
      absl::Status status = manager.Load(action->version, VersionDir(model, action->version));
      if (!status.ok() && first_error.ok()) first_error = status;
    } else if (!manager.Unload(action->version).ok()) {
      break;  // not loaded after all; asking again would repeat the same action
    }
  }
  return first_error;
}

absl::StatusOr<std::shared_ptr<const ServedVersion>> ModelRepository::Get(
    const std::string& model, int64_t version) const {
  const std::string name = ResolveModel(model);
  VersionManager* manager = FindManager(name);
  if (manager == nullptr) return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
  return manager->Get(version);
}

std::vector<std::string> ModelRepository::Models() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [name, manager] : managers_) out.push_back(name);
  return out;
}

std::vector<int64_t> ModelRepository::ReadyVersions(const std::string& model) const {
  VersionManager* manager = FindManager(ResolveModel(model));
  return manager == nullptr ? std::vector<int64_t>() : manager->ReadyVersions();
}

bool ModelRepository::AllModelsReady() const {
  absl::MutexLock lock(&mu_);
  if (managers_.empty()) return false;
  for (const auto& [name, manager] : managers_) {
    if (manager->ReadyVersions().empty()) return false;
  }
  return true;
}

VersionStatus ModelRepository::StatusOf(const std::string& model, int64_t version) const {
  VersionStatus status;
  status.model = model;
  status.version = version;
  status.state = VersionState::kOnDisk;
  if (VersionManager* manager = FindManager(model)) {
    for (const VersionInfo& info : manager->Versions()) {
      if (info.version == version) {
        status.state = info.state;
        status.reason = info.reason;
      }
    }
  }
  absl::MutexLock lock(&mu_);
  auto model_pins = pins_.find(model);
  if (model_pins != pins_.end()) {
    auto pin = model_pins->second.find(version);
    if (pin != model_pins->second.end()) status.pinned = pin->second;
  }
  return status;
}

std::vector<VersionStatus> ModelRepository::List(const std::string& model) const {
  std::set<std::string> models;
  if (!model.empty()) {
    models.insert(model);
  } else {
    for (const std::string& name : Subdirectories(options_.root)) {
      if (CheckEntryName("model", name).ok()) models.insert(name);
    }
    for (const std::string& name : Models()) models.insert(name);
  }
  std::vector<VersionStatus> out;
  for (const std::string& name : models) {
    std::set<int64_t> versions = VersionsOnDisk(ModelDir(name));
    if (VersionManager* manager = FindManager(name)) {
      for (const VersionInfo& info : manager->Versions()) versions.insert(info.version);
    }
    for (int64_t version : versions) out.push_back(StatusOf(name, version));
  }
  return out;
}

absl::StatusOr<VersionStatus> ModelRepository::Load(const std::string& model_in,
                                                    int64_t version) {
  const std::string model = ResolveModel(model_in);
  if (absl::Status s = CheckEntryName("model", model); !s.ok()) return s;
  absl::MutexLock reconcile(&reconcile_mu_);
  if (!IsDirectory(VersionDir(model, version))) {
    return absl::NotFoundError(absl::StrCat("model '", model, "' has no version ", version,
                                            " in the repository"));
  }
  absl::StatusOr<VersionManager*> manager = Manager(model);
  if (!manager.ok()) return manager.status();
  {
    absl::MutexLock lock(&mu_);
    pins_[model][version] = true;
  }
  (*manager)->ForgetFailure(version);  // an explicit load retries a failed version
  Reconcile(model).IgnoreError();
  VersionStatus status = StatusOf(model, version);
  if (status.state == VersionState::kFailed) {
    return absl::FailedPreconditionError(absl::StrCat("model '", model, "' version ", version,
                                                      " failed to load: ", status.reason));
  }
  return status;
}

absl::StatusOr<VersionStatus> ModelRepository::Unload(const std::string& model_in,
                                                      int64_t version) {
  const std::string model = ResolveModel(model_in);
  if (absl::Status s = CheckEntryName("model", model); !s.ok()) return s;
  absl::MutexLock reconcile(&reconcile_mu_);
  VersionManager* manager = FindManager(model);
  bool known = IsDirectory(VersionDir(model, version));
  if (manager != nullptr) {
    for (const VersionInfo& info : manager->Versions()) known |= info.version == version;
  }
  if (manager == nullptr || !known) {
    return absl::NotFoundError(absl::StrCat("model '", model, "' has no version ", version));
  }
  {
    absl::MutexLock lock(&mu_);
    pins_[model][version] = false;
  }
  Reconcile(model).IgnoreError();
  return StatusOf(model, version);
}

absl::StatusOr<std::string> ModelRepository::CreateStagingDirectory(const std::string& model_in,
                                                                    int64_t version) {
  const std::string model = ResolveModel(model_in);
  if (absl::Status s = CheckEntryName("model", model); !s.ok()) return s;
  if (version > 0 && IsDirectory(VersionDir(model, version))) {
    return absl::AlreadyExistsError(
        absl::StrCat("model '", model, "' version ", version, " already exists"));
  }
  if (absl::Status s = MakeDirectories(ModelDir(model)); !s.ok()) return s;
  const std::string staging =
      absl::StrCat(ModelDir(model), "/.upload-", ::getpid(), "-", staging_counter.fetch_add(1));
  if (absl::Status s = MakeDirectories(staging); !s.ok()) return s;
  return staging;
}

absl::StatusOr<VersionStatus> ModelRepository::AddVersion(const std::string& model_in,
                                                          int64_t version,
                                                          const std::string& staging) {
  const std::string model = ResolveModel(model_in);
  std::error_code error;
  auto remove_staging = [&] { fs::remove_all(staging, error); };
  if (absl::Status s = CheckEntryName("model", model); !s.ok()) {
    remove_staging();
    return s;
  }
  absl::MutexLock reconcile(&reconcile_mu_);
  if (version == 0) {
    const std::set<int64_t> on_disk = VersionsOnDisk(ModelDir(model));
    version = on_disk.empty() ? 1 : *on_disk.rbegin() + 1;
  }
  const std::string target = VersionDir(model, version);
  if (IsDirectory(target)) {
    remove_staging();
    return absl::AlreadyExistsError(
        absl::StrCat("model '", model, "' version ", version, " already exists"));
  }
  fs::rename(staging, target, error);
  if (error) {
    const std::string reason = error.message();
    remove_staging();
    return absl::InternalError(absl::StrCat("renaming ", staging, " to ", target, ": ", reason));
  }
  LogLine(absl::StrCat("model '", model, "' version ", version, ": received by push"));
  absl::StatusOr<VersionManager*> manager = Manager(model);
  if (!manager.ok()) return manager.status();
  (*manager)->ForgetFailure(version);
  Reconcile(model).IgnoreError();
  VersionStatus status = StatusOf(model, version);
  if (status.state == VersionState::kFailed) {
    // Keep the repository clean: a rejected push leaves nothing behind to be retried.
    fs::remove_all(target, error);
    (*manager)->ForgetFailure(version);
    return absl::FailedPreconditionError(
        absl::StrCat("model '", model, "' version ", version, " was rejected: ", status.reason,
                     "; the serving versions are unchanged"));
  }
  return status;
}

}  // namespace murmur::serving
