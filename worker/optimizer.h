// AdamW and the learning-rate schedule the way Hugging Face's Trainer sets them up: decoupled
// weight decay (PyTorch's AdamW update), no decay on biases and LayerNorm weights, linear warmup
// then linear decay to zero, gradient clipping by global norm.
//
// The optimizer's state (moments and step count) is exposed as named tensors so that it can be
// written into a checkpoint's training_state.safetensors and broadcast from a surviving rank when
// the group regroups. Not thread-safe.
#ifndef MURMUR_WORKER_OPTIMIZER_H_
#define MURMUR_WORKER_OPTIMIZER_H_

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace murmur::worker {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  // Decoupled weight decay for the parameters DecaysWeight() selects. Default 0.01.
  double weight_decay = 0.01;
};

// Hugging Face Trainer's rule: biases and LayerNorm weights are not decayed.
bool DecaysWeight(const std::string& parameter_name);

// Multiplier of the peak learning rate at `step` (0-based, the step about to be taken):
// step / warmup while warming up, then linear decay to 0 at total_steps
// (transformers' get_linear_schedule_with_warmup).
double LinearScheduleFactor(int64_t step, int64_t warmup_steps, int64_t total_steps);

class AdamW {
 public:
  // Borrows the parameters (tensors share storage with the model's).
  AdamW(NamedTensors parameters, AdamWOptions options);

  // One update from each parameter's .grad() times `grad_scale` at learning rate `lr`.
  // Parameters without a gradient are skipped (as torch.optim does). The scale is gradient
  // clipping's coefficient (ClipCoefficient), applied inside the update instead of in a pass
  // of its own over every gradient (a read and a write of all 66M of DistilBERT-base's).
  //
  // `gradient_rows` (sorted, int64), for the parameter SetLazyRows named: the only rows whose
  // gradient may be non-zero. Just those rows are updated now; each other row's step, the
  // update of a zero gradient (moment decay, weight decay and the step the moments still
  // make), is replayed when CatchUp or CatchUpAll next asks for that row.
  void Step(double lr, double grad_scale = 1.0, const at::Tensor& gradient_rows = {});
  int64_t steps_taken() const { return step_.item<int64_t>(); }

  // Updates parameter `name` ([rows, ...], contiguous fp32 on the CPU; other layouts stay
  // dense) row by row: Step touches the rows with a gradient, and the others catch up later,
  // through the same arithmetic, so the values are the dense update's, bit for bit. Why: a
  // word embedding is most of a small model's parameters (DistilBERT's 30,522 x 256 of the
  // small preset's 9.4M), a step's tweets touch ~1-2k of its rows, and the dense update
  // streams all of it through memory on every step (7 of 28 bytes per element being the zero
  // gradient); a replayed step touches only the row, in cache.
  void SetLazyRows(const std::string& name);
  // Brings `rows` (any shape, int) up to date: before a forward pass reads them.
  void CatchUp(const at::Tensor& rows);
  // Brings every row up to date: before anything reads the parameters or the state as a whole
  // (evaluation, a checkpoint, a broadcast).
  void CatchUpAll();

  // "adamw.exp_avg.<name>", "adamw.exp_avg_sq.<name>" and "adamw.step": the live tensors, so
  // that a broadcast into them or a load updates the optimizer in place. Call CatchUpAll first
  // when rows are lazy.
  NamedTensors State() const;
  // Copies values into the state; INVALID_ARGUMENT naming a missing or mis-shaped tensor.
  absl::Status LoadState(const NamedTensors& state);

 private:
  struct Slot {
    std::string name;
    at::Tensor parameter;
    at::Tensor exp_avg;
    at::Tensor exp_avg_sq;
    bool decay;
  };
  // The constants of one step's update (defined in optimizer.cc).
  struct StepConstants {
    float decay, step_size, inv_sqrt_bias_correction2;
  };
  // Replays the last `steps` zero-gradient steps of `row` of slot `slot` from history_.
  void ReplayRow(const Slot& slot, int64_t row, int64_t steps, int64_t history_end) const;

  std::vector<Slot> slots_;
  AdamWOptions options_;
  at::Tensor step_;  // int64 scalar tensor, so it travels with the other state tensors
  // The lazy parameter (SetLazyRows): its slot, how many steps each row is behind, and the
  // constants of the steps since every row was last current (the newest last).
  int lazy_slot_ = -1;
  std::vector<int64_t> rows_behind_;
  std::vector<StepConstants> history_;
  std::vector<float> zero_row_;  // a row's zero gradient, for the replays
};

// The global L2 norm of the parameters' gradients: one read pass (fp32 CPU gradients in a
// parallel vectorised loop). For parameter `sparse_name`, only `sparse_rows` (sorted int64)
// are read: its other rows' gradients must be zero.
double GradNorm(const NamedTensors& parameters, const std::string& sparse_name = "",
                const at::Tensor& sparse_rows = {});

// The factor torch.nn.utils.clip_grad_norm_ scales gradients by for a global norm `norm`:
// max_norm / (norm + 1e-6) above max_norm (when max_norm > 0), else 1. Clipping is
// AdamW::Step(lr, ClipCoefficient(GradNorm(parameters), max_norm)): no pass of its own.
double ClipCoefficient(double norm, double max_norm);

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_OPTIMIZER_H_
