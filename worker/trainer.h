// One data-parallel rank's training engine: the model of the job's objective (the DistilBERT
// classifier, or a pretraining of its encoder, masked-LM or replaced-token detection:
// objective.h), AdamW with the linear schedule, gradient accumulation, clipping, bf16
// autocast, bucketed/sparse gradient synchronisation, evaluation and checkpoints — the parts
// of a Hugging Face Trainer that run on one rank. Which samples to train on is decided outside (elastic_worker.h turns the
// coordinator's epoch plan into per-step windows); the trainer takes token-cache rows.
//
// Determinism: dropout is seeded from (seed, global step, rank) at every step, so resuming from
// a checkpoint or a broadcast state needs no RNG state, and two runs with the same inputs give
// the same weights.
//
// Owns the model and optimizer; borrows the token cache (must outlive it). Not thread-safe: one
// training thread.
#ifndef MURMUR_WORKER_TRAINER_H_
#define MURMUR_WORKER_TRAINER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/token_cache.h"
#include "model/checkpoint.h"
#include "worker/communicator.h"
#include "worker/grad_sync.h"
#include "worker/objective.h"

namespace murmur::worker {

struct TrainerOptions {
  // What to train. Default classification.
  ObjectiveKind objective = ObjectiveKind::kClassification;
  // Model preset ("tiny", "small", "base") when init_dir is empty. Default "small".
  std::string preset = "small";
  // Hugging Face-layout directory to initialise from (ObjectiveOptions::init_dir says which
  // kinds each objective takes). Default: random initialisation from `seed`.
  std::string init_dir;
  // vocab.txt of the token cache (copied into checkpoints). Required.
  std::string vocab_path;
  // Peak learning rate, warmup fraction, AdamW weight decay. Defaults: 1e-3, 0.06, 0.01.
  double learning_rate = 1e-3;
  double warmup_ratio = 0.06;
  double weight_decay = 0.01;
  // Clip the global gradient norm (0: off). Default 1.0.
  double max_grad_norm = 1.0;
  // bf16 autocast, fp32 master weights. Default false.
  bool bf16 = false;
  // Overrides every dropout probability when >= 0. Default -1 (the config's).
  double dropout = -1;
  // Classification: probability of replacing a training token (not the first or last: [CLS],
  // [SEP]) by `mask_token_id` (word dropout). 0: off.
  double token_dropout = 0;
  // Pretrainings: the share of the tokens chosen for prediction. Default 0.15 (BERT's).
  double mask_probability = 0.15;
  // Classification: label smoothing, in [0, 1) (JobSpec.label_smoothing). 0: off.
  double label_smoothing = 0;
  // The vocabulary's [MASK] id: token dropout's replacement, and the pretrainings' mask.
  int32_t mask_token_id = -1;
  // Initialisation and dropout seed. Default 42.
  uint64_t seed = 42;
  // Optimizer steps of the whole job, for the schedule. Required (> 0).
  int64_t total_steps = 0;
  // Sequences per evaluation forward pass. Default 128.
  int eval_batch_size = 128;
  // Evaluate on at most this many validation rows, every ceil(n / max)-th (0: all). Default 0.
  int max_eval_samples = 0;
  // Intra-op threads (0: leave libtorch's setting). Default 0.
  int threads = 0;
  // Where the model, its gradients and the optimizer state live: "cpu", or "cuda:N" (a CUDA
  // build of libtorch; then the communicator is NCCL's). Batches are built on the CPU and
  // copied there. Default "cpu".
  std::string device = "cpu";
  GradSyncOptions grad_sync;
};

struct StepResult {
  double loss = 0;        // global mean loss of the step (per sample, or per masked token)
  int64_t samples = 0;    // this rank's samples
  int64_t tokens = 0;     // this rank's real tokens
  double grad_norm = 0;
  double learning_rate = 0;
  double compute_seconds = 0;  // forward + backward until the last bucket was launched
  double sync_seconds = 0;     // waiting for communication after backward
  GradSyncStats sync;
};

class Trainer {
 public:
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const TrainerOptions& options,
                                                         const data::TokenCache* cache);
  ~Trainer();

  // Optimizer steps taken (the model's progress).
  int64_t global_step() const;
  // The schedule's horizon changes when the world size does (a step then covers more or fewer
  // samples); the elastic worker updates it at each generation.
  void set_total_steps(int64_t total_steps);
  const TrainerOptions& options() const;

  // Makes every rank's model and optimizer state equal to `root`'s.
  absl::Status BroadcastState(Communicator& communicator, int root);

  // One optimizer step over this rank's share of a window: `micro_batches` are token-cache rows
  // (some may be empty at an epoch's end), `window_samples` is the number of samples all ranks
  // train in this step together (the loss is normalised by it, so summed gradients are the
  // global mean). Every rank of the communicator must call it for the same step.
  absl::StatusOr<StepResult> Step(Communicator& communicator,
                                  const std::vector<std::vector<uint32_t>>& micro_batches,
                                  int64_t window_samples);

  // Evaluates this rank's share of the validation rows and combines the counts of all ranks.
  absl::StatusOr<EvalResult> Evaluate(Communicator& communicator);

  // Writes a complete checkpoint (weights, config, vocab, optimizer state, manifest) atomically.
  absl::StatusOr<model::Manifest> SaveCheckpoint(const std::string& dir,
                                                 const model::CheckpointInfo& info) const;
  // Restores weights and optimizer state from a checkpoint written by SaveCheckpoint.
  absl::Status LoadCheckpoint(const std::string& dir);

  // The weights as named tensors (Hugging Face names), for tests and comparisons.
  std::vector<std::pair<std::string, at::Tensor>> Parameters() const;

 private:
  struct Impl;
  explicit Trainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_TRAINER_H_
