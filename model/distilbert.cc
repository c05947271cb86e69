#include "model/distilbert.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <numeric>
#include <limits>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "model/dropout.h"
#include "model/masked_softmax.h"

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
  for (size_t i = 0; i < sequences.size(); ++i) {
    int64_t len = static_cast<int64_t>(sequences[i].size());
    if (len == 0 || len > max_positions) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", i, " has ", len,
                                                     " tokens; need 1..", max_positions));
    }
    batch.num_tokens += len;
    longest = std::max(longest, len);
  }
  auto round_up = [](int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; };
  const int64_t T = batch.num_tokens, B = batch.batch_size;
  batch.max_len = round_up(longest, kLengthMultiple);
  batch.num_rows = round_up(T, kRowMultiple);
  const int64_t R = batch.num_rows;
  batch.input_ids = torch::zeros({R}, torch::kLong);
  batch.position_ids = torch::zeros({R}, torch::kLong);
  batch.cls_index = torch::empty({B}, torch::kLong);
  int64_t* ids = batch.input_ids.data_ptr<int64_t>();
  int64_t* positions = batch.position_ids.data_ptr<int64_t>();
  int64_t* cls = batch.cls_index.data_ptr<int64_t>();
  int64_t row = 0;
  for (int64_t b = 0; b < B; ++b) {
    cls[b] = row;
    batch.lengths.push_back(static_cast<int64_t>(sequences[b].size()));
    for (size_t j = 0; j < sequences[b].size(); ++j, ++row) {
      ids[row] = sequences[b][j];
      positions[row] = static_cast<int64_t>(j);
    }
  }
  return batch;
}

bool Batch::dense() const {
  if (num_rows != num_tokens) return false;
  for (int64_t length : lengths) {
    if (length != max_len) return false;
  }
  return true;
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
  for (torch::Tensor* t : {&moved.input_ids, &moved.position_ids, &moved.cls_index}) {
    *t = t->to(device);
  }
  return moved;
}

