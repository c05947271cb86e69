#include "model/attention_kernel.h"

#include <ATen/ATen.h>
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

// Query rows whose scores are computed together: each loaded vector of k^T serves all of them,
// and their independent sums hide the latency of the multiply-adds (one row alone is a chain of
// D dependent multiply-adds per 8 keys).
constexpr int64_t kQueryRows = 4;

// One (sequence, head): `keys` tokens whose q, k and v rows are `in_stride` elements apart, and
// whose D-value context rows are `out_stride` apart. Scratch: kt [D * padded keys] (k
// transposed, so that 8 keys' scores are one vector per d), scores [kQueryRows * padded keys],
// buffer [padded keys] for the softmax, queries [kQueryRows * D].
template <typename T>
void Head(const T* q, const T* k, const T* v, int64_t in_stride, T* out, int64_t out_stride,
          int64_t D, int64_t keys, float* kt, float* scores, float* buffer, float* queries) {
  const int64_t padded = PadToLanes(keys);
  // Transposed from k's rows, each read in order.
  for (int64_t j = 0; j < keys; ++j) {
    const T* key = k + j * in_stride;
    for (int64_t d = 0; d < D; ++d) kt[d * padded + j] = ToFloat(key[d]);
  }
  for (int64_t d = 0; d < D; ++d) {
    for (int64_t j = keys; j < padded; ++j) kt[d * padded + j] = 0.0f;
  }
  const int64_t chunks = D / kLanes;
  for (int64_t first = 0; first < keys; first += kQueryRows) {
    const int64_t rows = std::min(kQueryRows, keys - first);
    for (int64_t r = 0; r < kQueryRows; ++r) {
      for (int64_t d = 0; d < D; ++d) {
        queries[r * D + d] = r < rows ? ToFloat(q[(first + r) * in_stride + d]) : 0.0f;
      }
    }
    for (int64_t j = 0; j < padded; j += kLanes) {
      Floats sum[kQueryRows] = {};
      for (int64_t d = 0; d < D; ++d) {
        const Floats key = Load(kt + d * padded + j);
        for (int64_t r = 0; r < kQueryRows; ++r) sum[r] += queries[r * D + d] * key;
      }
      for (int64_t r = 0; r < kQueryRows; ++r) Store(sum[r], scores + r * padded + j);
    }
    for (int64_t r = 0; r < rows; ++r) {
      float* row = scores + r * padded;
      SoftmaxRow(row, row, keys, padded, buffer);  // in place: SoftmaxRow reads via `buffer`
      Floats context[kMaxHeadDim / kLanes] = {};
      for (int64_t j = 0; j < keys; ++j) {
        const float p = row[j];
        const T* value = v + j * in_stride;
        for (int64_t c = 0; c < chunks; ++c) context[c] += p * LoadLanes(value + c * kLanes);
      }
      T* target = out + (first + r) * out_stride;
      for (int64_t c = 0; c < chunks; ++c) StoreLanes(context[c], target + c * kLanes);
    }
  }
}

}  // namespace

bool AttentionOnPackedRowsSupports(const at::Tensor& qkv, int64_t heads) {
  if (!qkv.is_cpu() || qkv.dim() != 2 || heads <= 0 || qkv.size(1) % (3 * heads) != 0) {
    return false;
  }
  const int64_t D = qkv.size(1) / (3 * heads);
  return D % kLanes == 0 && D <= kMaxHeadDim &&
         (qkv.scalar_type() == at::kFloat || qkv.scalar_type() == at::kBFloat16);
}

at::Tensor AttentionOnPackedRows(const at::Tensor& qkv_in, const std::vector<int64_t>& lengths,
                                 int64_t heads) {
  RECORD_FUNCTION("murmur::AttentionOnPackedRows", std::vector<c10::IValue>({qkv_in}));
  TORCH_CHECK(AttentionOnPackedRowsSupports(qkv_in, heads),
              "AttentionOnPackedRows: fp32 or bf16 CPU qkv [R, 3 * heads * D], D % 8 == 0");
  const at::Tensor qkv = qkv_in.contiguous();
  const int64_t R = qkv.size(0), HD = qkv.size(1) / 3, D = HD / heads;
  std::vector<int64_t> start(lengths.size() + 1, 0);
  for (size_t s = 0; s < lengths.size(); ++s) {
    TORCH_CHECK(lengths[s] >= 1, "AttentionOnPackedRows: empty sequence");
    start[s + 1] = start[s] + lengths[s];
  }
  TORCH_CHECK(start.back() <= R, "AttentionOnPackedRows: the lengths exceed the rows");
  at::Tensor context = at::empty({R, HD}, qkv.options());
  if (start.back() < R) context.narrow(0, start.back(), R - start.back()).zero_();
  const int64_t tasks = static_cast<int64_t>(lengths.size()) * heads;
  int64_t longest = 1;
  for (int64_t length : lengths) longest = std::max(longest, length);
  // (Sequence, head) pairs per parallel task: enough arithmetic (~64k multiply-adds) to pay
  // for the task.
  const int64_t grain = std::max<int64_t>(1, (1 << 16) / (2 * longest * longest * D));
  WithTyped(qkv, [&](auto* data) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(data)>>;
    T* out = static_cast<T*>(context.data_ptr());  // the same dtype as qkv
    at::parallel_for(0, tasks, grain, [&](int64_t begin, int64_t end) {
      const int64_t padded = PadToLanes(longest);
      std::vector<float> scratch(D * padded + kQueryRows * padded + padded + kQueryRows * D);
      float* kt = scratch.data();
      float* scores = kt + D * padded;
      float* buffer = scores + kQueryRows * padded;
      float* queries = buffer + padded;
      for (int64_t task = begin; task < end; ++task) {
        const int64_t s = task / heads, h = task % heads;
        const T* first = data + start[s] * 3 * HD + h * D;
        Head(first, first + HD, first + 2 * HD, 3 * HD, out + start[s] * HD + h * D, HD, D,
             lengths[s], kt, scores, buffer, queries);
      }
    });
  });
  return context;
}

}  // namespace murmur::model
