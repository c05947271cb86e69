#include "worker/trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "base/random.h"
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

// Independent per-sequence seeds from (job seed, stream, cache row).
uint64_t SequenceSeed(uint64_t seed, uint64_t stream, uint64_t row) {
  return MixSeed(MixSeed(seed, stream), row);
}

// Evaluation's seed stream: no training step has this number.
constexpr uint64_t kEvaluationStream = ~0ULL - 1;

}  // namespace

struct Trainer::Impl {
  TrainerOptions options;
  const data::TokenCache* cache = nullptr;
  std::unique_ptr<Objective> objective;
  NamedTensors parameters;
  std::unique_ptr<AdamW> optimizer;
  std::unique_ptr<GradientSynchronizer> sync;
  // Whether the row-sparse gradient buffer is all zeros (the last step completed).
  bool sparse_gradient_clean = false;

  // Model state and optimizer state in one fixed order (the same on every rank), every row
  // current.
  NamedTensors AllState() const {
    optimizer->CatchUpAll();
    NamedTensors state = parameters;
    NamedTensors moments = optimizer->State();
    state.insert(state.end(), moments.begin(), moments.end());
    return state;
  }

  // Sequences of token ids for the given cache rows, their labels and per-sequence seeds (from
  // the seed stream: the step, or evaluation).
  void Gather(const std::vector<uint32_t>& rows, uint64_t stream,
              std::vector<std::vector<int32_t>>* sequences, std::vector<int64_t>* labels,
              std::vector<uint64_t>* seeds, std::vector<int64_t>* ids) const {
    sequences->clear();
    labels->clear();
    seeds->clear();
    for (uint32_t row : rows) {
      sequences->push_back(cache->Ids(row));
      labels->push_back(cache->label(row));
      seeds->push_back(SequenceSeed(options.seed, stream, row));
      if (ids != nullptr)
        ids->insert(ids->end(), sequences->back().begin(), sequences->back().end());
    }
  }

