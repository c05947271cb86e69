#include "serving/classifier_servable.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file.h"
#include "base/logging.h"
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

// Classifies `texts` with `bf16` and with an fp32 copy of the same checkpoint and logs how far
// apart they are. Informational: a borderline text may flip, which the log shows.
void LogAgreementWithFp32(const std::string& dir, const model::Classifier& bf16,
                          model::Classifier::Options options,
                          const std::vector<std::string>& texts) {
  options.bf16 = false;
  auto fp32 = model::Classifier::Create(dir, options);
  if (!fp32.ok()) {
    LogLine(absl::StrCat(dir, ": no fp32 copy to check bf16 against: ", fp32.status().message()));
    return;
  }
  std::vector<std::vector<int32_t>> sequences(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) bf16.Tokenize(texts[i], &sequences[i]);
  auto low = bf16.Classify(sequences);
  auto high = (*fp32)->Classify(sequences);
  if (!low.ok() || !high.ok()) {
    LogLine(absl::StrCat(dir, ": bf16 check failed: ",
                         (!low.ok() ? low.status() : high.status()).message()));
    return;
  }
  int same = 0;
  float largest = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    same += (*low)[i].label_id == (*high)[i].label_id;
    for (size_t c = 0; c < (*low)[i].probabilities.size(); ++c) {
      largest = std::max(largest,
                         std::fabs((*low)[i].probabilities[c] - (*high)[i].probabilities[c]));
    }
  }
  LogLine(absl::StrFormat("%s: bf16 gives the fp32 label on %d of %d warm-up texts; largest "
                          "probability difference %.4f",
                          dir, same, static_cast<int>(texts.size()), largest));
}

absl::StatusOr<std::unique_ptr<Servable>> ClassifierServableLoader::Load(
    const std::string& dir) const {
  model::Classifier::Options options;
  options.bf16 = options_.precision == model::Precision::kBf16;
  options.max_length = options_.max_length;
  options.num_threads = options_.intra_op_threads;
  options.verify_manifest = PathExists(dir + "/" + model::kManifestFile);
  absl::StatusOr<std::unique_ptr<model::Classifier>> classifier =
      model::Classifier::Create(dir, options);
  if (!classifier.ok()) return classifier.status();
  if (options.bf16 && !options_.agreement_texts.empty()) {
    LogAgreementWithFp32(dir, **classifier, options, options_.agreement_texts);
  }
  return std::make_unique<ClassifierServable>(std::move(*classifier));
}

}  // namespace murmur::serving
