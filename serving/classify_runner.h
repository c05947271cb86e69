// The request path shared by every classification API (murmur Classify, ClassifyStream, KServe
// ModelInfer): validate the texts, pick the model version, tokenize with that version's
// tokenizer, queue the texts in that version's batcher, and hand back the predictions together
// with the version that computed them. The APIs only translate protos. The validation here is
// the request path's only check of the texts (an empty request included): the batcher and the
// model below assume what it guarantees.
//
// Thread-safety: thread-safe (const). Ownership: borrows the repository, which must outlive it.
#ifndef MURMUR_SERVING_CLASSIFY_RUNNER_H_
#define MURMUR_SERVING_CLASSIFY_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "serving/model_repository.h"
#include "serving/validation.h"

namespace murmur::serving {

struct ClassifyCall {
  std::string model;     // "" = the default model
  int64_t version = 0;   // 0 = the latest ready version
  std::vector<std::string> texts;
  absl::Time deadline = absl::InfiniteFuture();
  // Set by the RPC layer when the client cancels. May be null.
  std::shared_ptr<const std::atomic<bool>> cancelled;
};

struct ClassifyOutcome {
  // Keeps the version (and so `labels`) alive while the response is built; release it promptly:
  // an unload waits for it.
  std::shared_ptr<const ServedVersion> served;
  std::vector<model::Prediction> predictions;  // in text order, labels named
  // The model's label names by id (the width of a probabilities tensor).
  const std::vector<std::string>& labels() const { return served->servable().labels(); }
};

class ClassifyRunner {
 public:
  using Done = std::function<void(absl::StatusOr<ClassifyOutcome>)>;

  ClassifyRunner(const ModelRepository* repository, RequestLimits limits)
      : repository_(repository), limits_(limits) {}

  // Calls `done` exactly once: on the calling thread when the request is refused at once (bad
  // input, no version ready, queue full), else on a batcher thread.
  void Classify(ClassifyCall call, Done done) const;

  const RequestLimits& limits() const { return limits_; }

 private:
  const ModelRepository* const repository_;
  const RequestLimits limits_;
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_CLASSIFY_RUNNER_H_
