// LayerNorm over the last dimension of a CPU fp32 matrix, in place, for inference: one pass to
// sum, one for the variance, one to normalise, scale and shift, on 8-float vectors, rows in
// parallel.
//
// Why: at tweet shapes (a few dozen rows of 768) libtorch 1.13's layer_norm spends most of its
// time outside the arithmetic (~50 us a call, 13 calls a DistilBERT forward pass: ~0.6 ms of a
// 15 ms fp32 pass of one tweet), and allocates its output. The encoder's packed inference path
// owns the residual stream it normalises, so in place is safe there.
//
// Stateless; thread-safe as libtorch ops are (the loop uses at::parallel_for).
#ifndef MURMUR_MODEL_LAYER_NORM_KERNEL_H_
#define MURMUR_MODEL_LAYER_NORM_KERNEL_H_

#include <ATen/core/Tensor.h>

namespace murmur::model {

// x [rows, C] contiguous fp32 (C a multiple of 8); weight and bias [C] fp32. Each row becomes
// (row - mean) / sqrt(var + eps) * weight + bias (biased variance, as torch::layer_norm).
void LayerNormInPlace(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                      double eps);

// Whether LayerNormInPlace takes x, weight and bias.
bool LayerNormInPlaceSupports(const at::Tensor& x, const at::Tensor& weight,
                              const at::Tensor& bias);

}  // namespace murmur::model

#endif  // MURMUR_MODEL_LAYER_NORM_KERNEL_H_
