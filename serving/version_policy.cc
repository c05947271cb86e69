#include "serving/version_policy.h"

#include <algorithm>

namespace murmur::serving {

std::set<int64_t> AspiredVersions(const VersionFacts& facts, int keep_versions) {
  std::set<int64_t> aspired;
  int kept = 0;
  for (auto it = facts.on_disk.rbegin(); it != facts.on_disk.rend(); ++it) {
    if (facts.failed.count(*it) > 0) continue;
    auto pin = facts.pins.find(*it);
    if (pin != facts.pins.end()) {
      if (pin->second) aspired.insert(*it);
      continue;
    }
    if (kept < keep_versions) {
      aspired.insert(*it);
      ++kept;
    }
  }
  return aspired;
}

std::optional<VersionAction> NextVersionAction(const std::set<int64_t>& aspired,
                                               const std::vector<int64_t>& ready) {
  auto is_ready = [&](int64_t version) {
    return std::find(ready.begin(), ready.end(), version) != ready.end();
  };
  for (auto it = aspired.rbegin(); it != aspired.rend(); ++it) {
    if (!is_ready(*it)) return VersionAction{VersionAction::Kind::kLoad, *it};
  }
  for (int64_t version : ready) {
    if (aspired.count(version) == 0) return VersionAction{VersionAction::Kind::kUnload, version};
  }
  return std::nullopt;
}

}  // namespace murmur::serving
