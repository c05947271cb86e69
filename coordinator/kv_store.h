// An in-memory key-value store with the semantics of PyTorch c10d's Store, served by the
// coordinator (StoreSet/StoreGet/... RPCs) so that the collective backends of a generation can
// rendezvous without an extra port or a shared filesystem:
//   Set     overwrites;
//   Get     waits until every key exists (DEADLINE_EXCEEDED after the timeout), returns the
//           first key's value;
//   Add     atomic counter (a missing key counts as 0; the value is the decimal text, as c10d
//           stores it);
//   Check   whether every key exists, without waiting;
//   Delete  removes one key.
// Waits use the real clock: they are bounded by the caller's timeout, and nothing about them
// is a policy a test needs to fake.
//
// Thread-safe. Shutdown() wakes every waiter (UNAVAILABLE) so a server can stop promptly.
#ifndef MURMUR_COORDINATOR_KV_STORE_H_
#define MURMUR_COORDINATOR_KV_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace murmur::coordinator {

class KeyValueStore {
 public:
  void Set(const std::string& key, std::string value);
  // `cancelled` (may be empty) is polled while waiting, so an abandoned call does not hold a
  // server thread until its timeout. INVALID_ARGUMENT for no keys.
  absl::StatusOr<std::string> Get(const std::vector<std::string>& keys, absl::Duration timeout,
                                  const std::function<bool()>& cancelled = {});
  // INVALID_ARGUMENT when the key holds a value that is not an integer.
  absl::StatusOr<int64_t> Add(const std::string& key, int64_t delta);
  bool Check(const std::vector<std::string>& keys) const;
  bool Delete(const std::string& key);
  int64_t NumKeys() const;
  // Drops every key that starts with `prefix` (keys of a generation that is over).
  int64_t DeletePrefix(const std::string& prefix);
  void Shutdown();

 private:
  bool AllPresent(const std::vector<std::string>& keys) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, std::string> data_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_KV_STORE_H_
