#include "model/attention_kernel.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace murmur::model {
namespace {

// Each sequence's attention the plain way, per head, in fp32: softmax(q k^T) v.
at::Tensor Reference(const at::Tensor& qkv, const std::vector<int64_t>& lengths, int64_t heads) {
  const at::Tensor x = qkv.to(at::kFloat);
  const int64_t HD = x.size(1) / 3, D = HD / heads;
  at::Tensor context = at::zeros({x.size(0), HD});
  int64_t start = 0;
  for (int64_t length : lengths) {
    const at::Tensor rows = x.narrow(0, start, length);
    for (int64_t h = 0; h < heads; ++h) {
      const at::Tensor q = rows.narrow(1, h * D, D), k = rows.narrow(1, HD + h * D, D),
                       v = rows.narrow(1, 2 * HD + h * D, D);
      context.narrow(0, start, length)
          .narrow(1, h * D, D)
          .copy_(at::softmax(at::mm(q, k.t()), 1).mm(v));
    }
    start += length;
  }
  return context;
}

TEST(AttentionKernelTest, MatchesPlainAttentionPerSequenceAndHeadInFp32AndBf16) {
  at::manual_seed(3);
  const int64_t heads = 3;
  for (int64_t D : {8, 64}) {
    // Lengths on and off the 8-lane boundaries, a single token, and junk rows after them.
    const std::vector<int64_t> lengths = {24, 1, 5, 17, 9, 8};
    int64_t rows = 4;
    for (int64_t length : lengths) rows += length;
    for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      const at::Tensor qkv = at::randn({rows, 3 * heads * D}).to(dtype);
      const at::Tensor context = AttentionOnPackedRows(qkv, lengths, heads);
      ASSERT_EQ(context.scalar_type(), dtype);
      ASSERT_EQ(context.sizes(), at::IntArrayRef({rows, heads * D}));
      const at::Tensor want = Reference(qkv, lengths, heads);
      const double tolerance = dtype == at::kFloat ? 1e-5 : 2e-2;
      EXPECT_TRUE(at::allclose(context.to(at::kFloat), want, tolerance, tolerance))
          << "D " << D << " dtype " << dtype;
      EXPECT_EQ(context.narrow(0, rows - 4, 4).abs().sum().item<float>(), 0.0f) << "junk rows";
    }
  }
}

TEST(AttentionKernelTest, SequencesDoNotSeeEachOther) {
  // Changing the second sequence's tokens leaves the first one's context as it was.
  const int64_t heads = 2, D = 16;
  at::Tensor qkv = at::randn({12, 3 * heads * D});
  at::Tensor other = qkv.clone();
  other.narrow(0, 6, 6).normal_(0, 100);
  const at::Tensor a = AttentionOnPackedRows(qkv, {6, 6}, heads);
  const at::Tensor b = AttentionOnPackedRows(other, {6, 6}, heads);
  EXPECT_TRUE(at::allclose(a.narrow(0, 0, 6), b.narrow(0, 0, 6), 1e-6, 1e-6));
  EXPECT_FALSE(at::allclose(a.narrow(0, 6, 6), b.narrow(0, 6, 6), 1e-3, 1e-3));
}

TEST(AttentionKernelTest, RejectsWhatItDoesNotTake) {
  EXPECT_FALSE(AttentionOnPackedRowsSupports(at::zeros({4, 3 * 2 * 12}), 2));  // D % 8 != 0
  EXPECT_FALSE(AttentionOnPackedRowsSupports(at::zeros({4, 48}, at::kDouble), 2));
  EXPECT_TRUE(AttentionOnPackedRowsSupports(at::zeros({4, 48}, at::kBFloat16), 2));
  EXPECT_THROW(AttentionOnPackedRows(at::zeros({4, 48}), {3, 2}, 2), c10::Error);  // > rows
}

}  // namespace
}  // namespace murmur::model
