// DistilBertForSequenceClassification in libtorch, with Hugging Face's module structure, so
// named_parameters() yields exactly transformers' state-dict names
// ("distilbert.transformer.layer.0.attention.q_lin.weight", ...) and the same semantics:
// embeddings + LayerNorm(eps 1e-12) + dropout; per layer multi-head self-attention with padding
// masked, sa_layer_norm, FFN (lin1, erf GELU, lin2, dropout), output_layer_norm; the [CLS]
// hidden state -> pre_classifier -> ReLU -> dropout -> classifier.
//
// Speed: sequences are *packed* (Batch): the linear layers, which are ~95% of the FLOPs, run on
// the real tokens only, without padding; only the attention score/context products see a
// padded head-major [batch, heads, max_len, ...] layout, reached with one gather per direction
// and layer (AttentionLayout; its backward is a gather too). q, k, v are one fused GEMM.
// Sorting by length before batching (Classifier does) keeps the attention padding small.
// Dropout is FastDropout (dropout.h): same distribution, a much cheaper mask on CPU.
//
// Devices: the module runs where its parameters are (module->to(device)); give it a batch on
// the same device (Batch::To). The packed layout is built on the CPU either way.
//
// Precision: fp32 weights by default. Training uses bf16 autocast with fp32 master weights
// (AutocastBf16 below): products in bf16, LayerNorm, softmax and the residual stream in fp32.
// bf16 inference converts the Linear weights once (SetLinearDtype) and runs under
// AutocastBf16, several times faster on AMX CPUs; where oneDNN is available the encoder's
// Linear layers then run packed, with bias, GELU and the residual adds fused into the matmuls
// (packed_linear.h). Logits are always fp32.
//
// Thread-safety: a module in eval() mode may run Forward from many threads at once (it reads
// parameters only); training and parameter changes need exclusive access. Ownership: the usual
// torch module holder (shared_ptr semantics).
#ifndef MURMUR_MODEL_DISTILBERT_H_
#define MURMUR_MODEL_DISTILBERT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "model/config.h"
#include "model/packed_linear.h"
#include "model/versioned_cache.h"

namespace murmur::model {

// A batch of token-id sequences in packed form. Build with FromSequences (tokenizer output) or
// FromPadded (Hugging Face style input_ids + right-padded attention_mask).
//
// Shapes are rounded up (rows to a multiple of kRowMultiple, the attention length to a
// multiple of kLengthMultiple) so that the oneDNN/AMX kernels, which JIT-compile one primitive
// per matrix shape, see a bounded set of shapes: with exact shapes nearly every batch of
// real tweets is new and pays the compilation. The extra rows are junk tokens that belong to no
// sequence; they cost under 2% at batch 32.
struct Batch {
  static constexpr int64_t kRowMultiple = 16;
  static constexpr int64_t kLengthMultiple = 8;

  int64_t batch_size = 0;
  int64_t max_len = 0;     // attention length, longest sequence rounded up
  int64_t num_tokens = 0;  // real tokens
  int64_t num_rows = 0;    // rows of the packed layout, num_tokens rounded up
  // [num_rows] int64, sequences concatenated in order (token j of sequence b is row
  // cls_index[b] + j), then junk rows (id 0).
  torch::Tensor input_ids;
  torch::Tensor position_ids;  // [num_rows] int64, 0.. within each sequence
  torch::Tensor cls_index;     // [batch_size] int64, row of each sequence's first token
  std::vector<int64_t> lengths;  // tokens of each sequence (host-side, for AttentionLayout)

  // Sequences of one length that fill whole rounded shapes: packed and padded coincide.
  bool dense() const;

  // Each sequence must be non-empty and at most `max_positions` long.
  static absl::StatusOr<Batch> FromSequences(const std::vector<std::vector<int32_t>>& sequences,
                                             int64_t max_positions);
  // input_ids [B, L] integer, attention_mask [B, L] of 0/1 with each row 1...1 0...0 and a
  // leading 1 (right padding, as murmur's tokenizer and HF's default produce).
  static absl::StatusOr<Batch> FromPadded(const torch::Tensor& input_ids,
                                          const torch::Tensor& attention_mask,
                                          int64_t max_positions);

  // The same batch with its tensors on `device` (built on the CPU, where the per-token loops
  // are cheap; a model on a GPU needs them there). Returns *this unchanged for the CPU.
  Batch To(const torch::Device& device) const;
};

// Gather indices that move the fused q/k/v projections of a packed batch straight into the
// head-major [3, sequences, heads, length, head_dim] layouts the attention products want, and
// the context back into packed rows: one gather each way per layer, no transposing copies.
// Built once per forward pass (they depend on the batch and the head count only).
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
// groups (AttentionCore in the .cc: masks from the lengths, model/masked_softmax.h); other
// devices and dtypes compose libtorch ops with the mask as an additive bias.
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

