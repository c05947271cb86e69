#include "serving/classifier_servable.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "base/file.h"
#include "model/checkpoint.h"
#include "model/classifier.h"

namespace murmur::serving {
namespace {

class ClassifierServable : public Servable {
 public:
  ClassifierServable(std::unique_ptr<model::Classifier> classifier, int max_length)
      : classifier_(std::move(classifier)),
        labels_(classifier_->config().id2label),
        max_length_(max_length) {}

  void Tokenize(std::string_view text, std::vector<int32_t>* ids) const override {
    classifier_->tokenizer().EncodeInto(text, max_length_, ids);
  }

  absl::StatusOr<std::vector<Prediction>> Classify(
      const std::vector<std::vector<int32_t>>& sequences) const override {
    absl::StatusOr<std::vector<model::Prediction>> predictions =
        classifier_->ClassifyIds(sequences);
    if (!predictions.ok()) return predictions.status();
    std::vector<Prediction> out(predictions->size());
    for (size_t i = 0; i < out.size(); ++i) {
      model::Prediction& p = (*predictions)[i];
      out[i].label_id = p.label_id;
      out[i].score = p.score;
      out[i].probabilities = std::move(p.probabilities);
    }
    return out;
  }

  const std::vector<std::string>& labels() const override { return labels_; }
  int max_length() const override { return max_length_; }

 private:
  const std::unique_ptr<model::Classifier> classifier_;
  const std::vector<std::string> labels_;
  const int max_length_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Servable>> ClassifierServableLoader::Load(
    const std::string& dir) const {
  model::Classifier::Options options;
  options.bf16 = options_.bf16;
  options.max_length = options_.max_length;
  options.num_threads = options_.intra_op_threads;
  // The batcher already forms the batches; the classifier must not split them further.
  options.max_batch_size = 1 << 20;
  options.verify_manifest = PathExists(dir + "/" + model::kManifestFile);
  absl::StatusOr<std::unique_ptr<model::Classifier>> classifier =
      model::Classifier::Create(dir, options);
  if (!classifier.ok()) return classifier.status();
  // As the classifier computes it, so serving truncates exactly as `murmur predict` does.
  const int model_max = static_cast<int>((*classifier)->config().max_position_embeddings);
  const int max_length =
      options_.max_length > 0 ? std::min(options_.max_length, model_max) : model_max;
  return std::make_unique<ClassifierServable>(std::move(*classifier), max_length);
}

}  // namespace murmur::serving
