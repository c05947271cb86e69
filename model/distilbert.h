// DistilBertForSequenceClassification in libtorch, with Hugging Face's module structure, so
// named_parameters() yields exactly transformers' state-dict names
// ("distilbert.transformer.layer.0.attention.q_lin.weight", ...) and the same semantics:
// embeddings + LayerNorm(eps 1e-12) + dropout; per layer multi-head self-attention with padding
// masked, sa_layer_norm, FFN (lin1, erf GELU, lin2, dropout), output_layer_norm; the [CLS]
// hidden state -> pre_classifier -> ReLU -> dropout -> classifier.
//
// Speed: the modules run on packed batches (batch.h): the linear layers, which are ~95% of the
// FLOPs, see the real tokens only; only the attention products see padding, reached through
// AttentionLayout's gathers (packed_attention.h). q, k, v are one fused GEMM. Batches of similar
// lengths keep the attention padding small: serving's dynamic batcher buckets by length,
// ClassifyInLengthSortedBatches (classifier.h) sorts, training groups its epochs by length.
// Dropout is FastDropout (dropout.h): same distribution, a much cheaper mask on CPU.
//
// Devices: the module runs where its parameters are (module->to(device)); give it a batch on
// the same device (Batch::To). The packed layout is built on the CPU either way.
//
// Precision: fp32 weights by default; bf16 training and inference as autocast.h describes
// (AutocastBf16, SetLinearDtype). Under bf16 inference on a CPU with oneDNN the encoder's
// Linear layers run packed, with bias, GELU and the residual adds fused into the matmuls
// (packed_linear.h). Logits are fp32, but for DistilBertForMaskedLM::ComputeDtypeLogits, which
// a loss reads in the projection's own dtype.
//
// Thread-safety: a module in eval() mode may run Forward from many threads at once (it reads
// parameters only); training and parameter changes need exclusive access. Ownership: the usual
// torch module holder (shared_ptr semantics).
#ifndef MURMUR_MODEL_DISTILBERT_H_
#define MURMUR_MODEL_DISTILBERT_H_

#include <torch/torch.h>

#include <cstdint>
#include <utility>

#include "model/batch.h"
#include "model/config.h"
#include "model/packed_attention.h"
#include "model/packed_linear.h"
#include "model/versioned_cache.h"

namespace murmur::model {

class EmbeddingsImpl : public torch::nn::Module {
 public:
  explicit EmbeddingsImpl(const DistilBertConfig& config);
  torch::Tensor forward(const Batch& batch);  // [num_rows, dim]
  // forward's output, and the word-embedding table cast to `table_dtype` for an output layer
  // tied to it (masked-LM's projector under bf16 autocast), from one autograd node: backward
  // adds the lookup's rows into the output layer's gradient of the table as it casts it back,
  // instead of a zero-filled dense gradient for the lookup and a sum of the two [vocab, dim]
  // tables. The same gradient; rows looking up the padding id contribute nothing, as in
  // forward.
  std::pair<torch::Tensor, torch::Tensor> ForwardWithTiedTable(const Batch& batch,
                                                               torch::ScalarType table_dtype);

  torch::nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};  // NOLINT: Hugging Face's name
  double dropout;  // probability (FastDropout; Hugging Face's nn.Dropout has no parameters)
  // Training with this on, backward adds the word embedding's gradient straight into rows of
  // word_embeddings->weight's .grad() (allocated zero the first time) instead of handing
  // autograd a dense [vocab, dim] gradient, which costs a zero-filled table every backward
  // (31 MB for DistilBERT's vocabulary and the small preset's 256 dimensions). Whoever turns it on
  // owns that buffer: it must zero the rows it consumed (or drop the gradient) before the next
  // step, as the trainer does with the rows it synchronised. Off by default: an output layer
  // tied to the embedding (masked-LM) gives it a dense gradient through autograd.
  bool row_sparse_gradient = false;

 private:
  torch::Tensor AddPositionsAndNormalize(const torch::Tensor& words, const Batch& batch);
};
TORCH_MODULE(Embeddings);

class MultiHeadSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit MultiHeadSelfAttentionImpl(const DistilBertConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const AttentionLayout& layout);
  // bf16 inference with packed weights (packed_linear.h): residual += forward(x), in place.
  torch::Tensor ForwardPacked(const torch::Tensor& x, const AttentionLayout& layout,
                              torch::Tensor residual);

  torch::nn::Linear q_lin{nullptr}, k_lin{nullptr}, v_lin{nullptr}, out_lin{nullptr};
  double dropout;  // attention_dropout
  int64_t n_heads;

 private:
  // The context [num_rows, dim] from the fused q/k/v projection [num_rows, 3 * dim], with this
  // module's heads and attention dropout (PackedAttention).
  torch::Tensor Attend(const torch::Tensor& qkv, const AttentionLayout& layout);
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
  torch::Tensor forward(const torch::Tensor& x, const AttentionLayout& layout);
  // bf16 inference with packed weights (packed_linear.h): the same result as forward, with
  // the residual adds fused into the matmuls. Overwrites x (contiguous fp32): pass an
  // intermediate of your own.
  torch::Tensor ForwardPacked(torch::Tensor x, const AttentionLayout& layout);

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
  // Logits [batch_size, num_labels], fp32 (fp64 for a model converted to double, for tests).
  // Throws c10::Error on bad input: call through TorchCall (torch_status.h) at API boundaries.
  torch::Tensor forward(const Batch& batch);

  // Converts the parameters of every Linear layer (the matrix work) to `dtype`, leaving
  // embeddings and LayerNorms in fp32. bf16 inference = SetLinearDtype(kBFloat16) + forward
  // under AutocastBf16: products in bf16, residual stream, LayerNorm and softmax in fp32 (bf16
  // LayerNorm is slower than fp32 on CPUs, and less accurate).
  void SetLinearDtype(torch::ScalarType dtype);

  // Re-initialises the classification head (pre_classifier, classifier) as a fresh model has it.
  void ResetHead();
  const DistilBertConfig& config() const { return config_; }

  DistilBertModel distilbert{nullptr};
  torch::nn::Linear pre_classifier{nullptr}, classifier{nullptr};
  double dropout;  // seq_classif_dropout

 private:
  DistilBertConfig config_;
  PackedLinearCache packed_pre_classifier_, packed_classifier_;
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
  // The same logits in the dtype the projection computed them in (bf16 under autocast), for a
  // loss that reads them as they are (SummedSoftmaxCrossEntropy): no fp32 copy of
  // [rows, vocab_size] and of its gradient.
  torch::Tensor ComputeDtypeLogits(const Batch& batch, const torch::Tensor& rows);

  const DistilBertConfig& config() const { return config_; }

  DistilBertModel distilbert{nullptr};
  torch::nn::Linear vocab_transform{nullptr};
  torch::nn::LayerNorm vocab_layer_norm{nullptr};
  VocabProjector vocab_projector{nullptr};

 private:
  DistilBertConfig config_;
};
TORCH_MODULE(DistilBertForMaskedLM);

