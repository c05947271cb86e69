// The model repository: a directory in the layout Triton and TF Serving users know,
// `<root>/<model>/<version>/`, each version a checkpoint directory. It is the Source of the
// Source -> Loader -> Manager chain: it decides which versions should serve — the version
// policy (the latest `keep_versions` versions that load), overridden per version by pins from
// the management API — and has each model's VersionManager carry that out.
//
// Only directories named by a positive integer are versions, so a writer can build
// `<root>/<model>/.tmp` and rename it into place; pushes (VersionUpload) do exactly that. New
// versions are loaded before old ones are unloaded (hot swap). A version that fails to load is
// recorded as FAILED with its reason and excluded from the policy, so the previous version keeps
// serving; its record is dropped when its directory disappears.
//
// Threads: a background worker polls every `poll_interval` (when `poll` is set) and runs tasks
// handed to RunInBackground (blocking management RPCs). Tests switch polling off and call Poll.
// Thread-safety: all methods are thread-safe; reconciliation is serialized. Ownership: owns the
// managers; `loader` is borrowed and must outlive the repository.
#ifndef MURMUR_SERVING_MODEL_REPOSITORY_H_
#define MURMUR_SERVING_MODEL_REPOSITORY_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/sha256.h"
#include "serving/servable.h"
#include "serving/version_manager.h"

namespace murmur::serving {

// A version as the management API reports it.
struct VersionStatus {
  std::string model;
  int64_t version = 0;
  // VersionStateName(...) of a known version, or "ON_DISK" (present, not loaded).
  std::string state;
  std::string reason;
  // Whether a Load (true) or Unload (false) pin overrides the policy; nullopt: no pin.
  std::optional<bool> pinned;
};

// One file of an upload, as the pusher declares it.
struct UploadFile {
  std::string name;
  uint64_t size = 0;
  std::string sha256;  // lowercase hex
};

class VersionUpload;

class ModelRepository {
 public:
  struct Options {
    // The repository directory. Required; created when missing.
    std::string root;
    // The model used when a request names none. Default "sentiment".
    std::string default_model = "sentiment";
    // Version policy: serve the latest N versions that load. Default 1.
    int keep_versions = 1;
    // Poll the directory in the background. Default true.
    bool poll = true;
    // Default 1 s.
    absl::Duration poll_interval = absl::Seconds(1);
    // Largest upload accepted, all files together. Default 8 GiB.
    uint64_t max_upload_bytes = uint64_t{8} << 30;
    // Template for each model's manager (model_name is filled in). Default defaults.
    VersionManager::Options manager;
    // Called after any model's ready versions changed. Default none.
    std::function<void()> on_change;
  };

  static absl::StatusOr<std::unique_ptr<ModelRepository>> Create(Options options,
                                                                const ServableLoader* loader);
  // Stop(), then unloads everything.
  ~ModelRepository();
  ModelRepository(const ModelRepository&) = delete;
  ModelRepository& operator=(const ModelRepository&) = delete;

  // Starts the background worker (polling when enabled). Separate from Create so that a server
  // can run the first Poll itself and start serving with its versions loaded.
  void Start();
  // Stops the worker after the tasks already queued. Idempotent.
  void Stop();

  // Scans the directory and reconciles every model with the policy. Returns the first load
  // error (the rest of the work is still done; errors are also recorded per version).
  absl::Status Poll();

  // The ready version of `model` ("" = the default model); version 0 = the latest ready.
  absl::StatusOr<std::shared_ptr<const ServedVersion>> Get(const std::string& model,
                                                           int64_t version) const;
  std::string ResolveModel(const std::string& model) const;
  // Model names known so far (those with a directory), sorted.
  std::vector<std::string> Models() const;
  std::vector<int64_t> ReadyVersions(const std::string& model) const;
  // True when every known model has a ready version (and there is at least one).
  bool AllModelsReady() const;

  // Every version on disk or known to a manager ("" = every model).
  std::vector<VersionStatus> List(const std::string& model) const;
  // Pins `version` loaded (regardless of the policy) and loads it. Blocks for the load.
  absl::StatusOr<VersionStatus> Load(const std::string& model, int64_t version);
  // Pins `version` unloaded and unloads it. Blocks until its requests have finished.
  absl::StatusOr<VersionStatus> Unload(const std::string& model, int64_t version);

