// Test doubles for the model: FakeServable classifies token sequences with simple arithmetic
// (no libtorch), and FakeServableLoader loads "version directories" holding a fake_model.txt.
// Lets every serving test run in milliseconds and control the model precisely (hold a batch,
// count batches, fail).
//
// Thread-safe, like the interfaces they implement.
#ifndef MURMUR_SERVING_FAKE_SERVABLE_H_
#define MURMUR_SERVING_FAKE_SERVABLE_H_

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "serving/servable.h"

namespace murmur::serving {

class FakeServable : public Servable {
 public:
  // `bias` shifts every positive probability, so two versions answer differently.
  explicit FakeServable(float bias = 0.0f, int max_length = 64);

  // [CLS]=101, one id per whitespace-separated word (1000 + its byte count), [SEP]=102.
  void Tokenize(std::string_view text, std::vector<int32_t>* ids) const override;
  // P(positive) = clamp(0.5 + bias + 0.01 * (words mod 10) ...), a pure function of the ids.
  absl::StatusOr<std::vector<model::Prediction>> Classify(
      const std::vector<std::vector<int32_t>>& sequences) const override;
  const std::vector<std::string>& labels() const override { return labels_; }
  int max_length() const override { return max_length_; }

  // The prediction Classify gives for `ids` (what tests compare against).
  model::Prediction Expected(const std::vector<int32_t>& ids) const;

  // While held, Classify blocks (to fill queues deterministically).
  void Hold();
  void Release();
  // Classify calls blocked by Hold right now.
  int waiting() const;
  // Batches run and the sizes seen.
  int batches() const;
  std::vector<int> batch_sizes() const;
  std::vector<int> batch_max_lengths() const;

 private:
  const float bias_;
  const int max_length_;
  const std::vector<std::string> labels_ = {"negative", "positive"};
  mutable absl::Mutex mu_;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  mutable int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  mutable std::vector<int> batch_sizes_ ABSL_GUARDED_BY(mu_);
  mutable std::vector<int> batch_max_lengths_ ABSL_GUARDED_BY(mu_);
};

// A version directory is valid when it holds fake_model.txt with a number (the bias); anything
// else is rejected like a corrupt checkpoint.
class FakeServableLoader : public ServableLoader {
 public:
  static constexpr char kFile[] = "fake_model.txt";
  absl::StatusOr<std::unique_ptr<Servable>> Load(const std::string& dir) const override;
  // Writes a valid version directory.
  static void WriteVersion(const std::string& dir, float bias);
  int loads() const { return loads_.load(); }
  // The servable the last successful Load returned (owned by its manager; valid while that
  // version is loaded).
  FakeServable* last() const {
    absl::MutexLock lock(&mu_);
    return last_;
  }

 private:
  mutable std::atomic<int> loads_{0};
  mutable absl::Mutex mu_;
  mutable FakeServable* last_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_FAKE_SERVABLE_H_
