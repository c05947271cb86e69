#include "worker/optimizer.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"

namespace murmur::worker {

bool DecaysWeight(const std::string& name) {
  auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".bias") || name == "bias") return false;
  return name.find("LayerNorm") == std::string::npos &&
         name.find("layer_norm") == std::string::npos;
}

double LinearScheduleFactor(int64_t step, int64_t warmup_steps, int64_t total_steps) {
  if (step < warmup_steps) {
    return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup_steps));
  }
  return std::max(0.0, static_cast<double>(total_steps - step) /
                           static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps)));
}

AdamW::AdamW(NamedTensors parameters, AdamWOptions options)
    : options_(options), step_(at::zeros({}, at::kLong)) {
  for (auto& [name, parameter] : parameters) {
    slots_.push_back(Slot{name, parameter, at::zeros_like(parameter), at::zeros_like(parameter),
                          DecaysWeight(name)});
  }
}

namespace {

// The single-pass loops apply to the usual case: contiguous fp32 CPU tensors.
bool ContiguousCpuFloat(const at::Tensor& t) {
  return t.scalar_type() == at::kFloat && t.is_contiguous() && t.is_cpu();
}

struct AdamWConstants {
  float beta1, beta2, eps, decay, step_size, inv_sqrt_bias_correction2, grad_scale;
};

// One pass over elements [0, n) of a parameter, its gradient and moments. A function of its own
// with restrict pointers, not the body of the parallel_for lambda: reading the pointers through
// the lambda's captures inside an OpenMP region keeps GCC from vectorising the loop.
void AdamWUpdate(float* __restrict p, const float* __restrict g, float* __restrict m,
                 float* __restrict v, int64_t n, const AdamWConstants& c) {
  const float beta1 = c.beta1, beta2 = c.beta2, eps = c.eps, decay = c.decay;
  const float step_size = c.step_size, inv_sqrt_bc2 = c.inv_sqrt_bias_correction2;
  const float grad_scale = c.grad_scale;
  for (int64_t j = 0; j < n; ++j) {
    const float gj = g[j] * grad_scale;
    const float mj = m[j] * beta1 + (1.0f - beta1) * gj;
    const float vj = v[j] * beta2 + (1.0f - beta2) * gj * gj;
    m[j] = mj;
    v[j] = vj;
    p[j] = p[j] * decay - step_size * mj / (std::sqrt(vj) * inv_sqrt_bc2 + eps);
  }
}

// Sum of squares of g[0, n): fp32 within blocks of 1024 (8 AVX2 lanes of 128 terms each),
// fp64 across blocks. The OpenMP simd reduction lets GCC vectorise the fp32 sums without
// -ffast-math's licence to reassociate everything else; fp64 throughout runs ~30% slower.
double SumOfSquares(const float* __restrict g, int64_t n) {
  constexpr int64_t kBlock = 1024;
  double total = 0;
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int64_t end = std::min(n, begin + kBlock);
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = begin; j < end; ++j) sum += g[j] * g[j];
    total += sum;
  }
  return total;
}

// The update's constants: the options' betas and eps, one step's, and the gradient's scale.
AdamWConstants ConstantsFor(const AdamWOptions& options, float decay, float step_size,
                            float inv_sqrt_bias_correction2, float grad_scale) {
  return AdamWConstants{static_cast<float>(options.beta1),
                        static_cast<float>(options.beta2),
                        static_cast<float>(options.eps),
                        decay,
                        step_size,
                        inv_sqrt_bias_correction2,
                        grad_scale};
}

}  // namespace

void AdamW::SetLazyRows(const std::string& name) {
  lazy_slot_ = -1;
  rows_behind_.clear();
  history_.clear();
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& slot = slots_[i];
    if (slot.name == name && slot.parameter.dim() >= 1 && ContiguousCpuFloat(slot.parameter)) {
      lazy_slot_ = static_cast<int>(i);
      rows_behind_.assign(slot.parameter.size(0), 0);
      zero_row_.assign(slot.parameter.numel() / slot.parameter.size(0), 0.0f);
    }
  }
}

