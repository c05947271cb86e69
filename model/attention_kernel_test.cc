#include "model/attention_kernel.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

#include "model/masked_softmax.h"

namespace murmur::model {
namespace {

// What the training path computes: bmm, the masked softmax, bmm, in fp32.
at::Tensor Reference(const at::Tensor& qkv, const std::vector<int64_t>& lengths, int64_t heads) {
  const at::Tensor x = qkv.to(at::kFloat);
  const int64_t N = x.size(1), L = x.size(2);
  at::Tensor scores = at::bmm(x[0], x[1].transpose(1, 2)).view({N / heads, heads, L, L});
  at::Tensor probabilities = MaskedSoftmax(scores, lengths, at::kFloat).view({N, L, L});
  return at::bmm(probabilities, x[2]);
}

TEST(AttentionKernelTest, MatchesTheComposedProductsInFp32AndBf16) {
  at::manual_seed(3);
  const int64_t heads = 3;
  // Lengths that fill a block, leave one real key, and land on and off the 8-lane boundaries.
  for (int64_t D : {8, 64}) {
    for (int64_t L : {8, 24}) {
      const std::vector<int64_t> lengths = {L, 1, 5, L - 7, 9 <= L ? 9 : L};
      const int64_t N = static_cast<int64_t>(lengths.size()) * heads;
      for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
        const at::Tensor qkv = at::randn({3, N, L, D}).to(dtype);
        const at::Tensor context = at::full({N, L, D}, 7.0, qkv.options());
        AttentionForInference(qkv, context, lengths, heads);
        const at::Tensor want = Reference(qkv, lengths, heads);
        const double tolerance = dtype == at::kFloat ? 1e-5 : 2e-2;
        for (int64_t b = 0; b < N; ++b) {
          const int64_t keys = lengths[b / heads];
          const at::Tensor got = context[b].to(at::kFloat);
          EXPECT_TRUE(at::allclose(got.narrow(0, 0, keys), want[b].narrow(0, 0, keys), tolerance,
                                   tolerance))
              << "D " << D << " L " << L << " dtype " << dtype << " block " << b;
          // Padded queries: zeros (never the 7s that were there).
          EXPECT_EQ(got.narrow(0, keys, L - keys).abs().sum().item<float>(), 0.0f);
        }
      }
    }
  }
}

TEST(AttentionKernelTest, PaddedKeysDoNotLeakIn) {
  // The same real tokens with different garbage in the padded key slots: the same context.
  const int64_t L = 16, D = 16;
  at::Tensor qkv = at::randn({3, 1, L, D});
  at::Tensor other = qkv.clone();
  other.narrow(2, 6, L - 6).normal_(0, 100);
  const at::Tensor a = at::empty({1, L, D}), b = at::empty({1, L, D});
  AttentionForInference(qkv, a, {6}, 1);
  AttentionForInference(other, b, {6}, 1);
  EXPECT_TRUE(at::allclose(a.narrow(1, 0, 6), b.narrow(1, 0, 6), 1e-6, 1e-6));
}

TEST(AttentionKernelTest, RejectsWhatItDoesNotTake) {
  EXPECT_FALSE(AttentionForInferenceSupports(at::zeros({3, 2, 8, 12})));  // D % 8 != 0
  EXPECT_FALSE(AttentionForInferenceSupports(at::zeros({3, 2, 8, 8}, at::kDouble)));
  EXPECT_TRUE(AttentionForInferenceSupports(at::zeros({3, 2, 8, 8}, at::kBFloat16)));
  EXPECT_THROW(AttentionForInference(at::zeros({3, 2, 8, 8}), at::empty({2, 8, 8}), {9}, 2),
               c10::Error);
}

}  // namespace
}  // namespace murmur::model