namespace {

int64_t RoundUp(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// What one more length group costs, in padded score elements per head: its own small products,
// bias add and softmax, about 0.1 ms a layer on this CPU, which is what ~2,000 padded elements
// per head cost (DistilBERT-base, batch 32 tweets).
constexpr int64_t kGroupOverhead = 2000;

// `order` (sequences sorted by length) cut into `count` consecutive groups of nearly equal size.
std::vector<std::vector<int64_t>> Split(const std::vector<int64_t>& order, int64_t count) {
  std::vector<std::vector<int64_t>> groups(count);
  const int64_t n = static_cast<int64_t>(order.size());
  for (int64_t i = 0; i < n; ++i) groups[i * count / n].push_back(order[i]);
  return groups;
}

}  // namespace

AttentionLayout AttentionLayout::Make(const Batch& batch, int64_t n_heads) {
  const int64_t B = batch.batch_size, R = batch.num_rows, T = batch.num_tokens, H = n_heads;
  const std::vector<int64_t>& lengths = batch.lengths;
  std::vector<int64_t> start(B);
  for (int64_t b = 0, row = 0; b < B; ++b) {
    start[b] = row;
    row += lengths[b];
  }
  std::vector<int64_t> order(B);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return lengths[a] < lengths[b]; });
  auto cost = [&](const std::vector<std::vector<int64_t>>& groups) {
    int64_t total = 0;
    for (const auto& members : groups) {
      const int64_t length = RoundUp(lengths[members.back()], Batch::kLengthMultiple);
      total += static_cast<int64_t>(members.size()) * length * length + kGroupOverhead;
    }
    return total;
  };
  std::vector<std::vector<int64_t>> members = Split(order, 1);
  for (int64_t count = 2; count <= std::min<int64_t>(kMaxGroups, B); ++count) {
    auto candidate = Split(order, count);
    if (cost(candidate) < cost(members)) members = std::move(candidate);
  }

  AttentionLayout layout;
  int64_t qkv_rows = 0, context_rows = 0;
  for (const auto& group_members : members) {
    Group group;
    group.sequences = static_cast<int64_t>(group_members.size());
    group.length = RoundUp(lengths[group_members.back()], Batch::kLengthMultiple);
    group.qkv_offset = qkv_rows;
    group.context_offset = context_rows;
    qkv_rows += 3 * group.sequences * H * group.length;
    context_rows += group.sequences * H * group.length;
    layout.groups.push_back(group);
  }
  // Padded slots read any row (0): padded keys are masked to -inf, so padded values get weight
  // exactly 0, and padded queries are dropped again by the context gather. Junk rows read
  // context slot 0; nothing reads their output.
  std::vector<int64_t> qkv_index(qkv_rows, 0), qkv_inverse(R * 3 * H, 0);
  std::vector<int64_t> context_index(R * H, 0), context_inverse(context_rows, 0), context_zero;
  const torch::Device device = batch.input_ids.device();
  for (size_t g = 0; g < members.size(); ++g) {
    Group& group = layout.groups[g];
    const int64_t Bg = group.sequences, Lg = group.length;
    for (int64_t i = 0; i < Bg; ++i) {
      const int64_t b = members[g][i];
      group.lengths.push_back(lengths[b]);
      for (int64_t l = 0; l < Lg; ++l) {
        const bool real = l < lengths[b];
        const int64_t row = real ? start[b] + l : 0;
        for (int64_t h = 0; h < H; ++h) {
          // qkv [R, 3, H, hd] as rows of hd: row (r * 3 + part) * H + h. The group's block
          // [3, Bg, H, Lg, hd]: row ((part * Bg + i) * H + h) * Lg + l.
          for (int64_t part = 0; part < 3; ++part) {
            const int64_t slot = group.qkv_offset + ((part * Bg + i) * H + h) * Lg + l;
            qkv_index[slot] = (row * 3 + part) * H + h;
            if (real) qkv_inverse[(row * 3 + part) * H + h] = slot;
          }
          // context [Bg, H, Lg, hd] as rows of hd; packed [R, H, hd].
          const int64_t slot = group.context_offset + (i * H + h) * Lg + l;
          if (real) {
            context_index[row * H + h] = slot;
            context_inverse[slot] = row * H + h;
          } else {
            context_zero.push_back(slot);
          }
        }
      }
    }
  }
  const auto options = torch::TensorOptions().dtype(torch::kLong);
  layout.qkv_index = torch::tensor(qkv_index, options).to(device);
  layout.qkv_inverse = torch::tensor(qkv_inverse, options).to(device);
  layout.qkv_zero = torch::arange(T * 3 * H, R * 3 * H, options).to(device);
  layout.context_index = torch::tensor(context_index, options).to(device);
  layout.context_inverse = torch::tensor(context_inverse, options).to(device);
  layout.context_zero = torch::tensor(context_zero, options).to(device);
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

