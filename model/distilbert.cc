#include "model/distilbert.h"

#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <tuple>
#include <utility>

#include "model/autocast.h"
#include "model/dropout.h"
#include "model/layer_norm_kernel.h"

namespace murmur::model {
namespace {

constexpr double kLayerNormEps = 1e-12;

torch::nn::Linear MakeLinear(int64_t in, int64_t out) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out));
}

torch::nn::LayerNorm MakeLayerNorm(int64_t dim) {
  return torch::nn::LayerNorm(
      torch::nn::LayerNormOptions({dim}).eps(kLayerNormEps).elementwise_affine(true));
}

// The FFN-style activation a config names: erf GELU, or ReLU.
torch::Tensor Activate(const torch::Tensor& x, bool gelu) {
  return gelu ? torch::gelu(x) : torch::relu(x);
}

// The masked-LM head of DistilBertForMaskedLM and of ELECTRA's generator: transform ->
// activation -> LayerNorm (fp32) -> the projector tied to `word_embeddings`; logits in the
// projector's dtype (bf16 under autocast).
torch::Tensor MaskedLmLogits(const torch::Tensor& hidden, torch::nn::Linear& transform,
                             torch::nn::LayerNorm& layer_norm, VocabProjector& projector,
                             const torch::Tensor& word_embeddings, bool gelu) {
  torch::Tensor x = Activate(transform(hidden), gelu);
  return projector(layer_norm(x.to(torch::kFloat)), word_embeddings);
}

// Logits as the API gives them: fp32 (fp64 for a model converted to double, for tests).
torch::Tensor Fp32Logits(const torch::Tensor& logits) {
  return logits.scalar_type() == torch::kDouble ? logits : logits.to(torch::kFloat);
}

void InitLinear(const torch::nn::Linear& linear, double stddev) {
  torch::NoGradGuard no_grad;
  linear->weight.normal_(0.0, stddev);
  linear->bias.zero_();
}

// transformers' create_sinusoidal_embeddings.
void FillSinusoidal(torch::Tensor& weight) {
  torch::NoGradGuard no_grad;
  const int64_t positions = weight.size(0), dim = weight.size(1);
  auto table = torch::empty({positions, dim}, torch::kDouble);
  auto t = table.accessor<double, 2>();
  for (int64_t pos = 0; pos < positions; ++pos) {
    for (int64_t j = 0; j < dim; ++j) {
      double angle = pos / std::pow(10000.0, 2.0 * (j / 2) / static_cast<double>(dim));
      t[pos][j] = (j % 2 == 0) ? std::sin(angle) : std::cos(angle);
    }
  }
  weight.copy_(table);
  weight.set_requires_grad(false);
}

// The fused [3 * dim, dim] q/k/v weight built in training, with q scaled, written straight in
// the dtype the product will use: bf16 under CPU autocast (autocast would otherwise cast the
// fp32 concatenation in a second pass). Forward and backward are one pass over each part,
// instead of a scale, a cat and a cast (and, backward, a cast, the cat's split and a scale):
// ~8 ms of a DistilBERT-base bf16 training step at batch 32.
class FusedQkvWeight : public torch::autograd::Function<FusedQkvWeight> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& q,
                               const torch::Tensor& k, const torch::Tensor& v, double q_scale,
                               torch::ScalarType dtype) {
    const int64_t dim = q.size(0);
    torch::Tensor fused = torch::empty({3 * dim, q.size(1)}, q.options().dtype(dtype));
    torch::Tensor fused_q = fused.narrow(0, 0, dim);
    torch::mul_out(fused_q, q, torch::scalar_tensor(q_scale, q.options()));
    fused.narrow(0, dim, dim).copy_(k);
    fused.narrow(0, 2 * dim, dim).copy_(v);
    ctx->saved_data["q_scale"] = q_scale;
    ctx->saved_data["weight_dtype"] = static_cast<int64_t>(q.scalar_type());
    return fused;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const double q_scale = ctx->saved_data["q_scale"].toDouble();
    const auto dtype = static_cast<torch::ScalarType>(ctx->saved_data["weight_dtype"].toInt());
    const torch::Tensor& grad = grads[0];
    const int64_t dim = grad.size(0) / 3;
    torch::Tensor grad_q = torch::empty({dim, grad.size(1)}, grad.options().dtype(dtype));
    torch::mul_out(grad_q, grad.narrow(0, 0, dim),
                   torch::scalar_tensor(q_scale, grad.options().dtype(dtype)));
    return {grad_q, grad.narrow(0, dim, dim).to(dtype), grad.narrow(0, 2 * dim, dim).to(dtype),
            torch::Tensor(), torch::Tensor()};
  }
};

