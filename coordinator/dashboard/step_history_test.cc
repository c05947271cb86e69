#include "coordinator/dashboard/step_history.h"

#include <gtest/gtest.h>

namespace murmur::coordinator {
namespace {

StepPoint Point(int64_t step) {
  return {.global_step = step,
          .loss = 1.0 / static_cast<double>(step),
          .learning_rate = 1e-4,
          .samples_per_second = 100,
          .wall_time = static_cast<double>(step)};
}

TEST(StepHistoryTest, KeepsEveryStepUntilFull) {
  StepHistory history(8);
  for (int64_t step = 1; step <= 8; ++step) history.RecordStep(Point(step));
  const auto points = history.Points();
  ASSERT_EQ(points.size(), 8u);
  for (int64_t i = 0; i < 8; ++i) {
    EXPECT_EQ(points[i].global_step, i + 1);
    EXPECT_DOUBLE_EQ(points[i].loss, 1.0 / static_cast<double>(i + 1));
  }
  EXPECT_EQ(history.stride(), 1);
}

TEST(StepHistoryTest, ALongJobIsThinnedEvenlyWithinTheCapacity) {
  StepHistory history(16);
  for (int64_t step = 1; step <= 1000; ++step) history.RecordStep(Point(step));
  const auto points = history.Points();
  ASSERT_LE(points.size(), 16u);
  ASSERT_GE(points.size(), 8u) << "thinning halves at most";
  EXPECT_EQ(points.front().global_step, 1) << "the start of the curve stays";
  // Evenly spaced by the current stride, up to the end of the job.
  const int64_t stride = history.stride();
  EXPECT_GE(stride, 1000 / 16);
  for (size_t i = 1; i < points.size(); ++i) {
    EXPECT_EQ(points[i].global_step - points[i - 1].global_step, stride) << "at " << i;
  }
  EXPECT_GT(points.back().global_step, 1000 - stride);
}

}  // namespace
}  // namespace murmur::coordinator
