// A servable is one loaded model version that classifies token sequences; a ServableLoader turns
// a version directory into one. These two interfaces are the seam between the serving tier and
// the model (TF Serving's Loader): production uses the adapter over model::Classifier
// (classifier_servable.h), tests use FakeServable (fake_servable.h), and nothing else in
// serving/ depends on libtorch.
#ifndef MURMUR_SERVING_SERVABLE_H_
#define MURMUR_SERVING_SERVABLE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "model/prediction.h"

namespace murmur::serving {

// Thread-safety: every method may be called from many threads at once (requests tokenize on
// RPC threads while model instances run Classify on the dynamic batcher's threads).
class Servable {
 public:
  virtual ~Servable() = default;

  // The [CLS] ... [SEP] ids of `text`, truncated to the model's maximum length, into `ids`.
  virtual void Tokenize(std::string_view text, std::vector<int32_t>* ids) const = 0;

  // One prediction per sequence (label named), in input order, from one forward pass over the
  // sequences as given: the dynamic batcher has already grouped sequences of similar length.
  // `sequences` is never empty (requests are validated at the edge, ValidateTexts).
  virtual absl::StatusOr<std::vector<model::Prediction>> Classify(
      const std::vector<std::vector<int32_t>>& sequences) const = 0;

  // Label names by id ("negative", "positive"): the outputs' shape in the KServe metadata.
  virtual const std::vector<std::string>& labels() const = 0;

  // Longest sequence Tokenize returns.
  virtual int max_length() const = 0;
};

// Thread-safe; Load may run while other versions of the same model serve.
class ServableLoader {
 public:
  virtual ~ServableLoader() = default;
  // Loads (and verifies) a version directory. Any corrupt or incomplete directory is an error
  // naming the problem; the caller keeps serving what it had.
  virtual absl::StatusOr<std::unique_ptr<Servable>> Load(const std::string& dir) const = 0;
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_SERVABLE_H_
