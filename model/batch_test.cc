#include "model/batch.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace murmur::model {
namespace {

TEST(BatchTest, BatchShapesAreRounded) {
  static_assert(Batch::kRowMultiple == 8 && Batch::kLengthMultiple == 8);
  Batch ragged = *Batch::FromSequences({{2, 5, 3}, {2, 6, 7, 8, 3}, {2, 3}}, 16);
  EXPECT_EQ(ragged.num_tokens, 10);
  EXPECT_EQ(ragged.num_rows, 16);
  EXPECT_EQ(ragged.max_len, 8);
  EXPECT_FALSE(ragged.dense());
  EXPECT_EQ(ragged.cls_index[1].item<int64_t>(), 3);
  Batch even = *Batch::FromSequences({std::vector<int32_t>(8, 4), std::vector<int32_t>(8, 5)}, 16);
  EXPECT_TRUE(even.dense());
  EXPECT_EQ(even.num_rows, 16);
}

// Few rows round to 8; larger batches to a sixteenth of the power of two below them, so a
// training step's row count is one of few shapes.
TEST(BatchTest, RowsRoundToFewShapes) {
  EXPECT_EQ(Batch::RoundRows(1), 8);
  EXPECT_EQ(Batch::RoundRows(22), 24);
  EXPECT_EQ(Batch::RoundRows(255), 256);
  EXPECT_EQ(Batch::RoundRows(257), 272);
  EXPECT_EQ(Batch::RoundRows(740), 768);
  EXPECT_EQ(Batch::RoundRows(1025), 1088);
  int64_t shapes = 0, previous = 0;
  for (int64_t tokens = 512; tokens <= 1024; ++tokens) {
    const int64_t rows = Batch::RoundRows(tokens);
    EXPECT_GE(rows, tokens);
    EXPECT_LT(static_cast<double>(rows - tokens) / tokens, 1.0 / 16);
    if (rows != previous) ++shapes;
    previous = rows;
  }
  EXPECT_LE(shapes, 17);
  std::vector<std::vector<int32_t>> tweets(32, std::vector<int32_t>(23, 7));  // 736 tokens
  Batch batch = *Batch::FromSequences(tweets, 64);
  EXPECT_EQ(batch.num_rows, 736);
  tweets[0].push_back(7);
  EXPECT_EQ(Batch::FromSequences(tweets, 64)->num_rows, 768);
}

TEST(BatchTest, BatchRejectsBadInput) {
  EXPECT_FALSE(Batch::FromSequences({}, 16).ok());
  EXPECT_FALSE(Batch::FromSequences({{}}, 16).ok());
  EXPECT_FALSE(Batch::FromSequences({std::vector<int32_t>(17, 5)}, 16).ok());
  at::Tensor ids = at::ones({1, 3}, at::kLong);
  at::Tensor left_padded = at::tensor({0, 1, 1}).view({1, 3});
  EXPECT_FALSE(Batch::FromPadded(ids, left_padded, 16).ok());
}

}  // namespace
}  // namespace murmur::model
