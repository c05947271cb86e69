#include "worker/objective.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "base/random.h"
#include "model/autocast.h"
#include "model/batch.h"
#include "model/distilbert.h"
#include "model/softmax_cross_entropy.h"
#include "proto/objectives.h"

namespace murmur::worker {
namespace {

namespace F = torch::nn::functional;

model::Batch MakeBatch(const std::vector<std::vector<int32_t>>& sequences,
                       const model::DistilBertConfig& config) {
  auto batch = model::Batch::FromSequences(sequences, config.max_position_embeddings);
  TORCH_CHECK(batch.ok(), std::string(batch.status().message()));
  return *std::move(batch);
}

void OverrideDropout(model::DistilBertConfig& config, double dropout) {
  if (dropout < 0) return;
  config.dropout = config.attention_dropout = config.seq_classif_dropout = dropout;
}

// MaskTokens with the options' [MASK] id and probability. Nothing to predict (every sequence is
// only [CLS] [SEP]): the first [CLS] is predicted, so the loss still reaches every parameter and
// the gradient hooks of the synchronisation fire.
MaskedTokens MaskForPrediction(const std::vector<std::vector<int32_t>>& sequences,
                               const std::vector<uint64_t>& seeds, const ObjectiveOptions& options,
                               int64_t vocab_size) {
  MaskedTokens masked =
      MaskTokens(sequences, seeds, options.mask_probability, options.mask_token_id, vocab_size);
  if (masked.rows.empty()) {
    masked.rows.push_back(0);
    masked.targets.push_back(sequences.front().front());
    masked.sequences.push_back(0);
    masked.positions.push_back(0);
  }
  return masked;
}

// The pretraining objectives' first four evaluation counts, [loss sum, masked tokens, correctly
// predicted masked tokens, sequences]: loss per masked token, masked-token accuracy, sequences.
EvalResult SummarizeMaskedTokens(const at::Tensor& counts) {
  auto c = counts.accessor<double, 1>();
  EvalResult result;
  result.loss = c[0] / std::max(1.0, c[1]);
  result.accuracy = c[2] / std::max(1.0, c[1]);
  result.examples = static_cast<int64_t>(c[3]);
  return result;
}

// What every objective does the same way with its model (one of the model/ module holders,
// which model_io saves and loads by overload).
template <typename Model>
class ObjectiveWithModel : public Objective {
 public:
  explicit ObjectiveWithModel(Model model) : model_(std::move(model)) {}

  torch::nn::Module& module() override { return *model_; }
  const model::DistilBertConfig& config() const override { return model_->config(); }
  absl::StatusOr<model::Manifest> Save(const std::string& dir,
                                       const model::SaveOptions& options) const override {
    return model::SaveCheckpoint(dir, model_, options);
  }
  absl::StatusOr<model::LoadReport> LoadWeights(const model::SafetensorsFile& file) override {
    return model::LoadWeights(file, model_);
  }

 protected:
  // Where the model is (the trainer moves it); inputs go there.
  torch::Device device() const {
    return model_->distilbert->embeddings->word_embeddings->weight.device();
  }
  at::Tensor OnDevice(const std::vector<int64_t>& values) const {
    return torch::tensor(values, torch::kLong).to(device());
  }
  model::Batch BatchOnDevice(const std::vector<std::vector<int32_t>>& sequences) const {
    return MakeBatch(sequences, model_->config()).To(device());
  }

