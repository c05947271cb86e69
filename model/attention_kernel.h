// Attention for inference on the CPU, straight on the packed rows of a batch (batch.h): per
// (sequence, head), scores = q k^T over the sequence's own tokens, the softmax and context = p v,
// computed in fp32 from fp32 or bf16 storage, one query row at a time (the [L, L] scores never
// exist beyond one row), reading q, k and v where the fused projection wrote them.
//
// Why: at tweet lengths (~16-64 tokens, head_dim 64) each product is tiny. The training path
// (packed_attention.h) gathers q/k/v into padded per-head blocks, runs libtorch's bmm (one addmm
// per sequence and head, with a select and a conjugation check each) and gathers the context
// back: more than the arithmetic costs in inference (~3 ms of a 16 ms fp32 DistilBERT-base
// forward pass of one tweet). Training keeps that path: it needs the probabilities for the
// backward.
//
// Stateless free functions; thread-safe as libtorch ops are (the loop uses at::parallel_for).
#ifndef MURMUR_MODEL_ATTENTION_KERNEL_H_
#define MURMUR_MODEL_ATTENTION_KERNEL_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace murmur::model {

// qkv: [R, 3 * heads * D], contiguous, fp32 or bf16: row r holds token r's q (all heads), then
// k, then v, q already scaled by 1/sqrt(D). Sequences occupy consecutive rows from row 0,
// lengths[s] >= 1 rows each; rows past them are junk. Returns context [R, heads * D] (qkv's
// dtype): for a real row, head h's slice is softmax(q k^T over its sequence's tokens) v; junk
// rows are zeros.
at::Tensor AttentionOnPackedRows(const at::Tensor& qkv, const std::vector<int64_t>& lengths,
                                 int64_t heads);

// Whether AttentionOnPackedRows takes this qkv (CPU, 2-D, fp32 or bf16, head_dim a multiple of 8
// and at most 256).
bool AttentionOnPackedRowsSupports(const at::Tensor& qkv, int64_t heads);

}  // namespace murmur::model

#endif  // MURMUR_MODEL_ATTENTION_KERNEL_H_
