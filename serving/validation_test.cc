#include "serving/validation.h"

#include "gtest/gtest.h"

namespace murmur::serving {
namespace {

TEST(ValidationTest, EachBadInputIsInvalidArgumentWithAMessage) {
  RequestLimits limits;
  limits.max_texts = 2;
  limits.max_text_bytes = 5;
  EXPECT_TRUE(ValidateTexts({"ok", "fine"}, limits).ok());
  absl::Status empty = ValidateTexts({}, limits);
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(empty.message().find("empty"), absl::string_view::npos);
  absl::Status many = ValidateTexts({"a", "b", "c"}, limits);
  EXPECT_EQ(many.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(many.message().find("too many"), absl::string_view::npos);
  absl::Status long_text = ValidateTexts({"a", "toolong"}, limits);
  EXPECT_EQ(long_text.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(long_text.message().find("text 1 is too long"), absl::string_view::npos);
  absl::Status utf8 = ValidateTexts({"\xC3"}, limits);
  EXPECT_EQ(utf8.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(utf8.message().find("UTF-8"), absl::string_view::npos);
}

}  // namespace
}  // namespace murmur::serving
