#include "model/distilbert.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <limits>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "model/dropout.h"

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

}  // namespace

absl::StatusOr<Batch> Batch::FromSequences(const std::vector<std::vector<int32_t>>& sequences,
                                           int64_t max_positions) {
  Batch batch;
  batch.batch_size = static_cast<int64_t>(sequences.size());
  if (batch.batch_size == 0) return absl::InvalidArgumentError("empty batch");
  int64_t longest = 0;
  bool same_length = true;
  for (size_t i = 0; i < sequences.size(); ++i) {
    int64_t len = static_cast<int64_t>(sequences[i].size());
    if (len == 0 || len > max_positions) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", i, " has ", len,
                                                     " tokens; need 1..", max_positions));
    }
    same_length = same_length && len == static_cast<int64_t>(sequences[0].size());
    batch.num_tokens += len;
    longest = std::max(longest, len);
  }
  auto round_up = [](int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; };
  const int64_t T = batch.num_tokens, B = batch.batch_size;
  batch.max_len = round_up(longest, kLengthMultiple);
  batch.num_rows = round_up(T, kRowMultiple);
  const int64_t L = batch.max_len, R = batch.num_rows;
  // Sequences of one length that fill whole rounded shapes: packed and padded coincide.
  const bool dense = same_length && L == longest && R == T;
  batch.input_ids = torch::zeros({R}, torch::kLong);
  batch.position_ids = torch::zeros({R}, torch::kLong);
  batch.cls_index = torch::empty({B}, torch::kLong);
  int64_t* ids = batch.input_ids.data_ptr<int64_t>();
  int64_t* positions = batch.position_ids.data_ptr<int64_t>();
  int64_t* cls = batch.cls_index.data_ptr<int64_t>();
  int64_t row = 0;
  for (int64_t b = 0; b < B; ++b) {
    cls[b] = row;
    for (size_t j = 0; j < sequences[b].size(); ++j, ++row) {
      ids[row] = sequences[b][j];
      positions[row] = static_cast<int64_t>(j);
    }
  }
  if (dense) return batch;

  batch.pad_index = torch::zeros({B * L}, torch::kLong);
  batch.unpad_index = torch::zeros({R}, torch::kLong);  // junk rows read slot 0
  batch.attention_bias = torch::zeros({B, 1, 1, L}, torch::kFloat);
  int64_t* pad = batch.pad_index.data_ptr<int64_t>();
  int64_t* unpad = batch.unpad_index.data_ptr<int64_t>();
  float* bias = batch.attention_bias.data_ptr<float>();
  row = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = static_cast<int64_t>(sequences[b].size());
    for (int64_t j = 0; j < L; ++j) {
      if (j < len) {
        pad[b * L + j] = row;
        unpad[row] = b * L + j;
        ++row;
      } else {
        // Any row will do (0 stays): padded keys are masked to -inf, so padded values get
        // weight exactly 0, and padded queries are dropped again by unpad_index.
        bias[b * L + j] = -std::numeric_limits<float>::infinity();
      }
    }
  }
  return batch;
}

absl::StatusOr<Batch> Batch::FromPadded(const torch::Tensor& input_ids,
                                        const torch::Tensor& attention_mask,
                                        int64_t max_positions) {
  if (input_ids.dim() != 2 || !attention_mask.defined() ||
      attention_mask.sizes() != input_ids.sizes()) {
    return absl::InvalidArgumentError("input_ids and attention_mask must both be [batch, len]");
  }
  torch::Tensor ids = input_ids.to(torch::kLong).contiguous();
  torch::Tensor mask = attention_mask.to(torch::kLong).contiguous();
  std::vector<std::vector<int32_t>> sequences(ids.size(0));
  auto id = ids.accessor<int64_t, 2>();
  auto m = mask.accessor<int64_t, 2>();
  for (int64_t b = 0; b < ids.size(0); ++b) {
    bool ended = false;
    for (int64_t j = 0; j < ids.size(1); ++j) {
      if (m[b][j] != 0 && m[b][j] != 1) {
        return absl::InvalidArgumentError("attention_mask values must be 0 or 1");
      }
      if (m[b][j] == 1 && ended) {
        return absl::InvalidArgumentError(
            absl::StrCat("attention_mask row ", b, " is not right-padded"));
      }
      if (m[b][j] == 0) {
        ended = true;
      } else {
        sequences[b].push_back(static_cast<int32_t>(id[b][j]));
      }
    }
  }
  return FromSequences(sequences, max_positions);
}