  torch::Tensor qkv_index;      // [sum 3 * B_g * H * L_g] rows of qkv.view(-1, head_dim)
  torch::Tensor qkv_inverse;    // [num_rows * 3 * heads] the padded row of each qkv row
  torch::Tensor qkv_zero;       // qkv rows with no padded row (junk rows)
  torch::Tensor context_index;  // [num_rows * heads] rows of the groups' contexts
  torch::Tensor context_inverse;  // [sum B_g * H * L_g] packed row of each context row
  torch::Tensor context_zero;     // context rows of padded slots

  static AttentionLayout Make(const Batch& batch, int64_t n_heads);
};

class EmbeddingsImpl : public torch::nn::Module {
 public:
  explicit EmbeddingsImpl(const DistilBertConfig& config);
  torch::Tensor forward(const Batch& batch);  // [num_rows, dim]

  torch::nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};  // NOLINT: Hugging Face's name
  double dropout;  // probability (FastDropout; Hugging Face's nn.Dropout has no parameters)
};
TORCH_MODULE(Embeddings);

class MultiHeadSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit MultiHeadSelfAttentionImpl(const DistilBertConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const Batch& batch,
                        const AttentionLayout& layout);
  // bf16 inference with packed weights (packed_linear.h): residual += forward(x), in place.
  torch::Tensor ForwardPacked(const torch::Tensor& x, const Batch& batch,
                              const AttentionLayout& layout, torch::Tensor residual);

  torch::nn::Linear q_lin{nullptr}, k_lin{nullptr}, v_lin{nullptr}, out_lin{nullptr};
  double dropout;  // attention_dropout
  int64_t n_heads;

 private:
  // The context [num_rows, dim] from the fused q/k/v projection [num_rows, 3 * dim].
  torch::Tensor Attend(const torch::Tensor& qkv, const Batch& batch,
                       const AttentionLayout& layout);
  // The groups' contexts [sum B_g * H * L_g, head_dim] from the gathered q/k/v slots, composed
  // of libtorch ops with an additive mask: for devices and dtypes the CPU attention core
  // (distilbert.cc) does not take.
  torch::Tensor ComposedContext(const torch::Tensor& slots, const AttentionLayout& layout);
  PackedLinearCache packed_qkv_, packed_out_;
  // [3*dim, dim] weight and [3*dim] bias of q (pre-scaled by 1/sqrt(head_dim)), k, v. Cached
  // when no gradient is recorded (fused_qkv_).
  std::pair<torch::Tensor, torch::Tensor> FusedQkv();
  VersionedCache<std::pair<torch::Tensor, torch::Tensor>> fused_qkv_;
};
TORCH_MODULE(MultiHeadSelfAttention);

class FeedForwardImpl : public torch::nn::Module {
 public:
  explicit FeedForwardImpl(const DistilBertConfig& config);
  torch::Tensor forward(const torch::Tensor& x);
  // bf16 inference with packed weights: residual += forward(x), in place.
  torch::Tensor ForwardPacked(const torch::Tensor& x, torch::Tensor residual);

  torch::nn::Linear lin1{nullptr}, lin2{nullptr};
  double dropout;
  bool gelu;

 private:
  PackedLinearCache packed_lin1_, packed_lin2_;
};
TORCH_MODULE(FeedForward);

class TransformerBlockImpl : public torch::nn::Module {
 public:
  explicit TransformerBlockImpl(const DistilBertConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const Batch& batch,
                        const AttentionLayout& layout);
  // bf16 inference with packed weights (packed_linear.h): the same result as forward, with
  // the residual adds fused into the matmuls. Overwrites x (contiguous fp32): pass an
  // intermediate of your own.
  torch::Tensor ForwardPacked(torch::Tensor x, const Batch& batch, const AttentionLayout& layout);

  MultiHeadSelfAttention attention{nullptr};
  torch::nn::LayerNorm sa_layer_norm{nullptr};
  FeedForward ffn{nullptr};
  torch::nn::LayerNorm output_layer_norm{nullptr};
};
TORCH_MODULE(TransformerBlock);

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const DistilBertConfig& config);
  torch::Tensor forward(torch::Tensor x, const Batch& batch);

  torch::nn::ModuleList layer{nullptr};
  int64_t n_heads;
};
TORCH_MODULE(Transformer);

// Hugging Face's DistilBertModel: the encoder.
class DistilBertModelImpl : public torch::nn::Module {
 public:
  explicit DistilBertModelImpl(const DistilBertConfig& config);
  // Last hidden states, packed: [num_rows, dim] (rows past num_tokens are junk).
  torch::Tensor forward(const Batch& batch);

