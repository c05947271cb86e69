// The version policy of a model repository, as pure functions (after TF Serving's
// AspiredVersionPolicy): given what is on disk, what failed, the operator's pins and what is
// loaded, which versions should serve and what to do next. ModelRepository gathers the facts,
// asks, and has the model's VersionManager carry out the answer, one action at a time.
//
// Stateless; thread-safe.
#ifndef MURMUR_SERVING_VERSION_POLICY_H_
#define MURMUR_SERVING_VERSION_POLICY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

namespace murmur::serving {

// What the policy looks at, for one model.
struct VersionFacts {
  // Version directories present.
  std::set<int64_t> on_disk;
  // Versions recorded as FAILED (a load or warm-up failed): never aspired, so the version
  // before a corrupt one keeps serving. Forgetting the record (the directory went away, or an
  // explicit load) makes a version eligible again.
  std::set<int64_t> failed;
  // The operator's pins: true = keep loaded regardless of the policy, false = keep unloaded.
  std::map<int64_t, bool> pins;
};

// The versions that should serve: the newest `keep_versions` versions on disk that have not
// failed and are not pinned, plus every version on disk pinned loaded (and not failed).
std::set<int64_t> AspiredVersions(const VersionFacts& facts, int keep_versions);

struct VersionAction {
  enum class Kind { kLoad, kUnload };
  Kind kind = Kind::kLoad;
  int64_t version = 0;
  bool operator==(const VersionAction& other) const {
    return kind == other.kind && version == other.version;
  }
};

// The next step from `ready` (the loaded versions) toward `aspired`, or nullopt when they agree.
// Loads come before unloads, so a new version takes traffic before the old one leaves (hot
// swap); among loads the newest first. Ask again after each action: a load that fails changes
// the facts (the version is FAILED), and with them the aspired set.
std::optional<VersionAction> NextVersionAction(const std::set<int64_t>& aspired,
                                               const std::vector<int64_t>& ready);

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_VERSION_POLICY_H_
