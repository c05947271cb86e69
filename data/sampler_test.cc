#include "data/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "base/random.h"

namespace murmur::data {
namespace {

std::set<uint64_t> ToStdSet(const PositionSet& set) {
  std::set<uint64_t> out;
  set.ForEach([&](uint64_t p) { out.insert(p); });
  return out;
}

PositionSet RandomSet(Rng& rng, uint64_t universe) {
  std::vector<PositionRange> ranges;
  const int count = static_cast<int>(rng.Uniform(8));
  for (int i = 0; i < count; ++i) {
    const uint64_t begin = rng.Uniform(universe);
    ranges.push_back(PositionRange{begin, begin + rng.Uniform(universe / 4 + 1)});
  }
  return PositionSet::FromRanges(ranges);
}

void ExpectNormalized(const PositionSet& set) {
  uint64_t size = 0;
  for (size_t i = 0; i < set.ranges().size(); ++i) {
    EXPECT_LT(set.ranges()[i].begin, set.ranges()[i].end);
    if (i > 0) {
      EXPECT_LT(set.ranges()[i - 1].end, set.ranges()[i].begin) << set.ToString();
    }
    size += set.ranges()[i].size();
  }
  EXPECT_EQ(size, set.size());
}

TEST(PositionSetTest, NormalizesRanges) {
  PositionSet set = PositionSet::FromRanges({{10, 20}, {5, 6}, {15, 25}, {25, 30}, {40, 40}});
  EXPECT_EQ(set.ranges(), (std::vector<PositionRange>{{5, 6}, {10, 30}}));
  EXPECT_EQ(set.size(), 21u);
  EXPECT_EQ(set.ToString(), "{[5,6) [10,30)}");
  EXPECT_EQ(PositionSet::FromPositions(std::vector<uint64_t>{7, 3, 4, 4, 5, 9}).ranges(),
            (std::vector<PositionRange>{{3, 6}, {7, 8}, {9, 10}}));
  EXPECT_TRUE(PositionSet::Range(5, 5).empty());
}

TEST(PositionSetTest, OperationsMatchAStdSetModel) {
  Rng rng(2024);
  for (int round = 0; round < 500; ++round) {
    const PositionSet a = RandomSet(rng, 200), b = RandomSet(rng, 200);
    const std::set<uint64_t> sa = ToStdSet(a), sb = ToStdSet(b);
    std::set<uint64_t> expected;
    std::set_union(sa.begin(), sa.end(), sb.begin(), sb.end(),
                   std::inserter(expected, expected.end()));
    ExpectNormalized(a.Union(b));
    EXPECT_EQ(ToStdSet(a.Union(b)), expected);
    expected.clear();
    std::set_intersection(sa.begin(), sa.end(), sb.begin(), sb.end(),
                          std::inserter(expected, expected.end()));
    ExpectNormalized(a.Intersect(b));
    EXPECT_EQ(ToStdSet(a.Intersect(b)), expected);
    expected.clear();
    std::set_difference(sa.begin(), sa.end(), sb.begin(), sb.end(),
                        std::inserter(expected, expected.end()));
    ExpectNormalized(a.Subtract(b));
    EXPECT_EQ(ToStdSet(a.Subtract(b)), expected);

    const uint64_t count = rng.Uniform(a.size() + 2);
    const std::set<uint64_t> prefix = ToStdSet(a.Prefix(count));
    EXPECT_EQ(prefix.size(), std::min<uint64_t>(count, a.size()));
    EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), sa.begin()));

    const int parts = 1 + static_cast<int>(rng.Uniform(6));
    std::vector<PositionSet> split = a.SplitEvenly(parts);
    ASSERT_EQ(split.size(), static_cast<size_t>(parts));
    std::vector<uint64_t> concatenated;
    for (const PositionSet& part : split) {
      ExpectNormalized(part);
      EXPECT_LE(part.size(), a.size() / parts + 1);
      EXPECT_GE(part.size(), a.size() / parts);
      part.ForEach([&](uint64_t p) { concatenated.push_back(p); });
    }
    EXPECT_EQ(concatenated, std::vector<uint64_t>(sa.begin(), sa.end()));

    for (uint64_t p = 0; p < 260; p += 7) EXPECT_EQ(a.Contains(p), sa.count(p) == 1);
  }
}