  Model model_;
};

class ClassificationObjective
    : public ObjectiveWithModel<model::DistilBertForSequenceClassification> {
 public:
  ClassificationObjective(model::DistilBertForSequenceClassification model, bool bf16,
                          double label_smoothing)
      : ObjectiveWithModel(std::move(model)), bf16_(bf16), label_smoothing_(label_smoothing) {
    // The sparse parameter's gradient lives in a buffer the trainer zeroes row by row.
    model_->distilbert->embeddings->row_sparse_gradient = true;
  }

  std::string sparse_parameter() const override {
    return "distilbert.embeddings.word_embeddings.weight";
  }

  Loss ComputeLoss(const std::vector<std::vector<int32_t>>& sequences,
                   const std::vector<int64_t>& labels, const std::vector<uint64_t>&) override {
    at::Tensor logits = Logits(sequences);
    at::Tensor sum = model::SummedSoftmaxCrossEntropy(logits, OnDevice(labels));
    if (label_smoothing_ > 0) {
      // Against (1 - e) one-hot + e / K: the loss is (1 - e) CE(y) + e mean_c CE(c), and
      // mean_c CE(c) = logsumexp(z) - mean_c z_c (a [samples, K] reduction; K is 2 here).
      at::Tensor uniform = (at::logsumexp(logits, 1) - logits.mean(1)).sum();
      sum = sum * (1 - label_smoothing_) + uniform * label_smoothing_;
    }
    return {sum, static_cast<int64_t>(labels.size())};
  }

  // [loss sum, examples, confusion matrix (true x predicted)]
  int64_t num_eval_counts() const override { return 2 + classes() * classes(); }

  void CountEvaluation(const std::vector<std::vector<int32_t>>& sequences,
                       const std::vector<int64_t>& labels, const std::vector<uint64_t>&,
                       at::Tensor& counts) override {
    at::Tensor logits = Logits(sequences);
    at::Tensor targets = OnDevice(labels);
    counts[0] += model::SummedSoftmaxCrossEntropy(logits, targets).item<double>();
    counts[1] += static_cast<double>(labels.size());
    at::Tensor cells = targets * classes() + logits.argmax(1);
    counts.narrow(0, 2, classes() * classes())
        .add_(at::bincount(cells, {}, classes() * classes()).to(torch::kCPU, torch::kDouble));
  }

  EvalResult Summarize(const at::Tensor& counts) const override {
    auto c = counts.accessor<double, 1>();
    const int64_t k_classes = classes();
    EvalResult result;
    result.examples = static_cast<int64_t>(c[1]);
    result.loss = c[0] / std::max(1.0, c[1]);
    double correct = 0;
    for (int64_t k = 0; k < k_classes; ++k) {
      double tp = c[2 + k * k_classes + k], predicted = 0, actual = 0;
      for (int64_t j = 0; j < k_classes; ++j) {
        predicted += c[2 + j * k_classes + k];
        actual += c[2 + k * k_classes + j];
      }
      correct += tp;
      double precision = predicted > 0 ? tp / predicted : 0;
      double recall = actual > 0 ? tp / actual : 0;
      result.precision.push_back(precision);
      result.recall.push_back(recall);
      result.f1.push_back(precision + recall > 0 ? 2 * precision * recall / (precision + recall)
                                                 : 0);
    }
    result.accuracy = correct / std::max(1.0, c[1]);
    for (int64_t cell = 0; cell < k_classes * k_classes; ++cell) {
      result.confusion.push_back(static_cast<int64_t>(c[2 + cell]));
    }
    return result;
  }

 private:
  int64_t classes() const { return model_->config().num_labels(); }

  at::Tensor Logits(const std::vector<std::vector<int32_t>>& sequences) {
    model::Batch batch = BatchOnDevice(sequences);
    if (bf16_) {
      model::AutocastBf16 autocast(device().type());
      return model_->forward(batch).to(at::kFloat);
    }
    return model_->forward(batch);
  }

  bool bf16_;
  double label_smoothing_;  // in [0, 1): the ComputeLoss target's uniform share
};

class MaskedLmObjective : public ObjectiveWithModel<model::DistilBertForMaskedLM> {
 public:
  MaskedLmObjective(model::DistilBertForMaskedLM model, const ObjectiveOptions& options)
      : ObjectiveWithModel(std::move(model)), options_(options) {}

  std::string sparse_parameter() const override { return ""; }

  Loss ComputeLoss(const std::vector<std::vector<int32_t>>& sequences, const std::vector<int64_t>&,
                   const std::vector<uint64_t>& seeds) override {
    MaskedTokens masked = Mask(sequences, seeds);
    return {model::SummedSoftmaxCrossEntropy(Logits(masked), OnDevice(masked.targets)),
            static_cast<int64_t>(masked.targets.size())};
  }

  // [loss sum, masked tokens, correctly predicted masked tokens, sequences]
  int64_t num_eval_counts() const override { return 4; }

  void CountEvaluation(const std::vector<std::vector<int32_t>>& sequences,
                       const std::vector<int64_t>&, const std::vector<uint64_t>& seeds,
                       at::Tensor& counts) override {
    MaskedTokens masked = Mask(sequences, seeds);
    at::Tensor logits = Logits(masked);
    at::Tensor targets = OnDevice(masked.targets);
    counts[0] += model::SummedSoftmaxCrossEntropy(logits, targets).item<double>();
    counts[1] += static_cast<double>(masked.targets.size());
    counts[2] += logits.argmax(1).eq(targets).sum().item<double>();
    counts[3] += static_cast<double>(sequences.size());
  }

  EvalResult Summarize(const at::Tensor& counts) const override {
    return SummarizeMaskedTokens(counts);
  }

 private:
  MaskedTokens Mask(const std::vector<std::vector<int32_t>>& sequences,
                    const std::vector<uint64_t>& seeds) const {
    return MaskForPrediction(sequences, seeds, options_, model_->config().vocab_size);
  }

