#include "base/random.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace murmur {
namespace {

// Golden values (computed with an independent Python MurmurHash64A / SplitMix64): splits and
// permutations of existing jobs depend on these never changing.
TEST(StableHash64Test, MatchesReferenceValues) {
  EXPECT_EQ(StableHash64("", 0), 0u);
  EXPECT_EQ(StableHash64("hello", 0), 0x1e68d17c457bf117ULL);
  EXPECT_EQ(StableHash64("hello world, murmur", 42), 0xd4d4b39056169df0ULL);
  EXPECT_EQ(StableHash64(std::string("\x00\xff\x80" "abcdefgh", 11), 7), 0xc12531c1f5ada129ULL);
}

TEST(StableHash64Test, SeedAndEveryByteMatter) {
  EXPECT_NE(StableHash64("abc", 1), StableHash64("abc", 2));
  std::set<uint64_t> seen;
  std::string text = "0123456789abcdefXYZ";
  for (size_t i = 0; i < text.size(); ++i) {
    std::string changed = text;
    changed[i] ^= 1;
    seen.insert(StableHash64(changed, 0));
  }
  EXPECT_EQ(seen.size(), text.size());
}

TEST(RngTest, SplitMix64ReferenceSequence) {
  Rng rng(1);
  EXPECT_EQ(rng.Next(), 0x910a2dec89025cc1ULL);
  EXPECT_EQ(rng.Next(), 0xbeeb8da1658eec67ULL);
  EXPECT_EQ(rng.Next(), 0xf893a2eefb32555eULL);
}

TEST(RngTest, UniformStaysInRangeAndCoversIt) {
  Rng rng(7);
  std::vector<int> counts(10);
  for (int i = 0; i < 100000; ++i) {
    uint64_t v = rng.Uniform(10);
    ASSERT_LT(v, 10u);
    ++counts[v];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
  EXPECT_EQ(rng.Uniform(1), 0u);
}

TEST(MixSeedTest, OrderMatters) {
  EXPECT_NE(MixSeed(1, 2), MixSeed(2, 1));
  EXPECT_NE(MixSeed(0, 0), MixSeed(0, 1));
  EXPECT_EQ(MixSeed(5, 9), MixSeed(5, 9));
}

TEST(UnitIntervalTest, Bounds) {
  EXPECT_EQ(UnitInterval(0), 0.0);
  EXPECT_LT(UnitInterval(~uint64_t{0}), 1.0);
  EXPECT_DOUBLE_EQ(UnitInterval(uint64_t{1} << 63), 0.5);
}

}  // namespace
}  // namespace murmur
