#include "model/masked_softmax.h"

#include <torch/torch.h>

#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace murmur::model {
namespace {

// softmax(scores + mask) in fp64 with padded query rows zeroed: what MaskedSoftmax promises.
torch::Tensor Reference(const torch::Tensor& scores, const std::vector<int64_t>& lengths) {
  const int64_t N = scores.size(0), L = scores.size(3);
  torch::Tensor key_bias = torch::zeros({N, 1, 1, L}, torch::kDouble);
  torch::Tensor query_mask = torch::zeros({N, 1, L, 1}, torch::kDouble);
  for (int64_t n = 0; n < N; ++n) {
    key_bias[n].narrow(-1, lengths[n], L - lengths[n]).fill_(-std::numeric_limits<double>::infinity());
    query_mask[n].narrow(1, 0, lengths[n]).fill_(1.0);
  }
  return torch::softmax(scores.to(torch::kDouble) + key_bias, -1) * query_mask;
}

// Lengths that leave partial and whole 8-lane blocks, a single token and a full row.
const std::vector<int64_t> kLengths = {1, 5, 8, 13, 16, 24};
constexpr int64_t kHeads = 3, kLength = 24;

TEST(MaskedSoftmaxTest, MatchesTheMaskedSoftmaxInEveryStorageType) {
  torch::manual_seed(3);
  // Scaled up so that some scores fall below exp's range (x - max < -87): probability ~0.
  torch::Tensor scores = torch::randn({6, kHeads, kLength, kLength}) * 30;
  for (auto in_dtype : {torch::kFloat, torch::kBFloat16}) {
    torch::Tensor in = scores.to(in_dtype);
    torch::Tensor expected = Reference(in, kLengths);
    for (auto out_dtype : {torch::kFloat, torch::kBFloat16}) {
      torch::Tensor got = MaskedSoftmax(in, kLengths, out_dtype);
      ASSERT_EQ(got.scalar_type(), out_dtype);
      ASSERT_EQ(got.sizes(), in.sizes());
      const double tolerance = out_dtype == torch::kFloat ? 1e-6 : 4e-3;  // bf16: 8-bit mantissa
      EXPECT_LT((got.to(torch::kDouble) - expected).abs().max().item<double>(), tolerance)
          << "in " << in_dtype << " out " << out_dtype;
      // Masked keys and padded queries are exactly zero; real rows sum to one.
      for (int64_t n = 0; n < 6; ++n) {
        const int64_t real = kLengths[n];
        EXPECT_EQ(got[n].narrow(-1, real, kLength - real).abs().sum().item<double>(), 0.0);
        EXPECT_EQ(got[n].narrow(1, real, kLength - real).abs().sum().item<double>(), 0.0);
        torch::Tensor sums = got[n].narrow(1, 0, real).to(torch::kDouble).sum(-1);
        EXPECT_LT((sums - 1).abs().max().item<double>(), out_dtype == torch::kFloat ? 1e-6 : 2e-2);
      }
    }
  }
}

TEST(MaskedSoftmaxTest, ExpIsAccurateAcrossItsRange) {
  // Rows holding every gap to the row maximum from 0 to -80 in small steps.
  constexpr int64_t kKeys = 1024;
  torch::Tensor gaps = -torch::linspace(0, 80, kKeys, torch::kDouble);
  torch::Tensor scores = gaps.to(torch::kFloat).view({1, 1, 1, kKeys}).expand({1, 1, kKeys, kKeys});
  torch::Tensor got = MaskedSoftmax(scores.contiguous(), {kKeys}, torch::kFloat)[0][0][0];
  torch::Tensor expected = torch::softmax(gaps.to(torch::kFloat).to(torch::kDouble), -1);
  torch::Tensor relative = (got.to(torch::kDouble) - expected).abs() / expected;
  EXPECT_LT(relative.max().item<double>(), 3e-7) << relative.max().item<double>();
}

TEST(MaskedSoftmaxTest, BackwardMatchesAutogradOfTheReference) {
  torch::manual_seed(4);
  for (auto in_dtype : {torch::kFloat, torch::kBFloat16}) {
    torch::Tensor scores = torch::randn({6, kHeads, kLength, kLength}).to(in_dtype);
    torch::Tensor upstream = torch::randn({6, kHeads, kLength, kLength});
    torch::Tensor probabilities = MaskedSoftmax(scores, kLengths, torch::kFloat);
    torch::Tensor grad = MaskedSoftmaxBackward(upstream, probabilities, kLengths, in_dtype);
    torch::Tensor reference_scores = scores.to(torch::kDouble).requires_grad_(true);
    (Reference(reference_scores, kLengths) * upstream.to(torch::kDouble)).sum().backward();
    ASSERT_EQ(grad.scalar_type(), in_dtype);
    const double tolerance = in_dtype == torch::kFloat ? 1e-5 : 2e-2;
    EXPECT_LT((grad.to(torch::kDouble) - reference_scores.grad()).abs().max().item<double>(),
              tolerance)
        << in_dtype;
    // Masked keys and padded queries get no gradient at all.
    for (int64_t n = 0; n < 6; ++n) {
      const int64_t real = kLengths[n];
      EXPECT_EQ(grad[n].narrow(-1, real, kLength - real).abs().sum().item<double>(), 0.0);
      EXPECT_EQ(grad[n].narrow(1, real, kLength - real).abs().sum().item<double>(), 0.0);
    }
  }
}

TEST(MaskedSoftmaxTest, SaysWhatItTakesAndRejectsBadLengths) {
  EXPECT_TRUE(MaskedSoftmaxSupports(torch::zeros({2, 1, 8, 8})));
  EXPECT_TRUE(MaskedSoftmaxSupports(torch::zeros({2, 1, 16, 16}, torch::kBFloat16)));
  EXPECT_FALSE(MaskedSoftmaxSupports(torch::zeros({2, 1, 12, 12})));  // not a multiple of 8
  EXPECT_FALSE(MaskedSoftmaxSupports(torch::zeros({2, 1, 8, 8}, torch::kDouble)));
  EXPECT_FALSE(MaskedSoftmaxSupports(torch::zeros({2, 8, 8})));
  torch::Tensor scores = torch::zeros({2, 1, 8, 8});
  EXPECT_THROW(MaskedSoftmax(scores, {3}, torch::kFloat), c10::Error);      // one per sequence
  EXPECT_THROW(MaskedSoftmax(scores, {3, 0}, torch::kFloat), c10::Error);   // empty sequence
  EXPECT_THROW(MaskedSoftmax(scores, {3, 9}, torch::kFloat), c10::Error);   // longer than L
  EXPECT_THROW(MaskedSoftmax(scores, {3, 8}, torch::kDouble), c10::Error);  // output dtype
  EXPECT_THROW(MaskedSoftmaxBackward(torch::zeros({2, 1, 8, 16}), scores, {3, 8}, torch::kFloat),
               c10::Error);  // gradient shaped otherwise
}

}  // namespace
}  // namespace murmur::model