// Every length group's attention on the CPU, from the gathered q/k/v slots to the groups'
// contexts, as one autograd node: scores = q k^T, MaskedSoftmax, dropout, context = p v, with
// each group's products written straight into one output and, backward, into one gradient of
// the slots. Built from autograd ops instead, the split, unbind and cat that tie the groups
// together cost ~13 ms of a ~350 ms DistilBERT-base training step (bf16, batch 32), and the
// dropout mask would be kept instead of regenerated from its seed.
//
// Numerics as the composed ops: probabilities in fp32 when a backward will follow (dropout on
// them in fp32, then rounded to the slots' dtype for p v), in the slots' dtype otherwise.
class AttentionCore : public torch::autograd::Function<AttentionCore> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& slots,
                               const AttentionLayout& layout, int64_t n_heads, double dropout,
                               bool needs_backward) {
    const int64_t head_dim = slots.size(1);
    const torch::ScalarType dtype = slots.scalar_type();
    torch::Tensor context =
        torch::empty({layout.context_inverse.size(0), head_dim}, slots.options());
    std::vector<torch::Tensor> saved = {slots};
    std::vector<int64_t> shapes, lengths, seeds;
    for (const AttentionLayout::Group& group : layout.groups) {
      const int64_t batches = group.sequences * n_heads, L = group.length;
      std::vector<torch::Tensor> qkv =
          QkvBlocks(slots, group.qkv_offset, batches, L).unbind(0);
      torch::Tensor scores =
          torch::bmm(qkv[0], qkv[1].transpose(1, 2)).view({group.sequences, n_heads, L, L});
      torch::Tensor probabilities =
          MaskedSoftmax(scores, group.lengths, needs_backward ? torch::kFloat : dtype);
      torch::Tensor weights = probabilities;
      if (dropout > 0) {
        const uint64_t seed = DrawDropoutSeed();
        seeds.push_back(static_cast<int64_t>(seed));
        weights = probabilities * DropoutMask(probabilities, dropout, seed);
      }
      weights = weights.to(dtype).view({batches, L, L});
      torch::Tensor out = ContextBlock(context, group.context_offset, batches, L);
      torch::bmm_out(out, weights, qkv[2]);
      if (needs_backward) {
        saved.push_back(probabilities);
        saved.push_back(weights);
        shapes.insert(shapes.end(), {group.sequences, L, group.qkv_offset, group.context_offset});
        lengths.insert(lengths.end(), group.lengths.begin(), group.lengths.end());
      }
    }
    if (needs_backward) {
      ctx->save_for_backward(saved);
      ctx->saved_data["shapes"] = shapes;
      ctx->saved_data["lengths"] = lengths;
      ctx->saved_data["seeds"] = seeds;
      ctx->saved_data["n_heads"] = n_heads;
      ctx->saved_data["dropout"] = dropout;
    }
    return context;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const std::vector<torch::Tensor> saved = ctx->get_saved_variables();
    const torch::Tensor& slots = saved[0];
    const std::vector<int64_t> shapes = ctx->saved_data["shapes"].toIntVector();
    const std::vector<int64_t> all_lengths = ctx->saved_data["lengths"].toIntVector();
    const std::vector<int64_t> seeds = ctx->saved_data["seeds"].toIntVector();
    const int64_t n_heads = ctx->saved_data["n_heads"].toInt();
    const double dropout = ctx->saved_data["dropout"].toDouble();
    const torch::Tensor grad_context = grads[0].to(slots.scalar_type()).contiguous();
    torch::Tensor grad_slots = torch::empty_like(slots);  // the groups tile all of it
    auto lengths_begin = all_lengths.begin();
    for (size_t g = 0; 4 * g < shapes.size(); ++g) {
      const int64_t sequences = shapes[4 * g], L = shapes[4 * g + 1];
      const int64_t batches = sequences * n_heads;
      const std::vector<int64_t> lengths(lengths_begin, lengths_begin + sequences);
      lengths_begin += sequences;
      const torch::Tensor& probabilities = saved[1 + 2 * g];
      const torch::Tensor& weights = saved[2 + 2 * g];
      std::vector<torch::Tensor> qkv = QkvBlocks(slots, shapes[4 * g + 2], batches, L).unbind(0);
      std::vector<torch::Tensor> grad_qkv =
          QkvBlocks(grad_slots, shapes[4 * g + 2], batches, L).unbind(0);
      torch::Tensor grad_out = ContextBlock(grad_context, shapes[4 * g + 3], batches, L);
      torch::bmm_out(grad_qkv[2], weights.transpose(1, 2), grad_out);
      torch::Tensor grad_probabilities =
          torch::bmm(grad_out, qkv[2].transpose(1, 2)).view({sequences, n_heads, L, L});
      if (dropout > 0) {
        grad_probabilities = grad_probabilities *
                             DropoutMask(probabilities, dropout, static_cast<uint64_t>(seeds[g]));
      }
      torch::Tensor grad_scores =
          MaskedSoftmaxBackward(grad_probabilities, probabilities, lengths, slots.scalar_type())
              .view({batches, L, L});
      torch::bmm_out(grad_qkv[0], grad_scores, qkv[1]);
      torch::bmm_out(grad_qkv[1], grad_scores.transpose(1, 2), qkv[0]);
    }
    return {grad_slots, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }

 private:
  // A group's [3, B_g * H, L_g, head_dim] block of the slots (see AttentionLayout).
  static torch::Tensor QkvBlocks(const torch::Tensor& slots, int64_t offset, int64_t batches,
                                 int64_t length) {
    return slots.narrow(0, offset, 3 * batches * length).view({3, batches, length, -1});
  }
  // A group's [B_g * H, L_g, head_dim] block of the contexts.
  static torch::Tensor ContextBlock(const torch::Tensor& context, int64_t offset,
                                    int64_t batches, int64_t length) {
    return context.narrow(0, offset, batches * length).view({batches, length, -1});
  }
};

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