// The word-embedding lookup whose backward index-adds into the weight's .grad() buffer
// (EmbeddingsImpl::row_sparse_gradient) and gives autograd no gradient for the weight. Rows
// looking up `padding_idx` contribute nothing, as in torch's embedding.
class RowSparseEmbedding : public torch::autograd::Function<RowSparseEmbedding> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& weight,
                               const torch::Tensor& ids, int64_t padding_idx) {
    ctx->saved_data["weight"] = weight;  // the parameter itself: backward writes its .grad()
    ctx->saved_data["ids"] = ids;
    ctx->saved_data["padding_idx"] = padding_idx;
    return weight.index_select(0, ids);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    torch::Tensor weight = ctx->saved_data["weight"].toTensor();
    const torch::Tensor ids = ctx->saved_data["ids"].toTensor();
    const int64_t padding_idx = ctx->saved_data["padding_idx"].toInt();
    torch::NoGradGuard no_grad;
    torch::Tensor& grad = weight.mutable_grad();
    if (!grad.defined()) grad = torch::zeros_like(weight);
    grad.index_add_(0, ids, grads[0].to(grad.scalar_type()));
    if (padding_idx >= 0) grad[padding_idx].zero_();
    return {torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// The word-embedding lookup and the table's cast for a tied output layer as one node
// (EmbeddingsImpl::ForwardWithTiedTable): backward gets both gradients at once and builds the
// table's from the output layer's, in one cast plus a row-sparse add.
class TiedEmbeddingLookup : public torch::autograd::Function<TiedEmbeddingLookup> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& weight,
                                                const torch::Tensor& ids, int64_t padding_idx,
                                                torch::ScalarType table_dtype) {
    ctx->saved_data["ids"] = ids;
    ctx->saved_data["padding_idx"] = padding_idx;
    ctx->saved_data["shape"] = weight.sizes().vec();
    ctx->saved_data["weight_dtype"] = static_cast<int64_t>(weight.scalar_type());
    return {weight.index_select(0, ids), weight.to(table_dtype)};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor ids = ctx->saved_data["ids"].toTensor();
    const int64_t padding_idx = ctx->saved_data["padding_idx"].toInt();
    const auto dtype = static_cast<torch::ScalarType>(ctx->saved_data["weight_dtype"].toInt());
    const torch::Tensor &rows = grads[0], &table = grads[1];
    torch::Tensor grad = table.defined()
                             ? table.to(dtype)
                             : torch::zeros(ctx->saved_data["shape"].toIntVector(),
                                            ids.options().dtype(dtype));
    if (rows.defined()) {
      // The padding row keeps the output layer's gradient alone (one row saved and put back,
      // cheaper than masking every looked-up row).
      torch::Tensor padding_row;
      if (padding_idx >= 0) padding_row = grad[padding_idx].clone();
      grad.index_add_(0, ids, rows.to(dtype));
      if (padding_idx >= 0) grad[padding_idx].copy_(padding_row);
    }
    return {grad, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

EmbeddingsImpl::EmbeddingsImpl(const DistilBertConfig& config) {
  word_embeddings = register_module(
      "word_embeddings",
      torch::nn::Embedding(torch::nn::EmbeddingOptions(config.vocab_size, config.dim)
                               .padding_idx(config.pad_token_id)));
  position_embeddings = register_module(
      "position_embeddings",
      torch::nn::Embedding(config.max_position_embeddings, config.dim));
  LayerNorm = register_module("LayerNorm", MakeLayerNorm(config.dim));
  dropout = config.dropout;
  torch::NoGradGuard no_grad;
  word_embeddings->weight.normal_(0.0, config.initializer_range);
  word_embeddings->weight[config.pad_token_id].zero_();
  if (config.sinusoidal_pos_embds) {
    FillSinusoidal(position_embeddings->weight);
  } else {
    position_embeddings->weight.normal_(0.0, config.initializer_range);
  }
}

torch::Tensor EmbeddingsImpl::forward(const Batch& batch) {
  const torch::Tensor& table = word_embeddings->weight;
  torch::Tensor words =
      row_sparse_gradient && is_training() && torch::GradMode::is_enabled() &&
              table.requires_grad()
          ? RowSparseEmbedding::apply(table, batch.input_ids,
                                      word_embeddings->options.padding_idx().value_or(-1))
          : word_embeddings(batch.input_ids);
  return AddPositionsAndNormalize(words, batch);
}

std::pair<torch::Tensor, torch::Tensor> EmbeddingsImpl::ForwardWithTiedTable(
    const Batch& batch, torch::ScalarType table_dtype) {
  torch::autograd::variable_list outputs =
      TiedEmbeddingLookup::apply(word_embeddings->weight, batch.input_ids,
                                 word_embeddings->options.padding_idx().value_or(-1), table_dtype);
  return {AddPositionsAndNormalize(outputs[0], batch), outputs[1]};
}

torch::Tensor EmbeddingsImpl::AddPositionsAndNormalize(const torch::Tensor& words,
                                                       const Batch& batch) {
  torch::Tensor x = words + position_embeddings(batch.position_ids);
  return FastDropout(LayerNorm(x), dropout, is_training());
}

MultiHeadSelfAttentionImpl::MultiHeadSelfAttentionImpl(const DistilBertConfig& config)
    : n_heads(config.n_heads) {
  q_lin = register_module("q_lin", MakeLinear(config.dim, config.dim));
  k_lin = register_module("k_lin", MakeLinear(config.dim, config.dim));
  v_lin = register_module("v_lin", MakeLinear(config.dim, config.dim));
  out_lin = register_module("out_lin", MakeLinear(config.dim, config.dim));
  dropout = config.attention_dropout;
  for (auto* linear : {&q_lin, &k_lin, &v_lin, &out_lin}) {
    InitLinear(*linear, config.initializer_range);
  }
}

std::pair<torch::Tensor, torch::Tensor> MultiHeadSelfAttentionImpl::FusedQkv() {
  // q is pre-scaled by 1/sqrt(head_dim) (Hugging Face scales q after the projection; the same
  // up to rounding, and exact for power-of-two head sizes).
  const double scale = 1.0 / std::sqrt(static_cast<double>(q_lin->weight.size(0) / n_heads));
  auto fuse = [&]() {
    return std::make_pair(
        torch::cat({q_lin->weight * scale, k_lin->weight, v_lin->weight}),
        torch::cat({q_lin->bias * scale, k_lin->bias, v_lin->bias}));
  };
  if (torch::GradMode::is_enabled()) {
    // Training: autograd must see the fusion.
    const torch::Tensor& q = q_lin->weight;
    const torch::ScalarType dtype =
        q.is_cpu() && q.scalar_type() == torch::kFloat && CpuAutocastsToBf16()
            ? torch::kBFloat16
            : q.scalar_type();
    return std::make_pair(
        FusedQkvWeight::apply(q, k_lin->weight, v_lin->weight, scale, dtype),
        torch::cat({q_lin->bias * scale, k_lin->bias, v_lin->bias}));
  }
  // Inference: reuse the fused copy while the parameters are unchanged, instead of copying
  // 3 x dim x dim weights every forward pass.
  return fused_qkv_.Get({&q_lin->weight, &q_lin->bias, &k_lin->weight, &k_lin->bias,
                         &v_lin->weight, &v_lin->bias},
                        fuse);
}

torch::Tensor MultiHeadSelfAttentionImpl::forward(const torch::Tensor& x,
                                                 const AttentionLayout& layout) {
  // One [R, 3D] product instead of three [R, D] ones: fewer, larger GEMMs and one gather.
  auto [weight, bias] = FusedQkv();
  return out_lin(Attend(torch::linear(x, weight, bias), layout));
}

torch::Tensor MultiHeadSelfAttentionImpl::ForwardPacked(const torch::Tensor& x,
                                                       const AttentionLayout& layout,
                                                       torch::Tensor residual) {
  std::shared_ptr<const PackedLinear> qkv = packed_qkv_.Get(
      {&q_lin->weight, &q_lin->bias, &k_lin->weight, &k_lin->bias, &v_lin->weight,
       &v_lin->bias},
      [&] {
        auto [weight, bias] = FusedQkv();
        return PackedLinear::Create(weight, bias, PackedLinear::Activation::kNone);
      });
  std::shared_ptr<const PackedLinear> out =
      packed_out_.Get({&out_lin->weight, &out_lin->bias}, [&] {
        return PackedLinear::Create(out_lin->weight, out_lin->bias,
                                    PackedLinear::Activation::kNone);
      });
  return out->ForwardAdd(Attend(qkv->Forward(x), layout), std::move(residual));
}

torch::Tensor MultiHeadSelfAttentionImpl::Attend(const torch::Tensor& qkv,
                                                const AttentionLayout& layout) {
  return PackedAttention(qkv, layout, n_heads, dropout, is_training());
}

FeedForwardImpl::FeedForwardImpl(const DistilBertConfig& config)
    : gelu(config.activation == "gelu") {
  lin1 = register_module("lin1", MakeLinear(config.dim, config.hidden_dim));
  lin2 = register_module("lin2", MakeLinear(config.hidden_dim, config.dim));
  dropout = config.dropout;
  InitLinear(lin1, config.initializer_range);
  InitLinear(lin2, config.initializer_range);
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = lin1(x);
  h = gelu ? torch::gelu(h) : torch::relu(h);
  return FastDropout(lin2(h), dropout, is_training());
}

torch::Tensor FeedForwardImpl::ForwardPacked(const torch::Tensor& x, torch::Tensor residual) {
  std::shared_ptr<const PackedLinear> first =
      packed_lin1_.Get({&lin1->weight, &lin1->bias}, [&] {
        return PackedLinear::Create(
            lin1->weight, lin1->bias,
            gelu ? PackedLinear::Activation::kGelu : PackedLinear::Activation::kRelu);
      });
  std::shared_ptr<const PackedLinear> second =
      packed_lin2_.Get({&lin2->weight, &lin2->bias}, [&] {
        return PackedLinear::Create(lin2->weight, lin2->bias, PackedLinear::Activation::kNone);
      });
  return second->ForwardAdd(first->Forward(x), std::move(residual));
}

TransformerBlockImpl::TransformerBlockImpl(const DistilBertConfig& config) {
  attention = register_module("attention", MultiHeadSelfAttention(config));
  sa_layer_norm = register_module("sa_layer_norm", MakeLayerNorm(config.dim));
  ffn = register_module("ffn", FeedForward(config));
  output_layer_norm = register_module("output_layer_norm", MakeLayerNorm(config.dim));
}

namespace {

// The LayerNorm of the packed path: in place with murmur's kernel where it takes the tensor,
// libtorch's otherwise.
torch::Tensor Normalize(torch::nn::LayerNorm& norm, torch::Tensor x) {
  if (!LayerNormInPlaceSupports(x, norm->weight, norm->bias)) return norm(x);
  LayerNormInPlace(x, norm->weight, norm->bias, norm->options.eps());
  return x;
}

// Inference on a CPU (no gradient) with oneDNN available, fp32 or bf16 weights
// (SetLinearDtype): the packed path. Training and other devices keep libtorch's.
bool UsePackedLinears(const torch::Tensor& x, const torch::Tensor& weight) {
  return !torch::GradMode::is_enabled() && x.is_cpu() && x.scalar_type() == torch::kFloat &&
         (weight.scalar_type() == torch::kBFloat16 || weight.scalar_type() == torch::kFloat) &&
         PackedLinearAvailable();
}

}  // namespace

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x,
                                            const AttentionLayout& layout) {
  torch::Tensor sa = sa_layer_norm(attention(x, layout) + x);
  return output_layer_norm(ffn(sa) + sa);
}

torch::Tensor TransformerBlockImpl::ForwardPacked(torch::Tensor x,
                                                  const AttentionLayout& layout) {
  // The residual adds happen inside the matmuls: into x, then into sa; the path owns x (see
  // TransformerImpl::forward), so the LayerNorms may normalise in place.
  torch::Tensor sa = Normalize(sa_layer_norm, attention->ForwardPacked(x, layout, x));
  return Normalize(output_layer_norm, ffn->ForwardPacked(sa, sa));
}

TransformerImpl::TransformerImpl(const DistilBertConfig& config) : n_heads(config.n_heads) {
  layer = register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.n_layers; ++i) layer->push_back(TransformerBlock(config));
}

torch::Tensor TransformerImpl::forward(torch::Tensor x, const Batch& batch) {
  const AttentionLayout layout = AttentionLayout::Make(batch, n_heads);
  if (layer->size() == 0) return x;
  const bool packed =
      UsePackedLinears(x, layer->ptr<TransformerBlockImpl>(0)->ffn->lin1->weight);
  if (packed) {
    // The packed path writes into its input: a copy of the caller's x, then each block's own
    // output.
    // (No copy when this call holds the only reference, as for the embeddings' output.)
    if (x.use_count() > 1 || !x.is_contiguous()) x = x.contiguous().clone();
    for (const auto& block : *layer) {
      x = block->as<TransformerBlock>()->ForwardPacked(x, layout);
    }
    return x;
  }
  for (const auto& block : *layer) x = block->as<TransformerBlock>()->forward(x, layout);
  return x;
}

DistilBertModelImpl::DistilBertModelImpl(const DistilBertConfig& config) {
  embeddings = register_module("embeddings", Embeddings(config));
  transformer = register_module("transformer", Transformer(config));
}

torch::Tensor DistilBertModelImpl::forward(const Batch& batch) {
  return transformer(embeddings(batch), batch);
}

DistilBertForSequenceClassificationImpl::DistilBertForSequenceClassificationImpl(
    const DistilBertConfig& config)
    : config_(config) {
  distilbert = register_module("distilbert", DistilBertModel(config));
  pre_classifier = register_module("pre_classifier", MakeLinear(config.dim, config.dim));
  classifier = register_module("classifier", MakeLinear(config.dim, config.num_labels()));
  dropout = config.seq_classif_dropout;
  ResetHead();
}

void DistilBertForSequenceClassificationImpl::ResetHead() {
  InitLinear(pre_classifier, config_.initializer_range);
  InitLinear(classifier, config_.initializer_range);
}

torch::Tensor DistilBertForSequenceClassificationImpl::forward(const Batch& batch) {
  torch::Tensor hidden = distilbert(batch);  // [T, D]
  torch::Tensor cls = hidden.index_select(0, batch.cls_index);
  torch::Tensor logits;
  if (UsePackedLinears(cls, pre_classifier->weight)) {
    // The head packed too: at a few rows libtorch's fp32 addmm costs more in the BLAS's setup
    // than in arithmetic (~1.5 ms of a batch-8 forward pass).
    std::shared_ptr<const PackedLinear> pre = packed_pre_classifier_.Get(
        {&pre_classifier->weight, &pre_classifier->bias}, [&] {
          return PackedLinear::Create(pre_classifier->weight, pre_classifier->bias,
                                      PackedLinear::Activation::kRelu);
        });
    std::shared_ptr<const PackedLinear> head =
        packed_classifier_.Get({&classifier->weight, &classifier->bias}, [&] {
          return PackedLinear::Create(classifier->weight, classifier->bias,
                                      PackedLinear::Activation::kNone);
        });
    logits = head->Forward(pre->Forward(cls));
  } else {
    torch::Tensor pooled = FastDropout(torch::relu(pre_classifier(cls)), dropout, is_training());
    logits = classifier(pooled);
  }
  return Fp32Logits(logits);
}

void DistilBertForSequenceClassificationImpl::SetLinearDtype(torch::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* linear = module->as<torch::nn::LinearImpl>()) linear->to(dtype);
  }
}

