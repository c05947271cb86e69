// Who reads which sample when: epoch permutations, shards and epoch progress.
//
// Every epoch visits the N training samples in the order of a seeded permutation; a
// "position" is an index into that order (position p of epoch e is sample permutation[p]).
// Everything that describes work is a PositionSet (sorted ranges of positions), never a list
// of sample ids, so a coordinator can hand out and journal the plan in a few bytes:
//
//   EpochProgress progress(epoch, num_samples);        // coordinator state, one per epoch
//   std::vector<Shard> shards = progress.Plan(world);  // shard r -> worker r
//   ... worker trains batches from its shard (ShardBatchReader, batcher.h) and reports each
//       batch's positions; the coordinator calls progress.MarkConsumed(...) ...
//   on a membership change (at a step boundary): shards = progress.Plan(new_world)
//
// Plan() splits only the unread positions, so each sample is trained exactly once per epoch
// however often the world changes, provided consumption is reported before re-planning.
// Positions a worker trained but never reported (it died) are unread and get re-planned; the
// coordinator rolls back to the checkpoint's EpochProgress together with the model.
#ifndef MURMUR_DATA_SAMPLER_H_
#define MURMUR_DATA_SAMPLER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace murmur::data {

// Positions [begin, end).
struct PositionRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t size() const { return end - begin; }
  bool operator==(const PositionRange& other) const {
    return begin == other.begin && end == other.end;
  }
};

// A set of positions kept as sorted, disjoint, non-touching ranges. Value type; const methods
// are safe from many threads, mutation is not.
class PositionSet {
 public:
  PositionSet() = default;
  // [begin, end); empty when end <= begin.
  static PositionSet Range(uint64_t begin, uint64_t end);
  // Any ranges (unsorted, overlapping, empty) normalized.
  static PositionSet FromRanges(std::vector<PositionRange> ranges);
  // Positions in any order, duplicates allowed (e.g. a batch's positions).
  static PositionSet FromPositions(absl::Span<const uint64_t> positions);

  const std::vector<PositionRange>& ranges() const { return ranges_; }
  uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool Contains(uint64_t position) const;

  PositionSet Union(const PositionSet& other) const;
  PositionSet Intersect(const PositionSet& other) const;
  PositionSet Subtract(const PositionSet& other) const;
  // The `count` smallest positions (all when count >= size()).
  PositionSet Prefix(uint64_t count) const;
  // Splits into `parts` sets of consecutive positions whose sizes differ by at most one
  // (the first size() % parts sets get the extra position). parts must be >= 1.
  std::vector<PositionSet> SplitEvenly(int parts) const;

  // Calls fn(position) for every position, ascending.
  template <typename Fn>
  void ForEach(Fn fn) const {
    for (const PositionRange& range : ranges_) {
      for (uint64_t p = range.begin; p < range.end; ++p) fn(p);
    }
  }

  // "{[0,10) [20,30)}" for logs and test failures.
  std::string ToString() const;
  bool operator==(const PositionSet& other) const { return ranges_ == other.ranges_; }
  bool operator!=(const PositionSet& other) const { return !(*this == other); }

 private:
  explicit PositionSet(std::vector<PositionRange> normalized);
  std::vector<PositionRange> ranges_;
  uint64_t size_ = 0;
};

// The sample order of one epoch: a Fisher-Yates shuffle driven by Rng(EpochSeed(seed, epoch)),
// so every process derives the same order from (num_samples, seed, epoch). Owns the 4-byte-
// per-sample order; immutable, safe to share between threads.
class EpochPermutation {
 public:
  EpochPermutation(uint32_t num_samples, uint64_t seed, int64_t epoch);
  static uint64_t EpochSeed(uint64_t seed, int64_t epoch);

  // Groups samples of similar length (Hugging Face Trainer's group_by_length idea): within each
  // chunk of `chunk` consecutive positions the samples are sorted by length, then the groups of
  // `group` consecutive positions are shuffled. A window of consecutive positions then holds
  // similar lengths (little attention padding) while batch order stays random. Still a
  // permutation; depends only on (seed, epoch, lengths), never on the world size, so every
  // process derives the same order. `length(sample)` gives a sample's token count.
  void GroupByLength(const std::function<int(uint32_t sample)>& length, uint64_t seed,
                     int chunk = 8192, int group = 64);

  // The sample visited at `position` (< size()).
  uint32_t operator[](uint64_t position) const { return order_[position]; }
  uint64_t size() const { return order_.size(); }
  int64_t epoch() const { return epoch_; }

 private:
  int64_t epoch_;
  std::vector<uint32_t> order_;
};

// The part of an epoch one worker reads: its positions, read in ascending order.
struct Shard {
  int64_t epoch = 0;
  int rank = 0;
  int world_size = 1;
  PositionSet positions;
};

// The coordinator's record of one epoch: which positions have been trained on. Value type
// (copy it to snapshot into a journal or checkpoint). Not thread-safe for mutation.
class EpochProgress {
 public:
  EpochProgress(int64_t epoch, uint64_t num_samples);
  // Rebuilds progress from a journal; INVALID_ARGUMENT if `consumed` reaches past num_samples.
  static absl::StatusOr<EpochProgress> Restore(int64_t epoch, uint64_t num_samples,
                                               PositionSet consumed);

  int64_t epoch() const { return epoch_; }
  uint64_t num_samples() const { return num_samples_; }
  const PositionSet& consumed() const { return consumed_; }
  PositionSet Unread() const;
  bool complete() const { return consumed_.size() == num_samples_; }

  // Records `positions` as trained. INVALID_ARGUMENT when a position is outside the epoch;
  // FAILED_PRECONDITION when one was consumed before (it would be trained twice). On error
  // nothing is recorded.
  absl::Status MarkConsumed(const PositionSet& positions);

  // Splits the unread positions over `world_size` workers (>= 1): shard r gets consecutive
  // unread positions; shard sizes differ by at most one.
  std::vector<Shard> Plan(int world_size) const;

 private:
  int64_t epoch_;
  uint64_t num_samples_;
  PositionSet consumed_;
};

}  // namespace murmur::data

#endif  // MURMUR_DATA_SAMPLER_H_
