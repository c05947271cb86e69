#include "model/classifier.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "model/autocast.h"
#include "model/batch.h"
#include "model/distilbert.h"
#include "model/model_io.h"
#include "model/torch_status.h"
#include "text/tokenizer.h"

namespace murmur::model {

struct Classifier::Impl {
  Options options;
  LoadedModel loaded;
  std::unique_ptr<text::Tokenizer> tokenizer;
  std::string load_summary;
  int max_length = 0;
};

Classifier::Classifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Classifier::~Classifier() = default;

absl::StatusOr<std::unique_ptr<Classifier>> Classifier::Create(const std::string& dir,
                                                               const Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.num_threads > 0) {
    absl::Status status = TorchCall("set_num_threads",
                                    [&]() { torch::set_num_threads(options.num_threads); });
    if (!status.ok()) return status;
  }
  absl::StatusOr<LoadedModel> loaded =
      LoadModelDir(dir, {.verify_manifest = options.verify_manifest});
  if (!loaded.ok()) return loaded.status();
  if (loaded->report.head_initialized) {
    // A pretrained encoder (e.g. a masked-LM pretraining job's checkpoint) would answer with a
    // random head: refuse it rather than serve noise.
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " holds a ", loaded->report.source_architecture,
        " without a classification head; fine-tune it first (murmur train --init ", dir, ")"));
  }
  impl->loaded = std::move(*loaded);
  const DistilBertConfig& config = impl->loaded.config;
  impl->max_length = options.max_length > 0
                         ? std::min<int>(options.max_length, config.max_position_embeddings)
                         : static_cast<int>(config.max_position_embeddings);
  if (impl->max_length < 2) {
    return absl::InvalidArgumentError("Classifier: max_length must be at least 2");
  }
  absl::StatusOr<std::unique_ptr<text::Tokenizer>> tokenizer =
      text::Tokenizer::FromVocabFile(impl->loaded.vocab_path);
  if (!tokenizer.ok()) return tokenizer.status();
  impl->tokenizer = std::move(*tokenizer);
  if (impl->tokenizer->vocab().size() != config.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        impl->loaded.vocab_path, " has ", impl->tokenizer->vocab().size(),
        " tokens but config.json says vocab_size ", config.vocab_size));
  }
  if (options.bf16) {
    absl::Status status =
        TorchCall("converting to bf16",
                  [&]() { impl->loaded.model->SetLinearDtype(torch::kBFloat16); });
    if (!status.ok()) return status;
  }
  impl->load_summary = impl->loaded.report.ToString();
  return std::unique_ptr<Classifier>(new Classifier(std::move(impl)));
}

void Classifier::Tokenize(std::string_view text, std::vector<int32_t>* ids) const {
  impl_->tokenizer->EncodeInto(text, impl_->max_length, ids);
}

absl::StatusOr<std::vector<Prediction>> Classifier::Classify(
    const std::vector<std::vector<int32_t>>& sequences) const {
  const DistilBertConfig& config = impl_->loaded.config;
  for (size_t i = 0; i < sequences.size(); ++i) {
    for (int32_t id : sequences[i]) {
      if (id < 0 || id >= config.vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("sequence ", i, ": token id ", id, " outside the vocabulary"));
      }
    }
  }
  absl::StatusOr<Batch> batch = Batch::FromSequences(sequences, config.max_position_embeddings);
  if (!batch.ok()) return batch.status();
  absl::StatusOr<torch::Tensor> probabilities = TorchCall("classify", [&]() {
    c10::InferenceMode inference;
    std::optional<AutocastBf16> autocast;
    if (impl_->options.bf16) autocast.emplace();
    return torch::softmax(impl_->loaded.model->forward(*batch), -1).contiguous();
  });
  if (!probabilities.ok()) return probabilities.status();
  const int64_t labels = probabilities->size(1);
  const float* p = probabilities->data_ptr<float>();
  std::vector<Prediction> predictions(sequences.size());
  for (Prediction& prediction : predictions) {
    prediction.probabilities.assign(p, p + labels);
    prediction.label_id = static_cast<int>(std::max_element(p, p + labels) - p);
    prediction.score = p[prediction.label_id];
    prediction.label = config.id2label[prediction.label_id];
    p += labels;
  }
  return predictions;
}

const DistilBertConfig& Classifier::config() const { return impl_->loaded.config; }
int Classifier::max_length() const { return impl_->max_length; }
const std::optional<Manifest>& Classifier::manifest() const { return impl_->loaded.manifest; }
const std::string& Classifier::load_summary() const { return impl_->load_summary; }

absl::StatusOr<std::vector<Prediction>> ClassifyInLengthSortedBatches(
    const Classifier& classifier, const std::vector<std::string>& texts, int max_batch_size) {
  if (max_batch_size < 1) {
    return absl::InvalidArgumentError("max_batch_size must be at least 1");
  }
  std::vector<std::vector<int32_t>> sequences(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) classifier.Tokenize(texts[i], &sequences[i]);
  // Longest first, so each forward pass holds sequences of similar length.
  std::vector<size_t> order(sequences.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return sequences[a].size() > sequences[b].size();
  });
  std::vector<Prediction> predictions(sequences.size());
  std::vector<std::vector<int32_t>> chunk;
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(max_batch_size)) {
    const size_t end = std::min(order.size(), start + static_cast<size_t>(max_batch_size));
    chunk.clear();
    for (size_t k = start; k < end; ++k) chunk.push_back(std::move(sequences[order[k]]));
    absl::StatusOr<std::vector<Prediction>> chunk_predictions = classifier.Classify(chunk);
    if (!chunk_predictions.ok()) return chunk_predictions.status();
    for (size_t k = start; k < end; ++k) {
      predictions[order[k]] = std::move((*chunk_predictions)[k - start]);
    }
  }
  return predictions;
}

}  // namespace murmur::model
