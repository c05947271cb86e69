// Attention for inference on the CPU, in one pass per (sequence, head): scores = q k^T, the
// masked softmax and context = p v, computed in fp32 from fp32 or bf16 storage, one query row
// at a time (the [L, L] scores never exist beyond one row).
//
// Why: at tweet lengths (L ~16-64 keys, head_dim 64) each product is tiny, and libtorch 1.13's
// CPU bmm runs them as one addmm per (sequence, head), with a select and a conjugation check
// each: more than the arithmetic costs (~3 ms of a 16 ms fp32 DistilBERT-base forward pass of
// one tweet). Training keeps bmm + MaskedSoftmax (packed_attention.cc): it needs the
// probabilities for the backward.
//
// Stateless free functions; thread-safe as libtorch ops are (the loop uses at::parallel_for).
#ifndef MURMUR_MODEL_ATTENTION_KERNEL_H_
#define MURMUR_MODEL_ATTENTION_KERNEL_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace murmur::model {

// qkv: [3, N, L, D] (q, k, v of N = sequences * heads blocks; block b belongs to sequence
// b / heads), contiguous, fp32 or bf16, q already scaled by 1/sqrt(D); lengths[s] in [1, L] the
// real tokens of sequence s. Writes context [N, L, D] (contiguous, qkv's dtype): row q of block
// b is softmax(q k^T over the sequence's real keys) v, and zeros for padded queries.
void AttentionForInference(const at::Tensor& qkv, const at::Tensor& context,
                           const std::vector<int64_t>& lengths, int64_t heads);

// Whether AttentionForInference takes this qkv (CPU, fp32 or bf16, D a multiple of 8, at most
// 256).
bool AttentionForInferenceSupports(const at::Tensor& qkv);

}  // namespace murmur::model

#endif  // MURMUR_MODEL_ATTENTION_KERNEL_H_