VocabProjectorImpl::VocabProjectorImpl(int64_t vocab_size) {
  bias = register_parameter("bias", torch::zeros({vocab_size}));
}

torch::Tensor VocabProjectorImpl::forward(const torch::Tensor& hidden,
                                          const torch::Tensor& tied_weight) {
  return torch::nn::functional::linear(hidden, tied_weight, bias);
}

DistilBertForMaskedLMImpl::DistilBertForMaskedLMImpl(const DistilBertConfig& config)
    : config_(config) {
  distilbert = register_module("distilbert", DistilBertModel(config));
  vocab_transform = register_module("vocab_transform", MakeLinear(config.dim, config.dim));
  vocab_layer_norm = register_module("vocab_layer_norm", MakeLayerNorm(config.dim));
  vocab_projector = register_module("vocab_projector", VocabProjector(config.vocab_size));
  InitLinear(vocab_transform, config.initializer_range);
}

torch::Tensor DistilBertForMaskedLMImpl::forward(const Batch& batch, const torch::Tensor& rows) {
  return Fp32Logits(ComputeDtypeLogits(batch, rows));
}

torch::Tensor DistilBertForMaskedLMImpl::ComputeDtypeLogits(const Batch& batch,
                                                            const torch::Tensor& rows) {
  EmbeddingsImpl& embeddings = *distilbert->embeddings;
  torch::Tensor table = embeddings.word_embeddings->weight;
  torch::Tensor embedded;
  if (is_training() && torch::GradMode::is_enabled() && table.requires_grad() &&
      table.is_cpu() && table.scalar_type() == torch::kFloat && CpuAutocastsToBf16()) {
    // The projector would take autocast's bf16 copy of the table anyway; this one carries the
    // lookup's gradient with it.
    std::tie(embedded, table) = embeddings.ForwardWithTiedTable(batch, torch::kBFloat16);
  } else {
    embedded = embeddings.forward(batch);
  }
  torch::Tensor hidden = distilbert->transformer(embedded, batch).index_select(0, rows);
  return MaskedLmLogits(hidden, vocab_transform, vocab_layer_norm, vocab_projector, table,
                        config_.activation == "gelu");
}

