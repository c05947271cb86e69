// Dropout with a fast counter-based mask, for training on CPU. libtorch 1.13's CPU dropout
// draws every element from one serial mt19937, a large share of a DistilBERT-base training
// step. This one hashes (seed, element index) with base/random.h's CounterHash (SplitMix64),
// four 16-bit uniforms per hash, in a parallel loop: same distribution (keep with probability
// 1 - p, scale kept values by 1 / (1 - p)), a different random stream.
//
// The seed of each call is drawn from libtorch's default CPU generator, so torch::manual_seed
// makes runs reproducible. Tensors on other devices (a GPU) use libtorch's own dropout. Thread-safe
// as libtorch ops are.
#ifndef MURMUR_MODEL_DROPOUT_H_
#define MURMUR_MODEL_DROPOUT_H_

#include <ATen/ATen.h>

#include <cstdint>

namespace murmur::model {

// Differentiable (the backward multiplies by the same mask). Identity when !training or p == 0.
at::Tensor FastDropout(const at::Tensor& x, double p, bool training);

// FastDropout's pieces, for fused ops that regenerate the mask in their backward from its seed
// instead of keeping it: a seed from libtorch's default CPU generator, and the mask that seed
// gives for a CPU tensor shaped and typed as `like` (0 or 1 / (1 - p); 0 < p < 1).
uint64_t DrawDropoutSeed();
at::Tensor DropoutMask(const at::Tensor& like, double p, uint64_t seed);

}  // namespace murmur::model

#endif  // MURMUR_MODEL_DROPOUT_H_
