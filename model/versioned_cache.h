// A value derived from some tensors (a fused, converted or packed copy of weights), rebuilt
// when any of them changes. Keyed by each source's storage pointer and version counter: every
// in-place update (an optimizer step, a load, a broadcast, a dtype change) moves one of them, so
// a stale copy is never returned.
//
// Thread-safety: Get may be called from many threads; it returns the value by copy, so T should
// be cheap to copy (tensors, shared_ptr), and a caller's copy stays valid after a rebuild.
#ifndef MURMUR_MODEL_VERSIONED_CACHE_H_
#define MURMUR_MODEL_VERSIONED_CACHE_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace murmur::model {

template <typename T>
class VersionedCache {
 public:
  // `sources`: the tensors the value is derived from; `make` builds it when they changed (or on
  // the first call).
  T Get(const std::vector<const torch::Tensor*>& sources, const std::function<T()>& make) {
    std::vector<std::pair<const void*, int64_t>> key;
    key.reserve(sources.size());
    for (const torch::Tensor* t : sources) {
      key.emplace_back(t->data_ptr(), static_cast<int64_t>(t->_version()));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (!built_ || key != key_) {
      value_ = make();
      key_ = std::move(key);
      built_ = true;
    }
    return value_;
  }

 private:
  std::mutex mutex_;
  bool built_ = false;                                 // guarded by mutex_
  std::vector<std::pair<const void*, int64_t>> key_;  // guarded by mutex_
  T value_;                                            // guarded by mutex_
};

}  // namespace murmur::model

#endif  // MURMUR_MODEL_VERSIONED_CACHE_H_
