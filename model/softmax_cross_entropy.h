// The summed softmax cross-entropy of logits over many classes (the masked-LM head's [masked
// tokens, vocabulary]) as one autograd op: forward reads each row twice (its maximum, then the
// sum of exponentials) and keeps one log-sum-exp per row; backward writes the gradient
// exp(logit - lse) - onehot in one pass, in the logits' own dtype.
//
// Why not libtorch's cross_entropy: on bf16 logits it needs an fp32 copy of them (and its
// gradient cast back), then log_softmax materialises [rows, classes] log-probabilities in fp32
// and its backward reads them again; for the small preset's 16,000-token vocabulary that was
// most of the masked-LM head outside its matmuls. The sum is the same function of the logits;
// it is computed in fp32 (fp64 for the total).
//
// Stateless free functions; thread-safe as libtorch ops are (rows split with at::parallel_for).
#ifndef MURMUR_MODEL_SOFTMAX_CROSS_ENTROPY_H_
#define MURMUR_MODEL_SOFTMAX_CROSS_ENTROPY_H_

#include <ATen/ATen.h>

namespace murmur::model {

// sum over rows i of -log softmax(logits[i])[targets[i]]: logits [N, C] (N >= 1), targets [N]
// int64 in [0, C) (out of range: a c10::Error). A 0-dim fp32 tensor (fp64 for fp64 logits),
// differentiable with respect to the logits. The fused kernel takes contiguous fp32 or bf16
// logits on the CPU; anything else goes through libtorch's cross_entropy (fp32 or fp64).
at::Tensor SummedSoftmaxCrossEntropy(const at::Tensor& logits, const at::Tensor& targets);

// Whether SummedSoftmaxCrossEntropy runs its own kernel on these logits.
bool SoftmaxCrossEntropySupports(const at::Tensor& logits);

}  // namespace murmur::model

#endif  // MURMUR_MODEL_SOFTMAX_CROSS_ENTROPY_H_
