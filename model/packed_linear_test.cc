#include "model/packed_linear.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace murmur::model {
namespace {

// libtorch's own computation of the same thing, in fp32 from the inputs rounded to `dtype`.
torch::Tensor Reference(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                        PackedLinear::Activation activation,
                        torch::ScalarType dtype = torch::kBFloat16) {
  torch::Tensor y = torch::linear(x.to(dtype).to(torch::kFloat), w.to(dtype).to(torch::kFloat), b);
  if (activation == PackedLinear::Activation::kGelu) y = torch::gelu(y);
  if (activation == PackedLinear::Activation::kRelu) y = torch::relu(y);
  return y;
}

double RelativeError(const torch::Tensor& got, const torch::Tensor& want) {
  return (got.to(torch::kFloat) - want).abs().max().item<double>() /
         want.abs().max().item<double>();
}

class PackedLinearTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PackedLinearAvailable()) GTEST_SKIP() << "built without oneDNN";
    torch::manual_seed(7);
  }
};

// In each compute dtype (the weight's: bf16, or fp32, which must match libtorch to fp32
// rounding), with each activation and several row counts.
TEST_F(PackedLinearTest, MatchesLinearWithEachActivationAndRowCount) {
  torch::NoGradGuard no_grad;
  torch::Tensor w = torch::randn({96, 64}) / 8, b = torch::randn({96});
  for (torch::ScalarType dtype : {torch::kBFloat16, torch::kFloat}) {
    const double tolerance = dtype == torch::kFloat ? 1e-5 : 1e-2;
    for (auto activation : {PackedLinear::Activation::kNone, PackedLinear::Activation::kGelu,
                            PackedLinear::Activation::kRelu}) {
      auto layer = PackedLinear::Create(w.to(dtype), b, activation);
      ASSERT_NE(layer, nullptr);
      // Several row counts: one primitive each, the weight packed once; in fp32 up to 96 rows
      // run few_rows_gemm (where the CPU has AVX-512), 200 runs oneDNN.
      for (int64_t rows : {16, 48, 16, 5, 200}) {
        torch::Tensor x = torch::randn({rows, 64});
        torch::Tensor y = layer->Forward(x);
        EXPECT_EQ(y.scalar_type(), dtype);
        ASSERT_EQ(y.sizes(), (std::vector<int64_t>{rows, 96}));
        EXPECT_LT(RelativeError(y, Reference(x, w, b, activation, dtype)), tolerance)
            << dtype << " activation " << static_cast<int>(activation) << " rows " << rows;
      }
    }
  }
}

TEST_F(PackedLinearTest, ForwardAddAccumulatesIntoTheFp32Residual) {
  torch::NoGradGuard no_grad;
  torch::Tensor w = torch::randn({32, 48}) / 7, b = torch::randn({32});
  for (torch::ScalarType dtype : {torch::kBFloat16, torch::kFloat}) {
    auto layer = PackedLinear::Create(w.to(dtype), b, PackedLinear::Activation::kNone);
    torch::Tensor x = torch::randn({20, 48}), residual = torch::randn({20, 32});
    const torch::Tensor product = Reference(x, w, b, PackedLinear::Activation::kNone, dtype);
    torch::Tensor want = residual + product;
    const void* storage = residual.data_ptr();
    torch::Tensor got = layer->ForwardAdd(x, residual);
    EXPECT_EQ(got.data_ptr(), storage) << "in place";
    EXPECT_EQ(got.scalar_type(), torch::kFloat);
    EXPECT_LT(RelativeError(got, want), dtype == torch::kFloat ? 1e-5 : 1e-2) << dtype;
    // Not the plain product: the residual really was added.
    EXPECT_GT((got - product).abs().max().item<double>(), 0.5) << dtype;
  }
}

TEST_F(PackedLinearTest, ConcurrentCallersGetTheirOwnResults) {
  torch::NoGradGuard no_grad;
  torch::Tensor w = torch::randn({64, 64}) / 8, b = torch::randn({64});
  auto layer = PackedLinear::Create(w.to(torch::kBFloat16), b, PackedLinear::Activation::kGelu);
  std::vector<torch::Tensor> inputs, outputs(4);
  for (int i = 0; i < 4; ++i) inputs.push_back(torch::randn({16 * (i + 1), 64}));
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      torch::NoGradGuard guard;
      for (int repeat = 0; repeat < 20; ++repeat) outputs[i] = layer->Forward(inputs[i]);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) {
    EXPECT_LT(
        RelativeError(outputs[i], Reference(inputs[i], w, b, PackedLinear::Activation::kGelu)),
        1e-2);
  }
}

TEST_F(PackedLinearTest, CacheRebuildsWhenTheWeightChanges) {
  torch::NoGradGuard no_grad;
  torch::Tensor w = torch::randn({16, 16}), b = torch::zeros({16});
  PackedLinearCache cache;
  int built = 0;
  auto make = [&] {
    ++built;
    return PackedLinear::Create(w.to(torch::kBFloat16), b, PackedLinear::Activation::kNone);
  };
  std::shared_ptr<const PackedLinear> first = cache.Get({&w, &b}, make);
  EXPECT_EQ(cache.Get({&w, &b}, make), first);
  EXPECT_EQ(built, 1);
  w.mul_(2);  // an optimizer step: the version counter moves
  torch::Tensor x = torch::randn({16, 16});
  std::shared_ptr<const PackedLinear> second = cache.Get({&w, &b}, make);
  EXPECT_EQ(built, 2);
  EXPECT_LT(RelativeError(second->Forward(x), Reference(x, w, b, PackedLinear::Activation::kNone)),
            1e-2);
}

}  // namespace
}  // namespace murmur::model
