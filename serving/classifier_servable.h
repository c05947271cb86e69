// The production Servable: an adapter over model::Classifier (DistilBERT in libtorch, the same
// code path as `murmur predict`). A version directory is a checkpoint directory in the Hugging
// Face layout; its murmur manifest is verified (sha256 of every file) when present, and a plain
// Hugging Face directory loads too.
//
// Thread-safety: as model::Classifier, immutable after Load and safe to call from many threads.
// This header is torch-free; libtorch is linked, not included.
#ifndef MURMUR_SERVING_CLASSIFIER_SERVABLE_H_
#define MURMUR_SERVING_CLASSIFIER_SERVABLE_H_

#include <memory>
#include <string>

#include "serving/servable.h"

namespace murmur::serving {

class ClassifierServableLoader : public ServableLoader {
 public:
  struct Options {
    // bf16 inference (about 4x faster on AMX CPUs; probabilities move by ~1e-2). Default false.
    bool bf16 = false;
    // Tokens per text, [CLS]/[SEP] included; 0: the model's max_position_embeddings. Default 0.
    int max_length = 0;
    // libtorch intra-op threads (process-wide); 0 leaves the setting alone. Default 0.
    int intra_op_threads = 0;
  };
  explicit ClassifierServableLoader(Options options) : options_(options) {}

  absl::StatusOr<std::unique_ptr<Servable>> Load(const std::string& dir) const override;

 private:
  const Options options_;
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_CLASSIFIER_SERVABLE_H_
