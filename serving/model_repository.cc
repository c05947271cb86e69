#include "serving/model_repository.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/logging.h"

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

absl::Status CheckName(const std::string& what, const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name[0] == '.' ||
      name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", what, " name '", name, "'"));
  }
  return absl::OkStatus();
}

std::atomic<int> upload_counter{0};

}  // namespace

absl::StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::Create(
    Options options, const ServableLoader* loader) {
  if (options.root.empty()) return absl::InvalidArgumentError("a repository root is required");
  if (loader == nullptr) return absl::InvalidArgumentError("a ServableLoader is required");
  if (options.keep_versions < 1) return absl::InvalidArgumentError("keep_versions must be >= 1");
  if (absl::Status s = CheckName("model", options.default_model); !s.ok()) return s;
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
  if (absl::Status s = CheckName("model", model); !s.ok()) return s;
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
    if (CheckName("model", name).ok()) models.insert(name);
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
  const std::set<int64_t> on_disk = VersionsOnDisk(ModelDir(model));
  std::map<int64_t, bool> pins;
  {
    absl::MutexLock lock(&mu_);
    pins = pins_[model];
  }
  for (const VersionInfo& info : manager.Versions()) {
    if (info.state == VersionState::kFailed && on_disk.count(info.version) == 0) {
      manager.ForgetFailure(info.version);
    }
  }
  // The policy: the newest `keep_versions` loadable versions not pinned unloaded, plus those
  // pinned loaded. Failed versions are out, so the one before a corrupt version keeps serving.
  auto aspired = [&] {
    std::set<int64_t> out;
    int kept = 0;
    for (auto it = on_disk.rbegin(); it != on_disk.rend(); ++it) {
      if (manager.IsFailed(*it)) continue;
      auto pin = pins.find(*it);
      if (pin != pins.end()) {
        if (pin->second) out.insert(*it);
        continue;
      }
      if (kept < options_.keep_versions) {
        out.insert(*it);
        ++kept;
      }
    }
    return out;
  };
  absl::Status first_error;
  // Load before unloading (hot swap); newest first, recomputing after each load because a
  // failure moves the policy down to an older version.
  while (true) {
    const std::set<int64_t> want = aspired();
    const std::vector<int64_t> ready = manager.ReadyVersions();
    std::optional<int64_t> next;
    for (auto it = want.rbegin(); it != want.rend(); ++it) {
      if (!std::binary_search(ready.begin(), ready.end(), *it)) {
        next = *it;
        break;
      }
    }
    if (!next) break;
    absl::Status status = manager.Load(*next, VersionDir(model, *next));
    if (!status.ok() && first_error.ok()) first_error = status;
  }
  const std::set<int64_t> want = aspired();
  for (int64_t version : manager.ReadyVersions()) {
    if (want.count(version) == 0) manager.Unload(version).IgnoreError();
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
  status.state = "ON_DISK";
  if (VersionManager* manager = FindManager(model)) {
    for (const VersionInfo& info : manager->Versions()) {
      if (info.version == version) {
        status.state = VersionStateName(info.state);
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
      if (CheckName("model", name).ok()) models.insert(name);
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
  if (absl::Status s = CheckName("model", model); !s.ok()) return s;
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
  if (status.state == VersionStateName(VersionState::kFailed)) {
    return absl::FailedPreconditionError(absl::StrCat("model '", model, "' version ", version,
                                                      " failed to load: ", status.reason));
  }
  return status;
}

absl::StatusOr<VersionStatus> ModelRepository::Unload(const std::string& model_in,
                                                      int64_t version) {
  const std::string model = ResolveModel(model_in);
  if (absl::Status s = CheckName("model", model); !s.ok()) return s;
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

absl::StatusOr<std::unique_ptr<VersionUpload>> ModelRepository::BeginUpload(
    const std::string& model_in, int64_t version, std::vector<UploadFile> files) {
  const std::string model = ResolveModel(model_in);
  if (absl::Status s = CheckName("model", model); !s.ok()) return s;
  if (version < 0) return absl::InvalidArgumentError("version must not be negative");
  if (files.empty()) return absl::InvalidArgumentError("an upload needs at least one file");
  std::set<std::string> names;
  uint64_t total = 0;
  for (const UploadFile& file : files) {
    if (absl::Status s = CheckName("file", file.name); !s.ok()) return s;
    if (!names.insert(file.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("file '", file.name, "' declared twice"));
    }
    if (file.sha256.size() != 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("file '", file.name, "': sha256 must be 64 hex digits"));
    }
    total += file.size;
  }
  if (total > options_.max_upload_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("upload of ", total, " bytes exceeds the ",
                                                   options_.max_upload_bytes, "-byte limit"));
  }
  if (version > 0 && IsDirectory(VersionDir(model, version))) {
    return absl::AlreadyExistsError(
        absl::StrCat("model '", model, "' version ", version, " already exists"));
  }
  if (absl::Status s = MakeDirectories(ModelDir(model)); !s.ok()) return s;
  const std::string staging = absl::StrCat(ModelDir(model), "/.upload-", ::getpid(), "-",
                                           upload_counter.fetch_add(1));
  if (absl::Status s = MakeDirectories(staging); !s.ok()) return s;
  return std::unique_ptr<VersionUpload>(
      new VersionUpload(this, model, version, std::move(files), staging));
}

VersionUpload::VersionUpload(ModelRepository* repository, std::string model, int64_t version,
                             std::vector<UploadFile> files, std::string staging)
    : repository_(repository),
      model_(std::move(model)),
      requested_version_(version),
      files_(std::move(files)),
      staging_(std::move(staging)) {}

VersionUpload::~VersionUpload() {
  if (out_ != nullptr) std::fclose(out_);
  if (!committed_) {
    std::error_code error;
    fs::remove_all(staging_, error);
  }
}

absl::Status VersionUpload::OpenNext() {
  const std::string path = staging_ + "/" + files_[current_].name;
  out_ = std::fopen(path.c_str(), "wb");
  if (out_ == nullptr) {
    return absl::InternalError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status VersionUpload::CloseCurrent() {
  if (out_ == nullptr) {
    if (absl::Status s = OpenNext(); !s.ok()) return s;  // an empty file: create it
  }
  const bool ok = std::fflush(out_) == 0 && ::fsync(fileno(out_)) == 0;
  const bool closed = std::fclose(out_) == 0;
  out_ = nullptr;
  if (!ok || !closed) {
    return absl::InternalError(
        absl::StrCat("writing ", files_[current_].name, ": ", std::strerror(errno)));
  }
  digests_.push_back(hasher_.FinishHex());
  ++current_;
  written_ = 0;
  return absl::OkStatus();
}

absl::Status VersionUpload::Write(const std::string& name, uint64_t offset,
                                  std::string_view data) {
  if (committed_) return absl::FailedPreconditionError("upload already committed");
  while (current_ < files_.size() && files_[current_].name != name) {
    if (written_ != files_[current_].size) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk of '", name, "' arrived before '", files_[current_].name,
                       "' was complete (", written_, " of ", files_[current_].size, " bytes)"));
    }
    if (absl::Status s = CloseCurrent(); !s.ok()) return s;
  }
  if (current_ == files_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk of '", name, "', which is undeclared or already complete"));
  }
  const UploadFile& file = files_[current_];
  if (offset != written_) {
    return absl::InvalidArgumentError(absl::StrCat("chunk of '", name, "' at offset ", offset,
                                                   ", expected ", written_));
  }
  if (written_ + data.size() > file.size) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name, "' is longer than the declared ", file.size, " bytes"));
  }
  if (out_ == nullptr) {
    if (absl::Status s = OpenNext(); !s.ok()) return s;
  }
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), out_) != data.size()) {
    return absl::InternalError(absl::StrCat("writing ", name, ": ", std::strerror(errno)));
  }
  hasher_.Update(data);
  written_ += data.size();
  return absl::OkStatus();
}

