#include "model/fused_adamw.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "model/torch_status.h"

namespace murmur::model {
namespace {

bool Usable(const at::Tensor& t) {
  return t.defined() && t.scalar_type() == at::kFloat && t.is_contiguous() && t.is_cpu();
}

}  // namespace

FusedAdamW::FusedAdamW(std::vector<at::Tensor> params, Options options)
    : params_(std::move(params)), options_(options) {
  for (const at::Tensor& p : params_) {
    exp_avg_.push_back(at::zeros_like(p));
    exp_avg_sq_.push_back(at::zeros_like(p));
  }
  param_steps_.assign(params_.size(), 0);
}

absl::Status FusedAdamW::Step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& grad = params_[i].grad();
    if (!Usable(params_[i]) || (grad.defined() && !Usable(grad))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "FusedAdamW: parameter ", i, " or its gradient is not a contiguous fp32 CPU tensor"));
    }
  }
  ++step_;
  const float beta1 = static_cast<float>(options_.beta1);
  const float beta2 = static_cast<float>(options_.beta2);
  const float eps = static_cast<float>(options_.eps);
  const float decay = static_cast<float>(1.0 - options_.lr * options_.weight_decay);
  return TorchCall("FusedAdamW::Step", [&]() {
    for (size_t i = 0; i < params_.size(); ++i) {
      const at::Tensor& grad = params_[i].grad();
      if (!grad.defined()) continue;
      // Per-parameter step counts, as torch's AdamW keeps them.
      const double t = static_cast<double>(++param_steps_[i]);
      const float step_size = static_cast<float>(options_.lr / (1.0 - std::pow(options_.beta1, t)));
      const float inv_sqrt_bc2 =
          static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(options_.beta2, t)));
      float* p = params_[i].data_ptr<float>();
      const float* g = grad.data_ptr<float>();
      float* m = exp_avg_[i].data_ptr<float>();
      float* v = exp_avg_sq_[i].data_ptr<float>();
      // Same operation order as torch::optim::AdamW, so results agree to float rounding.
      at::parallel_for(0, params_[i].numel(), 1 << 14, [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) {
          const float gj = g[j];
          const float mj = m[j] * beta1 + (1.0f - beta1) * gj;
          const float vj = v[j] * beta2 + (1.0f - beta2) * gj * gj;
          m[j] = mj;
          v[j] = vj;
          const float denom = std::sqrt(vj) * inv_sqrt_bc2 + eps;
          p[j] = p[j] * decay - step_size * mj / denom;
        }
      });
    }
  });
}

void FusedAdamW::ZeroGrad() {
  for (at::Tensor& p : params_) {
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
  }
}

NamedTensors FusedAdamW::StateTensors() const {
  NamedTensors out;
  out.emplace_back("steps", at::tensor(param_steps_, at::kLong));
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back(absl::StrCat("exp_avg.", i), exp_avg_[i]);
    out.emplace_back(absl::StrCat("exp_avg_sq.", i), exp_avg_sq_[i]);
  }
  return out;
}

absl::Status FusedAdamW::LoadStateTensors(const NamedTensors& tensors, int64_t step) {
  std::map<std::string, at::Tensor> by_name(tensors.begin(), tensors.end());
  return TorchCall("FusedAdamW::LoadStateTensors", [&]() -> absl::Status {
    auto steps = by_name.find("steps");
    if (steps == by_name.end() || steps->second.numel() != static_cast<int64_t>(params_.size())) {
      return absl::InvalidArgumentError("optimizer state: missing or bad tensor 'steps'");
    }
    at::Tensor counts = steps->second.to(at::kLong).contiguous();
    param_steps_.assign(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel());
    for (size_t i = 0; i < params_.size(); ++i) {
      for (auto* moments : {&exp_avg_, &exp_avg_sq_}) {
        std::string name =
            absl::StrCat(moments == &exp_avg_ ? "exp_avg." : "exp_avg_sq.", i);
        auto it = by_name.find(name);
        if (it == by_name.end()) {
          return absl::NotFoundError(absl::StrCat("optimizer state: missing tensor '", name, "'"));
        }
        if (!it->second.sizes().equals(params_[i].sizes())) {
          return absl::InvalidArgumentError(
              absl::StrCat("optimizer state: tensor '", name, "' has the wrong shape"));
        }
        (*moments)[i].copy_(it->second);
      }
    }
    step_ = step;
    return absl::OkStatus();
  });
}

}  // namespace murmur::model
