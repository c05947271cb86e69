#include "model/layer_norm_kernel.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace murmur::model {
namespace {

TEST(LayerNormKernelTest, MatchesLibtorchsLayerNorm) {
  at::manual_seed(5);
  for (int64_t rows : {1, 7, 300}) {
    for (int64_t C : {8, 768}) {
      // An offset and a scale, as the residual stream has: the mean must be taken out first.
      const at::Tensor x = at::randn({rows, C}) * 3 + 40;
      const at::Tensor weight = at::randn({C}), bias = at::randn({C});
      const at::Tensor want = at::layer_norm(x, {C}, weight, bias, 1e-12);
      at::Tensor got = x.clone();
      const void* storage = got.data_ptr();
      LayerNormInPlace(got, weight, bias, 1e-12);
      EXPECT_EQ(got.data_ptr(), storage);
      EXPECT_TRUE(at::allclose(got, want, 1e-4, 1e-4))
          << "rows " << rows << " C " << C << ": " << (got - want).abs().max().item<float>();
    }
  }
}

TEST(LayerNormKernelTest, RejectsWhatItDoesNotTake) {
  const at::Tensor w = at::ones({12}), b = at::zeros({12});
  EXPECT_FALSE(LayerNormInPlaceSupports(at::zeros({2, 12}), w, b));  // C % 8 != 0
  EXPECT_FALSE(
      LayerNormInPlaceSupports(at::zeros({2, 16}, at::kBFloat16), at::ones({16}), at::zeros({16})));
  EXPECT_TRUE(LayerNormInPlaceSupports(at::zeros({2, 16}), at::ones({16}), at::zeros({16})));
  EXPECT_THROW(LayerNormInPlace(at::zeros({2, 12}), w, b, 1e-5), c10::Error);
}

}  // namespace
}  // namespace murmur::model
