#include "model/softmax_cross_entropy.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "model/cpu_vector.h"

namespace murmur::model {
namespace {

inline float ScalarToFloat(float x) { return x; }
inline float ScalarToFloat(uint16_t bits) {  // bf16: the top half of an fp32
  const uint32_t word = static_cast<uint32_t>(bits) << 16;
  float x;
  std::memcpy(&x, &word, sizeof x);
  return x;
}
inline void StoreScalar(float x, float* p) { *p = x; }
inline void StoreScalar(float x, uint16_t* p) {  // rounds to nearest even, as StoreLanes
  const c10::BFloat16 rounded(x);
  std::memcpy(p, &rounded, sizeof *p);
}

// log(sum_j exp(x[j])) of one row of `classes` values.
template <typename T>
float LogSumExp(const T* x, int64_t classes) {
  const int64_t full = classes / kLanes * kLanes;
  Floats max = Floats{} - std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < full; j += kLanes) {
    const Floats v = LoadLanes(x + j);
    max = v > max ? v : max;
  }
  float row_max = HorizontalMax(max);
  for (int64_t j = full; j < classes; ++j) row_max = std::max(row_max, ScalarToFloat(x[j]));
  // Two accumulators: the exponentials of consecutive vectors do not wait on one another.
  Floats sum0 = {}, sum1 = {};
  int64_t j = 0;
  for (; j + 2 * kLanes <= full; j += 2 * kLanes) {
    sum0 += ExpNonPositive(LoadLanes(x + j) - row_max);
    sum1 += ExpNonPositive(LoadLanes(x + j + kLanes) - row_max);
  }
  for (; j < full; j += kLanes) sum0 += ExpNonPositive(LoadLanes(x + j) - row_max);
  float sum = HorizontalSum(sum0 + sum1);
  for (j = full; j < classes; ++j) sum += std::exp(ScalarToFloat(x[j]) - row_max);
  return row_max + std::log(sum);
}

// grad[j] = scale * (exp(x[j] - lse) - [j == target]) for one row.
template <typename T>
void GradientRow(const T* x, int64_t classes, float lse, int64_t target, float scale, T* grad) {
  const int64_t full = classes / kLanes * kLanes;
  for (int64_t j = 0; j < full; j += kLanes) {
    StoreLanes(ExpNonPositive(LoadLanes(x + j) - lse) * scale, grad + j);
  }
  for (int64_t j = full; j < classes; ++j) {
    StoreScalar(std::exp(ScalarToFloat(x[j]) - lse) * scale, grad + j);
  }
  // The target's own term, rounded once (p - 1 in fp32 before the storage's rounding).
  StoreScalar((std::exp(ScalarToFloat(x[target]) - lse) - 1.0f) * scale, grad + target);
}

// Rows per parallel task: a few rows of a large vocabulary are already tens of microseconds.
constexpr int64_t kRowGrain = 4;

class SoftmaxCrossEntropySum : public torch::autograd::Function<SoftmaxCrossEntropySum> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& logits,
                            const at::Tensor& targets) {
    const int64_t rows = logits.size(0), classes = logits.size(1);
    at::Tensor lse = at::empty({rows}, logits.options().dtype(at::kFloat));
    std::vector<double> losses(rows);
    const int64_t* target = targets.data_ptr<int64_t>();
    float* lse_data = lse.data_ptr<float>();
    WithTyped(logits, [&](auto* x) {
      at::parallel_for(0, rows, kRowGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const auto* row = x + i * classes;
          lse_data[i] = LogSumExp(row, classes);
          losses[i] = static_cast<double>(lse_data[i]) - ScalarToFloat(row[target[i]]);
        }
      });
    });
    double total = 0;  // summed in row order: the same on any number of threads
    for (double loss : losses) total += loss;
    ctx->save_for_backward({logits, targets});
    ctx->saved_data["lse"] = lse;
    return at::scalar_tensor(total, logits.options().dtype(at::kFloat));
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& logits = saved[0];
    const int64_t* target = saved[1].data_ptr<int64_t>();
    const at::Tensor lse = ctx->saved_data["lse"].toTensor();
    const float* lse_data = lse.data_ptr<float>();
    const float scale = grads[0].item<float>();
    const int64_t rows = logits.size(0), classes = logits.size(1);
    at::Tensor grad = at::empty_like(logits);
    WithTyped(logits, [&](auto* x) {
      auto* out = reinterpret_cast<decltype(x)>(grad.data_ptr());
      at::parallel_for(0, rows, kRowGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          GradientRow(x + i * classes, classes, lse_data[i], target[i], scale, out + i * classes);
        }
      });
    });
    return {grad, at::Tensor()};
  }
};

}  // namespace

bool SoftmaxCrossEntropySupports(const at::Tensor& logits) {
  return logits.is_cpu() && logits.dim() == 2 && logits.is_contiguous() &&
         (logits.scalar_type() == at::kFloat || logits.scalar_type() == at::kBFloat16) &&
         logits.size(0) > 0 && logits.size(1) > 0;
}

at::Tensor SummedSoftmaxCrossEntropy(const at::Tensor& logits, const at::Tensor& targets) {
  TORCH_CHECK(logits.dim() == 2 && targets.dim() == 1 && targets.size(0) == logits.size(0),
              "cross-entropy: logits [N, C] and targets [N] expected");
  if (!SoftmaxCrossEntropySupports(logits)) {
    const at::Tensor wide = logits.scalar_type() == at::kDouble ? logits : logits.to(at::kFloat);
    return at::cross_entropy_loss(wide, targets, {}, at::Reduction::Sum);
  }
  const at::Tensor ids = targets.to(at::kLong).contiguous();
  const int64_t classes = logits.size(1);
  const int64_t* id = ids.data_ptr<int64_t>();
  for (int64_t i = 0; i < ids.numel(); ++i) {
    TORCH_CHECK(id[i] >= 0 && id[i] < classes, "cross-entropy: target ", id[i], " of row ", i,
                " is outside [0, ", classes, ")");
  }
  return SoftmaxCrossEntropySum::apply(logits, ids);
}

}  // namespace murmur::model
