#include "model/precision.h"

#include <gtest/gtest.h>

namespace murmur::model {
namespace {

TEST(PrecisionTest, ReadsTheBf16FlagsOfCpuinfo) {
  const CpuFeatures sapphire_rapids = CpuFeatures::FromCpuinfo(
      "processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\n"
      "flags\t\t: fpu vme avx2 avx512f avx512_bf16 amx_bf16 amx_tile\nbogomips\t: 4000\n");
  EXPECT_TRUE(sapphire_rapids.amx_bf16);
  EXPECT_TRUE(sapphire_rapids.avx512_bf16);
  const CpuFeatures zen3 = CpuFeatures::FromCpuinfo("flags\t\t: fpu avx2 fma\n");
  EXPECT_FALSE(zen3.native_bf16());
  EXPECT_FALSE(CpuFeatures::FromCpuinfo("").native_bf16());
  // A flag that only contains the name is not the flag.
  EXPECT_FALSE(CpuFeatures::FromCpuinfo("flags\t: xamx_bf16y\n").amx_bf16);
}

TEST(PrecisionTest, AutoIsBf16OnlyWhereTheCpuRunsItNatively) {
  CpuFeatures amx;
  amx.amx_bf16 = true;
  CpuFeatures avx512;
  avx512.avx512_bf16 = true;
  const CpuFeatures plain;
  EXPECT_EQ(ChoosePrecision("auto", amx)->precision, Precision::kBf16);
  EXPECT_EQ(ChoosePrecision("auto", avx512)->precision, Precision::kBf16);
  EXPECT_EQ(ChoosePrecision("auto", plain)->precision, Precision::kFp32);
  EXPECT_NE(ChoosePrecision("auto", plain)->reason.find("no native bf16"), std::string::npos);
  EXPECT_EQ(ChoosePrecision("fp32", amx)->precision, Precision::kFp32);
  EXPECT_EQ(ChoosePrecision("bf16", plain)->precision, Precision::kBf16);
  EXPECT_NE(ChoosePrecision("bf16", plain)->reason.find("slower"), std::string::npos);
  EXPECT_EQ(ChoosePrecision("fast", amx).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PrecisionName(Precision::kBf16), "bf16");
}

}  // namespace
}  // namespace murmur::model