TEST(EpochPermutationTest, IsADeterministicPermutationPerEpoch) {
  EpochPermutation a(1000, 42, 0), again(1000, 42, 0), next(1000, 42, 1), other(1000, 43, 0);
  std::vector<uint32_t> seen;
  int moved_epoch = 0, moved_seed = 0;
  for (uint64_t p = 0; p < 1000; ++p) {
    seen.push_back(a[p]);
    EXPECT_EQ(a[p], again[p]);
    moved_epoch += a[p] != next[p];
    moved_seed += a[p] != other[p];
  }
  std::sort(seen.begin(), seen.end());
  for (uint32_t i = 0; i < 1000; ++i) ASSERT_EQ(seen[i], i);
  EXPECT_GT(moved_epoch, 900);
  EXPECT_GT(moved_seed, 900);
  EXPECT_NE(EpochPermutation::EpochSeed(42, 0), EpochPermutation::EpochSeed(42, 1));
  EXPECT_EQ(EpochPermutation(0, 1, 0).size(), 0u);
  EXPECT_EQ(EpochPermutation(1, 1, 0)[0], 0u);
}

TEST(EpochProgressTest, RejectsDoubleConsumptionAndOutOfRange) {
  EpochProgress progress(3, 100);
  ASSERT_TRUE(progress.MarkConsumed(PositionSet::Range(10, 20)).ok());
  absl::Status twice = progress.MarkConsumed(PositionSet::Range(15, 30));
  EXPECT_EQ(twice.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(twice.message().find("[15,20)"), std::string::npos) << twice;
  EXPECT_EQ(progress.consumed().size(), 10u);  // nothing recorded on error
  EXPECT_EQ(progress.MarkConsumed(PositionSet::Range(95, 101)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(progress.Unread().ranges(), (std::vector<PositionRange>{{0, 10}, {20, 100}}));
  EXPECT_FALSE(progress.complete());
  ASSERT_TRUE(progress.MarkConsumed(progress.Unread()).ok());
  EXPECT_TRUE(progress.complete());
  EXPECT_FALSE(EpochProgress::Restore(0, 10, PositionSet::Range(5, 11)).ok());
  auto restored = EpochProgress::Restore(0, 10, PositionSet::Range(5, 10));
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->Unread(), PositionSet::Range(0, 5));
}

TEST(EpochProgressTest, PlanSplitsTheUnreadEvenly) {
  EpochProgress progress(0, 10);
  std::vector<Shard> shards = progress.Plan(3);
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(shards[0].positions, PositionSet::Range(0, 4));
  EXPECT_EQ(shards[1].positions, PositionSet::Range(4, 7));
  EXPECT_EQ(shards[2].positions, PositionSet::Range(7, 10));
  EXPECT_EQ(shards[2].rank, 2);
  EXPECT_EQ(shards[2].world_size, 3);
  ASSERT_TRUE(progress.MarkConsumed(PositionSet::FromRanges({{0, 3}, {4, 6}, {7, 9}})).ok());
  shards = progress.Plan(2);
  EXPECT_EQ(shards[0].positions, PositionSet::FromRanges({{3, 4}, {6, 7}}));
  EXPECT_EQ(shards[1].positions, PositionSet::FromRanges({{9, 10}}));
  // More workers than samples: some get nothing, nobody gets a duplicate.
  shards = progress.Plan(5);
  uint64_t total = 0;
  for (const Shard& shard : shards) total += shard.positions.size();
  EXPECT_EQ(total, 3u);
}

// Workers read their shard in windows, consuming each window in a scrambled order (as length
// bucketing does) in reports of random size. At random points the world changes size; workers
// that leave may lose their last unreported batch (a crash). Every sample must be reported
// exactly once per epoch.
TEST(EpochProgressTest, ExactlyOncePerEpochUnderRandomMembershipChanges) {
  Rng rng(77);
  for (int trial = 0; trial < 60; ++trial) {
    const uint32_t n = 1 + static_cast<uint32_t>(rng.Uniform(3000));
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      EpochPermutation permutation(n, 1234, epoch);
      EpochProgress progress(epoch, n);
      std::vector<int> seen(n, 0);
      int world = 1 + static_cast<int>(rng.Uniform(8));
      int changes = 0;
      for (int rounds = 0; !progress.complete(); ++rounds) {
        // Plans that lose positions would loop forever; fail instead.
        ASSERT_LT(rounds, 10000) << "epoch never completes: " << progress.Unread().ToString();
        std::vector<Shard> shards = progress.Plan(world);
        // Each worker's reading order: windows of its shard, each scrambled.
        std::vector<std::vector<uint64_t>> order(world);
        for (int r = 0; r < world; ++r) {
          std::vector<uint64_t> positions;
          shards[r].positions.ForEach([&](uint64_t p) { positions.push_back(p); });
          const size_t window = 1 + rng.Uniform(64);
          for (size_t begin = 0; begin < positions.size(); begin += window) {
            const size_t end = std::min(positions.size(), begin + window);
            for (size_t i = end - begin; i > 1; --i) {
              std::swap(positions[begin + i - 1], positions[begin + rng.Uniform(i)]);
            }
          }
          order[r] = std::move(positions);
        }
        std::vector<size_t> cursor(world, 0);
        // Run steps until a membership change or until every shard is done.
        const bool change = rng.Bernoulli(0.7);
        const int steps_before_change = static_cast<int>(rng.Uniform(40));
        for (int step = 0; !change || step < steps_before_change; ++step) {
          bool any = false;
          for (int r = 0; r < world; ++r) {
            if (cursor[r] == order[r].size()) continue;
            any = true;
            const size_t take = std::min<size_t>(1 + rng.Uniform(16), order[r].size() - cursor[r]);
            std::vector<uint64_t> batch(order[r].begin() + cursor[r],
                                        order[r].begin() + cursor[r] + take);
            cursor[r] += take;
            if (change && step + 1 == steps_before_change && rng.Bernoulli(0.3)) {
              continue;  // this worker crashes before reporting its last batch
            }
            ASSERT_TRUE(progress.MarkConsumed(PositionSet::FromPositions(batch)).ok());
            for (uint64_t p : batch) ++seen[permutation[p]];
          }
          if (!any) break;
        }
        if (change) {
          world = 1 + static_cast<int>(rng.Uniform(8));
          ++changes;
        }
      }
      for (uint32_t s = 0; s < n; ++s) {
        ASSERT_EQ(seen[s], 1) << "sample " << s << " trial " << trial << " epoch " << epoch;
      }
    }
  }
}

// Grouping by length keeps a permutation, is deterministic, and makes consecutive positions
// similar in length (far less padding in a window than in the random order).
TEST(EpochPermutationTest, GroupByLengthKeepsAPermutationAndGroupsLengths) {
  const uint32_t n = 10000;
  std::vector<int> lengths(n);
  Rng rng(5);
  for (int& l : lengths) l = 3 + static_cast<int>(rng.Uniform(60));
  auto length = [&](uint32_t sample) { return lengths[sample]; };
  auto padding = [&](const EpochPermutation& p) {
    // Padded tokens when consecutive windows of 64 are padded to their longest.
    int64_t padded = 0;
    for (uint64_t begin = 0; begin < p.size(); begin += 64) {
      int longest = 0;
      int64_t total = 0;
      for (uint64_t i = begin; i < std::min<uint64_t>(p.size(), begin + 64); ++i) {
        longest = std::max(longest, lengths[p[i]]);
        total += lengths[p[i]];
      }
      padded += longest * static_cast<int64_t>(std::min<uint64_t>(64, p.size() - begin)) - total;
    }
    return padded;
  };
  EpochPermutation random(n, 7, 2);
  EpochPermutation grouped(n, 7, 2);
  grouped.GroupByLength(length, 7, 4096, 64);
  std::vector<uint32_t> seen;
  for (uint64_t i = 0; i < n; ++i) seen.push_back(grouped[i]);
  std::sort(seen.begin(), seen.end());
  for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(seen[i], i);
  EpochPermutation again(n, 7, 2);
  again.GroupByLength(length, 7, 4096, 64);
  for (uint64_t i = 0; i < n; ++i) ASSERT_EQ(grouped[i], again[i]);
  EXPECT_LT(padding(grouped) * 5, padding(random));
  // Another epoch groups differently.
  EpochPermutation next(n, 7, 3);
  next.GroupByLength(length, 7, 4096, 64);
  int same = 0;
  for (uint64_t i = 0; i < n; ++i) same += next[i] == grouped[i];
  EXPECT_LT(same, 100);
}

}  // namespace
}  // namespace murmur::data
