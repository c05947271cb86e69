#include "model/layer_norm_kernel.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "model/cpu_vector.h"

namespace murmur::model {

bool LayerNormInPlaceSupports(const at::Tensor& x, const at::Tensor& weight,
                              const at::Tensor& bias) {
  auto fp32_cpu = [](const at::Tensor& t) {
    return t.defined() && t.is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous();
  };
  return fp32_cpu(x) && fp32_cpu(weight) && fp32_cpu(bias) && x.dim() == 2 &&
         x.size(1) % kLanes == 0 && weight.numel() == x.size(1) && bias.numel() == x.size(1);
}

void LayerNormInPlace(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                      double eps) {
  RECORD_FUNCTION("murmur::LayerNormInPlace", std::vector<c10::IValue>({x}));
  TORCH_CHECK(LayerNormInPlaceSupports(x, weight, bias),
              "LayerNormInPlace: contiguous fp32 CPU x [rows, C], C % 8 == 0, weight/bias [C]");
  const int64_t rows = x.size(0), C = x.size(1);
  float* data = x.data_ptr<float>();
  const float* gamma = weight.data_ptr<float>();
  const float* beta = bias.data_ptr<float>();
  const float inverse_count = 1.0f / static_cast<float>(C);
  // Rows per parallel task: ~16k values.
  at::parallel_for(0, rows, std::max<int64_t>(1, (1 << 14) / C), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* row = data + r * C;
      Floats sum = {};
      for (int64_t j = 0; j < C; j += kLanes) sum += Load(row + j);
      const float mean = HorizontalSum(sum) * inverse_count;
      Floats squares = {};
      for (int64_t j = 0; j < C; j += kLanes) {
        const Floats centered = Load(row + j) - mean;
        squares += centered * centered;
      }
      const float scale =
          1.0f / std::sqrt(HorizontalSum(squares) * inverse_count + static_cast<float>(eps));
      for (int64_t j = 0; j < C; j += kLanes) {
        Store((Load(row + j) - mean) * scale * Load(gamma + j) + Load(beta + j), row + j);
      }
    }
  });
}

}  // namespace murmur::model