  // In the projection's dtype (bf16 under autocast): the loss reads them as they are.
  at::Tensor Logits(const MaskedTokens& masked) {
    model::Batch batch = BatchOnDevice(masked.inputs);
    at::Tensor rows = OnDevice(masked.rows);
    std::optional<model::AutocastBf16> autocast;
    if (options_.bf16) autocast.emplace(device().type());
    return model_->ComputeDtypeLogits(batch, rows);
  }

  ObjectiveOptions options_;
};

// ELECTRA's replaced-token detection (model::DistilBertForReplacedTokenDetection): the
// generator predicts the masked tokens (a masked-LM loss), a token sampled from its prediction
// replaces each, and the discriminator tells for every token whether it was replaced. The loss is
// ELECTRA's, generator mean + kDiscriminatorWeight x discriminator mean, carried as a sum over
// the masked tokens: generator sum + kDiscriminatorWeight x mask_probability x discriminator sum
// (mask_probability standing for masked / tokens), so that it is the same function of the
// samples on any number of ranks and micro-batches.
//
// The sample for each masked token is an inverse-CDF draw of the generator's distribution with
// a uniform from the sequence's seed, so a resumed job (and every evaluation) replays it.
class ReplacedTokenObjective
    : public ObjectiveWithModel<model::DistilBertForReplacedTokenDetection> {
 public:
  // ELECTRA's lambda: the discriminator's per-token loss is ~50x smaller than the generator's.
  static constexpr double kDiscriminatorWeight = 50;

  ReplacedTokenObjective(model::DistilBertForReplacedTokenDetection model,
                         const ObjectiveOptions& options)
      : ObjectiveWithModel(std::move(model)), options_(options) {}

  // The shared embeddings get a dense gradient: the generator's projector is tied to them.
  std::string sparse_parameter() const override { return ""; }

  Loss ComputeLoss(const std::vector<std::vector<int32_t>>& sequences, const std::vector<int64_t>&,
                   const std::vector<uint64_t>& seeds) override {
    Forward pass = Run(sequences, seeds);
    return {pass.loss_sum, pass.masked};
  }

  // [loss sum, masked tokens, correctly predicted masked tokens (generator), sequences,
  //  tokens, correctly detected tokens (discriminator)]
  int64_t num_eval_counts() const override { return 6; }

  void CountEvaluation(const std::vector<std::vector<int32_t>>& sequences,
                       const std::vector<int64_t>&, const std::vector<uint64_t>& seeds,
                       at::Tensor& counts) override {
    Forward pass = Run(sequences, seeds);
    counts[0] += pass.loss_sum.item<double>();
    counts[1] += static_cast<double>(pass.masked);
    counts[2] += pass.generator_correct.item<double>();
    counts[3] += static_cast<double>(sequences.size());
    counts[4] += static_cast<double>(pass.labels.numel());
    counts[5] += pass.discriminator_logits.gt(0).eq(pass.labels.gt(0.5)).sum().item<double>();
  }

  EvalResult Summarize(const at::Tensor& counts) const override {
    EvalResult result = SummarizeMaskedTokens(counts);
    auto c = counts.accessor<double, 1>();
    result.detection_accuracy = c[5] / std::max(1.0, c[4]);
    return result;
  }

 private:
  struct Forward {
    at::Tensor loss_sum;  // generator CE sum + weight x mask_probability x discriminator BCE sum
    at::Tensor generator_correct;             // masked tokens the generator's argmax gets right
    at::Tensor discriminator_logits, labels;  // [tokens]; labels 1 where replaced
    int64_t masked = 0;
  };

  Forward Run(const std::vector<std::vector<int32_t>>& sequences,
              const std::vector<uint64_t>& seeds) {
    const int64_t vocab_size = model_->config().vocab_size;
    MaskedTokens masked = MaskForPrediction(sequences, seeds, options_, vocab_size);
    std::optional<model::AutocastBf16> autocast;
    if (options_.bf16) autocast.emplace(device().type());
    at::Tensor generator_logits =
        model_->Generate(BatchOnDevice(masked.inputs), OnDevice(masked.rows)).to(at::kFloat);
    at::Tensor targets = OnDevice(masked.targets);
    Forward pass;
    pass.masked = static_cast<int64_t>(masked.targets.size());
    pass.generator_correct = generator_logits.argmax(1).eq(targets).sum();

    CorruptedTokens corrupted = Corrupt(sequences, masked, Sample(generator_logits, seeds, masked));
    pass.discriminator_logits = model_->forward(BatchOnDevice(corrupted.inputs));
    pass.labels = torch::from_blob(corrupted.replaced.data(),
                                   {static_cast<int64_t>(corrupted.replaced.size())}, torch::kFloat)
                      .to(device(), /*non_blocking=*/false, /*copy=*/true);
    at::Tensor discriminator_sum = F::binary_cross_entropy_with_logits(
        pass.discriminator_logits, pass.labels,
        F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kSum));
    pass.loss_sum = model::SummedSoftmaxCrossEntropy(generator_logits, targets) +
                    discriminator_sum * (kDiscriminatorWeight * options_.mask_probability);
    return pass;
  }

