// Multi-head self-attention over a packed batch (batch.h): the layout that takes packed rows to
// padded attention squares and back, and the attention computed on it.
//
// Why a layout of its own: the linear layers run on packed rows without padding; only the
// attention score/context products need a padded, head-major [sequences, heads, length, ...]
// layout. Gather indices move the fused q/k/v projections straight into the head-major
// [3, sequences, heads, length, head_dim] layouts the products want, and the context back into
// packed rows: one gather each way per layer, no transposing copies.
//
// Length groups: attention runs on padded squares, so the sequences are sorted by length and
// split into up to kMaxGroups groups of similar length, each padded only to its own longest
// (rounded to Batch::kLengthMultiple) — for a batch of 32 real tweets about a third of the
// padded score area of one [32, heads, longest, longest] block. The split is the one with the
// least padded area plus a per-group overhead (ChooseGroups in the .cc). All groups' padded
// slots live in one buffer, group after group, so the gathers stay one each way.
//
// Both gathers are one-to-one on the rows that matter, so their backward is a gather too (with
// the inverse index, zero for rows nothing maps to) instead of index_select's scatter-add into
// a zero-filled tensor: padded slots and junk rows provably get zero gradient (masked keys and
// values have weight exactly 0; padded queries and junk rows feed nothing).
//
// Between the gathers, fp32 and bf16 attention on the CPU runs as one autograd node over all
// groups (AttentionCore in the .cc: masks from the lengths, masked_softmax.h); other devices
// and dtypes compose libtorch ops with the mask as an additive bias. Inference on the CPU
// (no gradient, no dropout) skips all of it: attention_kernel.h works on the packed rows.
//
// Includes only ATen's tensor type, not the torch C++ frontend.
#ifndef MURMUR_MODEL_PACKED_ATTENTION_H_
#define MURMUR_MODEL_PACKED_ATTENTION_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "model/batch.h"

namespace murmur::model {

// The gather indices and length groups of one batch for one head count. Built once per forward
// pass and shared by every layer (they depend on the batch and the head count only). A value
// type; its index tensors are on the batch's device. Thread-safety: immutable after Make;
// const members may be used from many threads at once.
struct AttentionLayout {
  static constexpr int kMaxGroups = 4;

  struct Group {
    int64_t sequences = 0;    // B_g
    int64_t length = 0;       // L_g, this group's longest rounded up
    int64_t qkv_offset = 0;   // first row of the group's [3, B_g, H, L_g] block in the buffer
    int64_t context_offset = 0;  // first row of its [B_g, H, L_g] context block
    std::vector<int64_t> lengths;  // [B_g] real tokens of each member: the padding mask
  };
  std::vector<Group> groups;
  // Tokens of each sequence, in the batch's order (the inference kernel works on packed rows).
  std::vector<int64_t> sequence_lengths;

  at::Tensor qkv_index;      // [sum 3 * B_g * H * L_g] rows of qkv.view(-1, head_dim)
  at::Tensor qkv_inverse;    // [num_rows * 3 * heads] the padded row of each qkv row
  at::Tensor qkv_zero;       // qkv rows with no padded row (junk rows)
  at::Tensor context_index;  // [num_rows * heads] rows of the groups' contexts
  at::Tensor context_inverse;  // [sum B_g * H * L_g] packed row of each context row
  at::Tensor context_zero;     // context rows of padded slots

  static AttentionLayout Make(const Batch& batch, int64_t n_heads);
};

// The attention context [num_rows, dim] of a packed batch from its fused projection `qkv`
// [num_rows, 3 * dim] (q, k, v side by side, each `n_heads` heads of dim / n_heads; q already
// scaled by 1/sqrt(head_dim)): per head, softmax(q k^T) v over each sequence's own tokens.
// `dropout` is applied to the attention probabilities when `training`. Differentiable. Throws
// c10::Error on bad input. Thread-safe as libtorch ops are.
at::Tensor PackedAttention(const at::Tensor& qkv, const AttentionLayout& layout, int64_t n_heads,
                           double dropout, bool training);

}  // namespace murmur::model

#endif  // MURMUR_MODEL_PACKED_ATTENTION_H_
