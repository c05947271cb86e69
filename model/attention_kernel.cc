#include "model/attention_kernel.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "model/cpu_vector.h"

namespace murmur::model {
namespace {

constexpr int64_t kMaxHeadDim = 256;

inline float ToFloat(float v) { return v; }
inline float ToFloat(uint16_t bits) {
  const uint32_t widened = static_cast<uint32_t>(bits) << 16;
  float v;
  std::memcpy(&v, &widened, sizeof v);
  return v;
}

// One (sequence, head) block: L query rows of D values each in q, k, v and out; `keys` real.
// Scratch: kt [D * padded keys] (k transposed, so 8 keys' scores are one vector per d), row
// [padded keys] and buffer [padded keys] for the softmax, query [D].
template <typename T>
void Block(const T* q, const T* k, const T* v, T* out, int64_t L, int64_t D, int64_t keys,
           float* kt, float* row, float* buffer, float* query) {
  const int64_t padded = PadToLanes(keys);
  for (int64_t d = 0; d < D; ++d) {
    float* column = kt + d * padded;
    for (int64_t j = 0; j < keys; ++j) column[j] = ToFloat(k[j * D + d]);
    for (int64_t j = keys; j < padded; ++j) column[j] = 0.0f;
  }
  const int64_t chunks = D / kLanes;
  for (int64_t i = 0; i < keys; ++i) {
    for (int64_t d = 0; d < D; ++d) query[d] = ToFloat(q[i * D + d]);
    for (int64_t j = 0; j < padded; j += kLanes) {
      Floats score = {};
      for (int64_t d = 0; d < D; ++d) score += query[d] * Load(kt + d * padded + j);
      Store(score, row + j);
    }
    SoftmaxRow(row, row, keys, padded, buffer);  // in place: SoftmaxRow reads via `buffer`
    Floats context[kMaxHeadDim / kLanes] = {};
    for (int64_t j = 0; j < keys; ++j) {
      const float p = row[j];
      const T* value = v + j * D;
      for (int64_t c = 0; c < chunks; ++c) context[c] += p * LoadLanes(value + c * kLanes);
    }
    for (int64_t c = 0; c < chunks; ++c) StoreLanes(context[c], out + i * D + c * kLanes);
  }
  for (int64_t i = keys; i < L; ++i) {
    for (int64_t c = 0; c < chunks; ++c) StoreLanes(Floats{}, out + i * D + c * kLanes);
  }
}

}  // namespace

bool AttentionForInferenceSupports(const at::Tensor& qkv) {
  return qkv.is_cpu() && qkv.dim() == 4 && qkv.size(0) == 3 && qkv.size(3) % kLanes == 0 &&
         qkv.size(3) <= kMaxHeadDim &&
         (qkv.scalar_type() == at::kFloat || qkv.scalar_type() == at::kBFloat16);
}

void AttentionForInference(const at::Tensor& qkv, const at::Tensor& context,
                           const std::vector<int64_t>& lengths, int64_t heads) {
  RECORD_FUNCTION("murmur::AttentionForInference", std::vector<c10::IValue>({qkv}));
  TORCH_CHECK(AttentionForInferenceSupports(qkv) && qkv.is_contiguous(),
              "AttentionForInference: contiguous fp32 or bf16 CPU qkv [3, N, L, D], D % 8 == 0");
  const int64_t N = qkv.size(1), L = qkv.size(2), D = qkv.size(3);
  TORCH_CHECK(context.is_contiguous() && context.scalar_type() == qkv.scalar_type() &&
                  context.sizes() == at::IntArrayRef({N, L, D}),
              "AttentionForInference: context must be contiguous [N, L, D] of qkv's dtype");
  TORCH_CHECK(heads > 0 && static_cast<int64_t>(lengths.size()) * heads == N,
              "AttentionForInference: one length per sequence of `heads` blocks");
  for (int64_t length : lengths) {
    TORCH_CHECK(length >= 1 && length <= L, "AttentionForInference: length out of range");
  }
  const int64_t block_size = L * D;
  // Blocks per parallel task: enough arithmetic (~64k multiply-adds) to pay for the task.
  const int64_t grain = std::max<int64_t>(1, (1 << 16) / (2 * L * L * D));
  WithTyped(qkv, [&](auto* data) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(data)>>;
    T* out = static_cast<T*>(context.data_ptr());  // the same dtype as qkv (checked)
    at::parallel_for(0, N, grain, [&](int64_t begin, int64_t end) {
      const int64_t padded_length = PadToLanes(L);
      std::vector<float> scratch(D * padded_length + 2 * padded_length + D);
      float* kt = scratch.data();
      float* row = kt + D * padded_length;
      float* buffer = row + padded_length;
      float* query = buffer + padded_length;
      for (int64_t b = begin; b < end; ++b) {
        Block(data + b * block_size, data + (N + b) * block_size, data + (2 * N + b) * block_size,
              out + b * block_size, L, D, lengths[b / heads], kt, row, buffer, query);
      }
    });
  });
}

}  // namespace murmur::model
