#include "data/synthetic_corpus.h"

#include <gtest/gtest.h>

#include "base/test_util.h"
#include "data/sentiment140.h"

namespace murmur::data {
namespace {

TEST(SyntheticCorpusTest, DeterministicBalancedAndReadable) {
  SyntheticTexts a = SynthesizeTexts(500, 7);
  SyntheticTexts b = SynthesizeTexts(500, 7);
  EXPECT_EQ(a.negative, b.negative);
  EXPECT_EQ(a.positive, b.positive);
  EXPECT_NE(SynthesizeTexts(500, 8).positive, a.positive);
  ASSERT_EQ(a.negative.size(), 500u);
  ASSERT_EQ(a.positive.size(), 500u);
  // The labels are learnable: sentiment phrases never cross over.
  for (const std::string& text : a.positive) EXPECT_EQ(text.find("terrible"), std::string::npos);
  for (const std::string& text : a.negative) EXPECT_EQ(text.find("amazing"), std::string::npos);

  std::string dir = testing::TempDir() + "/synthetic";
  ASSERT_TRUE(WriteSyntheticCorpus(dir, 300, 1).ok());
  auto corpus = ReadCorpus(dir);
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  EXPECT_EQ(corpus->examples().size(), 600u);
  EXPECT_FALSE(WriteSyntheticCorpus(dir, 0, 1).ok());
}

}  // namespace
}  // namespace murmur::data
