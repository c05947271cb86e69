#include "serving/classifier_servable.h"

#include <utility>
#include <vector>

#include "base/file.h"
#include "model/checkpoint.h"
#include "model/classifier.h"

namespace murmur::serving {
namespace {

// Forwards to the classifier; the dynamic batcher has formed the batch, so it runs as given.
class ClassifierServable : public Servable {
 public:
  explicit ClassifierServable(std::unique_ptr<model::Classifier> classifier)
      : classifier_(std::move(classifier)) {}

  void Tokenize(std::string_view text, std::vector<int32_t>* ids) const override {
    classifier_->Tokenize(text, ids);
  }

  absl::StatusOr<std::vector<model::Prediction>> Classify(
      const std::vector<std::vector<int32_t>>& sequences) const override {
    return classifier_->Classify(sequences);
  }

  const std::vector<std::string>& labels() const override { return classifier_->config().id2label; }
  int max_length() const override { return classifier_->max_length(); }

 private:
  const std::unique_ptr<model::Classifier> classifier_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Servable>> ClassifierServableLoader::Load(
    const std::string& dir) const {
  model::Classifier::Options options;
  options.bf16 = options_.bf16;
  options.max_length = options_.max_length;
  options.num_threads = options_.intra_op_threads;
  options.verify_manifest = PathExists(dir + "/" + model::kManifestFile);
  absl::StatusOr<std::unique_ptr<model::Classifier>> classifier =
      model::Classifier::Create(dir, options);
  if (!classifier.ok()) return classifier.status();
  return std::make_unique<ClassifierServable>(std::move(*classifier));
}

}  // namespace murmur::serving