  // Starts a push of `version` (0: one more than the largest on disk) of `model`.
  absl::StatusOr<std::unique_ptr<VersionUpload>> BeginUpload(const std::string& model,
                                                             int64_t version,
                                                             std::vector<UploadFile> files);

  // Runs `task` on the worker thread (inline once stopped): for blocking work requested from
  // places that must not block, such as gRPC callbacks.
  void RunInBackground(std::function<void()> task);

  const std::string& root() const { return options_.root; }

 private:
  friend class VersionUpload;
  ModelRepository(Options options, const ServableLoader* loader)
      : options_(std::move(options)), loader_(loader) {}

  std::string ModelDir(const std::string& model) const { return options_.root + "/" + model; }
  std::string VersionDir(const std::string& model, int64_t version) const;
  // The manager of `model`, created on first use.
  absl::StatusOr<VersionManager*> Manager(const std::string& model);
  VersionManager* FindManager(const std::string& model) const;
  // Brings one model in line with the policy. Caller holds reconcile_mu_.
  absl::Status Reconcile(const std::string& model) ABSL_EXCLUSIVE_LOCKS_REQUIRED(reconcile_mu_);
  VersionStatus StatusOf(const std::string& model, int64_t version) const;
  void WorkerLoop();

  const Options options_;
  const ServableLoader* const loader_;

  // Serializes reconciliation (polls, pushes, pins).
  absl::Mutex reconcile_mu_;

  mutable absl::Mutex mu_ ABSL_ACQUIRED_AFTER(reconcile_mu_);
  std::map<std::string, std::unique_ptr<VersionManager>> managers_ ABSL_GUARDED_BY(mu_);
  // model -> version -> pinned loaded (true) / unloaded (false).
  std::map<std::string, std::map<int64_t, bool>> pins_ ABSL_GUARDED_BY(mu_);

  absl::Mutex worker_mu_;
  absl::CondVar worker_cv_;  // tasks queued, or stopping
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(worker_mu_);
  bool stopping_ ABSL_GUARDED_BY(worker_mu_) = false;
  bool started_ ABSL_GUARDED_BY(worker_mu_) = false;
  std::thread worker_;
};

// A version being pushed: files arrive in order as chunks into a staging directory
// `<root>/<model>/.upload-...` (invisible to polling), each hashed as it is written. Commit
// checks sizes and sha256, renames the directory to `<root>/<model>/<version>` and reconciles,
// so the version loads (and takes traffic) before Commit returns. A version that then fails to
// load is removed again and reported; the serving versions are untouched.
//
// Not thread-safe: one RPC drives one upload. Destroying an uncommitted upload removes its
// staging directory. Borrows the repository, which must outlive it.
class VersionUpload {
 public:
  ~VersionUpload();
  VersionUpload(const VersionUpload&) = delete;
  VersionUpload& operator=(const VersionUpload&) = delete;

  // Appends `data` at `offset` of file `name`; files must come in the declared order, each
  // contiguous. INVALID_ARGUMENT for out-of-order data or more bytes than declared.
  absl::Status Write(const std::string& name, uint64_t offset, std::string_view data);
  // DATA_LOSS naming the file when a size or sha256 differs from the declaration;
  // FAILED_PRECONDITION with the loader's reason when the version does not load.
  absl::StatusOr<VersionStatus> Commit();

 private:
  friend class ModelRepository;
  VersionUpload(ModelRepository* repository, std::string model, int64_t version,
                std::vector<UploadFile> files, std::string staging);
  absl::Status OpenNext();
  absl::Status CloseCurrent();

  ModelRepository* const repository_;
  const std::string model_;
  const int64_t requested_version_;
  const std::vector<UploadFile> files_;
  const std::string staging_;
  size_t current_ = 0;        // index of the file being written
  uint64_t written_ = 0;      // bytes of the current file so far
  std::FILE* out_ = nullptr;  // the current file, when open
  Sha256Hasher hasher_;
  std::vector<std::string> digests_;  // of the files finished so far
  bool committed_ = false;
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_MODEL_REPOSITORY_H_