  // Word dropout (TrainerOptions::token_dropout). The draw depends on (seed, step, rank,
  // micro-batch) only, like the dropout masks: a resumed job replays it exactly. `ids` (the
  // embedding rows whose gradients are synchronised) gains the replacement id: every row the
  // step touches must be in it, or the ranks' embeddings drift apart.
  void DropTokens(int64_t step, int rank, int micro_batch,
                  std::vector<std::vector<int32_t>>* sequences, std::vector<int64_t>* ids) const {
    if (options.token_dropout <= 0) return;
    Rng rng(MixSeed(
        MixSeed(MixSeed(options.seed, static_cast<uint64_t>(step)), static_cast<uint64_t>(rank)),
        static_cast<uint64_t>(micro_batch)));
    for (std::vector<int32_t>& sequence : *sequences) {
      for (size_t j = 1; j + 1 < sequence.size(); ++j) {
        if (rng.Bernoulli(options.token_dropout)) sequence[j] = options.mask_token_id;
      }
    }
    ids->push_back(options.mask_token_id);
  }
};

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::~Trainer() = default;

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const TrainerOptions& options,
                                                         const data::TokenCache* cache) {
  if (options.token_dropout < 0 || options.token_dropout >= 1 ||
      (options.token_dropout > 0 && options.mask_token_id < 0)) {
    return absl::InvalidArgumentError(
        "token_dropout must be in [0, 1), and needs a replacement token id when on");
  }
  if (options.token_dropout > 0 && options.objective != ObjectiveKind::kClassification) {
    return absl::InvalidArgumentError("token_dropout applies to classification only");
  }
  if (options.total_steps <= 0) {
    return absl::InvalidArgumentError("total_steps must be positive");
  }
  if (options.vocab_path.empty()) return absl::InvalidArgumentError("vocab_path is required");
  auto vocab_size = model::CountVocabLines(options.vocab_path);
  if (!vocab_size.ok()) return vocab_size.status();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->cache = cache;
  if (options.threads > 0) torch::set_num_threads(options.threads);
  absl::Status status = model::TorchCall("creating the model", [&]() -> absl::Status {
    torch::manual_seed(options.seed);
    ObjectiveOptions objective;
    objective.kind = options.objective;
    objective.preset = options.preset;
    objective.init_dir = options.init_dir;
    objective.vocab_size = *vocab_size;
    objective.dropout = options.dropout;
    objective.bf16 = options.bf16;
    objective.mask_token_id = options.mask_token_id;
    objective.mask_probability = options.mask_probability;
    objective.label_smoothing = options.label_smoothing;
    auto created = Objective::Create(objective);
    if (!created.ok()) return created.status();
    impl->objective = *std::move(created);
    torch::Device device(options.device);  // throws on a malformed name: reported below
    if (device.is_cuda() && !torch::cuda::is_available()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "device ", options.device, " asked for, but this libtorch sees no CUDA device"));
    }
    impl->objective->module().to(device);
    const int64_t model_vocab = impl->objective->config().vocab_size;
    if (cache->info().vocab_size != static_cast<uint32_t>(model_vocab)) {
      return absl::InvalidArgumentError(
          absl::StrCat("the token cache was built with a vocabulary of ", cache->info().vocab_size,
                       " tokens but the model has ", model_vocab));
    }
    impl->objective->module().train();
    for (auto& item : impl->objective->module().named_parameters()) {
      impl->parameters.emplace_back(item.key(), item.value());
    }
    AdamWOptions adamw;
    adamw.weight_decay = options.weight_decay;
    impl->optimizer = std::make_unique<AdamW>(impl->parameters, adamw);
    // The row-sparse embedding is also updated row by row (on the CPU; elsewhere densely).
    impl->optimizer->SetLazyRows(impl->objective->sparse_parameter());
    GradSyncOptions grad_sync = options.grad_sync;
    grad_sync.sparse_parameter = impl->objective->sparse_parameter();
    impl->sync = std::make_unique<GradientSynchronizer>(impl->parameters, grad_sync);
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
    // One flat buffer per device and dtype: a few large broadcasts instead of hundreds of
    // small ones (the step counter stays on the CPU when the model is on a GPU).
    NamedTensors state = impl_->AllState();
    std::vector<std::pair<at::Device, at::ScalarType>> groups;
    for (auto& [name, tensor] : state) {
      std::pair<at::Device, at::ScalarType> group{tensor.device(), tensor.scalar_type()};
      if (std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(group);
    }
    for (const auto& group : groups) {
      std::vector<at::Tensor> members;
      for (auto& [name, tensor] : state) {
        if (tensor.device() == group.first && tensor.scalar_type() == group.second) {
          members.push_back(tensor);
        }
      }
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
    // without a read-add-write pass. The row-sparse one is a buffer backward adds into: the
    // last step zeroed the rows it used, unless it failed half-way.
    const std::string& sparse = impl.objective->sparse_parameter();
    for (auto& [name, parameter] : impl.parameters) {
      if (name != sparse || !impl.sparse_gradient_clean) parameter.mutable_grad() = at::Tensor();
    }
    impl.sparse_gradient_clean = false;
    std::vector<std::vector<int32_t>> sequences;
    std::vector<int64_t> labels;
    std::vector<uint64_t> seeds;
    std::vector<int64_t> step_ids;
    // [loss summed over its terms, terms] of this rank, then of all ranks.
    at::Tensor loss = torch::zeros({2}, torch::kDouble);
    // The last micro-batch that has samples carries the gradient synchronisation.
    int last = -1;
    for (int i = 0; i < static_cast<int>(micro_batches.size()); ++i) {
      if (!micro_batches[i].empty()) last = i;
    }
    if (last < 0) impl.sync->Arm(&communicator);
    for (int i = 0; i <= last; ++i) {
      if (micro_batches[i].empty()) continue;
      const size_t first_id = step_ids.size();
      impl.Gather(micro_batches[i], static_cast<uint64_t>(step), &sequences, &labels, &seeds,
                  &step_ids);
      impl.DropTokens(step, communicator.rank(), i, &sequences, &step_ids);
      // The lazily updated embedding rows this micro-batch reads, up to date (AdamW::CatchUp).
      impl.optimizer->CatchUp(
          torch::tensor(std::vector<int64_t>(step_ids.begin() + first_id, step_ids.end())));
      Objective::Loss micro = impl.objective->ComputeLoss(sequences, labels, seeds);
      loss[0] += micro.sum.item<double>();
      loss[1] += static_cast<double>(micro.terms);
      result.samples += static_cast<int64_t>(labels.size());
      for (const auto& s : sequences) result.tokens += static_cast<int64_t>(s.size());
      if (i == last) impl.sync->Arm(&communicator);
      // Normalised by the step's samples (all ranks), so the summed gradients are the global
      // mean per sample whatever each rank's share.
      (micro.sum / static_cast<double>(window_samples)).backward();
    }
    result.compute_seconds = Since(start);
    at::Tensor ids = torch::tensor(step_ids, torch::kLong);
    if (auto s = impl.sync->Finish(ids, &result.sync); !s.ok()) return s;
    if (auto s = communicator.AllReduceSync(loss, ReduceOp::kSum); !s.ok()) return s;
    result.loss = loss[0].item<double>() / std::max(1.0, loss[1].item<double>());
    result.sync_seconds = result.sync.wait_seconds;
    const at::Tensor& sparse_rows = impl.sync->synchronized_rows();
    result.grad_norm = GradNorm(impl.parameters, impl.objective->sparse_parameter(), sparse_rows);
    const int64_t warmup = static_cast<int64_t>(impl.options.warmup_ratio *
                                                static_cast<double>(impl.options.total_steps));
    result.learning_rate =
        impl.options.learning_rate * LinearScheduleFactor(step, warmup, impl.options.total_steps);
    // Clipping happens inside the update (no pass of its own over the gradients).
    impl.optimizer->Step(result.learning_rate,
                         ClipCoefficient(result.grad_norm, impl.options.max_grad_norm),
                         sparse_rows);
    // The only non-zero rows of the row-sparse gradient are the synchronised ones.
    for (auto& [name, parameter] : impl.parameters) {
      if (name == sparse && sparse_rows.defined() && parameter.grad().defined()) {
        parameter.mutable_grad().index_fill_(0, sparse_rows.to(parameter.device()), 0.0);
        impl.sparse_gradient_clean = true;
      }
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<EvalResult> Trainer::Evaluate(Communicator& communicator) {
  Impl& impl = *impl_;
  const std::vector<uint32_t>& all_rows = impl.cache->validation_rows();
  std::vector<uint32_t> rows;
  const size_t limit = static_cast<size_t>(std::max(0, impl.options.max_eval_samples));
  if (limit > 0 && all_rows.size() > limit) {
    // Strided, not a prefix: the rows are in corpus order, which may group a class together.
    const size_t stride = (all_rows.size() + limit - 1) / limit;
    for (size_t i = 0; i < all_rows.size(); i += stride) rows.push_back(all_rows[i]);
  } else {
    rows = all_rows;
  }
  // This rank's contiguous share of the validation rows.
  const int64_t world = communicator.world_size(), rank = communicator.rank();
  const int64_t n = static_cast<int64_t>(rows.size());
  const int64_t begin = n * rank / world, end = n * (rank + 1) / world;
  std::vector<uint32_t> mine(rows.begin() + begin, rows.begin() + end);
  // Sorted by length: little padding in attention.
  std::sort(mine.begin(), mine.end(),
            [&](uint32_t a, uint32_t b) { return impl.cache->length(a) < impl.cache->length(b); });
  EvalResult result;
  Objective& objective = *impl.objective;
  absl::Status status = model::TorchCall("evaluation", [&]() -> absl::Status {
    impl.optimizer->CatchUpAll();
    objective.module().eval();
    torch::NoGradGuard no_grad;
    at::Tensor counts = torch::zeros({objective.num_eval_counts()}, torch::kDouble);
    std::vector<std::vector<int32_t>> sequences;
    std::vector<int64_t> labels;
    std::vector<uint64_t> seeds;
    for (size_t i = 0; i < mine.size(); i += impl.options.eval_batch_size) {
      std::vector<uint32_t> chunk(
          mine.begin() + i,
          mine.begin() +
              std::min(mine.size(), i + static_cast<size_t>(impl.options.eval_batch_size)));
      impl.Gather(chunk, kEvaluationStream, &sequences, &labels, &seeds, nullptr);
      objective.CountEvaluation(sequences, labels, seeds, counts);
    }
    objective.module().train();
    if (auto s = communicator.AllReduceSync(counts, ReduceOp::kSum); !s.ok()) return s;
    result = objective.Summarize(counts);
    return absl::OkStatus();
  });
  objective.module().train();
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<model::Manifest> Trainer::SaveCheckpoint(const std::string& dir,
                                                        const model::CheckpointInfo& info) const {
  model::TrainingState state;
  impl_->optimizer->CatchUpAll();
  for (auto& [name, tensor] : impl_->optimizer->State()) state.tensors.emplace_back(name, tensor);
  state.json = absl::StrCat("{\"", kTrainingStateJsonKey, "\": ", global_step(), "}");
  model::SaveOptions options;
  options.vocab_path = impl_->options.vocab_path;
  options.info = info;
  options.training_state = &state;
  options.overwrite = true;
  return impl_->objective->Save(dir, options);
}

absl::Status Trainer::LoadCheckpoint(const std::string& dir) {
  auto weights = model::SafetensorsFile::Open(dir + "/" + model::kWeightsFile);
  if (!weights.ok()) return weights.status();
  auto report = impl_->objective->LoadWeights(**weights);
  if (!report.ok()) return report.status();
  auto state = model::LoadTrainingState(dir + "/" + model::kTrainingStateFile);
  if (!state.ok()) return state.status();
  NamedTensors tensors(state->tensors.begin(), state->tensors.end());
  return impl_->optimizer->LoadState(tensors);
}

std::vector<std::pair<std::string, at::Tensor>> Trainer::Parameters() const {
  impl_->optimizer->CatchUpAll();
  return impl_->parameters;
}

}  // namespace murmur::worker