  // One token per masked row from the generator's softmax, without gradient: the uniform u of
  // each comes from its sequence's seed, the token is the first whose cumulative probability
  // exceeds u.
  std::vector<int64_t> Sample(const at::Tensor& generator_logits,
                              const std::vector<uint64_t>& seeds,
                              const MaskedTokens& masked) const {
    std::vector<float> uniforms;
    uniforms.reserve(masked.rows.size());
    std::optional<Rng> rng;
    for (size_t k = 0; k < masked.rows.size(); ++k) {
      // A sequence's chosen tokens are consecutive: one generator per sequence.
      if (k == 0 || masked.sequences[k] != masked.sequences[k - 1]) {
        rng.emplace(MixSeed(seeds[masked.sequences[k]], kSamplingStream));
      }
      uniforms.push_back(static_cast<float>(rng->UniformDouble()));
    }
    torch::NoGradGuard no_grad;
    at::Tensor cdf = torch::softmax(generator_logits.detach(), 1).cumsum(1);
    at::Tensor u =
        torch::from_blob(uniforms.data(), {static_cast<int64_t>(uniforms.size()), 1}, torch::kFloat)
            .to(cdf.device(), /*non_blocking=*/false, /*copy=*/true);
    // Rounding can leave the last cumulative probability just under u: clamp to the vocabulary.
    at::Tensor drawn = torch::searchsorted(cdf, u, /*out_int32=*/false, /*right=*/true)
                           .squeeze(1)
                           .clamp_max(cdf.size(1) - 1)
                           .to(torch::kCPU);
    return std::vector<int64_t>(drawn.data_ptr<int64_t>(),
                                drawn.data_ptr<int64_t>() + drawn.numel());
  }

  // Separates the sampling draws from the masking draws of the same sequence seed.
  static constexpr uint64_t kSamplingStream = 0x5a3b1e;

  ObjectiveOptions options_;
};

absl::StatusOr<std::unique_ptr<Objective>> CreateClassification(const ObjectiveOptions& options) {
  model::DistilBertConfig config;
  model::DistilBertForSequenceClassification loaded{nullptr};
  if (!options.init_dir.empty()) {
    auto dir = model::LoadModelDir(options.init_dir);
    if (!dir.ok()) return dir.status();
    config = dir->config;
    loaded = dir->model;
  } else {
    auto preset = model::DistilBertConfig::Preset(options.preset, options.vocab_size);
    if (!preset.ok()) return preset.status();
    config = *preset;
  }
  if (loaded && options.dropout < 0) {
    return std::make_unique<ClassificationObjective>(loaded, options.bf16,
                                                     options.label_smoothing);
  }
  OverrideDropout(config, options.dropout);
  // Dropout probabilities are read at construction: build with the final config, then copy
  // loaded weights in (a second model only when a loaded one needs other dropouts).
  model::DistilBertForSequenceClassification classifier(config);
  if (loaded) {
    torch::NoGradGuard no_grad;
    auto source = loaded->named_parameters();
    for (auto& item : classifier->named_parameters()) item.value().copy_(source[item.key()]);
  }
  return std::make_unique<ClassificationObjective>(classifier, options.bf16,
                                                   options.label_smoothing);
}

// The options of both pretraining objectives, which mask tokens.
absl::Status CheckMasking(const ObjectiveOptions& options) {
  if (options.mask_token_id < 0 || options.mask_token_id >= options.vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("pretraining needs the vocabulary's [MASK] id (got ", options.mask_token_id,
                     " for ", options.vocab_size, " tokens)"));
  }
  if (!(options.mask_probability > 0 && options.mask_probability < 1)) {
    return absl::InvalidArgumentError("mask_probability must be in (0, 1)");
  }
  return absl::OkStatus();
}