absl::StatusOr<VersionStatus> VersionUpload::Commit() {
  if (committed_) return absl::FailedPreconditionError("upload already committed");
  while (current_ < files_.size()) {
    if (written_ != files_[current_].size) {
      return absl::DataLossError(absl::StrCat("'", files_[current_].name, "' is incomplete: ",
                                              written_, " of ", files_[current_].size,
                                              " bytes received"));
    }
    if (absl::Status s = CloseCurrent(); !s.ok()) return s;
  }
  for (size_t i = 0; i < files_.size(); ++i) {
    if (digests_[i] != absl::AsciiStrToLower(files_[i].sha256)) {
      return absl::DataLossError(absl::StrCat("'", files_[i].name,
                                              "': sha256 mismatch: received data hashes to ",
                                              digests_[i], ", declared ", files_[i].sha256));
    }
  }

  ModelRepository& repo = *repository_;
  absl::MutexLock reconcile(&repo.reconcile_mu_);
  int64_t version = requested_version_;
  if (version == 0) {
    const std::set<int64_t> on_disk = VersionsOnDisk(repo.ModelDir(model_));
    version = on_disk.empty() ? 1 : *on_disk.rbegin() + 1;
  }
  const std::string target = repo.VersionDir(model_, version);
  if (IsDirectory(target)) {
    return absl::AlreadyExistsError(
        absl::StrCat("model '", model_, "' version ", version, " already exists"));
  }
  std::error_code error;
  fs::rename(staging_, target, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("renaming ", staging_, " to ", target, ": ", error.message()));
  }
  committed_ = true;
  LogLine(absl::StrCat("model '", model_, "' version ", version, ": received by push"));
  absl::StatusOr<VersionManager*> manager = repo.Manager(model_);
  if (!manager.ok()) return manager.status();
  (*manager)->ForgetFailure(version);
  repo.Reconcile(model_).IgnoreError();
  VersionStatus status = repo.StatusOf(model_, version);
  if (status.state == VersionStateName(VersionState::kFailed)) {
    // Keep the repository clean: a rejected push leaves nothing behind to be retried.
    fs::remove_all(target, error);
    (*manager)->ForgetFailure(version);
    return absl::FailedPreconditionError(
        absl::StrCat("model '", model_, "' version ", version, " was rejected: ", status.reason,
                     "; the serving versions are unchanged"));
  }
  return status;
}

}  // namespace murmur::serving
