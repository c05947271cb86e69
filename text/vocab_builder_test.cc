#include "text/vocab_builder.h"

#include <gtest/gtest.h>

#include <fstream>

#include "base/test_util.h"

namespace murmur::text {
namespace {

TEST(VocabBuilderTest, MergesFrequentPairsIntoWholeWords) {
  VocabBuilderOptions options;
  options.vocab_size = 40;
  auto builder = VocabBuilder::Create(options);
  ASSERT_TRUE(builder.ok());
  for (int i = 0; i < 50; ++i) (*builder)->AddText("Lower lowest LOW newer wider");
  auto vocab = (*builder)->Build();
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_LE(vocab->size(), 40);
  EXPECT_EQ(vocab->pad_id(), 0);
  EXPECT_EQ(vocab->unk_id(), 1);
  EXPECT_TRUE(vocab->Find("low").has_value());
  EXPECT_TRUE(vocab->Find("l").has_value());
  EXPECT_TRUE(vocab->Find("##w").has_value());
  // Every training word now tokenizes without [UNK], and frequent words in few pieces.
  auto tokenizer = Tokenizer::Create(*vocab);
  ASSERT_TRUE(tokenizer.ok());
  std::vector<int32_t> ids;
  (*tokenizer)->Tokenize("lower lowest low newer wider", &ids);
  for (int32_t id : ids) EXPECT_NE(id, vocab->unk_id());
  ids.clear();
  (*tokenizer)->Tokenize("low", &ids);
  EXPECT_EQ(ids.size(), 1u);
}

TEST(VocabBuilderTest, DeterministicAndRejectsTinySizes) {
  auto build = [] {
    VocabBuilderOptions options;
    options.vocab_size = 60;
    auto builder = VocabBuilder::Create(options);
    for (const char* text : {"the cat sat on the mat", "the dog ate the bone", "cats and dogs"}) {
      for (int i = 0; i < 5; ++i) (*builder)->AddText(text);
    }
    return (*builder)->Build();
  };
  auto a = build();
  auto b = build();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tokens(), b->tokens());

  VocabBuilderOptions small;
  small.vocab_size = 16;
  auto builder = VocabBuilder::Create(small);
  ASSERT_TRUE(builder.ok());
  (*builder)->AddText("abcdefghijklmnopqrstuvwxyz");
  EXPECT_EQ((*builder)->Build().status().code(), absl::StatusCode::kInvalidArgument);
  small.vocab_size = 3;
  EXPECT_FALSE(VocabBuilder::Create(small).ok());
}

// On real tweets an 8k vocabulary covers the corpus with few [UNK] and few pieces per word.
TEST(VocabBuilderTest, RealTweetsEightThousand) {
  std::ifstream in(testing::SharedDataPath("sentiment140_text_100k/negative.txt"));
  ASSERT_TRUE(in.good());
  VocabBuilderOptions options;
  options.vocab_size = 8000;
  auto builder = VocabBuilder::Create(options);
  ASSERT_TRUE(builder.ok());
  std::vector<std::string> texts;
  std::string line;
  while (std::getline(in, line) && texts.size() < 20000) texts.push_back(line);
  for (const std::string& text : texts) (*builder)->AddText(text);
  auto vocab = (*builder)->Build();
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_EQ(vocab->size(), 8000);
  auto tokenizer = Tokenizer::Create(*vocab);
  ASSERT_TRUE(tokenizer.ok());
  int64_t total = 0, unknown = 0, words = 0;
  std::vector<int32_t> ids;
  std::vector<std::string> split;
  for (const std::string& text : texts) {
    ids.clear();
    (*tokenizer)->Tokenize(text, &ids);
    split.clear();
    (*tokenizer)->SplitWords(text, &split);
    words += static_cast<int64_t>(split.size());
    total += static_cast<int64_t>(ids.size());
    for (int32_t id : ids) unknown += id == vocab->unk_id();
  }
  EXPECT_LT(static_cast<double>(unknown) / total, 0.002);
  EXPECT_LT(static_cast<double>(total) / words, 1.3);
}

}  // namespace
}  // namespace murmur::text