torch::Tensor MultiHeadSelfAttentionImpl::forward(const torch::Tensor& x, const Batch& batch,
                                                 const AttentionLayout& layout) {
  // One [R, 3D] product instead of three [R, D] ones: fewer, larger GEMMs and one gather.
  auto [weight, bias] = FusedQkv();
  return out_lin(Attend(torch::linear(x, weight, bias), batch, layout));
}

torch::Tensor MultiHeadSelfAttentionImpl::ForwardPacked(const torch::Tensor& x,
                                                       const Batch& batch,
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
  return out->ForwardAdd(Attend(qkv->Forward(x), batch, layout), std::move(residual));
}

torch::Tensor MultiHeadSelfAttentionImpl::Attend(const torch::Tensor& projected,
                                                const Batch& batch,
                                                const AttentionLayout& layout) {
  const int64_t R = batch.num_rows, D = projected.size(1) / 3, head_dim = D / n_heads;
  torch::Tensor slots = GatherRows::apply(projected.view({R * 3 * n_heads, head_dim}),
                                          layout.qkv_index, layout.qkv_inverse, layout.qkv_zero);
  torch::Tensor context;
  if (slots.is_cpu() &&
      (slots.scalar_type() == torch::kFloat || slots.scalar_type() == torch::kBFloat16)) {
    const bool needs_backward = torch::GradMode::is_enabled() && slots.requires_grad();
    context = AttentionCore::apply(slots, layout, n_heads, is_training() ? dropout : 0.0,
                                   needs_backward);
  } else {
    context = ComposedContext(slots, layout);
  }
  return GatherRows::apply(context, layout.context_index, layout.context_inverse,
                           layout.context_zero)
      .view({R, D});
}