Batch Batch::To(const torch::Device& device) const {
  if (input_ids.device() == device) return *this;
  Batch moved = *this;
  for (torch::Tensor* t : {&moved.input_ids, &moved.position_ids, &moved.cls_index,
                           &moved.pad_index, &moved.unpad_index, &moved.attention_bias}) {
    if (t->defined()) *t = t->to(device);
  }
  return moved;
}

AttentionLayout AttentionLayout::Make(const Batch& batch, int64_t n_heads) {
  const int64_t B = batch.batch_size, L = batch.max_len, R = batch.num_rows, H = n_heads;
  const int64_t T = batch.num_tokens;
  const auto options = torch::TensorOptions().dtype(torch::kLong).device(batch.input_ids.device());
  torch::Tensor pad = batch.dense() ? torch::arange(B * L, options) : batch.pad_index;
  torch::Tensor unpad = batch.dense() ? torch::arange(R, options) : batch.unpad_index;
  torch::Tensor part = torch::arange(3, options);
  torch::Tensor head = torch::arange(H, options);
  torch::Tensor b = unpad.div(L, "floor"), l = unpad.remainder(L);
  AttentionLayout layout;
  // qkv [R, 3, H, hd] as rows of hd: row (r * 3 + part) * H + head. Padded layout
  // [3, B, H, L, hd]: row ((part * B + b) * H + head) * L + l.
  layout.qkv_index =
      ((pad.view({1, B, 1, L}) * 3 + part.view({3, 1, 1, 1})) * H + head.view({1, 1, H, 1}))
          .flatten();
  layout.qkv_inverse = (((part.view({1, 3, 1}) * B + b.view({R, 1, 1})) * H +
                         head.view({1, 1, H})) * L + l.view({R, 1, 1}))
                           .flatten();
  layout.qkv_zero = torch::arange(T * 3 * H, R * 3 * H, options);
  // context [B, H, L, hd] as rows of hd: row (b * H + head) * L + l; packed [R, H, hd].
  layout.context_index = ((b.view({R, 1}) * H + head.view({1, H})) * L + l.view({R, 1})).flatten();
  layout.context_inverse = (pad.view({B, 1, L}) * H + head.view({1, H, 1})).flatten();
  if (batch.dense()) {
    layout.context_zero = torch::empty({0}, options);
  } else {
    torch::Tensor padded = batch.attention_bias.view({B, 1, L}).isinf().expand({B, H, L});
    layout.context_zero = padded.flatten().nonzero().flatten();
  }
  return layout;
}

namespace {

// rows.index_select(0, index) whose backward is grad.index_select(0, inverse) with the `zero`
// rows cleared (see AttentionLayout).
class GatherRows : public torch::autograd::Function<GatherRows> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& rows,
                               const torch::Tensor& index, const torch::Tensor& inverse,
                               const torch::Tensor& zero) {
    ctx->saved_data["inverse"] = inverse;
    ctx->saved_data["zero"] = zero;
    return rows.index_select(0, index);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    torch::Tensor grad = grads[0].index_select(0, ctx->saved_data["inverse"].toTensor());
    torch::Tensor zero = ctx->saved_data["zero"].toTensor();
    if (zero.numel() > 0) grad.index_fill_(0, zero, 0);
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
  torch::Tensor x = word_embeddings(batch.input_ids) + position_embeddings(batch.position_ids);
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
  if (torch::GradMode::is_enabled()) return fuse();  // training: autograd must see the cat
  // Inference: reuse the fused copy while the parameters are unchanged (same storage, same
  // version counter), instead of copying 3 x dim x dim weights every forward pass.
  std::vector<std::pair<const void*, int64_t>> key;
  for (const torch::Tensor* t : {&q_lin->weight, &q_lin->bias, &k_lin->weight, &k_lin->bias,
                                 &v_lin->weight, &v_lin->bias}) {
    key.emplace_back(t->data_ptr(), static_cast<int64_t>(t->_version()));
  }
  std::lock_guard<std::mutex> lock(fused_mutex_);
  if (key != fused_key_ || !fused_weight_.defined()) {
    std::tie(fused_weight_, fused_bias_) = fuse();
    fused_key_ = std::move(key);
  }
  return {fused_weight_, fused_bias_};
}

