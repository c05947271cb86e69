#include "model/packed_attention.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <utility>

#include "model/attention_kernel.h"
#include "model/dropout.h"
#include "model/masked_softmax.h"

namespace murmur::model {
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

// The sequences of a batch, by index, sorted by length and cut into the consecutive groups (at
// most AttentionLayout::kMaxGroups, of nearly equal size) with the least padded score area
// plus kGroupOverhead per group.
std::vector<std::vector<int64_t>> ChooseGroups(const std::vector<int64_t>& lengths) {
  const int64_t B = static_cast<int64_t>(lengths.size());
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
  for (int64_t count = 2; count <= std::min<int64_t>(AttentionLayout::kMaxGroups, B); ++count) {
    auto candidate = Split(order, count);
    if (cost(candidate) < cost(members)) members = std::move(candidate);
  }
  return members;
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
  const std::vector<std::vector<int64_t>> members = ChooseGroups(lengths);

  AttentionLayout layout;
  layout.sequence_lengths = lengths;
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
  const at::Device device = batch.input_ids.device();
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
  const auto options = at::TensorOptions().dtype(at::kLong);
  layout.qkv_index = at::tensor(qkv_index, options).to(device);
  layout.qkv_inverse = at::tensor(qkv_inverse, options).to(device);
  layout.qkv_zero = at::arange(T * 3 * H, R * 3 * H, options).to(device);
  layout.context_index = at::tensor(context_index, options).to(device);
  layout.context_inverse = at::tensor(context_inverse, options).to(device);
  layout.context_zero = at::tensor(context_zero, options).to(device);
  return layout;
}

namespace {

// rows.index_select(0, index) whose backward is grad.index_select(0, inverse) with the `zero`
// rows cleared (see AttentionLayout).
class GatherRows : public torch::autograd::Function<GatherRows> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& rows,
                            const at::Tensor& index, const at::Tensor& inverse,
                            const at::Tensor& zero) {
    ctx->saved_data["inverse"] = inverse;
    ctx->saved_data["zero"] = zero;
    return rows.index_select(0, index);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    at::Tensor grad = grads[0].index_select(0, ctx->saved_data["inverse"].toTensor());
    at::Tensor zero = ctx->saved_data["zero"].toTensor();
    if (zero.numel() > 0) grad.index_fill_(0, zero, 0);
    return {grad, at::Tensor(), at::Tensor(), at::Tensor()};
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
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& slots,
                            const AttentionLayout& layout, int64_t n_heads, double dropout,
                            bool needs_backward) {
    const int64_t head_dim = slots.size(1);
    const at::ScalarType dtype = slots.scalar_type();
    at::Tensor context = at::empty({layout.context_inverse.size(0), head_dim}, slots.options());
    std::vector<at::Tensor> saved = {slots};
    std::vector<int64_t> shapes, lengths, seeds;
    for (const AttentionLayout::Group& group : layout.groups) {
      const int64_t batches = group.sequences * n_heads, L = group.length;
      std::vector<at::Tensor> qkv = QkvBlocks(slots, group.qkv_offset, batches, L).unbind(0);
      at::Tensor scores =
          at::bmm(qkv[0], qkv[1].transpose(1, 2)).view({group.sequences, n_heads, L, L});
      at::Tensor probabilities =
          MaskedSoftmax(scores, group.lengths, needs_backward ? at::kFloat : dtype);
      at::Tensor weights = probabilities;
      if (dropout > 0) {
        const uint64_t seed = DrawDropoutSeed();
        seeds.push_back(static_cast<int64_t>(seed));
        weights = probabilities * DropoutMask(probabilities, dropout, seed);
      }
      weights = weights.to(dtype).view({batches, L, L});
      at::Tensor out = ContextBlock(context, group.context_offset, batches, L);
      at::bmm_out(out, weights, qkv[2]);
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
    const std::vector<at::Tensor> saved = ctx->get_saved_variables();
    const at::Tensor& slots = saved[0];
    const std::vector<int64_t> shapes = ctx->saved_data["shapes"].toIntVector();
    const std::vector<int64_t> all_lengths = ctx->saved_data["lengths"].toIntVector();
    const std::vector<int64_t> seeds = ctx->saved_data["seeds"].toIntVector();
    const int64_t n_heads = ctx->saved_data["n_heads"].toInt();
    const double dropout = ctx->saved_data["dropout"].toDouble();
    const at::Tensor grad_context = grads[0].to(slots.scalar_type()).contiguous();
    at::Tensor grad_slots = at::empty_like(slots);  // the groups tile all of it
    auto lengths_begin = all_lengths.begin();
    for (size_t g = 0; 4 * g < shapes.size(); ++g) {
      const int64_t sequences = shapes[4 * g], L = shapes[4 * g + 1];
      const int64_t batches = sequences * n_heads;
      const std::vector<int64_t> lengths(lengths_begin, lengths_begin + sequences);
      lengths_begin += sequences;
      const at::Tensor& probabilities = saved[1 + 2 * g];
      const at::Tensor& weights = saved[2 + 2 * g];
      std::vector<at::Tensor> qkv = QkvBlocks(slots, shapes[4 * g + 2], batches, L).unbind(0);
      std::vector<at::Tensor> grad_qkv =
          QkvBlocks(grad_slots, shapes[4 * g + 2], batches, L).unbind(0);
      at::Tensor grad_out = ContextBlock(grad_context, shapes[4 * g + 3], batches, L);
      at::bmm_out(grad_qkv[2], weights.transpose(1, 2), grad_out);
      at::Tensor grad_probabilities =
          at::bmm(grad_out, qkv[2].transpose(1, 2)).view({sequences, n_heads, L, L});
      if (dropout > 0) {
        grad_probabilities = grad_probabilities *
                             DropoutMask(probabilities, dropout, static_cast<uint64_t>(seeds[g]));
      }
      at::Tensor grad_scores =
          MaskedSoftmaxBackward(grad_probabilities, probabilities, lengths, slots.scalar_type())
              .view({batches, L, L});
      at::bmm_out(grad_qkv[0], grad_scores, qkv[1]);
      at::bmm_out(grad_qkv[1], grad_scores.transpose(1, 2), qkv[0]);
    }
    return {grad_slots, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }

 private:
  // A group's [3, B_g * H, L_g, head_dim] block of the slots (see AttentionLayout).
  static at::Tensor QkvBlocks(const at::Tensor& slots, int64_t offset, int64_t batches,
                              int64_t length) {
    return slots.narrow(0, offset, 3 * batches * length).view({3, batches, length, -1});
  }
  // A group's [B_g * H, L_g, head_dim] block of the contexts.
  static at::Tensor ContextBlock(const at::Tensor& context, int64_t offset, int64_t batches,
                                 int64_t length) {
    return context.narrow(0, offset, batches * length).view({batches, length, -1});
  }
};

// The groups' contexts [sum B_g * H * L_g, head_dim] from the gathered q/k/v slots, composed
// of libtorch ops with an additive mask: for devices and dtypes AttentionCore does not take.
at::Tensor ComposedContext(const at::Tensor& slots, const AttentionLayout& layout,
                           int64_t n_heads, double dropout, bool training) {
  const int64_t head_dim = slots.size(1);
  // bf16 inference: the scores come out of a bf16 product and the weights go into one, so mask
  // and softmax stay in bf16, and each group's context is written straight into one buffer.
  const bool bf16_inference =
      slots.scalar_type() == at::kBFloat16 && !at::GradMode::is_enabled();
  at::Tensor context;
  std::vector<at::Tensor> contexts;
  if (bf16_inference) {
    context = at::empty({layout.context_inverse.size(0), head_dim}, slots.options());
  }
  // The groups tile `slots` in order. One split, not a narrow per group: in training each
  // narrow's backward allocates and adds a zero tensor the size of all of `slots`.
  std::vector<int64_t> block_rows;
  for (const AttentionLayout::Group& group : layout.groups) {
    block_rows.push_back(3 * group.sequences * n_heads * group.length);
  }
  std::vector<at::Tensor> blocks = slots.split_with_sizes(block_rows);
  for (size_t g = 0; g < layout.groups.size(); ++g) {
    const AttentionLayout::Group& group = layout.groups[g];
    // The padding mask as an additive bias [B_g, 1, 1, L_g]: 0 for real keys, -inf for padded
    // ones (exact in bf16 too).
    const at::Tensor lengths = at::tensor(group.lengths).to(slots.device());
    const at::Tensor padded_keys =
        at::arange(group.length, lengths.options()).unsqueeze(0) >= lengths.unsqueeze(1);
    const at::Tensor bias =
        at::zeros({group.sequences, 1, 1, group.length}, slots.options().dtype(at::kFloat))
            .masked_fill_(padded_keys.view({group.sequences, 1, 1, group.length}),
                          -std::numeric_limits<float>::infinity());
    at::Tensor qkv = blocks[g].view({3, group.sequences, n_heads, group.length, head_dim});
    // unbind, not qkv[i]: the backward of three selects would allocate and sum three
    // full-size zero tensors (~20% of a training step's backward); unbind's is one stack.
    std::vector<at::Tensor> parts = qkv.unbind(0);
    const at::Tensor &q = parts[0], &k = parts[1], &v = parts[2];
    at::Tensor scores = at::matmul(q, k.transpose(-2, -1));  // [B_g, H, L_g, L_g]
    if (bf16_inference && scores.scalar_type() == at::kBFloat16) {
      scores.add_(bias.to(at::kBFloat16));
      at::Tensor weights = at::softmax(scores, -1);
      const int64_t batches = group.sequences * n_heads;
      at::Tensor out = context.narrow(0, group.context_offset, batches * group.length)
                           .view({batches, group.length, head_dim});
      // (CUDA's autocast runs softmax in fp32; the CPU's keeps bf16.)
      at::Tensor probabilities =
          weights.to(v.scalar_type()).view({batches, group.length, group.length});
      at::bmm_out(out, probabilities, v.reshape({batches, group.length, head_dim}));
      continue;
    }
    scores = scores + bias;  // fp32 (or fp64) from here
    at::Tensor weights = FastDropout(at::softmax(scores, -1), dropout, training);
    contexts.push_back(at::matmul(weights.to(v.scalar_type()), v).reshape({-1, head_dim}));
  }
  if (!contexts.empty()) context = contexts.size() == 1 ? contexts[0] : at::cat(contexts);
  return context;
}

}  // namespace

at::Tensor PackedAttention(const at::Tensor& qkv, const AttentionLayout& layout, int64_t n_heads,
                           double dropout, bool training) {
  // Inference: straight on the packed rows, no gathers (attention_kernel.h).
  const bool needs_probabilities =
      (at::GradMode::is_enabled() && qkv.requires_grad()) || (training && dropout > 0);
  if (!needs_probabilities && AttentionOnPackedRowsSupports(qkv, n_heads)) {
    return AttentionOnPackedRows(qkv, layout.sequence_lengths, n_heads);
  }
  const int64_t R = qkv.size(0), D = qkv.size(1) / 3, head_dim = D / n_heads;
  at::Tensor slots = GatherRows::apply(qkv.view({R * 3 * n_heads, head_dim}), layout.qkv_index,
                                       layout.qkv_inverse, layout.qkv_zero);
  at::Tensor context;
  if (slots.is_cpu() &&
      (slots.scalar_type() == at::kFloat || slots.scalar_type() == at::kBFloat16)) {
    const bool needs_backward = at::GradMode::is_enabled() && slots.requires_grad();
    context = AttentionCore::apply(slots, layout, n_heads, training ? dropout : 0.0,
                                   needs_backward);
  } else {
    context = ComposedContext(slots, layout, n_heads, dropout, training);
  }
  return GatherRows::apply(context, layout.context_index, layout.context_inverse,
                           layout.context_zero)
      .view({R, D});
}

}  // namespace murmur::model
