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