void AdamW::ReplayRow(const Slot& slot, int64_t row, int64_t steps, int64_t history_end) const {
  const int64_t width = static_cast<int64_t>(zero_row_.size());
  float* p = slot.parameter.data_ptr<float>() + row * width;
  float* m = slot.exp_avg.data_ptr<float>() + row * width;
  float* v = slot.exp_avg_sq.data_ptr<float>() + row * width;
  for (int64_t j = history_end - steps; j < history_end; ++j) {
    const StepConstants& step = history_[j];
    AdamWUpdate(
        p, zero_row_.data(), m, v, width,
        ConstantsFor(options_, step.decay, step.step_size, step.inv_sqrt_bias_correction2, 1.0f));
  }
}

void AdamW::CatchUp(const at::Tensor& rows) {
  if (lazy_slot_ < 0 || history_.empty()) return;
  const at::Tensor ids = rows.reshape(-1).to(at::kLong).contiguous();
  const int64_t* id = ids.data_ptr<int64_t>();
  // (row, steps behind) of each distinct row that is behind; a repeated row is then current.
  std::vector<std::pair<int64_t, int64_t>> behind;
  for (int64_t i = 0; i < ids.numel(); ++i) {
    int64_t& steps = rows_behind_.at(static_cast<size_t>(id[i]));
    if (steps > 0) behind.emplace_back(id[i], steps);
    steps = 0;
  }
  const Slot& slot = slots_[lazy_slot_];
  const int64_t end = static_cast<int64_t>(history_.size());
  at::parallel_for(0, static_cast<int64_t>(behind.size()), 16, [&](int64_t begin, int64_t stop) {
    for (int64_t i = begin; i < stop; ++i) ReplayRow(slot, behind[i].first, behind[i].second, end);
  });
  torch::autograd::impl::bump_version(slot.parameter);
}

void AdamW::CatchUpAll() {
  if (lazy_slot_ < 0) return;
  CatchUp(at::arange(static_cast<int64_t>(rows_behind_.size()), at::kLong));
  history_.clear();  // every row is current
}

void AdamW::Step(double lr, double grad_scale, const at::Tensor& gradient_rows) {
  at::NoGradGuard no_grad;
  const int64_t step = step_.item<int64_t>() + 1;
  step_.fill_(step);
  const double bias_correction1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(options_.beta2, static_cast<double>(step));
  const double step_size = lr / bias_correction1;
  const double sqrt_bias_correction2 = std::sqrt(bias_correction2);
  for (size_t index = 0; index < slots_.size(); ++index) {
    Slot& slot = slots_[index];
    const at::Tensor& raw_grad = slot.parameter.grad();
    if (!raw_grad.defined()) continue;
    const double decay = slot.decay ? 1.0 - lr * options_.weight_decay : 1.0;
    const StepConstants now{static_cast<float>(decay), static_cast<float>(step_size),
                            static_cast<float>(1.0 / sqrt_bias_correction2)};
    const AdamWConstants constants =
        ConstantsFor(options_, now.decay, now.step_size, now.inv_sqrt_bias_correction2,
                     static_cast<float>(grad_scale));
    const bool lazy = static_cast<int>(index) == lazy_slot_;
    if (lazy && gradient_rows.defined() && ContiguousCpuFloat(raw_grad)) {
      // This step for the rows with a gradient, after the steps they missed; the others fall
      // one more step behind.
      history_.push_back(now);
      for (int64_t& steps : rows_behind_) ++steps;
      const at::Tensor rows = gradient_rows.to(at::kLong).contiguous();
      const int64_t* row = rows.data_ptr<int64_t>();
      const int64_t width = static_cast<int64_t>(zero_row_.size());
      const int64_t previous = static_cast<int64_t>(history_.size()) - 1;
      float* p = slot.parameter.data_ptr<float>();
      const float* g = raw_grad.data_ptr<float>();
      float* m = slot.exp_avg.data_ptr<float>();
      float* v = slot.exp_avg_sq.data_ptr<float>();
      at::parallel_for(0, rows.numel(), 16, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const int64_t r = row[i];
          ReplayRow(slot, r, rows_behind_[r] - 1, previous);
          const int64_t offset = r * width;
          AdamWUpdate(p + offset, g + offset, m + offset, v + offset, width, constants);
          rows_behind_[r] = 0;
        }
      });
      torch::autograd::impl::bump_version(slot.parameter);
      continue;
    }
    if (lazy) CatchUpAll();  // a dense update from here on needs every row current
    if (ContiguousCpuFloat(slot.parameter) && ContiguousCpuFloat(raw_grad)) {
      // One pass over parameter, gradient and moments: the tensor-op version below reads and
      // writes each of them several times, which costs ~0.4 s a step on the base preset.
      float* p = slot.parameter.data_ptr<float>();
      const float* g = raw_grad.data_ptr<float>();
      float* m = slot.exp_avg.data_ptr<float>();
      float* v = slot.exp_avg_sq.data_ptr<float>();
      at::parallel_for(0, slot.parameter.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
        AdamWUpdate(p + begin, g + begin, m + begin, v + begin, end - begin, constants);
      });
      // Writes through raw pointers are invisible to the tensor's version counter, which
      // caches of derived tensors (the model's fused q/k/v weights) key on: bump it as any
      // in-place op would, or the next evaluation runs on stale weights.
      torch::autograd::impl::bump_version(slot.parameter);
      continue;
    }
    const at::Tensor grad = grad_scale == 1.0 ? raw_grad : raw_grad * grad_scale;
    if (decay != 1.0) slot.parameter.mul_(decay);
    slot.exp_avg.mul_(options_.beta1).add_(grad, 1.0 - options_.beta1);
    slot.exp_avg_sq.mul_(options_.beta2).addcmul_(grad, grad, 1.0 - options_.beta2);
    at::Tensor denom = (slot.exp_avg_sq.sqrt() / sqrt_bias_correction2).add_(options_.eps);
    slot.parameter.addcdiv_(slot.exp_avg, denom, -step_size);
  }
}

