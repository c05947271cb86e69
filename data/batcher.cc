#include "data/batcher.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "data/random.h"

namespace murmur::data {

absl::StatusOr<std::unique_ptr<Batcher>> Batcher::Create(const TokenCache* cache,
                                                         const BatchingOptions& options) {
  if (options.max_rows < 1 || options.pad_to_multiple < 1 || options.window < 1) {
    return absl::InvalidArgumentError(
        "batching needs max_rows, pad_to_multiple and window of at least 1");
  }
  const int max_length = cache->info().key.max_length;
  if (options.max_tokens < max_length) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token budget ", options.max_tokens, " cannot hold one row of max_length ", max_length));
  }
  return std::unique_ptr<Batcher>(new Batcher(cache, options));
}

int Batcher::PaddedLength(int longest) const {
  const int multiple = options_.pad_to_multiple;
  const int rounded = (longest + multiple - 1) / multiple * multiple;
  // Rounding never pushes a batch past max_length (the model's position table may end there).
  return std::max(longest, std::min(rounded, cache_->info().key.max_length));
}

std::vector<BatchPlan> Batcher::Plan(absl::Span<const uint64_t> positions,
                                     absl::Span<const uint32_t> cache_rows,
                                     uint64_t seed) const {
  std::vector<BatchPlan> plans;
  const size_t n = std::min(positions.size(), cache_rows.size());
  std::vector<uint32_t> order;
  for (size_t window_begin = 0; window_begin < n; window_begin += options_.window) {
    const size_t window_end = std::min(n, window_begin + options_.window);
    order.resize(window_end - window_begin);
    std::iota(order.begin(), order.end(), static_cast<uint32_t>(window_begin));
    // Ties keep input order, so the plan does not depend on the sort implementation.
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return cache_->length(cache_rows[a]) < cache_->length(cache_rows[b]);
    });
    const size_t first_plan = plans.size();
    BatchPlan current;
    for (uint32_t i : order) {
      const int length = cache_->length(cache_rows[i]);
      const int padded = PaddedLength(std::max(length, current.padded_len));
      const size_t rows = current.cache_rows.size() + 1;
      if (!current.cache_rows.empty() &&
          (rows > static_cast<size_t>(options_.max_rows) ||
           rows * static_cast<size_t>(padded) > static_cast<size_t>(options_.max_tokens))) {
        plans.push_back(std::move(current));
        current = BatchPlan();
      }
      current.cache_rows.push_back(cache_rows[i]);
      current.positions.push_back(positions[i]);
      current.padded_len = PaddedLength(std::max(length, current.padded_len));
    }
    if (!current.cache_rows.empty()) plans.push_back(std::move(current));
    if (options_.shuffle) {
      // Keyed by the window's first position as well, so windows of one call differ.
      Rng rng(MixSeed(seed, positions[window_begin]));
      for (size_t i = plans.size() - first_plan; i > 1; --i) {
        std::swap(plans[first_plan + i - 1], plans[first_plan + rng.Uniform(i)]);
      }
    }
  }
  return plans;
}

void Batcher::Fill(const BatchPlan& plan, Batch* batch) const {
  const int rows = static_cast<int>(plan.cache_rows.size());
  const int width = plan.padded_len;
  batch->rows = rows;
  batch->padded_len = width;
  batch->ids.assign(static_cast<size_t>(rows) * width, options_.pad_id);
  batch->attention_mask.assign(static_cast<size_t>(rows) * width, 0);
  batch->labels.resize(rows);
  batch->cache_rows = plan.cache_rows;
  batch->positions = plan.positions;
  batch->real_tokens = 0;
  for (int r = 0; r < rows; ++r) {
    const uint32_t row = plan.cache_rows[r];
    const int length = cache_->length(row);
    cache_->CopyIds(row, batch->ids.data() + static_cast<size_t>(r) * width);
    std::fill_n(batch->attention_mask.begin() + static_cast<size_t>(r) * width, length, 1);
    batch->labels[r] = cache_->label(row);
    batch->real_tokens += length;
  }
}

ShardBatchReader::ShardBatchReader(const Batcher* batcher, const EpochPermutation* permutation,
                                   absl::Span<const uint32_t> sample_rows, Shard shard,
                                   uint64_t seed)
    : batcher_(batcher),
      permutation_(permutation),
      sample_rows_(sample_rows),
      shard_(std::move(shard)),
      seed_(MixSeed(seed, static_cast<uint64_t>(shard_.epoch))) {
  if (!shard_.positions.empty()) next_position_ = shard_.positions.ranges()[0].begin;
}

void ShardBatchReader::PlanNextWindow() {
  const auto& ranges = shard_.positions.ranges();
  std::vector<uint64_t> positions;
  std::vector<uint32_t> rows;
  const size_t window = static_cast<size_t>(batcher_->options().window);
  while (positions.size() < window && range_index_ < ranges.size()) {
    if (next_position_ >= ranges[range_index_].end) {
      if (++range_index_ < ranges.size()) next_position_ = ranges[range_index_].begin;
      continue;
    }
    positions.push_back(next_position_);
    rows.push_back(sample_rows_[(*permutation_)[next_position_]]);
    ++next_position_;
  }
  pending_ = batcher_->Plan(positions, rows, seed_);
  pending_index_ = 0;
}

bool ShardBatchReader::Next(Batch* batch) {
  if (pending_index_ == pending_.size()) PlanNextWindow();
  if (pending_index_ == pending_.size()) return false;
  batcher_->Fill(pending_[pending_index_++], batch);
  return true;
}

}  // namespace murmur::data
