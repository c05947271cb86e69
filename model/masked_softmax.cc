#include "model/masked_softmax.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "model/cpu_vector.h"

namespace murmur::model {
namespace {

// The scores are blocks (sequence n, head h) of L query rows of L keys; L a multiple of kLanes.
// Row q of block (n, h) has lengths[n] real keys, and none when q >= lengths[n].
struct Blocks {
  int64_t heads, length;  // H, L
  const std::vector<int64_t>* lengths;
  int64_t count() const { return static_cast<int64_t>(lengths->size()) * heads; }
  int64_t RealKeys(int64_t block) const { return (*lengths)[block / heads]; }
  // Blocks per parallel task: enough work (~16k scores) to pay for the task.
  int64_t grain() const { return std::max<int64_t>(1, (1 << 14) / (length * length)); }
};

// d scores = p * (d p - <d p, p>); 0 wherever p is (masked keys, padded queries).
template <typename Grad, typename Prob, typename Out>
void SoftmaxBackwardRow(const Grad* grad, const Prob* probabilities, Out* out, int64_t keys,
                        int64_t L) {
  const int64_t padded = PadToLanes(keys);
  Floats dot = {};
  for (int64_t j = 0; j < padded; j += kLanes) {
    dot += LoadLanes(grad + j) * LoadLanes(probabilities + j);
  }
  const float row_dot = HorizontalSum(dot);
  for (int64_t j = 0; j < padded; j += kLanes) {
    const Floats p = LoadLanes(probabilities + j);
    StoreLanes(p * (LoadLanes(grad + j) - row_dot), out + j);
  }
  for (int64_t j = padded; j < L; j += kLanes) StoreLanes(Floats{}, out + j);
}

bool FloatOrBf16(at::ScalarType dtype) { return dtype == at::kFloat || dtype == at::kBFloat16; }

void CheckArguments(const at::Tensor& scores, const std::vector<int64_t>& lengths,
                    at::ScalarType out_dtype) {
  TORCH_CHECK(MaskedSoftmaxSupports(scores),
              "MaskedSoftmax: fp32 or bf16 CPU scores [N, H, L, L], L a multiple of 8");
  TORCH_CHECK(FloatOrBf16(out_dtype), "MaskedSoftmax: fp32 or bf16 output");
  TORCH_CHECK(static_cast<int64_t>(lengths.size()) == scores.size(0),
              "MaskedSoftmax: one length per sequence");
  for (int64_t length : lengths) {
    TORCH_CHECK(length >= 1 && length <= scores.size(3), "MaskedSoftmax: length out of range");
  }
}

}  // namespace

bool MaskedSoftmaxSupports(const at::Tensor& scores) {
  return scores.is_cpu() && scores.dim() == 4 && scores.size(2) == scores.size(3) &&
         scores.size(3) % kLanes == 0 && FloatOrBf16(scores.scalar_type());
}

at::Tensor MaskedSoftmax(const at::Tensor& scores, const std::vector<int64_t>& lengths,
                         at::ScalarType out_dtype) {
  RECORD_FUNCTION("murmur::MaskedSoftmax", std::vector<c10::IValue>({scores}));
  CheckArguments(scores, lengths, out_dtype);
  const at::Tensor in = scores.contiguous();
  at::Tensor out = at::empty(in.sizes(), in.options().dtype(out_dtype));
  const Blocks blocks{in.size(1), in.size(3), &lengths};
  const int64_t L = blocks.length;
  WithTyped(in, [&](auto* in_data) {
    WithTyped(out, [&](auto* out_data) {
      at::parallel_for(0, blocks.count(), blocks.grain(), [&](int64_t begin, int64_t end) {
        std::vector<float> buffer(L);
        for (int64_t block = begin; block < end; ++block) {
          const int64_t keys = blocks.RealKeys(block);
          for (int64_t q = 0; q < L; ++q) {
            const int64_t offset = (block * L + q) * L;
            SoftmaxRow(in_data + offset, out_data + offset, q < keys ? keys : 0, L,
                       buffer.data());
          }
        }
      });
    });
  });
  return out;
}

at::Tensor MaskedSoftmaxBackward(const at::Tensor& grad, const at::Tensor& probabilities,
                                 const std::vector<int64_t>& lengths,
                                 at::ScalarType grad_in_dtype) {
  RECORD_FUNCTION("murmur::MaskedSoftmaxBackward", std::vector<c10::IValue>({grad}));
  CheckArguments(probabilities, lengths, grad_in_dtype);
  TORCH_CHECK(grad.sizes() == probabilities.sizes() && FloatOrBf16(grad.scalar_type()),
              "MaskedSoftmaxBackward: fp32 or bf16 gradient shaped as the probabilities");
  const at::Tensor g = grad.contiguous(), p = probabilities.contiguous();
  at::Tensor grad_in = at::empty(p.sizes(), p.options().dtype(grad_in_dtype));
  const Blocks blocks{p.size(1), p.size(3), &lengths};
  const int64_t L = blocks.length;
  WithTyped(g, [&](auto* grad_data) {
    WithTyped(p, [&](auto* probability_data) {
      WithTyped(grad_in, [&](auto* grad_in_data) {
        at::parallel_for(0, blocks.count(), blocks.grain(), [&](int64_t begin, int64_t end) {
          for (int64_t block = begin; block < end; ++block) {
            const int64_t keys = blocks.RealKeys(block);
            for (int64_t q = 0; q < L; ++q) {
              const int64_t offset = (block * L + q) * L;
              SoftmaxBackwardRow(grad_data + offset, probability_data + offset,
                                 grad_in_data + offset, q < keys ? keys : 0, L);
            }
          }
        });
      });
    });
  });
  return grad_in;
}

}  // namespace murmur::model
