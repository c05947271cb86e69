// What a training job optimises, behind one interface, so that everything else the trainer does
// (optimizer, schedule, gradient synchronisation, resume, checkpoints) is the same for all:
//  - classification: the product, DistilBertForSequenceClassification on (text, label);
//  - masked-LM pretraining: DistilBertForMaskedLM on the training texts, labels unused, with
//    BERT's recipe (MaskTokens below). A classifier fine-tuned from the result (init_dir) starts
//    from an encoder that has already seen the domain's text, which a model trained from
//    scratch on ~100k tweets otherwise learns from the labels alone. This is how Hugging Face's
//    run_mlm.py + run_glue.py, or "don't stop pretraining" (Gururangan et al. 2020), are used;
//  - replaced-token detection: ELECTRA's pretraining (Clark et al. 2020) of the same encoder,
//    model::DistilBertForReplacedTokenDetection: a small generator fills the masked tokens with
//    samples (Corrupt below), the encoder tells which tokens were replaced.
//
// Which tokens are masked depends on a per-sequence seed only (the trainer derives it from the
// job seed, the step and the cache row), so a resumed job replays it exactly and evaluation
// masks the same tokens at every epoch, on any number of ranks.
//
// An Objective owns its model. Not thread-safe: used by the trainer's thread.
#ifndef MURMUR_WORKER_OBJECTIVE_H_
#define MURMUR_WORKER_OBJECTIVE_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/model_io.h"
#include "model/safetensors.h"

namespace murmur::worker {

enum class ObjectiveKind { kClassification, kMaskedLm, kReplacedTokenDetection };

// "classification", "masked_lm" or "replaced_token_detection" (the job spec's names);
// INVALID_ARGUMENT otherwise.
absl::StatusOr<ObjectiveKind> ParseObjectiveKind(std::string_view name);

struct EvalResult {
  double loss = 0;      // mean per example (classification) or per masked token (masked-LM)
  double accuracy = 0;  // of the labels, or of the masked tokens (replaced-token detection: the
                        // generator's)
  // Replaced-token detection: the discriminator's per-token accuracy (whether each token was
  // replaced). 0 for the other objectives.
  double detection_accuracy = 0;
  std::vector<double> precision, recall, f1;  // per class (classification only)
  // Row-major [true class][predicted class] counts (classification only).
  std::vector<int64_t> confusion;
  int64_t examples = 0;  // sequences evaluated
};

// BERT's masking of a micro-batch: each token except the first and the last ([CLS], [SEP]) is
// chosen with `probability`; a chosen token becomes `mask_id` (80%), a uniformly random token
// of the vocabulary (10%) or stays (10%). A sequence with tokens to choose from gets at least
// one (a short tweet would otherwise often teach nothing). Draws depend on seeds[i] only.
struct MaskedTokens {
  std::vector<std::vector<int32_t>> inputs;  // the sequences after replacement
  std::vector<int64_t> rows;     // packed row of each chosen token (model::Batch's layout)
  std::vector<int64_t> targets;  // its original id
  // Its sequence, and its position in that sequence (rows[k] is the sequence's first row +
  // positions[k]).
  std::vector<int64_t> sequences, positions;
};
MaskedTokens MaskTokens(const std::vector<std::vector<int32_t>>& sequences,
                        const std::vector<uint64_t>& seeds, double probability, int32_t mask_id,
                        int64_t vocab_size);

// ELECTRA's corruption: the discriminator's input is `sequences` with each chosen token
// (masked.sequences[k], masked.positions[k]) replaced by `sampled[k]`; `replaced` has one entry per
// token, in the same packed order, 1 where the token differs from the original (a sample equal
// to the original is not a replacement, as in ELECTRA) and 0 elsewhere.
struct CorruptedTokens {
  std::vector<std::vector<int32_t>> inputs;
  std::vector<float> replaced;
};
CorruptedTokens Corrupt(const std::vector<std::vector<int32_t>>& sequences,
                        const MaskedTokens& masked, const std::vector<int64_t>& sampled);

struct ObjectiveOptions {
  ObjectiveKind kind = ObjectiveKind::kClassification;
  // Model preset when init_dir is empty. Default "small".
  std::string preset = "small";
  // Hugging Face-layout directory to start from. Classification: a classifier, a masked-LM or
  // a bare encoder (the head is then fresh). Masked-LM: a DistilBertForMaskedLM checkpoint
  // (continued pretraining, e.g. of distilbert-base-uncased). Default: random initialisation.
  std::string init_dir;
  // Tokens of the vocabulary in use (the model's size when built from a preset). Required.
  int64_t vocab_size = 0;
  // Overrides every dropout probability when >= 0. Default -1 (the config's).
  double dropout = -1;
  // bf16 autocast for the forward pass (fp32 master weights). Default false.
  bool bf16 = false;
  // Masked-LM: the [MASK] id and the fraction of tokens chosen. Defaults -1 (required), 0.15.
  int32_t mask_token_id = -1;
  double mask_probability = 0.15;
  // Classification: label smoothing e, in [0, 1) (JobSpec.label_smoothing). Default 0.
  double label_smoothing = 0;
};

class Objective {
 public:
  virtual ~Objective() = default;

  // Builds the model (initialised from torch's current seed unless loaded from init_dir).
  static absl::StatusOr<std::unique_ptr<Objective>> Create(const ObjectiveOptions& options);

  virtual torch::nn::Module& module() = 0;
  virtual const model::DistilBertConfig& config() const = 0;
  // The parameter whose gradient only has rows of the step's input ids, for row-sparse
  // synchronisation and updates; "" when every row can get one (the masked-LM projector is
  // tied to the word embeddings). Backward adds into its .grad() without autograd
  // (EmbeddingsImpl::row_sparse_gradient): the caller zeroes the rows it consumed, or drops
  // the gradient, before the next step.
  virtual std::string sparse_parameter() const = 0;

  // The micro-batch's loss summed over its terms (samples, or masked tokens), and the number of
  // terms. Throws c10::Error (the trainer calls it inside TorchCall).
  struct Loss {
    at::Tensor sum;
    int64_t terms = 0;
  };
  virtual Loss ComputeLoss(const std::vector<std::vector<int32_t>>& sequences,
                           const std::vector<int64_t>& labels,
                           const std::vector<uint64_t>& seeds) = 0;

  // Evaluation as a vector of num_eval_counts() doubles that add up across chunks and ranks
  // (one all-reduce), then Summarize. CountEvaluation runs without gradients, in eval mode.
  virtual int64_t num_eval_counts() const = 0;
  virtual void CountEvaluation(const std::vector<std::vector<int32_t>>& sequences,
                               const std::vector<int64_t>& labels,
                               const std::vector<uint64_t>& seeds, at::Tensor& counts) = 0;
  virtual EvalResult Summarize(const at::Tensor& counts) const = 0;

  virtual absl::StatusOr<model::Manifest> Save(const std::string& dir,
                                               const model::SaveOptions& options) const = 0;
  virtual absl::StatusOr<model::LoadReport> LoadWeights(const model::SafetensorsFile& file) = 0;
};

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_OBJECTIVE_H_
