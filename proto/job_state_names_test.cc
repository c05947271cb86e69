#include "proto/job_state_names.h"

#include <gtest/gtest.h>

#include <set>

namespace murmur {
namespace {

TEST(JobStateNamesTest, EveryStateHasItsOwnWord) {
  std::set<std::string> words;
  for (int s = v1::JobState_MIN; s <= v1::JobState_MAX; ++s) {
    words.insert(StateName(static_cast<v1::JobState>(s)));
  }
  EXPECT_EQ(words, (std::set<std::string>{"unspecified", "waiting", "running", "finished", "failed"}));
  words.clear();
  for (int s = v1::WorkerState_MIN; s <= v1::WorkerState_MAX; ++s) {
    words.insert(StateName(static_cast<v1::WorkerState>(s)));
  }
  EXPECT_EQ(words, (std::set<std::string>{"unspecified", "standby", "active", "draining", "dead",
                                          "left"}));
  EXPECT_EQ(StateName(static_cast<v1::WorkerState>(99)), "unspecified");
}

}  // namespace
}  // namespace murmur
