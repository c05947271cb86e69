#include "data/batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/random.h"
#include "data/testing.h"

namespace murmur::data {
namespace {

using ::murmur::data::testing::TempPath;

constexpr int kMaxLength = 64;

// A cache of `n` rows with lengths 3..60 (skewed short, like tweets); row r's ids encode r so
// tests can check which row landed where: [101, r % 1000 + 1000, 7, 7, ..., 102].
std::unique_ptr<TokenCache> MakeCache(int n, double validation_share = 0.2) {
  Rng rng(5);
  std::vector<std::vector<int32_t>> ids(n);
  std::vector<uint8_t> labels(n), validation(n);
  for (int r = 0; r < n; ++r) {
    const int length = 3 + static_cast<int>(rng.Uniform(20) + (rng.Bernoulli(0.1) ? rng.Uniform(38) : 0));
    ids[r].assign(length, 7);
    ids[r].front() = 101;
    ids[r][1] = 1000 + r % 1000;
    ids[r].back() = 102;
    labels[r] = rng.Uniform(2);
    validation[r] = rng.Bernoulli(validation_share);
  }
  TokenCacheKey key;
  key.vocab_fingerprint = std::string(64, 'v');
  key.source_fingerprint = std::string(64, 's');
  key.max_length = kMaxLength;
  const std::string path = TempPath("batcher.cache");
  EXPECT_TRUE(WriteTokenCache(path, key, {}, 30522, ids, labels, validation).ok());
  auto cache = TokenCache::Open(path);
  EXPECT_TRUE(cache.ok()) << cache.status();
  return *std::move(cache);
}

TEST(BatcherTest, PlansRespectBudgetsAndCoverEverySampleOnce) {
  auto cache = MakeCache(5000);
  BatchingOptions options;
  options.max_tokens = 512;
  options.max_rows = 48;
  options.window = 1000;
  auto batcher = Batcher::Create(cache.get(), options);
  ASSERT_TRUE(batcher.ok()) << batcher.status();
  std::vector<uint64_t> positions;
  std::vector<uint32_t> rows;
  for (uint32_t r = 0; r < cache->num_rows(); ++r) {
    positions.push_back(10000 + r);
    rows.push_back(r);
  }
  std::vector<BatchPlan> plans = (*batcher)->Plan(positions, rows, 9);
  std::multiset<uint64_t> covered;
  int64_t real = 0, padded = 0;
  for (const BatchPlan& plan : plans) {
    ASSERT_FALSE(plan.cache_rows.empty());
    EXPECT_LE(plan.cache_rows.size(), 48u);
    EXPECT_LE(plan.cache_rows.size() * plan.padded_len, 512u);
    EXPECT_TRUE(plan.padded_len % 8 == 0 || plan.padded_len == kMaxLength);
    int longest = 0;
    for (size_t i = 0; i < plan.cache_rows.size(); ++i) {
      EXPECT_EQ(plan.positions[i], 10000 + plan.cache_rows[i]);
      longest = std::max(longest, cache->length(plan.cache_rows[i]));
      real += cache->length(plan.cache_rows[i]);
      covered.insert(plan.positions[i]);
    }
    EXPECT_GE(plan.padded_len, longest);
    EXPECT_LT(plan.padded_len, longest + 8);
    padded += static_cast<int64_t>(plan.cache_rows.size()) * plan.padded_len;
  }
  EXPECT_EQ(covered.size(), 5000u);
  EXPECT_EQ(std::set<uint64_t>(covered.begin(), covered.end()).size(), 5000u);
  // Bucketing keeps padding low: well under what padding to max_length would waste.
  EXPECT_LT(static_cast<double>(padded - real) / padded, 0.25);
}

TEST(BatcherTest, DeterministicAndSeeded) {
  auto cache = MakeCache(3000);
  auto batcher = Batcher::Create(cache.get(), BatchingOptions());
  ASSERT_TRUE(batcher.ok());
  std::vector<uint64_t> positions(cache->num_rows());
  std::vector<uint32_t> rows(cache->num_rows());
  for (uint32_t r = 0; r < rows.size(); ++r) positions[r] = rows[r] = r;
  auto a = (*batcher)->Plan(positions, rows, 1);
  auto b = (*batcher)->Plan(positions, rows, 1);
  auto c = (*batcher)->Plan(positions, rows, 2);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].cache_rows, b[i].cache_rows);
  bool differs = a.size() != c.size();
  for (size_t i = 0; !differs && i < a.size(); ++i) differs = a[i].cache_rows != c[i].cache_rows;
  EXPECT_TRUE(differs);

  BatchingOptions sorted;
  sorted.shuffle = false;
  auto eval = Batcher::Create(cache.get(), sorted);
  ASSERT_TRUE(eval.ok());
  int previous = 0;
  for (const BatchPlan& plan : (*eval)->Plan(positions, rows, 1)) {
    EXPECT_GE(plan.padded_len, previous);  // one window, no shuffle: short to long
    previous = plan.padded_len;
  }
}

