// Short-vector arithmetic for murmur's own CPU kernels (masked_softmax.cc, attention_kernel.cc):
// 8-float vectors through GCC's vector extensions (AVX2 with this build's -march), loads and
// stores of fp32 or bf16 storage, a vectorised exp, horizontal reductions.
//
// Why not libtorch's at::vec: its vector types are compiled per CPU capability inside libtorch's
// dispatch and are not reachable from outside it. Rows in these kernels are only ~16-64 values,
// too short for GCC's loop vectoriser, which leaves them scalar.
//
// Internal to model/ (kernels only); header-only, stateless.
#ifndef MURMUR_MODEL_CPU_VECTOR_H_
#define MURMUR_MODEL_CPU_VECTOR_H_

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

namespace murmur::model {

// Rows are padded to a multiple of kLanes in the kernels' buffers.
constexpr int64_t kLanes = 8;
typedef float Floats __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t Ints __attribute__((vector_size(kLanes * sizeof(int32_t))));

inline int64_t PadToLanes(int64_t n) { return (n + kLanes - 1) / kLanes * kLanes; }
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

// One row: `keys` real scores, then L - keys masked ones.
template <typename In, typename Out>
inline void SoftmaxRow(const In* in, Out* out, int64_t keys, int64_t L, float* buffer) {
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

// Calls f(pointer to the elements) of a contiguous fp32 or bf16 tensor; bf16 as raw uint16_t
// (what LoadLanes/StoreLanes take).
template <typename F>
void WithTyped(const at::Tensor& t, F&& f) {
  if (t.scalar_type() == at::kBFloat16) {
    f(reinterpret_cast<uint16_t*>(t.data_ptr<c10::BFloat16>()));
  } else {
    f(t.data_ptr<float>());
  }
}

}  // namespace murmur::model

#endif  // MURMUR_MODEL_CPU_VECTOR_H_
