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
#include <vector>

#include "model/precision.h"
#include "serving/servable.h"

namespace murmur::serving {

class ClassifierServableLoader : public ServableLoader {
 public:
  struct Options {
    // Inference precision (model/precision.h: bf16 is several times faster on CPUs with native
    // bf16, probabilities move by ~1e-2). Default fp32.
    model::Precision precision = model::Precision::kFp32;
    // For a bf16 version: texts classified in both precisions at load, to log whether bf16
    // gives the fp32 labels and the largest probability difference. Default none.
    std::vector<std::string> agreement_texts;
    // Tokens per text, [CLS]/[SEP] included; 0: the model's max_position_embeddings. Default 0.
    int max_length = 0;
    // libtorch intra-op threads (process-wide); 0 leaves the setting alone. Default 0.
    int intra_op_threads = 0;
  };
  explicit ClassifierServableLoader(Options options) : options_(std::move(options)) {}

  absl::StatusOr<std::unique_ptr<Servable>> Load(const std::string& dir) const override;

 private:
  const Options options_;
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_CLASSIFIER_SERVABLE_H_
