#include "serving/version_policy.h"

#include "gtest/gtest.h"

namespace murmur::serving {
namespace {

using Kind = VersionAction::Kind;

TEST(AspiredVersionsTest, TheNewestKeepVersionsOnDisk) {
  VersionFacts facts;
  facts.on_disk = {1, 2, 3};
  EXPECT_EQ(AspiredVersions(facts, 1), (std::set<int64_t>{3}));
  EXPECT_EQ(AspiredVersions(facts, 2), (std::set<int64_t>{2, 3}));
  EXPECT_EQ(AspiredVersions(facts, 5), (std::set<int64_t>{1, 2, 3}));
  EXPECT_TRUE(AspiredVersions(VersionFacts(), 1).empty());
}

TEST(AspiredVersionsTest, AFailedVersionIsPassedOverSoTheOneBeforeKeepsServing) {
  VersionFacts facts;
  facts.on_disk = {1, 2, 3};
  facts.failed = {3};
  EXPECT_EQ(AspiredVersions(facts, 1), (std::set<int64_t>{2}));
  facts.pins = {{3, true}};
  EXPECT_EQ(AspiredVersions(facts, 1), (std::set<int64_t>{2}))
      << "a pin does not make a failed version serve (an explicit load forgets the failure)";
}

TEST(AspiredVersionsTest, PinsOverrideThePolicyAndDoNotCountTowardsIt) {
  VersionFacts facts;
  facts.on_disk = {1, 2, 3};
  facts.pins = {{1, true}};
  EXPECT_EQ(AspiredVersions(facts, 1), (std::set<int64_t>{1, 3}));
  facts.pins = {{3, false}};
  EXPECT_EQ(AspiredVersions(facts, 1), (std::set<int64_t>{2}))
      << "pinned unloaded: the next newest takes its place";
  facts.pins = {{3, false}, {2, true}};
  EXPECT_EQ(AspiredVersions(facts, 1), (std::set<int64_t>{1, 2}));
  facts.pins = {{9, true}};
  EXPECT_EQ(AspiredVersions(facts, 1), (std::set<int64_t>{3}))
      << "a pin of a version not on disk is ignored";
}

TEST(NextVersionActionTest, LoadsNewestFirstBeforeAnyUnload) {
  // Hot swap: 3 (and 2) load while 1 still serves; 1 leaves last.
  std::optional<VersionAction> action = NextVersionAction({2, 3}, {1});
  ASSERT_TRUE(action.has_value());
  EXPECT_EQ(*action, (VersionAction{Kind::kLoad, 3}));
  action = NextVersionAction({2, 3}, {1, 3});
  ASSERT_TRUE(action.has_value());
  EXPECT_EQ(*action, (VersionAction{Kind::kLoad, 2}));
  action = NextVersionAction({2, 3}, {1, 2, 3});
  ASSERT_TRUE(action.has_value());
  EXPECT_EQ(*action, (VersionAction{Kind::kUnload, 1}));
  EXPECT_FALSE(NextVersionAction({2, 3}, {2, 3}).has_value());
}

TEST(NextVersionActionTest, UnloadsEverythingWhenNothingIsAspired) {
  std::optional<VersionAction> action = NextVersionAction({}, {1, 2});
  ASSERT_TRUE(action.has_value());
  EXPECT_EQ(*action, (VersionAction{Kind::kUnload, 1}));
  EXPECT_FALSE(NextVersionAction({}, {}).has_value());
}

}  // namespace
}  // namespace murmur::serving