DiscriminatorPredictionsImpl::DiscriminatorPredictionsImpl(const DistilBertConfig& config)
    : gelu_(config.activation == "gelu") {
  dense = register_module("dense", MakeLinear(config.dim, config.dim));
  dense_prediction = register_module("dense_prediction", MakeLinear(config.dim, 1));
  InitLinear(dense, config.initializer_range);
  InitLinear(dense_prediction, config.initializer_range);
}

torch::Tensor DiscriminatorPredictionsImpl::forward(const torch::Tensor& hidden) {
  return dense_prediction(Activate(dense(hidden), gelu_)).squeeze(1);
}

DistilBertConfig DistilBertForReplacedTokenDetectionImpl::GeneratorConfig(
    const DistilBertConfig& config) {
  DistilBertConfig generator = config;
  generator.n_heads = std::max<int64_t>(1, config.n_heads / 4);
  const int64_t head_dim = config.dim / config.n_heads;
  generator.dim = generator.n_heads * head_dim;
  generator.hidden_dim = std::max<int64_t>(1, config.hidden_dim / 4);
  return generator;
}

ElectraGeneratorImpl::ElectraGeneratorImpl(const DistilBertConfig& config, int64_t embedding_dim)
    : config_(config) {
  embeddings_project = register_module("embeddings_project", MakeLinear(embedding_dim, config.dim));
  transformer = register_module("transformer", Transformer(config));
  vocab_transform = register_module("vocab_transform", MakeLinear(config.dim, embedding_dim));
  vocab_layer_norm = register_module("vocab_layer_norm", MakeLayerNorm(embedding_dim));
  vocab_projector = register_module("vocab_projector", VocabProjector(config.vocab_size));
  InitLinear(embeddings_project, config.initializer_range);
  InitLinear(vocab_transform, config.initializer_range);
}

