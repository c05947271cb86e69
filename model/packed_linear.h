// A Linear layer for inference on CPUs, run by oneDNN with its weight packed once, in bf16 or
// fp32.
//
// Why: libtorch 1.13's bf16 linear hands oneDNN (AMX) the weight in torch's plain layout, so
// the matmul re-blocks it on every call; its fp32 linear goes to the BLAS, which packs the
// weight on every call too (model_bench, DistilBERT-base fp32, one tweet: 150 ms a forward
// pass through the BLAS, 20 ms packed here). And bias, GELU and the residual add are separate
// passes over memory. Here the weight is reordered once into the blocked layout oneDNN's kernel
// (AMX, AVX512-BF16, AVX-512, AVX2) asks for, and the epilogue is fused into the matmul: an
// activation (GELU erf, ReLU) on the output, or "add into the fp32 residual stream" (oneDNN's sum
// post-op) for the layers whose output feeds a residual connection. model_bench measures both
// precisions.
//
// fp32 products of at most 96 rows (one or a few tweets) run few_rows_gemm.h's AVX-512 kernel
// instead, on its own packed copy of the weight: oneDNN streams the weight badly at so few rows.
//
// Numerics: the weight's dtype decides. bf16: bf16 inputs and weights, fp32 accumulation, as
// autocast's bf16 linear. fp32: fp32 throughout, as torch::linear (summation order differs).
//
// Available when murmur is built with oneDNN's headers (MURMUR_ONEDNN, //third_party:dnnl, the
// CPU build); elsewhere (the CUDA build, whose libtorch bundles its own oneDNN) Create returns
// nullptr and callers keep libtorch's path.
//
// Thread-safety: immutable after Create; Forward and ForwardAdd may run from many threads at
// once (one primitive per row count, created under a mutex; scratchpad per call).
#ifndef MURMUR_MODEL_PACKED_LINEAR_H_
#define MURMUR_MODEL_PACKED_LINEAR_H_

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "model/versioned_cache.h"

namespace murmur::model {

class PackedLinear {
 public:
  enum class Activation { kNone, kGelu, kRelu };

  // weight [out, in] and bias [out] (copied). The product computes in the weight's dtype when
  // it is fp32, otherwise in bf16. nullptr when oneDNN is not available in this build.
  static std::unique_ptr<PackedLinear> Create(const torch::Tensor& weight,
                                              const torch::Tensor& bias, Activation activation);
  virtual ~PackedLinear() = default;

  // activation(x W^T + b) in the compute dtype, x [rows, in] (converted to a contiguous tensor
  // of the compute dtype if it is not one).
  virtual torch::Tensor Forward(const torch::Tensor& x) const = 0;
  // residual += x W^T + b, in place (residual: contiguous fp32 [rows, out]); returns residual.
  // The activation must be kNone.
  virtual torch::Tensor ForwardAdd(const torch::Tensor& x, torch::Tensor residual) const = 0;
};

// Whether PackedLinear::Create can succeed in this build.
bool PackedLinearAvailable();

// Forward/ForwardAdd calls so far in this process (tests check that a path really ran).
int64_t PackedLinearCalls();

// A module's packed copy of its weights, rebuilt when they change (an optimizer step or a dtype
// change). nullptr when PackedLinear is unavailable.
using PackedLinearCache = VersionedCache<std::shared_ptr<const PackedLinear>>;

}  // namespace murmur::model

#endif  // MURMUR_MODEL_PACKED_LINEAR_H_