torch::Tensor MultiHeadSelfAttentionImpl::ComposedContext(const torch::Tensor& slots,
                                                         const AttentionLayout& layout) {
  const int64_t head_dim = slots.size(1);
  // bf16 inference: the scores come out of a bf16 product and the weights go into one, so mask
  // and softmax stay in bf16, and each group's context is written straight into one buffer.
  const bool bf16_inference =
      slots.scalar_type() == torch::kBFloat16 && !torch::GradMode::is_enabled();
  torch::Tensor context;
  std::vector<torch::Tensor> contexts;
  if (bf16_inference) {
    context = torch::empty({layout.context_inverse.size(0), head_dim}, slots.options());
  }
  // The groups tile `slots` in order. One split, not a narrow per group: in training each
  // narrow's backward allocates and adds a zero tensor the size of all of `slots`.
  std::vector<int64_t> block_rows;
  for (const AttentionLayout::Group& group : layout.groups) {
    block_rows.push_back(3 * group.sequences * n_heads * group.length);
  }
  std::vector<torch::Tensor> blocks = slots.split_with_sizes(block_rows);
  for (size_t g = 0; g < layout.groups.size(); ++g) {
    const AttentionLayout::Group& group = layout.groups[g];
    // The padding mask as an additive bias [B_g, 1, 1, L_g]: 0 for real keys, -inf for padded
    // ones (exact in bf16 too).
    const torch::Tensor lengths = torch::tensor(group.lengths).to(slots.device());
    const torch::Tensor padded_keys =
        torch::arange(group.length, lengths.options()).unsqueeze(0) >= lengths.unsqueeze(1);
    const torch::Tensor bias =
        torch::zeros({group.sequences, 1, 1, group.length}, slots.options().dtype(torch::kFloat))
            .masked_fill_(padded_keys.view({group.sequences, 1, 1, group.length}),
                          -std::numeric_limits<float>::infinity());
    torch::Tensor qkv = blocks[g].view({3, group.sequences, n_heads, group.length, head_dim});
    // unbind, not qkv[i]: the backward of three selects would allocate and sum three
    // full-size zero tensors (~20% of a training step's backward); unbind's is one stack.
    std::vector<torch::Tensor> parts = qkv.unbind(0);
    const torch::Tensor &q = parts[0], &k = parts[1], &v = parts[2];
    torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1));  // [B_g, H, L_g, L_g]
    if (bf16_inference && scores.scalar_type() == torch::kBFloat16) {
      scores.add_(bias.to(torch::kBFloat16));
      torch::Tensor weights = torch::softmax(scores, -1);
      const int64_t batches = group.sequences * n_heads;
      torch::Tensor out = context.narrow(0, group.context_offset, batches * group.length)
                              .view({batches, group.length, head_dim});
      // (CUDA's autocast runs softmax in fp32; the CPU's keeps bf16.)
      torch::Tensor probabilities =
          weights.to(v.scalar_type()).view({batches, group.length, group.length});
      torch::bmm_out(out, probabilities, v.reshape({batches, group.length, head_dim}));
      continue;
    }
    scores = scores + bias;  // fp32 (or fp64) from here
    torch::Tensor weights = FastDropout(torch::softmax(scores, -1), dropout, is_training());
    contexts.push_back(torch::matmul(weights.to(v.scalar_type()), v).reshape({-1, head_dim}));
  }
  if (!contexts.empty()) context = contexts.size() == 1 ? contexts[0] : torch::cat(contexts);
  return context;
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

// bf16 inference on a CPU (SetLinearDtype(kBFloat16), no gradient) with oneDNN available: the
// packed path. Training, fp32 and other devices keep libtorch's.
bool UsePackedLinears(const torch::Tensor& x, const torch::Tensor& weight) {
  return !torch::GradMode::is_enabled() && x.is_cpu() && x.scalar_type() == torch::kFloat &&
         weight.scalar_type() == torch::kBFloat16 && PackedLinearAvailable();
}

}  // namespace

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x, const Batch& batch,
                                            const AttentionLayout& layout) {
  torch::Tensor sa = sa_layer_norm(attention(x, batch, layout) + x);
  return output_layer_norm(ffn(sa) + sa);
}

torch::Tensor TransformerBlockImpl::ForwardPacked(torch::Tensor x, const Batch& batch,
                                                  const AttentionLayout& layout) {
  // The residual adds happen inside the matmuls: into x, then into sa.
  torch::Tensor sa = sa_layer_norm(attention->ForwardPacked(x, batch, layout, x));
  return output_layer_norm(ffn->ForwardPacked(sa, sa));
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
      x = block->as<TransformerBlock>()->ForwardPacked(x, batch, layout);
    }
    return x;
  }
  for (const auto& block : *layer) x = block->as<TransformerBlock>()->forward(x, batch, layout);
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
bool CpuAutocastsToBf16() {
  return at::autocast::is_autocast_enabled(torch::kCPU) &&
         at::autocast::get_autocast_dtype(torch::kCPU) == at::kBFloat16;
}

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
bool CpuAutocastsToBf16() {
  return at::autocast::is_cpu_enabled() &&
         at::autocast::get_autocast_cpu_dtype() == at::kBFloat16;
}

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
