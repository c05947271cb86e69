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
  void Step(double lr, double grad_scale = 1.0);
  int64_t steps_taken() const { return step_.item<int64_t>(); }

  // "adamw.exp_avg.<name>", "adamw.exp_avg_sq.<name>" and "adamw.step": the live tensors, so
  // that a broadcast into them or a load updates the optimizer in place.
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
  std::vector<Slot> slots_;
  AdamWOptions options_;
  at::Tensor step_;  // int64 scalar tensor, so it travels with the other state tensors
};

// The global L2 norm of the parameters' gradients: one read pass (fp32 CPU gradients in a
// parallel vectorised loop).
double GradNorm(const NamedTensors& parameters);

// The factor torch.nn.utils.clip_grad_norm_ scales gradients by for a global norm `norm`:
// max_norm / (norm + 1e-6) above max_norm (when max_norm > 0), else 1. Clipping is
// AdamW::Step(lr, ClipCoefficient(GradNorm(parameters), max_norm)): no pass of its own.
double ClipCoefficient(double norm, double max_norm);

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_OPTIMIZER_H_
