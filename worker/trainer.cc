#include "worker/trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "absl/strings/str_cat.h"
#include "model/distilbert.h"
#include "model/model_io.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
#include "model/torch_status.h"
#include "worker/optimizer.h"

namespace murmur::worker {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

constexpr char kTrainingStateJsonKey[] = "global_step";

}  // namespace

struct Trainer::Impl {
  TrainerOptions options;
  const data::TokenCache* cache = nullptr;
  model::DistilBertConfig config;
  model::DistilBertForSequenceClassification model{nullptr};
  NamedTensors parameters;
  std::unique_ptr<AdamW> optimizer;
  std::unique_ptr<GradientSynchronizer> sync;

  // Model state and optimizer state in one fixed order (the same on every rank).
  NamedTensors AllState() const {
    NamedTensors state = parameters;
    NamedTensors moments = optimizer->State();
    state.insert(state.end(), moments.begin(), moments.end());
    return state;
  }

  // Sequences of token ids for the given cache rows, and their labels.
  void Gather(const std::vector<uint32_t>& rows, std::vector<std::vector<int32_t>>* sequences,
              std::vector<int64_t>* labels, std::vector<int64_t>* ids) const {
    sequences->clear();
    labels->clear();
    for (uint32_t row : rows) {
      sequences->push_back(cache->Ids(row));
      labels->push_back(cache->label(row));
      if (ids != nullptr) ids->insert(ids->end(), sequences->back().begin(), sequences->back().end());
    }
  }

  // Word dropout (TrainerOptions::token_dropout). The draw depends on (seed, step, rank,
  // micro-batch) only, like the dropout masks: a resumed job replays it exactly. `ids` (the
  // embedding rows whose gradients are synchronised) gains the replacement id: every row the
  // step touches must be in it, or the ranks' embeddings drift apart.
  void DropTokens(int64_t step, int rank, int micro_batch,
                  std::vector<std::vector<int32_t>>* sequences, std::vector<int64_t>* ids) const {
    if (options.token_dropout <= 0) return;
    std::mt19937_64 rng(options.seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(step) * 1000003ULL +
                        static_cast<uint64_t>(rank) * 7919ULL + static_cast<uint64_t>(micro_batch));
    std::bernoulli_distribution drop(options.token_dropout);
    for (std::vector<int32_t>& sequence : *sequences) {
      for (size_t j = 1; j + 1 < sequence.size(); ++j) {
        if (drop(rng)) sequence[j] = options.token_dropout_id;
      }
    }
    ids->push_back(options.token_dropout_id);
  }

  at::Tensor Logits(const std::vector<std::vector<int32_t>>& sequences) {
    auto batch = model::Batch::FromSequences(sequences, config.max_position_embeddings);
    TORCH_CHECK(batch.ok(), std::string(batch.status().message()));
    if (options.bf16) {
      model::AutocastBf16 autocast;
      return model->forward(*batch).to(at::kFloat);
    }
    return model->forward(*batch);
  }
};

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::~Trainer() = default;

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const TrainerOptions& options,
                                                         const data::TokenCache* cache) {
  if (options.token_dropout < 0 || options.token_dropout >= 1 ||
      (options.token_dropout > 0 && options.token_dropout_id < 0)) {
    return absl::InvalidArgumentError(
        "token_dropout must be in [0, 1), and needs a replacement token id when on");
  }
  if (options.total_steps <= 0) {
    return absl::InvalidArgumentError("total_steps must be positive");
  }
  if (options.vocab_path.empty()) return absl::InvalidArgumentError("vocab_path is required");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->cache = cache;
  if (options.threads > 0) torch::set_num_threads(options.threads);
  absl::Status status = model::TorchCall("creating the model", [&]() -> absl::Status {
    torch::manual_seed(options.seed);
    if (!options.init_dir.empty()) {
      auto loaded = model::LoadModelDir(options.init_dir);
      if (!loaded.ok()) return loaded.status();
      impl->config = loaded->config;
      if (options.dropout >= 0) {
        impl->config.dropout = impl->config.attention_dropout = options.dropout;
        impl->config.seq_classif_dropout = options.dropout;
        // Dropout modules read their probability at construction: rebuild and copy weights.
        impl->model = model::DistilBertForSequenceClassification(impl->config);
        torch::NoGradGuard no_grad;
        auto source = loaded->model->named_parameters();
        for (auto& item : impl->model->named_parameters()) {
          item.value().copy_(source[item.key()]);
        }
      } else {
        impl->model = loaded->model;
      }
    } else {
      auto vocab_size = model::CountVocabLines(options.vocab_path);
      if (!vocab_size.ok()) return vocab_size.status();
      auto config = model::DistilBertConfig::Preset(options.preset, *vocab_size);
      if (!config.ok()) return config.status();
      impl->config = *config;
      if (options.dropout >= 0) {
        impl->config.dropout = impl->config.attention_dropout = options.dropout;
        impl->config.seq_classif_dropout = options.dropout;
      }
      impl->model = model::DistilBertForSequenceClassification(impl->config);
    }
    if (cache->info().vocab_size != static_cast<uint32_t>(impl->config.vocab_size)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the token cache was built with a vocabulary of ", cache->info().vocab_size,
          " tokens but the model has ", impl->config.vocab_size));
    }
    impl->model->train();
    for (auto& item : impl->model->named_parameters()) {
      impl->parameters.emplace_back(item.key(), item.value());
    }
    AdamWOptions adamw;
    adamw.weight_decay = options.weight_decay;
    impl->optimizer = std::make_unique<AdamW>(impl->parameters, adamw);
    impl->sync = std::make_unique<GradientSynchronizer>(impl->parameters, options.grad_sync);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
}

