#include "model/few_rows_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace murmur::model::few_rows_gemm {
namespace {

// The plain triple loop, in double.
std::vector<float> Reference(const std::vector<float>& x, const std::vector<float>& w,
                             const std::vector<float>& bias, const std::vector<float>& y_before,
                             int64_t rows, int64_t in, int64_t out, Epilogue epilogue) {
  std::vector<float> y(rows * out);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < out; ++c) {
      double sum = bias[c];
      for (int64_t k = 0; k < in; ++k) sum += double{x[r * in + k]} * w[c * in + k];
      switch (epilogue) {
        case Epilogue::kStore:
          break;
        case Epilogue::kGelu:
          sum = 0.5 * sum * (1 + std::erf(sum / std::sqrt(2.0)));
          break;
        case Epilogue::kRelu:
          sum = sum > 0 ? sum : 0;
          break;
        case Epilogue::kAccumulate:
          sum += y_before[r * out + c];
          break;
      }
      y[r * out + c] = static_cast<float>(sum);
    }
  }
  return y;
}

class FewRowsGemmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Available()) GTEST_SKIP() << "this CPU has no AVX-512F";
  }
};

// Row counts below, at and across the 8-row tile; widths that fill panels and ones that leave a
// narrow last panel (2 columns: the classifier); every epilogue; the panels computed in one call
// and split in two ranges (as two threads do).
TEST_F(FewRowsGemmTest, MatchesThePlainProductForEveryShapeAndEpilogue) {
  std::mt19937 random(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t out : {2, 16, 40, 48, 100, 144}) {
    for (int64_t in : {1, 5, 64}) {
      std::vector<float> w(out * in), bias(out);
      for (float& v : w) v = normal(random) / std::sqrt(static_cast<float>(in));
      for (float& v : bias) v = normal(random);
      std::vector<float> packed(PackedFloats(out, in));
      PackWeight(w.data(), out, in, packed.data());
      for (int64_t rows : {1, 3, 8, 9, 24, 37}) {
        std::vector<float> x(rows * in), y_before(rows * out);
        for (float& v : x) v = normal(random);
        for (float& v : y_before) v = normal(random);
        for (Epilogue epilogue :
             {Epilogue::kStore, Epilogue::kGelu, Epilogue::kRelu, Epilogue::kAccumulate}) {
          const std::vector<float> want = Reference(x, w, bias, y_before, rows, in, out, epilogue);
          for (bool split : {false, true}) {
            std::vector<float> y = y_before;
            const int64_t panels = Panels(out), middle = split ? panels / 2 : panels;
            Multiply(x.data(), rows, in, packed.data(), bias.data(), out, epilogue, y.data(), 0,
                     middle);
            Multiply(x.data(), rows, in, packed.data(), bias.data(), out, epilogue, y.data(),
                     middle, panels);
            for (int64_t i = 0; i < rows * out; ++i) {
              ASSERT_NEAR(y[i], want[i], 1e-5 * (1 + std::fabs(want[i])))
                  << "out " << out << " in " << in << " rows " << rows << " epilogue "
                  << static_cast<int>(epilogue) << " split " << split << " at " << i;
            }
          }
        }
      }
    }
  }
}

// The packed layout itself: panel p holds columns [48 p, 48 p + 48) as [in][width], the last one
// padded with zeros to whole 16-column vectors.
TEST_F(FewRowsGemmTest, PacksColumnPanelsWithZeroPadding) {
  const int64_t out = 50, in = 3;
  std::vector<float> w(out * in);
  for (int64_t i = 0; i < out * in; ++i) w[i] = static_cast<float>(i + 1);
  ASSERT_EQ(Panels(out), 2);
  ASSERT_EQ(PackedFloats(out, in), (48 + 16) * in);
  std::vector<float> packed(PackedFloats(out, in), -1.0f);
  PackWeight(w.data(), out, in, packed.data());
  EXPECT_EQ(packed[0 * 48 + 0], w[0 * in + 0]);
  EXPECT_EQ(packed[2 * 48 + 47], w[47 * in + 2]);
  const float* last = packed.data() + 48 * in;
  EXPECT_EQ(last[1 * 16 + 1], w[49 * in + 1]);
  EXPECT_EQ(last[1 * 16 + 2], 0.0f);
  EXPECT_EQ(last[2 * 16 + 15], 0.0f);
}

}  // namespace
}  // namespace murmur::model::few_rows_gemm
