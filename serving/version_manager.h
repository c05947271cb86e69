// The versions of one model and their lifecycle (TF Serving's loader harness and manager):
//
//   (new) -> LOADING -> READY -> UNLOADING -> (gone)
//               \-> FAILED (load or warm-up failed; reason kept; never serves)
//
// A version is loaded and warmed up before it is published, so it takes traffic fully ready.
// Requests hold a `shared_ptr<const ServedVersion>` for as long as they run; Unload first
// unpublishes the version (new requests go elsewhere), then waits until every handle is
// released — requests already running finish on the version they started on — and only then
// stops its batcher and frees the model. Which versions should be loaded is decided elsewhere
// (version_policy.h, applied by ModelRepository); this class only carries it out.
//
// Thread-safety: all methods are thread-safe. Get is cheap (one short lock) and never waits for
// a load; Load/Unload are serialized among themselves and may block for seconds. Ownership: the
// manager owns its versions; `loader` and the observer are borrowed and must outlive it.
#ifndef MURMUR_SERVING_VERSION_MANAGER_H_
#define MURMUR_SERVING_VERSION_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "serving/dynamic_batcher.h"
#include "serving/servable.h"

namespace murmur::serving {

// Short, varied, tweet-like texts (both sentiments, several lengths): what a version is warmed
// up with, and what murmur-serve checks a bf16 version against fp32 on.
std::vector<std::string> DefaultWarmupTexts();

// kOnDisk is what the repository reports for a version it has not handed to a manager.
enum class VersionState { kOnDisk, kLoading, kReady, kUnloading, kFailed };
const char* VersionStateName(VersionState state);  // "ON_DISK", "LOADING", "READY", ... (logs)

// A ready version as requests see it. Immutable; the batcher is thread-safe.
class ServedVersion {
 public:
  ServedVersion(std::string model, int64_t version, std::unique_ptr<Servable> servable,
                std::unique_ptr<DynamicBatcher> batcher)
      : model_(std::move(model)),
        version_(version),
        servable_(std::move(servable)),
        batcher_(std::move(batcher)) {}
  const std::string& model() const { return model_; }
  int64_t version() const { return version_; }
  const Servable& servable() const { return *servable_; }
  DynamicBatcher& batcher() const { return *batcher_; }

 private:
  const std::string model_;
  const int64_t version_;
  const std::unique_ptr<Servable> servable_;
  const std::unique_ptr<DynamicBatcher> batcher_;  // destroyed first: it borrows servable_
};

struct VersionInfo {
  int64_t version = 0;
  VersionState state = VersionState::kLoading;
  std::string reason;  // why it failed
};

class VersionManager {
 public:
  struct Options {
    // The model's name (logs, metrics, responses). Required.
    std::string model_name;
    // The batcher in front of each version. Default DynamicBatcher::Options().
    DynamicBatcher::Options batcher;
    // Texts classified as a batch of one and as a full batch before a version is published, so
    // the first requests do not pay for lazy initialisation (allocations, thread pools).
    // Default: kDefaultWarmupTexts (a few tweet-like texts of different lengths). Empty: no
    // warm-up.
    std::vector<std::string> warmup_texts = DefaultWarmupTexts();
    // Receives the batchers' measurements. Borrowed. Default none.
    DynamicBatcher::Observer* observer = nullptr;
    // Called (without locks held) after the set of ready versions changed. Default none.
    std::function<void()> on_change;
  };

  static absl::StatusOr<std::unique_ptr<VersionManager>> Create(Options options,
                                                               const ServableLoader* loader);
  // Unloads every version (waiting for their requests).
  ~VersionManager();
  VersionManager(const VersionManager&) = delete;
  VersionManager& operator=(const VersionManager&) = delete;

  // The ready `version`, or the latest ready one when `version` is 0. UNAVAILABLE when nothing
  // is ready (a retry may succeed once a version loads), NOT_FOUND for a version not ready.
  absl::StatusOr<std::shared_ptr<const ServedVersion>> Get(int64_t version) const;

  // Loads `dir` as `version`, warms it up and publishes it. OK at once when already ready. On
  // failure the version is FAILED with the reason (see Versions) and the error is returned.
  absl::Status Load(int64_t version, const std::string& dir);
  // Unpublishes `version`, waits for its requests, frees it. NOT_FOUND when not ready.
  absl::Status Unload(int64_t version);
  // Drops the FAILED record of `version` (its directory changed or went away).
  void ForgetFailure(int64_t version);

  // Every version the manager knows, ascending.
  std::vector<VersionInfo> Versions() const;
  std::vector<int64_t> ReadyVersions() const;
  bool IsFailed(int64_t version) const;
  const std::string& model_name() const { return options_.model_name; }

 private:
  struct Owned {
    std::unique_ptr<ServedVersion> version;
    // Notified when the last handle given to requests is released.
    std::shared_ptr<absl::Notification> released;
  };

  VersionManager(Options options, const ServableLoader* loader)
      : options_(std::move(options)), loader_(loader) {}
  absl::Status Warmup(const Servable& servable) const;
  void SetState(int64_t version, VersionState state, std::string reason = "");
  void NotifyChange() const;

  const Options options_;
  const ServableLoader* const loader_;

  // Serializes Load and Unload (a load may take seconds; Get never waits for it).
  absl::Mutex lifecycle_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::map<int64_t, Owned> owned_ ABSL_GUARDED_BY(lifecycle_mu_);

  mutable absl::Mutex mu_;
  std::map<int64_t, std::shared_ptr<const ServedVersion>> ready_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, VersionInfo> states_ ABSL_GUARDED_BY(mu_);
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_VERSION_MANAGER_H_
