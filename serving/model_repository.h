// The model repository: a directory in the layout Triton and TF Serving users know,
// `<root>/<model>/<version>/`, each version a checkpoint directory. It is the Source of the
// Source -> Loader -> Manager chain: it gathers the facts about each model (versions on disk,
// failures, the management API's pins), asks the version policy (version_policy.h) what should
// serve, and has the model's VersionManager carry that out.
//
// Only directories named by a positive integer are versions, so a writer can build
// `<root>/<model>/.tmp` and rename it into place; pushes (version_upload.h) do exactly that
// through CreateStagingDirectory and AddVersion. New versions are loaded before old ones are
// unloaded (hot swap). A version that fails to load is recorded as FAILED with its reason and
// excluded from the policy, so the previous version keeps serving; its record is dropped when
// its directory disappears.
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
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "serving/servable.h"
#include "serving/version_manager.h"

namespace murmur::serving {

// A version as the management API reports it.
struct VersionStatus {
  std::string model;
  int64_t version = 0;
  // kOnDisk: present, not loaded.
  VersionState state = VersionState::kOnDisk;
  std::string reason;
  // Whether a Load (true) or Unload (false) pin overrides the policy; nullopt: no pin.
  std::optional<bool> pinned;
};

// OK when `name` is a single directory entry that polling would consider: not empty, no '/',
// no NUL, not starting with '.'. Else INVALID_ARGUMENT naming `what` ("model", "file").
absl::Status CheckEntryName(const std::string& what, const std::string& name);

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
    // Largest push accepted (VersionUpload::Begin), all files together. Default 8 GiB.
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

  // For pushes: a new, empty directory `<root>/<model>/.upload-...` (invisible to polling) to
  // write a version of `model` into. INVALID_ARGUMENT for a bad model name, ALREADY_EXISTS when
  // `version` (0: not chosen yet) is on disk already.
  absl::StatusOr<std::string> CreateStagingDirectory(const std::string& model, int64_t version);
  // Takes over `staging` (from CreateStagingDirectory, fully written): renames it into place as
  // `version` of `model` (0: one more than the newest on disk) and reconciles, so the version
  // loads (and takes traffic) before this returns. A version that then fails to load is removed
  // again: FAILED_PRECONDITION with the loader's reason, the serving versions untouched. On an
  // error before the rename (ALREADY_EXISTS, ...) `staging` is removed.
  absl::StatusOr<VersionStatus> AddVersion(const std::string& model, int64_t version,
                                           const std::string& staging);

  // Runs `task` on the worker thread (inline once stopped): for blocking work requested from
  // places that must not block, such as gRPC callbacks.
  void RunInBackground(std::function<void()> task);

  const std::string& root() const { return options_.root; }
  const Options& options() const { return options_; }

 private:
  ModelRepository(Options options, const ServableLoader* loader)
      : options_(std::move(options)), loader_(loader) {}

  std::string ModelDir(const std::string& model) const { return options_.root + "/" + model; }
  std::string VersionDir(const std::string& model, int64_t version) const;
  // The manager of `model`, created on first use.
  absl::StatusOr<VersionManager*> Manager(const std::string& model);
  VersionManager* FindManager(const std::string& model) const;
  // Brings one model in line with the version policy. Caller holds reconcile_mu_.
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

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_MODEL_REPOSITORY_H_