int64_t Trainer::global_step() const { return impl_->optimizer->steps_taken(); }
const TrainerOptions& Trainer::options() const { return impl_->options; }
void Trainer::set_total_steps(int64_t total_steps) {
  impl_->options.total_steps = std::max<int64_t>(1, total_steps);
}

absl::Status Trainer::BroadcastState(Communicator& communicator, int root) {
  return model::TorchCall("broadcasting the training state", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    // One flat buffer per dtype: a few large broadcasts instead of hundreds of small ones.
    NamedTensors state = impl_->AllState();
    for (at::ScalarType dtype : {at::kFloat, at::kLong, at::kBFloat16, at::kDouble}) {
      std::vector<at::Tensor> members;
      for (auto& [name, tensor] : state) {
        if (tensor.scalar_type() == dtype) members.push_back(tensor);
      }
      if (members.empty()) continue;
      std::vector<at::Tensor> flat_views;
      for (const at::Tensor& t : members) flat_views.push_back(t.reshape(-1));
      at::Tensor flat = at::cat(flat_views);
      if (auto s = communicator.BroadcastSync(flat, root); !s.ok()) return s;
      int64_t offset = 0;
      for (at::Tensor& t : members) {
        t.copy_(flat.narrow(0, offset, t.numel()).view_as(t));
        offset += t.numel();
      }
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<StepResult> Trainer::Step(Communicator& communicator,
                                         const std::vector<std::vector<uint32_t>>& micro_batches,
                                         int64_t window_samples) {
  Impl& impl = *impl_;
  StepResult result;
  auto start = Clock::now();
  absl::Status status = model::TorchCall("training step", [&]() -> absl::Status {
    const int64_t step = impl.optimizer->steps_taken();
    // Dropout depends on (seed, step, rank) only: resumable without saving RNG state.
    torch::manual_seed(impl.options.seed * 1000003ULL + static_cast<uint64_t>(step) * 7919ULL +
                       static_cast<uint64_t>(communicator.rank()));
    // Drop the gradients rather than zeroing them: backward then stores its first gradient
    // without a read-add-write pass.
    for (auto& [name, parameter] : impl.parameters) parameter.mutable_grad() = at::Tensor();
    std::vector<std::vector<int32_t>> sequences;
    std::vector<int64_t> labels;
    std::vector<int64_t> step_ids;
    double local_loss_sum = 0;
    // The last micro-batch that has samples carries the gradient synchronisation.
    int last = -1;
    for (int i = 0; i < static_cast<int>(micro_batches.size()); ++i) {
      if (!micro_batches[i].empty()) last = i;
    }
    if (last < 0) impl.sync->Arm(&communicator);
    for (int i = 0; i <= last; ++i) {
      if (micro_batches[i].empty()) continue;
      impl.Gather(micro_batches[i], &sequences, &labels, &step_ids);
      impl.DropTokens(step, communicator.rank(), i, &sequences, &step_ids);
      at::Tensor logits = impl.Logits(sequences);
      at::Tensor targets = torch::tensor(labels, torch::kLong);
      at::Tensor loss_sum = torch::nn::functional::cross_entropy(
          logits, targets,
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
      local_loss_sum += loss_sum.item<double>();
      result.samples += static_cast<int64_t>(labels.size());
      for (const auto& s : sequences) result.tokens += static_cast<int64_t>(s.size());
      if (i == last) impl.sync->Arm(&communicator);
      (loss_sum / static_cast<double>(window_samples)).backward();
    }
    result.compute_seconds = Since(start);
    at::Tensor ids = torch::tensor(step_ids, torch::kLong);
    if (auto s = impl.sync->Finish(ids, &result.sync); !s.ok()) return s;
    at::Tensor loss = torch::tensor({local_loss_sum}, torch::kDouble);
    if (auto s = communicator.AllReduceSync(loss, ReduceOp::kSum); !s.ok()) return s;
    result.loss = loss.item<double>() / static_cast<double>(std::max<int64_t>(1, window_samples));
    result.sync_seconds = result.sync.wait_seconds;
    result.grad_norm = ClipGradNorm(impl.parameters, impl.options.max_grad_norm);
    const int64_t warmup = static_cast<int64_t>(impl.options.warmup_ratio *
                                                static_cast<double>(impl.options.total_steps));
    result.learning_rate = impl.options.learning_rate *
                           LinearScheduleFactor(step, warmup, impl.options.total_steps);
    impl.optimizer->Step(result.learning_rate);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<EvalResult> Trainer::Evaluate(Communicator& communicator) {
  Impl& impl = *impl_;
  const std::vector<uint32_t>& rows = impl.cache->validation_rows();
  const int64_t classes = impl.config.num_labels();
  // This rank's contiguous share of the validation rows.
  const int64_t world = communicator.world_size(), rank = communicator.rank();
  const int64_t n = static_cast<int64_t>(rows.size());
  const int64_t begin = n * rank / world, end = n * (rank + 1) / world;
  std::vector<uint32_t> mine(rows.begin() + begin, rows.begin() + end);
  // Sorted by length: little padding in attention.
  std::sort(mine.begin(), mine.end(), [&](uint32_t a, uint32_t b) {
    return impl.cache->length(a) < impl.cache->length(b);
  });
  EvalResult result;
  absl::Status status = model::TorchCall("evaluation", [&]() -> absl::Status {
    impl.model->eval();
    torch::NoGradGuard no_grad;
    // counts: [loss_sum, examples, confusion (true x predicted)]
    at::Tensor counts = torch::zeros({2 + classes * classes}, torch::kDouble);
    std::vector<std::vector<int32_t>> sequences;
    std::vector<int64_t> labels;
    for (size_t i = 0; i < mine.size(); i += impl.options.eval_batch_size) {
      std::vector<uint32_t> chunk(
          mine.begin() + i,
          mine.begin() + std::min(mine.size(), i + static_cast<size_t>(impl.options.eval_batch_size)));
      impl.Gather(chunk, &sequences, &labels, nullptr);
      at::Tensor logits = impl.Logits(sequences);
      at::Tensor targets = torch::tensor(labels, torch::kLong);
      counts[0] += torch::nn::functional::cross_entropy(
                       logits, targets,
                       torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                       .item<double>();
      counts[1] += static_cast<double>(labels.size());
      at::Tensor predicted = logits.argmax(1);
      at::Tensor cells = targets * classes + predicted;
      counts.narrow(0, 2, classes * classes)
          .add_(at::bincount(cells, {}, classes * classes).to(torch::kDouble));
    }
    impl.model->train();
    if (auto s = communicator.AllReduceSync(counts, ReduceOp::kSum); !s.ok()) return s;
    auto c = counts.accessor<double, 1>();
    result.examples = static_cast<int64_t>(c[1]);
    result.loss = c[0] / std::max(1.0, c[1]);
    double correct = 0;
    for (int64_t k = 0; k < classes; ++k) {
      double tp = c[2 + k * classes + k], predicted = 0, actual = 0;
      for (int64_t j = 0; j < classes; ++j) {
        predicted += c[2 + j * classes + k];
        actual += c[2 + k * classes + j];
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
    return absl::OkStatus();
  });
  impl.model->train();
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<model::Manifest> Trainer::SaveCheckpoint(const std::string& dir,
                                                        const model::CheckpointInfo& info) const {
  model::TrainingState state;
  for (auto& [name, tensor] : impl_->optimizer->State()) state.tensors.emplace_back(name, tensor);
  state.json = absl::StrCat("{\"", kTrainingStateJsonKey, "\": ", global_step(), "}");
  model::SaveOptions options;
  options.vocab_path = impl_->options.vocab_path;
  options.info = info;
  options.training_state = &state;
  options.overwrite = true;
  return model::SaveCheckpoint(dir, impl_->model, options);
}

absl::Status Trainer::LoadCheckpoint(const std::string& dir) {
  auto weights = model::SafetensorsFile::Open(dir + "/" + model::kWeightsFile);
  if (!weights.ok()) return weights.status();
  auto report = model::LoadWeights(**weights, impl_->model);
  if (!report.ok()) return report.status();
  auto state = model::LoadTrainingState(dir + "/" + model::kTrainingStateFile);
  if (!state.ok()) return state.status();
  NamedTensors tensors(state->tensors.begin(), state->tensors.end());
  return impl_->optimizer->LoadState(tensors);
}

std::vector<std::pair<std::string, at::Tensor>> Trainer::Parameters() const {
  return impl_->parameters;
}

}  // namespace murmur::worker
