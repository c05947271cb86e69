// Loading and saving DistilBertForSequenceClassification (and the pretraining models,
// DistilBertForMaskedLM and DistilBertForReplacedTokenDetection) in the Hugging Face directory
// layout.
//
// Loading accepts three kinds of weight files, recognised by their tensor names:
//  - DistilBertForSequenceClassification ("distilbert.*", "pre_classifier.*", "classifier.*"):
//    loaded whole;
//  - DistilBertForMaskedLM (the pretrained distilbert-base-uncased: "distilbert.*" plus
//    "vocab_transform.*", "vocab_layer_norm.*", "vocab_projector.*"): encoder loaded, the
//    classification head freshly initialised, the MLM-only tensors ignored and reported;
//  - DistilBertForReplacedTokenDetection (murmur's ELECTRA-style pretraining: "distilbert.*"
//    plus "discriminator_predictions.*" and "generator.*"): the discriminator's encoder loaded,
//    head fresh, the rest ignored and reported;
//  - DistilBertModel (bare "embeddings.*", "transformer.*"): encoder loaded, head fresh.
// Anything else fails with an error naming the file and the tensor: a missing or unexpected
// tensor, a shape that disagrees with config.json, a non-floating dtype; and config.json's
// vocab_size must equal the number of lines of vocab.txt.
//
// Thread-safe functions (no shared state); they never throw.
#ifndef MURMUR_MODEL_MODEL_IO_H_
#define MURMUR_MODEL_MODEL_IO_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/distilbert.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"

namespace murmur::model {

struct LoadReport {
  // DistilBertForSequenceClassification, DistilBertForMaskedLM or DistilBertModel.
  std::string source_architecture;
  // True when the file had no classification head and a fresh one was initialised.
  bool head_initialized = false;
  // Tensors in the file the classifier does not use (MLM head, position_ids buffers).
  std::vector<std::string> ignored;

  // One line for logs: "loaded DistilBertForMaskedLM; classification head freshly
  // initialised; ignored 6 tensors: vocab_projector.bias, ...".
  std::string ToString() const;
};

// Copies the weights of `file` into `model` (converting floating dtypes to the parameters'
// dtype). On error `model` may be partly overwritten.
absl::StatusOr<LoadReport> LoadWeights(const SafetensorsFile& file,
                                       DistilBertForSequenceClassification& model);
// The masked-LM model needs every tensor of DistilBertForMaskedLM (resuming a pretraining job);
// a saved "vocab_projector.weight" (the tied word embeddings) is ignored.
absl::StatusOr<LoadReport> LoadWeights(const SafetensorsFile& file, DistilBertForMaskedLM& model);

// The model's parameters under Hugging Face's names, in registration order.
NamedTensors StateDict(const DistilBertForSequenceClassification& model);
NamedTensors StateDict(const DistilBertForMaskedLM& model);
// The replaced-token-detection model needs every tensor of its own (resuming its job); a saved
// "generator.vocab_projector.weight" (the shared word embeddings) is ignored.
absl::StatusOr<LoadReport> LoadWeights(const SafetensorsFile& file,
                                       DistilBertForReplacedTokenDetection& model);
NamedTensors StateDict(const DistilBertForReplacedTokenDetection& model);

struct LoadOptions {
  // When the directory has murmur_manifest.json, check every file's sha256 before loading.
  // Default true (costs one extra read of the weights).
  bool verify_manifest = true;
  // Fail when there is no manifest (directories not written by murmur have none). Default false.
  bool require_manifest = false;
};

struct LoadedModel {
  DistilBertConfig config;
  DistilBertForSequenceClassification model{nullptr};  // fp32, eval() mode
  std::string vocab_path;
  LoadReport report;
  std::optional<Manifest> manifest;  // when the directory has one
};

// Loads config.json, checks vocab.txt against it, builds the model and loads
// model.safetensors.
absl::StatusOr<LoadedModel> LoadModelDir(const std::string& dir, const LoadOptions& options = {});

struct SaveOptions {
  // vocab.txt to copy into the checkpoint. Required.
  std::string vocab_path;
  // Version, step, epoch, metrics for the manifest. Default zeros.
  CheckpointInfo info;
  // Written as training_state.safetensors when set. Default none. Borrowed for the call.
  const TrainingState* training_state = nullptr;
  // Replace an existing directory. Default false.
  bool overwrite = false;
};

// Writes a complete checkpoint directory atomically: config.json, vocab.txt, model.safetensors
// (fp32, metadata {"format": "pt"} as transformers expects), optional training state, manifest.
absl::StatusOr<Manifest> SaveCheckpoint(const std::string& dir,
                                        const DistilBertForSequenceClassification& model,
                                        const SaveOptions& options);
// The same for a masked-LM model (config.json names DistilBertForMaskedLM; the tied projector
// weight is not written, as transformers does not write it either).
absl::StatusOr<Manifest> SaveCheckpoint(const std::string& dir, const DistilBertForMaskedLM& model,
                                        const SaveOptions& options);
// The same for the replaced-token-detection model: config.json is the discriminator's (the
// generator's follows from it, DistilBertForReplacedTokenDetectionImpl::GeneratorConfig); the
// generator's projector, tied to the word embeddings, is not written.
absl::StatusOr<Manifest> SaveCheckpoint(const std::string& dir,
                                        const DistilBertForReplacedTokenDetection& model,
                                        const SaveOptions& options);

// Number of tokens (lines) in a vocab.txt, without parsing it (the tokenizer does that).
absl::StatusOr<int64_t> CountVocabLines(const std::string& path);

}  // namespace murmur::model

#endif  // MURMUR_MODEL_MODEL_IO_H_
