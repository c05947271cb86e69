// AdamW (the update of torch.optim.AdamW / torch::optim::AdamW, amsgrad off) done in one pass
// over each parameter: read param, grad and both moments once, write them once. libtorch 1.13's
// AdamW runs ~10 separate tensor ops per parameter, and its zero_grad fills every gradient with
// zeros; on DistilBERT-base that was ~0.5 s of a 1.2 s training step on this CPU. ZeroGrad here
// drops the gradients instead (set_to_none), so backward writes them fresh.
//
// The training loop of worker/ owns schedules and state; this class is only the update rule,
// with its moments exposed for checkpointing (tensor_io.h TrainingState).
//
// Ownership: holds references to the parameters (shared tensor storage) and owns the moments.
// Not thread-safe: one training loop calls Step/ZeroGrad; Step itself uses libtorch's intra-op
// threads.
#ifndef MURMUR_MODEL_FUSED_ADAMW_H_
#define MURMUR_MODEL_FUSED_ADAMW_H_

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "absl/status/status.h"
#include "model/tensor_io.h"

namespace murmur::model {

class FusedAdamW {
 public:
  struct Options {
    double lr = 1e-3;            // as torch::optim::AdamWOptions
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 1e-2;
  };

  // `params` must be fp32, contiguous CPU tensors (parameters requiring grad).
  FusedAdamW(std::vector<at::Tensor> params, Options options);

  // One update of every parameter that has a gradient. INVALID_ARGUMENT on a parameter or
  // gradient that is not fp32, contiguous and CPU (then nothing was updated).
  absl::Status Step();
  // Drops the gradients (set_to_none): the next backward allocates them instead of
  // accumulating into zero-filled buffers.
  void ZeroGrad();

  void set_lr(double lr) { options_.lr = lr; }
  double lr() const { return options_.lr; }
  // Number of Step calls.
  int64_t step() const { return step_; }

  // Moments and per-parameter step counts as named tensors ("exp_avg.<i>", "exp_avg_sq.<i>",
  // "steps") for a TrainingState, and back.
  NamedTensors StateTensors() const;
  absl::Status LoadStateTensors(const NamedTensors& tensors, int64_t step);

 private:
  std::vector<at::Tensor> params_;
  std::vector<at::Tensor> exp_avg_, exp_avg_sq_;
  std::vector<int64_t> param_steps_;  // updates applied to each parameter
  Options options_;
  int64_t step_ = 0;
};

}  // namespace murmur::model

#endif  // MURMUR_MODEL_FUSED_ADAMW_H_
