#include "text/vocab.h"

#include <gtest/gtest.h>

namespace murmur::text {
namespace {

TEST(VocabTest, ParsesIdsSpecialsAndFingerprint) {
  auto vocab = Vocab::FromString("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##lo\n");
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_EQ(vocab->size(), 7);
  EXPECT_EQ(vocab->pad_id(), 0);
  EXPECT_EQ(vocab->unk_id(), 1);
  EXPECT_EQ(vocab->cls_id(), 2);
  EXPECT_EQ(vocab->sep_id(), 3);
  EXPECT_EQ(vocab->mask_id(), 4);
  EXPECT_EQ(vocab->Find("##lo"), 6);
  EXPECT_EQ(vocab->Find("nope"), std::nullopt);
  EXPECT_EQ(vocab->token(5), "hello");
  EXPECT_EQ(vocab->fingerprint().size(), 64u);

  auto crlf = Vocab::FromString("[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\nhello\r\n##lo\r\n");
  ASSERT_TRUE(crlf.ok());
  EXPECT_EQ(crlf->fingerprint(), vocab->fingerprint());
  auto other = Vocab::FromString("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##la\n");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->fingerprint(), vocab->fingerprint());
}

TEST(VocabTest, MaskIsOptionalOthersAreNot) {
  auto vocab = Vocab::FromString("[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
  ASSERT_TRUE(vocab.ok());
  EXPECT_EQ(vocab->mask_id(), -1);
  auto bad = Vocab::FromString("[PAD]\n[UNK]\n[CLS]\nx\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("[SEP]"), std::string::npos);
  auto empty_line = Vocab::FromString("[PAD]\n\n[UNK]\n[CLS]\n[SEP]\n");
  ASSERT_FALSE(empty_line.ok());
  EXPECT_NE(empty_line.status().message().find("line 2"), std::string::npos);
}

TEST(VocabTest, ToStringRoundTrips) {
  auto vocab = Vocab::FromString("[PAD]\n[UNK]\n[CLS]\n[SEP]\nä\n");
  ASSERT_TRUE(vocab.ok());
  auto again = Vocab::FromString(vocab->ToString());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->tokens(), vocab->tokens());
}

}  // namespace
}  // namespace murmur::text
