#include "coordinator/kv_store.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace murmur::coordinator {
namespace {
// How often a waiting Get looks at its `cancelled` callback.
constexpr absl::Duration kCancelPoll = absl::Milliseconds(100);
}  // namespace

void KeyValueStore::Set(const std::string& key, std::string value) {
  absl::MutexLock lock(&mu_);
  data_[key] = std::move(value);
}

bool KeyValueStore::AllPresent(const std::vector<std::string>& keys) const {
  return std::all_of(keys.begin(), keys.end(),
                     [this](const std::string& key) { return data_.count(key) > 0; });
}

absl::StatusOr<std::string> KeyValueStore::Get(const std::vector<std::string>& keys,
                                               absl::Duration timeout,
                                               const std::function<bool()>& cancelled) {
  if (keys.empty()) return absl::InvalidArgumentError("store get: no keys");
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  auto ready = [this, &keys]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return shutdown_ || AllPresent(keys);
  };
  while (true) {
    const absl::Time now = absl::Now();
    if (ready() || now >= deadline) break;
    if (cancelled && cancelled()) return absl::CancelledError("store get: call cancelled");
    mu_.AwaitWithDeadline(absl::Condition(&ready), std::min(deadline, now + kCancelPoll));
  }
  if (shutdown_) return absl::UnavailableError("store: coordinator shutting down");
  if (!AllPresent(keys)) {
    std::string missing;
    for (const std::string& key : keys) {
      if (data_.count(key) == 0) absl::StrAppend(&missing, missing.empty() ? "" : ", ", key);
    }
    return absl::DeadlineExceededError(
        absl::StrCat("store get: timed out after ", absl::FormatDuration(timeout),
                     " waiting for keys: ", missing));
  }
  return data_.at(keys.front());
}

absl::StatusOr<int64_t> KeyValueStore::Add(const std::string& key, int64_t delta) {
  absl::MutexLock lock(&mu_);
  int64_t value = 0;
  auto it = data_.find(key);
  if (it != data_.end() && !absl::SimpleAtoi(it->second, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("store add: key '", key, "' holds a value that is not an integer"));
  }
  value += delta;
  data_[key] = absl::StrCat(value);
  return value;
}

bool KeyValueStore::Check(const std::vector<std::string>& keys) const {
  absl::ReaderMutexLock lock(&mu_);
  return AllPresent(keys);
}

bool KeyValueStore::Delete(const std::string& key) {
  absl::MutexLock lock(&mu_);
  return data_.erase(key) > 0;
}

int64_t KeyValueStore::NumKeys() const {
  absl::ReaderMutexLock lock(&mu_);
  return static_cast<int64_t>(data_.size());
}

int64_t KeyValueStore::DeletePrefix(const std::string& prefix) {
  absl::MutexLock lock(&mu_);
  int64_t deleted = 0;
  for (auto it = data_.lower_bound(prefix);
       it != data_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
    it = data_.erase(it);
    ++deleted;
  }
  return deleted;
}

void KeyValueStore::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
}

}  // namespace murmur::coordinator