// ELECTRA's discriminator head (transformers' ElectraDiscriminatorPredictions): dense (dim x
// dim) -> the config's activation -> dense_prediction (dim -> 1), one logit per token that it
// was replaced.
class DiscriminatorPredictionsImpl : public torch::nn::Module {
 public:
  explicit DiscriminatorPredictionsImpl(const DistilBertConfig& config);
  torch::Tensor forward(const torch::Tensor& hidden);  // [N, dim] -> [N]

  torch::nn::Linear dense{nullptr}, dense_prediction{nullptr};

 private:
  bool gelu_;
};
TORCH_MODULE(DiscriminatorPredictions);

// ELECTRA's generator: a narrower masked-LM on the discriminator's embeddings (ELECTRA ties
// them, so the generator's masked-LM gradient trains the table the discriminator reads, which
// matters most when the discriminator's own signal is still weak). As transformers'
// ElectraForMaskedLM with embedding_size > hidden_size: embeddings_project (dim -> the
// generator's width), the generator's transformer layers, then vocab_transform (back to dim) ->
// activation -> vocab_layer_norm -> the projector tied to the shared word embeddings.
class ElectraGeneratorImpl : public torch::nn::Module {
 public:
  // `config`: the generator's (DistilBertForReplacedTokenDetectionImpl::GeneratorConfig);
  // `embedding_dim`: the shared embeddings' width (the discriminator's dim).
  ElectraGeneratorImpl(const DistilBertConfig& config, int64_t embedding_dim);
  // Vocabulary logits [rows.size(0), vocab_size], fp32, of the packed rows `rows` of the batch,
  // from the shared embeddings' output `embedded` [num_rows, embedding_dim] and word table.
  torch::Tensor forward(const torch::Tensor& embedded, const Batch& batch,
                        const torch::Tensor& rows, const torch::Tensor& word_embeddings);

  const DistilBertConfig& config() const { return config_; }

  torch::nn::Linear embeddings_project{nullptr};
  Transformer transformer{nullptr};
  torch::nn::Linear vocab_transform{nullptr};
  torch::nn::LayerNorm vocab_layer_norm{nullptr};
  VocabProjector vocab_projector{nullptr};

 private:
  DistilBertConfig config_;
};
TORCH_MODULE(ElectraGenerator);

// ELECTRA-style pretraining of the encoder (Clark et al. 2020, replaced-token detection): a
// small masked-LM `generator` fills the masked positions with tokens it samples, and the
// discriminator (`distilbert` + `discriminator_predictions`) learns, for every token, whether it
// was replaced. The discriminator is the encoder a classifier is fine-tuned from; it learns from
// every token instead of the ~15% a masked-LM predicts, which is what makes the objective learn
// more per FLOP for small encoders. The generator (ElectraGenerator) shares the
// discriminator's embeddings.
//
// Tensor names: the discriminator's encoder under "distilbert." (so model_io loads it into a
// classifier as a pretrained encoder), "discriminator_predictions.*", and the generator's own
// under "generator.". Initialised as transformers does. Thread-safety and ownership as the
// classifier above.
class DistilBertForReplacedTokenDetectionImpl : public torch::nn::Module {
 public:
  explicit DistilBertForReplacedTokenDetectionImpl(const DistilBertConfig& config);
  // The discriminator's logits [batch.num_tokens], fp32: one per real token, in packed order.
  torch::Tensor forward(const Batch& batch);
  // The generator's vocabulary logits of the packed rows `rows` of `batch` (the masked input).
  torch::Tensor Generate(const Batch& batch, const torch::Tensor& rows);

  // The generator of a discriminator: a quarter of its width (dim, heads, FFN), as ELECTRA's
  // small and base models, the same depth, vocabulary and positions.
  static DistilBertConfig GeneratorConfig(const DistilBertConfig& config);
  const DistilBertConfig& config() const { return config_; }

  DistilBertModel distilbert{nullptr};
  DiscriminatorPredictions discriminator_predictions{nullptr};
  ElectraGenerator generator{nullptr};

 private:
  DistilBertConfig config_;
};
TORCH_MODULE(DistilBertForReplacedTokenDetection);

}  // namespace murmur::model

#endif  // MURMUR_MODEL_DISTILBERT_H_
