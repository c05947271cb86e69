// A batch of token-id sequences in the packed form DistilBERT (distilbert.h) runs on: the
// sequences concatenated row after row, without padding, so that the linear layers, which are
// ~95% of the FLOPs, see only real tokens. Only attention needs padded squares; it reaches them
// through the gathers of AttentionLayout (packed_attention.h).
//
// Built on the CPU, where the per-token loops are cheap, and moved with To. Includes only
// ATen's tensor type, not the torch C++ frontend: code that builds batches compiles quickly.
//
// A value type (copyable; the tensors are shared, not copied). Thread-safety: immutable once
// built; const members may be used from many threads at once.
#ifndef MURMUR_MODEL_BATCH_H_
#define MURMUR_MODEL_BATCH_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace murmur::model {

// Build with FromSequences (tokenizer output) or FromPadded (Hugging Face style input_ids +
// right-padded attention_mask).
//
// Shapes are rounded up (rows by RoundRows, the attention length to a multiple of
// kLengthMultiple) so that the oneDNN/AMX kernels, which JIT-compile one primitive per matrix
// shape (at training sizes, several times the cost of the product itself), see a bounded set of
// shapes: with exact shapes nearly every batch of real tweets is new and pays the compilation, in
// training three times per linear layer (forward and both backward products). The extra rows are
// junk tokens that belong to no sequence. Few rows round to 8, not 16: one tweet's ~22 rows would
// become 32, a third of the products of batch 1 wasted (model_bench: 16 -> 8 took fp32 batch 1 from
// 51 to 66 tweets/s). Larger batches round to a sixteenth of the power of two below them: at most
// 16 shapes per doubling of the size and under 6.25% junk rows. A training step of 32 tweets
// (~740 rows) then sees ~25 row counts over a job instead of ~100, few enough to stay in
// oneDNN's primitive cache (1,024 entries) and to be compiled within the first steps.
struct Batch {
  static constexpr int64_t kRowMultiple = 8;
  static constexpr int64_t kLengthMultiple = 8;

  // The rows of a batch of `tokens` tokens: a multiple of kRowMultiple, or of tokens / 16
  // rounded down to a power of two when that is larger.
  static int64_t RoundRows(int64_t tokens);

  int64_t batch_size = 0;
  int64_t max_len = 0;     // attention length, longest sequence rounded up
  int64_t num_tokens = 0;  // real tokens
  int64_t num_rows = 0;    // rows of the packed layout: RoundRows(num_tokens)
  // [num_rows] int64, sequences concatenated in order (token j of sequence b is row
  // cls_index[b] + j), then junk rows (id 0).
  at::Tensor input_ids;
  at::Tensor position_ids;       // [num_rows] int64, 0.. within each sequence
  at::Tensor cls_index;          // [batch_size] int64, row of each sequence's first token
  std::vector<int64_t> lengths;  // tokens of each sequence (host-side, for AttentionLayout)

  // Sequences of one length that fill whole rounded shapes: packed and padded coincide.
  bool dense() const;

  // Each sequence must be non-empty and at most `max_positions` long.
  static absl::StatusOr<Batch> FromSequences(const std::vector<std::vector<int32_t>>& sequences,
                                             int64_t max_positions);
  // input_ids [B, L] integer, attention_mask [B, L] of 0/1 with each row 1...1 0...0 and a
  // leading 1 (right padding, as murmur's tokenizer and HF's default produce).
  static absl::StatusOr<Batch> FromPadded(const at::Tensor& input_ids,
                                          const at::Tensor& attention_mask, int64_t max_positions);

  // The same batch with its tensors on `device` (built on the CPU, where the per-token loops
  // are cheap; a model on a GPU needs them there). Returns *this unchanged for the CPU.
  Batch To(const at::Device& device) const;
};

}  // namespace murmur::model

#endif  // MURMUR_MODEL_BATCH_H_
