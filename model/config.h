// DistilBERT hyperparameters, read from and written to Hugging Face's `config.json`
// (transformers' DistilBertConfig), plus the named presets murmur trains and benchmarks.
//
// Plain value type: copyable, no shared state, thread-compatible.
#ifndef MURMUR_MODEL_CONFIG_H_
#define MURMUR_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace murmur::model {

// The labels of murmur's classifier, in label-id order (Sentiment140: 0 negative, 4 -> 1 positive).
inline const std::vector<std::string>& DefaultLabels() {
  static const std::vector<std::string>* labels =
      new std::vector<std::string>{"negative", "positive"};
  return *labels;
}

// The `architectures` names of the models murmur writes.
inline constexpr char kSequenceClassificationArchitecture[] = "DistilBertForSequenceClassification";
inline constexpr char kMaskedLmArchitecture[] = "DistilBertForMaskedLM";
inline constexpr char kReplacedTokenDetectionArchitecture[] = "DistilBertForReplacedTokenDetection";

struct DistilBertConfig {
  // Field names and defaults are Hugging Face's (distilbert-base-uncased).
  int64_t vocab_size = 30522;
  int64_t max_position_embeddings = 512;
  bool sinusoidal_pos_embds = false;
  int64_t n_layers = 6;
  int64_t n_heads = 12;
  int64_t dim = 768;
  int64_t hidden_dim = 3072;
  double dropout = 0.1;
  double attention_dropout = 0.1;
  // "gelu" (erf form, as transformers' GELUActivation) or "relu".
  std::string activation = "gelu";
  double initializer_range = 0.02;
  double qa_dropout = 0.1;
  double seq_classif_dropout = 0.2;
  int64_t pad_token_id = 0;
  // Classification labels in id order; their count is the classifier's output size.
  std::vector<std::string> id2label = DefaultLabels();
  // `architectures` as read (e.g. DistilBertForMaskedLM for the pretrained checkpoint). Not
  // written back: the model being saved names its own architecture (ToJson's argument).
  std::vector<std::string> architectures;

  int64_t num_labels() const { return static_cast<int64_t>(id2label.size()); }
  int64_t head_dim() const { return dim / n_heads; }

  // Checks ranges and consistency (dim divisible by n_heads, known activation, ...).
  absl::Status Validate() const;

  // Parses config.json text. `source` names the file in error messages. Unknown keys are
  // ignored; missing keys keep the defaults above (as Hugging Face does).
  static absl::StatusOr<DistilBertConfig> FromJson(std::string_view json, std::string_view source);
  static absl::StatusOr<DistilBertConfig> Load(const std::string& path);
  // config.json text in Hugging Face's layout (model_type, architectures, id2label/label2id, ...).
  std::string ToJson(std::string_view architecture = kSequenceClassificationArchitecture) const;
  absl::Status Save(const std::string& path) const;

  // Named presets: "base" (distilbert-base-uncased), "small" (2 layers, dim 256, 4 heads, hidden
  // 1024; the training benchmark's preset) and "tiny" (2 layers, dim 32, 2 heads, hidden 64; for
  // fast tests). The vocabulary size comes from the vocab file in use, never from the preset.
  static absl::StatusOr<DistilBertConfig> Preset(std::string_view name, int64_t vocab_size);
};

// Number of parameters of DistilBertForSequenceClassification with `config` (66,955,010 for
// base with 30522 tokens and two labels); computed from shapes, no tensors needed.
int64_t CountParameters(const DistilBertConfig& config);

// Multiply-add operations of one forward pass over `tokens` tokens in sequences of average
// padded attention length `attention_len`, times two (FLOPs). Benchmarks use it to report
// achieved FLOP/s. Embedding lookups and element-wise work are not counted.
double ForwardFlops(const DistilBertConfig& config, double tokens, double attention_len);

}  // namespace murmur::model

#endif  // MURMUR_MODEL_CONFIG_H_
