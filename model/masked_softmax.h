// Attention's softmax over keys, with the padding mask taken from sequence lengths, in one pass
// on the CPU.
//
// Why not libtorch's `softmax(scores + mask)`: for tweets a row holds only ~16-64 keys, and
// libtorch 1.13's broadcast add and its last-dimension softmax spend most of their time on
// per-row overhead, a noticeable share of a DistilBERT-base bf16 forward pass over tweets.
// This kernel reads each score once, skips padded keys and padded queries entirely, and
// computes in fp32 whatever the storage type.
//
// Stateless free functions; thread-safe as libtorch ops are (the loops use at::parallel_for).
#ifndef MURMUR_MODEL_MASKED_SOFTMAX_H_
#define MURMUR_MODEL_MASKED_SOFTMAX_H_

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace murmur::model {

// scores: [N, H, L, L] (sequence, head, query, key), fp32 or bf16, on the CPU, L a multiple of
// 8; lengths[n] in [1, L] real tokens of sequence n. Returns probabilities of dtype `out_dtype`
// (fp32 or bf16): row (n, h, q) is the softmax of its first lengths[n] keys and 0 for the rest,
// and all 0 when q >= lengths[n] (a padded query, whose output nothing reads). Not an autograd
// op: the attention core that calls it (packed_attention.cc) has its own backward, which calls
// MaskedSoftmaxBackward.
at::Tensor MaskedSoftmax(const at::Tensor& scores, const std::vector<int64_t>& lengths,
                         at::ScalarType out_dtype);

// The gradient of the scores, of dtype `grad_in_dtype`, from that of the probabilities (the
// softmax's: p * (grad - <grad, p>) per row); 0 for masked keys and padded queries.
at::Tensor MaskedSoftmaxBackward(const at::Tensor& grad, const at::Tensor& probabilities,
                                 const std::vector<int64_t>& lengths,
                                 at::ScalarType grad_in_dtype);

// Whether MaskedSoftmax takes these scores; otherwise use softmax(scores + mask).
bool MaskedSoftmaxSupports(const at::Tensor& scores);

}  // namespace murmur::model

#endif  // MURMUR_MODEL_MASKED_SOFTMAX_H_