  Embeddings embeddings{nullptr};
  Transformer transformer{nullptr};
};
TORCH_MODULE(DistilBertModel);

class DistilBertForSequenceClassificationImpl : public torch::nn::Module {
 public:
  // Parameters are initialised as Hugging Face's _init_weights does (normal(0,
  // initializer_range) weights, zero biases, unit LayerNorms, zero padding embedding); seed
  // with torch::manual_seed for reproducibility.
  explicit DistilBertForSequenceClassificationImpl(const DistilBertConfig& config);
  // Logits [batch_size, num_labels], fp32 (fp64 for a model converted to double, for tests). Throws c10::Error on bad input: call through
  // TorchCall (torch_status.h) at API boundaries.
  torch::Tensor forward(const Batch& batch);

  // Converts the parameters of every Linear layer (the matrix work) to `dtype`, leaving
  // embeddings and LayerNorms in fp32. bf16 inference = SetLinearDtype(kBFloat16) + forward
  // under AutocastBf16: products in bf16, residual stream, LayerNorm and softmax in fp32 (bf16
  // LayerNorm is ~7x slower on this CPU than fp32, and less accurate).
  void SetLinearDtype(torch::ScalarType dtype);

  // Re-initialises the classification head (pre_classifier, classifier) as a fresh model has it.
  void ResetHead();
  const DistilBertConfig& config() const { return config_; }

  DistilBertModel distilbert{nullptr};
  torch::nn::Linear pre_classifier{nullptr}, classifier{nullptr};
  double dropout;  // seq_classif_dropout

 private:
  DistilBertConfig config_;
};
TORCH_MODULE(DistilBertForSequenceClassification);

// The projector of DistilBertForMaskedLM's head. Its weight is the word-embedding table (tied,
// as in transformers), so only the bias is a parameter of its own: named_parameters() then
// yields every tensor once and the optimizer never updates the shared table twice.
class VocabProjectorImpl : public torch::nn::Module {
 public:
  explicit VocabProjectorImpl(int64_t vocab_size);
  // hidden [N, dim] x tied_weight [vocab, dim]^T + bias -> [N, vocab].
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& tied_weight);

  torch::Tensor bias;
};
TORCH_MODULE(VocabProjector);

// Hugging Face's DistilBertForMaskedLM: the encoder plus the masked-language-model head
// (vocab_transform -> GELU -> vocab_layer_norm -> vocab_projector tied to the word embeddings).
// murmur uses it to pretrain an encoder on unlabelled in-domain text before fine-tuning a
// classifier from it (model_io loads its encoder into DistilBertForSequenceClassification).
// Initialised as transformers does. Thread-safety and ownership as the classifier above.
class DistilBertForMaskedLMImpl : public torch::nn::Module {
 public:
  explicit DistilBertForMaskedLMImpl(const DistilBertConfig& config);
  // Vocabulary logits [rows.size(0), vocab_size], fp32, of the packed rows `rows` (int64) of
  // the batch only: the positions a masked-LM loss looks at. Projecting every token onto the
  // vocabulary would cost more than the encoder for a small model.
  torch::Tensor forward(const Batch& batch, const torch::Tensor& rows);

  const DistilBertConfig& config() const { return config_; }

  DistilBertModel distilbert{nullptr};
  torch::nn::Linear vocab_transform{nullptr};
  torch::nn::LayerNorm vocab_layer_norm{nullptr};
  VocabProjector vocab_projector{nullptr};

 private:
  DistilBertConfig config_;
};
TORCH_MODULE(DistilBertForMaskedLM);

// Whether bf16 autocast is on for CPU ops in this thread (as AutocastBf16(kCPU) turns it on).
bool CpuAutocastsToBf16();

// Turns on bf16 autocast for `device`'s type (CPU or CUDA) for its lifetime (matrix products in
// bf16, fp32 master weights and fp32 gradients), and clears the cast-weight cache on exit as
// torch.autocast does. Thread-local, like torch's autocast state; nestable.
class AutocastBf16 {
 public:
  explicit AutocastBf16(torch::DeviceType device = torch::kCPU);
  ~AutocastBf16();
  AutocastBf16(const AutocastBf16&) = delete;
  AutocastBf16& operator=(const AutocastBf16&) = delete;

 private:
  void Set(bool enabled, at::ScalarType dtype);  // torch < 2.4 only

  torch::DeviceType device_;
  bool previous_enabled_;
  at::ScalarType previous_dtype_;
};

}  // namespace murmur::model

#endif  // MURMUR_MODEL_DISTILBERT_H_