TEST(BatcherTest, FillPadsAndMasks) {
  auto cache = MakeCache(100);
  BatchingOptions options;
  options.pad_id = 0;
  auto batcher = Batcher::Create(cache.get(), options);
  ASSERT_TRUE(batcher.ok());
  BatchPlan plan;
  plan.cache_rows = {3, 17, 42};
  plan.positions = {0, 1, 2};
  int longest = 0;
  for (uint32_t r : plan.cache_rows) longest = std::max(longest, cache->length(r));
  plan.padded_len = (*batcher)->PaddedLength(longest);
  Batch batch;
  (*batcher)->Fill(plan, &batch);
  ASSERT_EQ(batch.rows, 3);
  ASSERT_EQ(batch.ids.size(), 3u * plan.padded_len);
  ASSERT_EQ(batch.attention_mask.size(), batch.ids.size());
  int64_t real = 0;
  for (int i = 0; i < 3; ++i) {
    const uint32_t row = plan.cache_rows[i];
    const std::vector<int32_t> ids = cache->Ids(row);
    for (int j = 0; j < plan.padded_len; ++j) {
      const size_t at = static_cast<size_t>(i) * plan.padded_len + j;
      if (j < static_cast<int>(ids.size())) {
        EXPECT_EQ(batch.ids[at], ids[j]);
        EXPECT_EQ(batch.attention_mask[at], 1);
      } else {
        EXPECT_EQ(batch.ids[at], 0);
        EXPECT_EQ(batch.attention_mask[at], 0);
      }
    }
    EXPECT_EQ(batch.ids[static_cast<size_t>(i) * plan.padded_len + 1], 1000 + static_cast<int>(row));
    EXPECT_EQ(batch.labels[i], cache->label(row));
    EXPECT_EQ(batch.cache_rows[i], row);
    real += ids.size();
  }
  EXPECT_EQ(batch.real_tokens, real);
}

TEST(BatcherTest, RejectsBudgetsThatCannotHoldARow) {
  auto cache = MakeCache(10);
  BatchingOptions options;
  options.max_tokens = kMaxLength - 1;
  EXPECT_EQ(Batcher::Create(cache.get(), options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = BatchingOptions();
  options.max_rows = 0;
  EXPECT_FALSE(Batcher::Create(cache.get(), options).ok());
}

// The whole read path: coordinator plans, workers read batches through ShardBatchReader and
// report them, membership changes at random step boundaries (some leaving workers lose their
// last unreported batch). Every training row must be trained exactly once per epoch.
TEST(ShardBatchReaderTest, ExactlyOncePerEpochAcrossMembershipChanges) {
  auto cache = MakeCache(4000);
  const std::vector<uint32_t>& train = cache->train_rows();
  BatchingOptions options;
  options.max_tokens = 256;
  options.window = 300;
  auto batcher = Batcher::Create(cache.get(), options);
  ASSERT_TRUE(batcher.ok());
  Rng rng(31337);
  for (int64_t epoch = 0; epoch < 4; ++epoch) {
    EpochPermutation permutation(static_cast<uint32_t>(train.size()), 99, epoch);
    EpochProgress progress(epoch, train.size());
    std::vector<int> trained(cache->num_rows(), 0);
    int world = 1 + static_cast<int>(rng.Uniform(6));
    for (int rounds = 0; !progress.complete(); ++rounds) {
      ASSERT_LT(rounds, 1000);
      std::vector<Shard> shards = progress.Plan(world);
      std::vector<std::unique_ptr<ShardBatchReader>> readers;
      for (const Shard& shard : shards) {
        readers.push_back(std::make_unique<ShardBatchReader>(batcher->get(), &permutation,
                                                             train, shard, 7));
      }
      const int steps = rng.Bernoulli(0.2) ? 1 << 30 : static_cast<int>(rng.Uniform(30));
      Batch batch;
      for (int step = 0; step < steps; ++step) {
        bool any = false;
        for (auto& reader : readers) {
          if (!reader->Next(&batch)) continue;
          any = true;
          if (step + 1 == steps && rng.Bernoulli(0.3)) continue;  // lost with a crash
          ASSERT_TRUE(progress.MarkConsumed(PositionSet::FromPositions(batch.positions)).ok());
          for (int i = 0; i < batch.rows; ++i) {
            EXPECT_EQ(batch.cache_rows[i], train[permutation[batch.positions[i]]]);
            ++trained[batch.cache_rows[i]];
          }
        }
        if (!any) break;
      }
      world = 1 + static_cast<int>(rng.Uniform(6));
    }
    for (uint32_t row : train) ASSERT_EQ(trained[row], 1) << "row " << row << " epoch " << epoch;
    for (uint32_t row : cache->validation_rows()) ASSERT_EQ(trained[row], 0);
  }
}

TEST(ShardBatchReaderTest, ReadsTheWholeShardInPositionOrderOfWindows) {
  auto cache = MakeCache(1000);
  const std::vector<uint32_t>& train = cache->train_rows();
  BatchingOptions options;
  options.window = 100;
  auto batcher = Batcher::Create(cache.get(), options);
  ASSERT_TRUE(batcher.ok());
  EpochPermutation permutation(static_cast<uint32_t>(train.size()), 1, 0);
  Shard shard;
  shard.positions = PositionSet::FromRanges({{5, 150}, {300, 420}});
  ShardBatchReader reader(batcher->get(), &permutation, train, shard, 3);
  // Window index of each position: its rank in shard order / window.
  std::vector<uint64_t> in_order;
  shard.positions.ForEach([&](uint64_t p) { in_order.push_back(p); });
  auto window_of = [&](uint64_t p) {
    return (std::lower_bound(in_order.begin(), in_order.end(), p) - in_order.begin()) / 100;
  };
  Batch batch;
  std::vector<uint64_t> positions;
  int64_t last_window = 0;
  while (reader.Next(&batch)) {
    // Windows are read in shard order and a batch never mixes windows.
    const int64_t window = window_of(batch.positions[0]);
    for (uint64_t p : batch.positions) EXPECT_EQ(window_of(p), window);
    EXPECT_GE(window, last_window);
    last_window = window;
    positions.insert(positions.end(), batch.positions.begin(), batch.positions.end());
  }
  EXPECT_EQ(last_window, 2);
  std::sort(positions.begin(), positions.end());
  std::vector<uint64_t> expected;
  shard.positions.ForEach([&](uint64_t p) { expected.push_back(p); });
  EXPECT_EQ(positions, expected);
}

}  // namespace
}  // namespace murmur::data
