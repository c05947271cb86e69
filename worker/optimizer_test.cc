#include "worker/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>

namespace murmur::worker {
namespace {

TEST(OptimizerTest, DecayRuleFollowsHuggingFaceTrainer) {
  EXPECT_TRUE(DecaysWeight("distilbert.transformer.layer.0.ffn.lin1.weight"));
  EXPECT_TRUE(DecaysWeight("distilbert.embeddings.word_embeddings.weight"));
  EXPECT_FALSE(DecaysWeight("distilbert.transformer.layer.0.ffn.lin1.bias"));
  EXPECT_FALSE(DecaysWeight("distilbert.embeddings.LayerNorm.weight"));
  EXPECT_FALSE(DecaysWeight("distilbert.transformer.layer.3.sa_layer_norm.weight"));
  EXPECT_FALSE(DecaysWeight("distilbert.transformer.layer.3.output_layer_norm.weight"));
}

TEST(OptimizerTest, LinearWarmupThenDecay) {
  EXPECT_DOUBLE_EQ(LinearScheduleFactor(0, 10, 110), 0.0);
  EXPECT_DOUBLE_EQ(LinearScheduleFactor(5, 10, 110), 0.5);
  EXPECT_DOUBLE_EQ(LinearScheduleFactor(10, 10, 110), 1.0);
  EXPECT_DOUBLE_EQ(LinearScheduleFactor(60, 10, 110), 0.5);
  EXPECT_DOUBLE_EQ(LinearScheduleFactor(110, 10, 110), 0.0);
  EXPECT_DOUBLE_EQ(LinearScheduleFactor(3, 0, 4), 0.25);
}

// Two steps of AdamW computed by hand (PyTorch's AdamW formula).
TEST(OptimizerTest, AdamWMatchesTheFormula) {
  at::Tensor w = at::tensor({1.0, -2.0}, at::kDouble);
  at::Tensor b = at::tensor({0.5}, at::kDouble);
  AdamWOptions options;
  options.weight_decay = 0.1;
  AdamW adamw({{"w", w}, {"bias", b}}, options);
  double lr = 0.01;
  std::vector<double> grads = {0.3, -0.4};
  double m0 = 0, v0 = 0, m1 = 0, v1 = 0, p0 = 1.0, p1 = -2.0, pb = 0.5, mb = 0, vb = 0;
  for (int step = 1; step <= 2; ++step) {
    w.mutable_grad() = at::tensor(grads, at::kDouble);
    b.mutable_grad() = at::tensor({1.0}, at::kDouble);
    adamw.Step(lr);
    auto update = [&](double& p, double& m, double& v, double g, bool decay) {
      if (decay) p *= 1 - lr * options.weight_decay;
      m = 0.9 * m + 0.1 * g;
      v = 0.999 * v + 0.001 * g * g;
      double bc1 = 1 - std::pow(0.9, step), bc2 = 1 - std::pow(0.999, step);
      p -= lr / bc1 * m / (std::sqrt(v) / std::sqrt(bc2) + 1e-8);
    };
    update(p0, m0, v0, grads[0], true);
    update(p1, m1, v1, grads[1], true);
    update(pb, mb, vb, 1.0, false);
  }
  EXPECT_NEAR(w[0].item<double>(), p0, 1e-12);
  EXPECT_NEAR(w[1].item<double>(), p1, 1e-12);
  EXPECT_NEAR(b[0].item<double>(), pb, 1e-12);
  EXPECT_EQ(adamw.steps_taken(), 2);
}

// The single-pass fp32 update agrees with the tensor-op update (run in fp64) to float rounding.
TEST(OptimizerTest, FusedFloatPathMatchesTensorOps) {
  at::manual_seed(3);
  at::Tensor w32 = at::randn({1000});
  at::Tensor w64 = w32.to(at::kDouble);
  const at::Tensor initial = w64.clone();
  AdamWOptions options;
  options.weight_decay = 0.05;
  AdamW fused({{"layer.weight", w32}}, options);
  AdamW reference({{"layer.weight", w64}}, options);
  for (int step = 0; step < 5; ++step) {
    at::Tensor g = at::randn({1000});
    w32.mutable_grad() = g;
    w64.mutable_grad() = g.to(at::kDouble);
    const int64_t version = w32._version();
    // Every other step with a clipping coefficient: the fused loop applies it on the fly.
    const double grad_scale = step % 2 == 0 ? 1.0 : 0.3;
    fused.Step(1e-2, grad_scale);
    reference.Step(1e-2, grad_scale);
    // Like any in-place op, the step bumps the version counter (caches of derived tensors,
    // such as the model's fused q/k/v weights, key on it).
    EXPECT_GT(w32._version(), version);
  }
  EXPECT_LT((w32.to(at::kDouble) - w64).abs().max().item<double>(), 1e-5);
  EXPECT_GT((w64 - initial).abs().max().item<double>(), 1e-3);  // the update did something
}

TEST(OptimizerTest, StateRoundTripsAndRejectsMismatch) {
  at::Tensor w = at::ones({3});
  AdamW a({{"w", w}}, AdamWOptions());
  w.mutable_grad() = at::ones({3});
  a.Step(0.1);
  at::Tensor w2 = at::ones({3});
  AdamW b({{"w", w2}}, AdamWOptions());
  ASSERT_TRUE(b.LoadState(a.State()).ok());
  EXPECT_EQ(b.steps_taken(), 1);
  EXPECT_TRUE(at::equal(b.State()[0].second, a.State()[0].second));
  at::Tensor other = at::ones({4});
  AdamW c({{"w", other}}, AdamWOptions());
  EXPECT_EQ(c.LoadState(a.State()).code(), absl::StatusCode::kInvalidArgument);
}

// Step(lr, s) is clip-then-step: the same as a step on gradients scaled by s beforehand.
TEST(OptimizerTest, GradScaleEqualsScalingTheGradientsFirst) {
  at::manual_seed(4);
  for (auto dtype : {at::kFloat, at::kDouble}) {  // the fused loop and the tensor-op path
    at::Tensor scaled_inside = at::randn({300}, dtype);
    at::Tensor scaled_before = scaled_inside.clone();
    AdamW inside({{"w", scaled_inside}}, AdamWOptions());
    AdamW before({{"w", scaled_before}}, AdamWOptions());
    for (int step = 0; step < 3; ++step) {
      at::Tensor g = at::randn({300}, dtype);
      scaled_inside.mutable_grad() = g;
      scaled_before.mutable_grad() = g * 0.25;
      inside.Step(1e-2, 0.25);
      before.Step(1e-2);
    }
    EXPECT_LT((scaled_inside - scaled_before).abs().max().item<double>(), 1e-6) << dtype;
  }
}

TEST(OptimizerTest, GradNormCoversEveryGradient) {
  at::manual_seed(5);
  at::Tensor big = at::zeros({300000});  // several parallel chunks
  big.mutable_grad() = at::randn({300000});
  at::Tensor wide = at::zeros({7, 3}, at::kDouble);  // not fp32: the tensor-op path
  wide.mutable_grad() = at::randn({7, 3}, at::kDouble);
  at::Tensor unused = at::zeros({4});  // no gradient: skipped
  const double expected = std::sqrt(big.grad().to(at::kDouble).pow(2).sum().item<double>() +
                                    wide.grad().pow(2).sum().item<double>());
  EXPECT_NEAR(GradNorm({{"big", big}, {"wide", wide}, {"unused", unused}}), expected,
              1e-6 * expected);  // fp32 partial sums
}

// Row-lazy updates give the dense update's values: a table whose steps each have gradients in
// a few random rows, the learning rate changing every step, clipping on some, rows brought up
// to date at random points (as forward passes do), and a dense neighbour parameter.
TEST(OptimizerTest, LazyRowsEqualTheDenseUpdate) {
  at::manual_seed(6);
  const int64_t rows = 50, width = 24;
  at::Tensor dense_table = at::randn({rows, width}), dense_bias = at::randn({width});
  at::Tensor lazy_table = dense_table.clone(), lazy_bias = dense_bias.clone();
  AdamWOptions options;
  options.weight_decay = 0.1;
  AdamW dense({{"table", dense_table}, {"bias", dense_bias}}, options);
  AdamW lazy({{"table", lazy_table}, {"bias", lazy_bias}}, options);
  lazy.SetLazyRows("table");
  const at::Tensor initial = dense_table.clone();
  for (int step = 0; step < 30; ++step) {
    at::Tensor touched = std::get<0>(at::_unique(at::randint(rows, {6}, at::kLong), true));
    at::Tensor grad = at::zeros({rows, width});
    grad.index_copy_(0, touched, at::randn({touched.numel(), width}));
    at::Tensor bias_grad = at::randn({width});
    dense_table.mutable_grad() = grad;
    lazy_table.mutable_grad() = grad.clone();
    dense_bias.mutable_grad() = bias_grad;
    lazy_bias.mutable_grad() = bias_grad.clone();
    const double lr = 1e-2 * (1.0 + step % 7), scale = step % 3 == 0 ? 0.5 : 1.0;
    if (step % 4 == 1) lazy.CatchUp(at::randint(rows, {10}, at::kLong));
    dense.Step(lr, scale);
    lazy.Step(lr, scale, touched);
    // Rows caught up mid-run equal the dense ones at once.
    at::Tensor some = at::tensor({3, 17, 17, 40}, at::kLong);
    if (step % 5 == 2) {
      lazy.CatchUp(some);
      EXPECT_TRUE(at::equal(lazy_table.index_select(0, some), dense_table.index_select(0, some)))
          << "step " << step;
    }
  }
  // Untouched rows really were left behind until now.
  EXPECT_FALSE(at::equal(lazy_table, dense_table));
  lazy.CatchUpAll();
  EXPECT_TRUE(at::equal(lazy_table, dense_table));
  EXPECT_TRUE(at::equal(lazy_bias, dense_bias));
  const NamedTensors lazy_state = lazy.State(), dense_state = dense.State();
  for (size_t i = 0; i < lazy_state.size(); ++i) {
    EXPECT_TRUE(at::equal(lazy_state[i].second, dense_state[i].second)) << lazy_state[i].first;
  }
  EXPECT_GT((dense_table - initial).abs().max().item<double>(), 1e-3);
}

// After a load every row is current: nothing from before it is replayed.
TEST(OptimizerTest, LoadedStateIsCurrentInEveryRow) {
  at::Tensor table = at::ones({4, 8});
  AdamW lazy({{"table", table}}, AdamWOptions());
  lazy.SetLazyRows("table");
  table.mutable_grad() = at::ones({4, 8});
  lazy.Step(0.1, 1.0, at::tensor({0}, at::kLong));  // rows 1-3 behind
  at::Tensor saved = at::full({4, 8}, 2.0f);
  at::Tensor other = at::ones({4, 8});
  AdamW source({{"table", other}}, AdamWOptions());
  ASSERT_TRUE(lazy.LoadState(source.State()).ok());
  table.copy_(saved);  // as LoadCheckpoint loads the weights
  lazy.CatchUpAll();
  EXPECT_TRUE(at::equal(table, saved));
}

// For the row-sparse parameter only the listed rows are read.
TEST(OptimizerTest, GradNormReadsOnlyTheSparseRows) {
  at::Tensor table = at::zeros({5, 3});
  table.mutable_grad() = at::zeros({5, 3});
  table.mutable_grad()[1].fill_(2.0f);
  table.mutable_grad()[4].fill_(100.0f);  // not listed: must be ignored
  at::Tensor dense = at::zeros({2});
  dense.mutable_grad() = at::full({2}, 1.0f);
  const double norm =
      GradNorm({{"table", table}, {"dense", dense}}, "table", at::tensor({1, 3}, at::kLong));
  EXPECT_NEAR(norm, std::sqrt(3 * 4.0 + 2 * 1.0), 1e-9);
}

TEST(OptimizerTest, ClipCoefficientFollowsTorch) {
  EXPECT_DOUBLE_EQ(ClipCoefficient(0.5, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(ClipCoefficient(1.0, 1.0), 1.0);
  EXPECT_NEAR(ClipCoefficient(4.0, 1.0), 0.25, 1e-6);
  EXPECT_DOUBLE_EQ(ClipCoefficient(4.0, 0.0), 1.0);  // max_norm 0: clipping off
}

}  // namespace
}  // namespace murmur::worker
