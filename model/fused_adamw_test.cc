#include "model/fused_adamw.h"

#include <torch/torch.h>

#include "gtest/gtest.h"

namespace murmur::model {
namespace {

TEST(FusedAdamWTest, MatchesTorchAdamW) {
  torch::manual_seed(3);
  std::vector<torch::Tensor> ours, theirs;
  for (int64_t n : {1000, 37, 70000}) {
    torch::Tensor p = torch::randn({n});
    ours.push_back(p.clone().requires_grad_(true));
    theirs.push_back(p.clone().requires_grad_(true));
  }
  FusedAdamW fused(ours, {.lr = 1e-2, .weight_decay = 0.05});
  torch::optim::AdamW reference(
      theirs, torch::optim::AdamWOptions(1e-2).betas({0.9, 0.999}).eps(1e-8).weight_decay(0.05));
  for (int step = 0; step < 5; ++step) {
    fused.ZeroGrad();
    reference.zero_grad();
    for (size_t i = 0; i < ours.size(); ++i) {
      torch::Tensor g = torch::randn(ours[i].sizes());
      if (step == 2 && i == 1) continue;  // a parameter without gradient is skipped
      ours[i].mutable_grad() = g.clone();
      theirs[i].mutable_grad() = g.clone();
    }
    if (step == 2) theirs[1].mutable_grad() = torch::Tensor();
    ASSERT_TRUE(fused.Step().ok());
    reference.step();
  }
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_TRUE(torch::allclose(ours[i], theirs[i], 1e-5, 1e-6)) << i;
  }
  EXPECT_EQ(fused.step(), 5);
  NamedTensors state = fused.StateTensors();
  EXPECT_EQ(state.size(), 7u);
  FusedAdamW restored(ours, {.lr = 1e-2, .weight_decay = 0.05});
  ASSERT_TRUE(restored.LoadStateTensors(state, fused.step()).ok());
  EXPECT_TRUE(torch::equal(restored.StateTensors()[0].second, state[0].second));
  EXPECT_TRUE(torch::equal(restored.StateTensors()[3].second, state[3].second));
}

TEST(FusedAdamWTest, ZeroGradDropsGradients) {
  torch::Tensor p = torch::ones({4}, torch::requires_grad());
  FusedAdamW fused({p}, {});
  (p * 2).sum().backward();
  ASSERT_TRUE(p.grad().defined());
  fused.ZeroGrad();
  EXPECT_FALSE(p.grad().defined());
}

TEST(FusedAdamWTest, RejectsNonFloatParameters) {
  torch::Tensor p = torch::ones({4}, torch::kDouble).requires_grad_(true);
  FusedAdamW fused({p}, {});
  p.mutable_grad() = torch::ones({4}, torch::kDouble);
  EXPECT_FALSE(fused.Step().ok());
}

}  // namespace
}  // namespace murmur::model
