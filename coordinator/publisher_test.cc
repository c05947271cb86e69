#include "coordinator/publisher.h"

#include <gtest/gtest.h>

namespace murmur::coordinator {
namespace {

TEST(PublisherTest, WasPublishedToMatchesTheWholeTarget) {
  v1::CheckpointInfo checkpoint;
  EXPECT_FALSE(WasPublishedTo(checkpoint, "127.0.0.1:5000"));
  checkpoint.add_published("127.0.0.1:5000 -> 3");
  EXPECT_TRUE(WasPublishedTo(checkpoint, "127.0.0.1:5000"));
  // A target that is a prefix of another is a different replica.
  EXPECT_FALSE(WasPublishedTo(checkpoint, "127.0.0.1:500"));
  EXPECT_FALSE(WasPublishedTo(checkpoint, "10.0.0.1:5000"));
  checkpoint.add_published("serving-1:8500 -> 7");
  EXPECT_TRUE(WasPublishedTo(checkpoint, "serving-1:8500"));
}

}  // namespace
}  // namespace murmur::coordinator
