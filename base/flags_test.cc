#include "base/flags.h"

#include <gtest/gtest.h>

namespace murmur {
namespace {

TEST(FlagParserTest, ParsesAllKindsAndPositionals) {
  FlagParser flags("prog");
  std::string name = "default";
  int count = 1;
  int64_t big = 0;
  double rate = 0.5;
  bool verbose = false, color = true;
  std::vector<std::string> targets;
  flags.String("name", &name, "a name");
  flags.Int("count", &count, "a count");
  flags.Int("big", &big, "a big number");
  flags.Double("rate", &rate, "a rate");
  flags.Bool("verbose", &verbose, "talk");
  flags.Bool("color", &color, "colour");
  flags.Repeated("target", &targets, "targets");
  ASSERT_TRUE(flags
                  .Parse({"--name=x", "pos1", "--count", "7", "--big=9000000000", "--rate", "1e-3",
                          "--verbose", "--no-color", "--target", "a", "--target=b", "--",
                          "--not-a-flag"})
                  .ok());
  EXPECT_EQ(name, "x");
  EXPECT_EQ(count, 7);
  EXPECT_EQ(big, 9000000000LL);
  EXPECT_DOUBLE_EQ(rate, 1e-3);
  EXPECT_TRUE(verbose);
  EXPECT_FALSE(color);
  EXPECT_EQ(targets, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(flags.positional(), (std::vector<std::string>{"pos1", "--not-a-flag"}));
}

TEST(FlagParserTest, RejectsUnknownMissingAndMalformed) {
  {
    FlagParser flags("prog");
    int n = 0;
    flags.Int("n", &n, "n");
    absl::Status status = flags.Parse({"--m", "3"});
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find("--m"), std::string::npos);
  }
  {
    FlagParser flags("prog");
    int n = 0;
    flags.Int("n", &n, "n");
    EXPECT_FALSE(flags.Parse({"--n", "three"}).ok());
    EXPECT_FALSE(flags.Parse({"--n"}).ok());
  }
  {
    FlagParser flags("prog");
    std::string vocab;
    flags.String("vocab", &vocab, "v", /*required=*/true);
    absl::Status status = flags.Parse({});
    EXPECT_NE(status.message().find("--vocab"), std::string::npos);
  }
}

}  // namespace
}  // namespace murmur
