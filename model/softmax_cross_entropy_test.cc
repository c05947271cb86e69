#include "model/softmax_cross_entropy.h"

#include <torch/torch.h>

#include "gtest/gtest.h"

namespace murmur::model {
namespace {

namespace F = torch::nn::functional;

// libtorch's summed cross-entropy and its gradient in fp64: what the kernel must reproduce.
std::pair<double, torch::Tensor> Reference(const torch::Tensor& logits,
                                           const torch::Tensor& targets) {
  torch::Tensor wide = logits.to(torch::kDouble).detach().requires_grad_(true);
  torch::Tensor loss =
      F::cross_entropy(wide, targets, F::CrossEntropyFuncOptions().reduction(torch::kSum));
  (loss * 0.5).backward();  // a scale other than 1 reaches the gradient
  return {loss.item<double>(), wide.grad()};
}

TEST(SoftmaxCrossEntropyTest, MatchesLibtorchInEveryStorageType) {
  torch::manual_seed(5);
  // Class counts with and without a partial 8-lane tail; scaled so some logits fall more than
  // exp's range below the row's maximum.
  for (int64_t classes : {2, 13, 64, 1003}) {
    torch::Tensor logits = torch::randn({9, classes}) * 20;
    torch::Tensor targets = torch::randint(0, classes, {9}, torch::kLong);
    targets[0] = classes - 1;  // the last class, in the tail when there is one
    for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
      torch::Tensor in = logits.to(dtype).detach().requires_grad_(true);
      ASSERT_TRUE(SoftmaxCrossEntropySupports(in));
      auto [expected_loss, expected_grad] = Reference(in, targets);
      torch::Tensor loss = SummedSoftmaxCrossEntropy(in, targets);
      ASSERT_EQ(loss.dim(), 0);
      ASSERT_EQ(loss.scalar_type(), torch::kFloat);
      EXPECT_NEAR(loss.item<double>(), expected_loss, 1e-5 * std::abs(expected_loss) + 1e-4)
          << classes << " classes, " << dtype;
      (loss * 0.5).backward();
      ASSERT_EQ(in.grad().scalar_type(), dtype);
      // fp32: the log-sum-exp of logits ~40 carries ~40 x 2^-24 of rounding into exp's argument;
      // bf16 gradients: 8 mantissa bits of values in [-0.5, 0.5].
      const double tolerance = dtype == torch::kFloat ? 1e-5 : 2e-3;
      EXPECT_LT((in.grad().to(torch::kDouble) - expected_grad).abs().max().item<double>(),
                tolerance)
          << classes << " classes, " << dtype;
    }
  }
}

TEST(SoftmaxCrossEntropyTest, ResultDoesNotDependOnThreads) {
  torch::manual_seed(6);
  torch::Tensor logits = torch::randn({67, 517}).to(torch::kBFloat16);
  torch::Tensor targets = torch::randint(0, 517, {67}, torch::kLong);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const double one = SummedSoftmaxCrossEntropy(logits, targets).item<double>();
  at::set_num_threads(2);
  const double two = SummedSoftmaxCrossEntropy(logits, targets).item<double>();
  at::set_num_threads(threads);
  EXPECT_EQ(one, two);
}

TEST(SoftmaxCrossEntropyTest, OtherInputsTakeLibtorchsPath) {
  torch::Tensor logits = torch::randn({4, 7}, torch::kDouble).requires_grad_(true);
  torch::Tensor targets = torch::tensor({0, 6, 3, 1}, torch::kLong);
  EXPECT_FALSE(SoftmaxCrossEntropySupports(logits));
  EXPECT_FALSE(SoftmaxCrossEntropySupports(torch::randn({7, 4}).t()));  // not contiguous
  torch::Tensor loss = SummedSoftmaxCrossEntropy(logits, targets);
  EXPECT_EQ(loss.scalar_type(), torch::kDouble);
  EXPECT_NEAR(loss.item<double>(), Reference(logits, targets).first, 1e-12);
}

TEST(SoftmaxCrossEntropyTest, TargetOutsideTheClassesIsAnError) {
  torch::Tensor logits = torch::randn({2, 5});
  EXPECT_THROW(SummedSoftmaxCrossEntropy(logits, torch::tensor({0, 5}, torch::kLong)), c10::Error);
  EXPECT_THROW(SummedSoftmaxCrossEntropy(logits, torch::tensor({-1, 0}, torch::kLong)), c10::Error);
}

}  // namespace
}  // namespace murmur::model
