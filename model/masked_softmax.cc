#include "model/masked_softmax.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace murmur::model {
namespace {

// The row arithmetic runs on 8-float vectors (GCC vector extensions; AVX2 with this build's
// -march): rows here are only ~16-64 keys, too short for GCC's loop vectoriser, which leaves
// them scalar. Rows are padded to a multiple of kLanes in a buffer.
constexpr int64_t kLanes = 8;
typedef float Floats __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t Ints __attribute__((vector_size(kLanes * sizeof(int32_t))));

int64_t PadToLanes(int64_t n) { return (n + kLanes - 1) / kLanes * kLanes; }
inline Floats Load(const float* p) {
  Floats v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void Store(Floats v, float* p) { std::memcpy(p, &v, sizeof v); }

// exp(x) for x <= 0 (a score minus its row's maximum): 2^n * p(r) with n = round(x / ln 2) and
// r = x - n ln 2 in [-ln 2 / 2, ln 2 / 2] (ln 2 split in two so that n ln 2 is exact:
// Cody-Waite), p the degree-7 Taylor polynomial (relative error < 1e-8 on that interval).
// Rounding adds and subtracts 1.5 * 2^23, which also leaves n in the low bits of the sum.
// libtorch's own vectorised exp is not reachable from outside its dispatch.
inline Floats ExpNonPositive(Floats x) {
  constexpr float kShift = 12582912.0f;  // 1.5 * 2^23
  constexpr int32_t kShiftBits = 0x4b400000;
  const Floats floor_value = x - x - 87.0f;  // exp(-87) ~ 1.6e-38: 2^n stays a normal float
  x = x < -87.0f ? floor_value : x;
  const Floats shifted = x * 1.44269504f + kShift;
  const Floats n = shifted - kShift;
  const Floats r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  Floats p = r * (1.0f / 5040) + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const Ints exponent = ((reinterpret_cast<Ints>(shifted) - kShiftBits) + 127) << 23;
  return p * reinterpret_cast<Floats>(exponent);
}

typedef uint16_t Halves __attribute__((vector_size(kLanes * sizeof(uint16_t))));
const Ints kLaneIndex = {0, 1, 2, 3, 4, 5, 6, 7};

// kLanes values from fp32 or bf16 storage (bf16 as its raw 16 bits: the top half of an fp32).
inline Floats LoadLanes(const float* p) { return Load(p); }
inline Floats LoadLanes(const uint16_t* p) {
  Halves halves;
  std::memcpy(&halves, p, sizeof halves);
  const Ints bits = __builtin_convertvector(halves, Ints) << 16;
  return reinterpret_cast<Floats>(bits);
}
inline void StoreLanes(Floats v, float* p) { Store(v, p); }
inline void StoreLanes(Floats v, uint16_t* p) {  // rounds to nearest even, as c10 does
  Ints bits = reinterpret_cast<Ints>(v);
  bits += 0x7fff + ((bits >> 16) & 1);
  const Halves halves = __builtin_convertvector(bits >> 16, Halves);
  std::memcpy(p, &halves, sizeof halves);
}

inline float HorizontalMax(Floats v) {
  float max = v[0];
  for (int64_t k = 1; k < kLanes; ++k) max = std::max(max, v[k]);
  return max;
}
inline float HorizontalSum(Floats v) {
  float sum = 0.0f;
  for (int64_t k = 0; k < kLanes; ++k) sum += v[k];
  return sum;
}

// The scores are blocks (sequence n, head h) of L query rows of L keys; L a multiple of kLanes.
// Row q of block (n, h) has lengths[n] real keys, and none when q >= lengths[n].
struct Blocks {
  int64_t heads, length;  // H, L
  const std::vector<int64_t>* lengths;
  int64_t count() const { return static_cast<int64_t>(lengths->size()) * heads; }
  int64_t RealKeys(int64_t block) const { return (*lengths)[block / heads]; }
  // Blocks per parallel task: enough work (~16k scores) to pay for the task.
  int64_t grain() const { return std::max<int64_t>(1, (1 << 14) / (length * length)); }
};

// One row: `keys` real scores, then L - keys masked ones.
template <typename In, typename Out>
void SoftmaxRow(const In* in, Out* out, int64_t keys, int64_t L, float* buffer) {
  const int64_t padded = PadToLanes(keys);
  const Floats lowest = Floats{} - std::numeric_limits<float>::infinity();
  Floats max = lowest;
  for (int64_t j = 0; j < padded; j += kLanes) {
    const Floats v = kLaneIndex < static_cast<int32_t>(keys - j) ? LoadLanes(in + j) : lowest;
    Store(v, buffer + j);
    max = v > max ? v : max;
  }
  const float row_max = HorizontalMax(max);
  Floats sum = {};
  for (int64_t j = 0; j < padded; j += kLanes) {
    Floats e = ExpNonPositive(Load(buffer + j) - row_max);
    e = kLaneIndex < static_cast<int32_t>(keys - j) ? e : Floats{};
    Store(e, buffer + j);
    sum += e;
  }
  const float inverse = 1.0f / HorizontalSum(sum);
  for (int64_t j = 0; j < padded; j += kLanes) StoreLanes(Load(buffer + j) * inverse, out + j);
  for (int64_t j = padded; j < L; j += kLanes) StoreLanes(Floats{}, out + j);
}

// d scores = p * (d p - <d p, p>); 0 wherever p is (masked keys, padded queries).
template <typename Grad, typename Prob, typename Out>
void SoftmaxBackwardRow(const Grad* grad, const Prob* probabilities, Out* out, int64_t keys,
                        int64_t L) {
  const int64_t padded = PadToLanes(keys);
  Floats dot = {};
  for (int64_t j = 0; j < padded; j += kLanes) {
    dot += LoadLanes(grad + j) * LoadLanes(probabilities + j);
  }
  const float row_dot = HorizontalSum(dot);
  for (int64_t j = 0; j < padded; j += kLanes) {
    const Floats p = LoadLanes(probabilities + j);
    StoreLanes(p * (LoadLanes(grad + j) - row_dot), out + j);
  }
  for (int64_t j = padded; j < L; j += kLanes) StoreLanes(Floats{}, out + j);
}

// Calls f(pointer to the elements) for a contiguous fp32 or bf16 tensor; bf16 as raw uint16_t.
template <typename F>
void WithTyped(const at::Tensor& t, F&& f) {
  if (t.scalar_type() == at::kBFloat16) {
    f(reinterpret_cast<uint16_t*>(t.data_ptr<c10::BFloat16>()));
  } else {
    f(t.data_ptr<float>());
  }
}

bool FloatOrBf16(at::ScalarType dtype) { return dtype == at::kFloat || dtype == at::kBFloat16; }

void CheckArguments(const at::Tensor& scores, const std::vector<int64_t>& lengths,
                    at::ScalarType out_dtype) {
  TORCH_CHECK(MaskedSoftmaxSupports(scores),
              "MaskedSoftmax: fp32 or bf16 CPU scores [N, H, L, L], L a multiple of 8");
  TORCH_CHECK(FloatOrBf16(out_dtype), "MaskedSoftmax: fp32 or bf16 output");
  TORCH_CHECK(static_cast<int64_t>(lengths.size()) == scores.size(0),
              "MaskedSoftmax: one length per sequence");
  for (int64_t length : lengths) {
    TORCH_CHECK(length >= 1 && length <= scores.size(3), "MaskedSoftmax: length out of range");
  }
}

}  // namespace

bool MaskedSoftmaxSupports(const at::Tensor& scores) {
  return scores.is_cpu() && scores.dim() == 4 && scores.size(2) == scores.size(3) &&
         scores.size(3) % kLanes == 0 && FloatOrBf16(scores.scalar_type());
}

at::Tensor MaskedSoftmax(const at::Tensor& scores, const std::vector<int64_t>& lengths,
                         at::ScalarType out_dtype) {
  RECORD_FUNCTION("murmur::MaskedSoftmax", std::vector<c10::IValue>({scores}));
  CheckArguments(scores, lengths, out_dtype);
  const at::Tensor in = scores.contiguous();
  at::Tensor out = at::empty(in.sizes(), in.options().dtype(out_dtype));
  const Blocks blocks{in.size(1), in.size(3), &lengths};
  const int64_t L = blocks.length;
  WithTyped(in, [&](auto* in_data) {
    WithTyped(out, [&](auto* out_data) {
      at::parallel_for(0, blocks.count(), blocks.grain(), [&](int64_t begin, int64_t end) {
        std::vector<float> buffer(L);
        for (int64_t block = begin; block < end; ++block) {
          const int64_t keys = blocks.RealKeys(block);
          for (int64_t q = 0; q < L; ++q) {
            const int64_t offset = (block * L + q) * L;
            SoftmaxRow(in_data + offset, out_data + offset, q < keys ? keys : 0, L,
                       buffer.data());
          }
        }
      });
    });
  });
  return out;
}

at::Tensor MaskedSoftmaxBackward(const at::Tensor& grad, const at::Tensor& probabilities,
                                 const std::vector<int64_t>& lengths,
                                 at::ScalarType grad_in_dtype) {
  RECORD_FUNCTION("murmur::MaskedSoftmaxBackward", std::vector<c10::IValue>({grad}));
  CheckArguments(probabilities, lengths, grad_in_dtype);
  TORCH_CHECK(grad.sizes() == probabilities.sizes() && FloatOrBf16(grad.scalar_type()),
              "MaskedSoftmaxBackward: fp32 or bf16 gradient shaped as the probabilities");
  const at::Tensor g = grad.contiguous(), p = probabilities.contiguous();
  at::Tensor grad_in = at::empty(p.sizes(), p.options().dtype(grad_in_dtype));
  const Blocks blocks{p.size(1), p.size(3), &lengths};
  const int64_t L = blocks.length;
  WithTyped(g, [&](auto* grad_data) {
    WithTyped(p, [&](auto* probability_data) {
      WithTyped(grad_in, [&](auto* grad_in_data) {
        at::parallel_for(0, blocks.count(), blocks.grain(), [&](int64_t begin, int64_t end) {
          for (int64_t block = begin; block < end; ++block) {
            const int64_t keys = blocks.RealKeys(block);
            for (int64_t q = 0; q < L; ++q) {
              const int64_t offset = (block * L + q) * L;
              SoftmaxBackwardRow(grad_data + offset, probability_data + offset,
                                 grad_in_data + offset, q < keys ? keys : 0, L);
            }
          }
        });
      });
    });
  });
  return grad_in;
}

}  // namespace murmur::model