torch::Tensor MultiHeadSelfAttentionImpl::forward(const torch::Tensor& x, const Batch& batch,
                                                 const AttentionLayout& layout) {
  const int64_t B = batch.batch_size, L = batch.max_len, R = batch.num_rows, D = x.size(1);
  const int64_t head_dim = D / n_heads;
  // One [R, 3D] product instead of three [R, D] ones: fewer, larger GEMMs and one gather.
  auto [weight, bias] = FusedQkv();
  torch::Tensor qkv = GatherRows::apply(
      torch::linear(x, weight, bias).view({R * 3 * n_heads, head_dim}), layout.qkv_index,
      layout.qkv_inverse, layout.qkv_zero);
  qkv = qkv.view({3, B, n_heads, L, head_dim});
  // unbind, not qkv[i]: the backward of three selects would allocate and sum three full-size
  // zero tensors (~20% of a training step's backward); unbind's backward is one stack.
  std::vector<torch::Tensor> parts = qkv.unbind(0);
  const torch::Tensor &q = parts[0], &k = parts[1], &v = parts[2];
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1));  // [B, H, L, L]
  if (!batch.dense()) scores = scores + batch.attention_bias;  // fp32 from here
  torch::Tensor weights = FastDropout(torch::softmax(scores, -1), dropout, is_training());
  torch::Tensor context = torch::matmul(weights.to(v.scalar_type()), v);  // [B, H, L, hd]
  context = GatherRows::apply(context.reshape({B * n_heads * L, head_dim}), layout.context_index,
                              layout.context_inverse, layout.context_zero)
                .view({R, D});
  return out_lin(context);
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

TransformerBlockImpl::TransformerBlockImpl(const DistilBertConfig& config) {
  attention = register_module("attention", MultiHeadSelfAttention(config));
  sa_layer_norm = register_module("sa_layer_norm", MakeLayerNorm(config.dim));
  ffn = register_module("ffn", FeedForward(config));
  output_layer_norm = register_module("output_layer_norm", MakeLayerNorm(config.dim));
}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x, const Batch& batch,
                                            const AttentionLayout& layout) {
  torch::Tensor sa = sa_layer_norm(attention(x, batch, layout) + x);
  return output_layer_norm(ffn(sa) + sa);
}

TransformerImpl::TransformerImpl(const DistilBertConfig& config) : n_heads(config.n_heads) {
  layer = register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.n_layers; ++i) layer->push_back(TransformerBlock(config));
}

torch::Tensor TransformerImpl::forward(torch::Tensor x, const Batch& batch) {
  const AttentionLayout layout = AttentionLayout::Make(batch, n_heads);
  for (const auto& block : *layer) {
    x = block->as<TransformerBlock>()->forward(x, batch, layout);
  }
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
  torch::Tensor pooled = FastDropout(torch::relu(pre_classifier(cls)), dropout, is_training());
  torch::Tensor logits = classifier(pooled);
  return logits.scalar_type() == torch::kDouble ? logits : logits.to(torch::kFloat);
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
  torch::Tensor hidden = distilbert(batch).index_select(0, rows);  // [N, D]
  hidden = vocab_transform(hidden);
  hidden = config_.activation == "gelu" ? torch::gelu(hidden) : torch::relu(hidden);
  hidden = vocab_layer_norm(hidden.to(torch::kFloat));
  torch::Tensor logits =
      vocab_projector(hidden, distilbert->embeddings->word_embeddings->weight);
  return logits.scalar_type() == torch::kDouble ? logits : logits.to(torch::kFloat);
}

// torch 2.4 replaced the per-device autocast functions by ones taking the device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
AutocastBf16::AutocastBf16(torch::DeviceType device)
    : device_(device),
      previous_enabled_(at::autocast::is_autocast_enabled(device)),
      previous_dtype_(at::autocast::get_autocast_dtype(device)) {
  at::autocast::set_autocast_enabled(device, true);
  at::autocast::set_autocast_dtype(device, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastBf16::~AutocastBf16() {
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_, previous_enabled_);
  at::autocast::set_autocast_dtype(device_, previous_dtype_);
}
#else
AutocastBf16::AutocastBf16(torch::DeviceType device)
    : device_(device),
      previous_enabled_(device == torch::kCPU ? at::autocast::is_cpu_enabled()
                                              : at::autocast::is_enabled()),
      previous_dtype_(device == torch::kCPU ? at::autocast::get_autocast_cpu_dtype()
                                            : at::autocast::get_autocast_gpu_dtype()) {
  Set(true, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastBf16::~AutocastBf16() {
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  Set(previous_enabled_, previous_dtype_);
}

void AutocastBf16::Set(bool enabled, at::ScalarType dtype) {
  if (device_ == torch::kCPU) {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  } else {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  }
}
#endif

}  // namespace murmur::model
