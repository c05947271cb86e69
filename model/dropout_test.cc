#include "model/dropout.h"

#include <torch/torch.h>

#include "gtest/gtest.h"

namespace murmur::model {
namespace {

TEST(DropoutTest, KeepsTheRightFractionAndScales) {
  torch::manual_seed(1);
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    torch::Tensor x = torch::ones({1000, 1000}, dtype);
    torch::Tensor y = FastDropout(x, 0.1, /*training=*/true).to(torch::kFloat);
    double kept = (y != 0).to(torch::kDouble).mean().item<double>();
    EXPECT_NEAR(kept, 0.9, 0.002);
    EXPECT_NEAR(y.max().item<float>(), 1.0 / 0.9, 1e-2);
    EXPECT_NEAR(y.mean().item<double>(), 1.0, 0.005);
  }
}

TEST(DropoutTest, IdentityWhenNotTraining) {
  torch::Tensor x = torch::randn({10});
  EXPECT_TRUE(FastDropout(x, 0.5, false).is_same(x));
  EXPECT_TRUE(FastDropout(x, 0.0, true).is_same(x));
}

TEST(DropoutTest, BackwardUsesTheSameMaskAndSeedsFollowManualSeed) {
  torch::Tensor x = torch::randn({4096}, torch::requires_grad());
  torch::manual_seed(5);
  torch::Tensor y = FastDropout(x, 0.3, true);
  y.sum().backward();
  EXPECT_TRUE(torch::equal((x.grad() != 0), (y != 0)));
  torch::manual_seed(5);
  torch::Tensor again = FastDropout(x.detach(), 0.3, true);
  EXPECT_TRUE(torch::equal(again, y.detach()));
  EXPECT_FALSE(torch::equal(FastDropout(x.detach(), 0.3, true), y.detach()));
}

}  // namespace
}  // namespace murmur::model
