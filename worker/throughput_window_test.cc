#include "worker/throughput_window.h"

#include <gtest/gtest.h>

namespace murmur::worker {
namespace {

TEST(ThroughputWindowTest, ZeroBeforeTheFirstStep) {
  ThroughputWindow window(10);
  EXPECT_EQ(window.SamplesPerSecond(), 0.0);
  window.Add(64, 0);  // a zero-length step carries no rate
  EXPECT_EQ(window.SamplesPerSecond(), 0.0);
}

TEST(ThroughputWindowTest, OneSlowStepMovesTheRateByItsShareOfTheWindow) {
  ThroughputWindow window(10);
  for (int i = 0; i < 10; ++i) window.Add(100, 1.0);  // 100 samples/s
  EXPECT_DOUBLE_EQ(window.SamplesPerSecond(), 100.0);
  window.Add(100, 4.0);  // one step at 25 samples/s
  // The window keeps the steps covering the last 10 s: the slow one and the newest six fast.
  EXPECT_DOUBLE_EQ(window.SamplesPerSecond(), 700.0 / 10.0);
  EXPECT_DOUBLE_EQ(window.seconds(), 10.0);
}

TEST(ThroughputWindowTest, OldStepsLeaveTheWindow) {
  ThroughputWindow window(5);
  for (int i = 0; i < 20; ++i) window.Add(10, 1.0);  // 10 samples/s
  for (int i = 0; i < 5; ++i) window.Add(40, 1.0);   // then 40 samples/s
  EXPECT_DOUBLE_EQ(window.SamplesPerSecond(), 40.0);
}

TEST(ThroughputWindowTest, AStepLongerThanTheWindowIsTheRate) {
  ThroughputWindow window(5);
  window.Add(10, 1.0);
  window.Add(60, 6.0);
  EXPECT_DOUBLE_EQ(window.SamplesPerSecond(), 10.0);
  EXPECT_DOUBLE_EQ(window.seconds(), 6.0);
}

}  // namespace
}  // namespace murmur::worker