torch::Tensor ElectraGeneratorImpl::forward(const torch::Tensor& embedded, const Batch& batch,
                                            const torch::Tensor& rows,
                                            const torch::Tensor& word_embeddings) {
  // The residual stream stays fp32 under autocast, as the encoder's (its embeddings are fp32).
  torch::Tensor projected = embeddings_project(embedded).to(embedded.scalar_type());
  torch::Tensor hidden = transformer(projected, batch).index_select(0, rows);
  return Fp32Logits(MaskedLmLogits(hidden, vocab_transform, vocab_layer_norm, vocab_projector,
                                   word_embeddings, config_.activation == "gelu"));
}

DistilBertForReplacedTokenDetectionImpl::DistilBertForReplacedTokenDetectionImpl(
    const DistilBertConfig& config)
    : config_(config) {
  distilbert = register_module("distilbert", DistilBertModel(config));
  discriminator_predictions =
      register_module("discriminator_predictions", DiscriminatorPredictions(config));
  generator = register_module("generator", ElectraGenerator(GeneratorConfig(config), config.dim));
}

torch::Tensor DistilBertForReplacedTokenDetectionImpl::Generate(const Batch& batch,
                                                                const torch::Tensor& rows) {
  return generator->forward(distilbert->embeddings(batch), batch, rows,
                            distilbert->embeddings->word_embeddings->weight);
}

torch::Tensor DistilBertForReplacedTokenDetectionImpl::forward(const Batch& batch) {
  torch::Tensor hidden = distilbert(batch).narrow(0, 0, batch.num_tokens);
  torch::Tensor logits = discriminator_predictions(hidden);
  return Fp32Logits(logits);
}

}  // namespace murmur::model