// A pretraining objective's model: from init_dir's config.json and weights (resuming, or
// continuing from a checkpoint of the same kind), or fresh from the preset.
template <typename ObjectiveType, typename Model>
absl::StatusOr<std::unique_ptr<Objective>> CreatePretraining(const ObjectiveOptions& options) {
  if (absl::Status s = CheckMasking(options); !s.ok()) return s;
  model::DistilBertConfig config;
  std::unique_ptr<model::SafetensorsFile> weights;
  if (!options.init_dir.empty()) {
    auto loaded = model::DistilBertConfig::Load(options.init_dir + "/" + model::kConfigFile);
    if (!loaded.ok()) return loaded.status();
    config = *loaded;
    auto file = model::SafetensorsFile::Open(options.init_dir + "/" + model::kWeightsFile);
    if (!file.ok()) return file.status();
    weights = *std::move(file);
  } else {
    auto preset = model::DistilBertConfig::Preset(options.preset, options.vocab_size);
    if (!preset.ok()) return preset.status();
    config = *preset;
  }
  OverrideDropout(config, options.dropout);
  auto objective = std::make_unique<ObjectiveType>(Model(config), options);
  if (weights != nullptr) {
    auto report = objective->LoadWeights(*weights);
    if (!report.ok()) return report.status();
  }
  return objective;
}

}  // namespace

absl::StatusOr<ObjectiveKind> ParseObjectiveKind(std::string_view name) {
  if (name == kClassificationObjective) return ObjectiveKind::kClassification;
  if (name == kMaskedLmObjective) return ObjectiveKind::kMaskedLm;
  if (name == kReplacedTokenDetectionObjective) return ObjectiveKind::kReplacedTokenDetection;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown objective \"", std::string(name), "\"; expected ", kObjectiveNames));
}

MaskedTokens MaskTokens(const std::vector<std::vector<int32_t>>& sequences,
                        const std::vector<uint64_t>& seeds, double probability, int32_t mask_id,
                        int64_t vocab_size) {
  MaskedTokens out;
  out.inputs = sequences;
  int64_t row = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    std::vector<int32_t>& input = out.inputs[i];
    const int64_t length = static_cast<int64_t>(input.size());
    if (length > 2) {
      Rng rng(seeds[i]);
      std::vector<int64_t> chosen;
      for (int64_t j = 1; j + 1 < length; ++j) {
        if (rng.Bernoulli(probability)) chosen.push_back(j);
      }
      if (chosen.empty()) {
        chosen.push_back(1 + static_cast<int64_t>(rng.Uniform(static_cast<uint64_t>(length - 2))));
      }
      for (int64_t j : chosen) {
        out.rows.push_back(row + j);
        out.targets.push_back(input[j]);
        out.sequences.push_back(static_cast<int64_t>(i));
        out.positions.push_back(j);
        const double k = rng.UniformDouble();
        if (k < 0.8) {
          input[j] = mask_id;
        } else if (k < 0.9) {
          input[j] = static_cast<int32_t>(rng.Uniform(static_cast<uint64_t>(vocab_size)));
        }
      }
    }
    row += length;
  }
  return out;
}

CorruptedTokens Corrupt(const std::vector<std::vector<int32_t>>& sequences,
                        const MaskedTokens& masked, const std::vector<int64_t>& sampled) {
  CorruptedTokens out;
  out.inputs = sequences;
  int64_t total_tokens = 0;
  for (const auto& sequence : sequences) total_tokens += static_cast<int64_t>(sequence.size());
  out.replaced.assign(total_tokens, 0.0f);
  for (size_t k = 0; k < masked.rows.size(); ++k) {
    out.inputs[masked.sequences[k]][masked.positions[k]] = static_cast<int32_t>(sampled[k]);
    out.replaced[masked.rows[k]] = sampled[k] != masked.targets[k] ? 1.0f : 0.0f;
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Objective>> Objective::Create(const ObjectiveOptions& options) {
  if (options.vocab_size <= 0 && options.init_dir.empty()) {
    return absl::InvalidArgumentError("vocab_size is required");
  }
  if (!(options.label_smoothing >= 0 && options.label_smoothing < 1)) {
    return absl::InvalidArgumentError("label_smoothing must be in [0, 1)");
  }
  if (options.label_smoothing > 0 && options.kind != ObjectiveKind::kClassification) {
    return absl::InvalidArgumentError("label_smoothing applies to classification only");
  }
  switch (options.kind) {
    case ObjectiveKind::kMaskedLm:
      return CreatePretraining<MaskedLmObjective, model::DistilBertForMaskedLM>(options);
    case ObjectiveKind::kReplacedTokenDetection:
      return CreatePretraining<ReplacedTokenObjective, model::DistilBertForReplacedTokenDetection>(
          options);
    case ObjectiveKind::kClassification:
      break;
  }
  return CreateClassification(options);
}

}  // namespace murmur::worker