NamedTensors AdamW::State() const {
  NamedTensors state;
  state.reserve(2 * slots_.size() + 1);
  for (const Slot& slot : slots_) {
    state.emplace_back("adamw.exp_avg." + slot.name, slot.exp_avg);
    state.emplace_back("adamw.exp_avg_sq." + slot.name, slot.exp_avg_sq);
  }
  state.emplace_back("adamw.step", step_);
  return state;
}

absl::Status AdamW::LoadState(const NamedTensors& state) {
  NamedTensors mine = State();
  std::map<std::string, at::Tensor> given(state.begin(), state.end());
  for (auto& [name, tensor] : mine) {
    auto it = given.find(name);
    if (it == given.end()) {
      return absl::InvalidArgumentError(absl::StrCat("optimizer state has no tensor ", name));
    }
    if (it->second.sizes() != tensor.sizes()) {
      return absl::InvalidArgumentError(
          absl::StrCat("optimizer state tensor ", name, " has the wrong shape"));
    }
  }
  at::NoGradGuard no_grad;
  for (auto& [name, tensor] : mine) tensor.copy_(given[name]);
  // The loaded state is current in every row.
  std::fill(rows_behind_.begin(), rows_behind_.end(), 0);
  history_.clear();
  return absl::OkStatus();
}

double GradNorm(const NamedTensors& parameters, const std::string& sparse_name,
                const at::Tensor& sparse_rows) {
  at::NoGradGuard no_grad;
  double squares = 0;
  // Other gradients (a GPU's): one norm each on their device, one transfer for all.
  std::vector<at::Tensor> other_norms;
  for (const auto& [name, parameter] : parameters) {
    const at::Tensor& grad = parameter.grad();
    if (!grad.defined()) continue;
    if (name == sparse_name && sparse_rows.defined() && ContiguousCpuFloat(grad) &&
        grad.dim() >= 1) {
      const at::Tensor rows = sparse_rows.to(at::kLong).contiguous();
      const int64_t* row = rows.data_ptr<int64_t>();
      const int64_t width = grad.numel() / std::max<int64_t>(1, grad.size(0));
      const float* g = grad.data_ptr<float>();
      for (int64_t i = 0; i < rows.numel(); ++i) squares += SumOfSquares(g + row[i] * width, width);
      continue;
    }
    if (ContiguousCpuFloat(grad)) {
      const float* g = grad.data_ptr<float>();
      squares += at::parallel_reduce(
          0, grad.numel(), 1 << 16, 0.0,
          [&](int64_t begin, int64_t end, double sum) {
            return sum + SumOfSquares(g + begin, end - begin);
          },
          [](double a, double b) { return a + b; });
    } else {
      other_norms.push_back(grad.norm(2).to(at::kDouble));
    }
  }
  if (!other_norms.empty()) {
    const double other = at::stack(other_norms).norm(2).item<double>();
    squares += other * other;
  }
  return std::sqrt(squares);
}

double ClipCoefficient(double norm, double max_norm) {
  return max_norm > 0 && norm > max_norm ? max_norm / (norm + 1e-6) : 1.0;
}

}  // namespace murmur::worker
