// Length-bucketed batching with dynamic padding under a token budget.
//
// Tweets average ~23 WordPiece tokens (p99 48), so padding every row to max_length wastes most
// of the compute. The batcher takes samples a window at a time (BatchingOptions::window),
// sorts the window by length and cuts it greedily into batches with
//   rows <= max_rows  and  rows * padded_len <= max_tokens,
// where padded_len is the batch's longest row rounded up to pad_to_multiple. With `shuffle` the
// batch order inside a window is shuffled from a seed, so training does not see short-to-long
// sweeps. Everything is deterministic given the samples and the seed.
//
// A Batch is plain vectors (no torch here): a trainer wraps ids/attention_mask/labels with
// torch::from_blob. Each row also carries its token cache row and its epoch position; a worker
// reports PositionSet::FromPositions(batch.positions) as consumed after training the batch.
#ifndef MURMUR_DATA_BATCHER_H_
#define MURMUR_DATA_BATCHER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "data/sampler.h"
#include "data/token_cache.h"

namespace murmur::data {

struct BatchingOptions {
  // Most rows * padded_len per batch: the compute (and activation memory) a batch may cost.
  // Must fit one row of the cache's max_length. Default 4096.
  int max_tokens = 4096;
  // Most rows per batch, however short they are. Default 256.
  int max_rows = 256;
  // padded_len is rounded up to a multiple of this (capped at the cache's max_length); vector
  // and matrix kernels prefer multiples of 8. Default 8.
  int pad_to_multiple = 8;
  // Samples sorted together by length. Larger windows pad less but make batch composition less
  // random. Default 8192.
  int window = 8192;
  // Shuffle batch order within each window. Default true (false: short to long, for eval).
  bool shuffle = true;
  // Id written into padding. Default 0 ([PAD] in BERT vocabularies).
  int32_t pad_id = 0;
};

// A padded batch, row-major [rows x padded_len].
struct Batch {
  int rows = 0;
  int padded_len = 0;
  std::vector<int32_t> ids;             // pad_id after each row's tokens
  std::vector<int32_t> attention_mask;  // 1 for real tokens, 0 for padding
  std::vector<int64_t> labels;          // int64: torch's cross_entropy takes kLong targets
  std::vector<uint32_t> cache_rows;     // token cache row of each batch row
  std::vector<uint64_t> positions;      // epoch position of each batch row
  int64_t real_tokens = 0;              // sum of row lengths (rows*padded_len minus padding)
};

// Which samples form a batch, before any ids are copied.
struct BatchPlan {
  std::vector<uint32_t> cache_rows;
  std::vector<uint64_t> positions;
  int padded_len = 0;
};

// Plans and fills batches from a token cache. Borrows the cache, which must outlive the
// Batcher. Immutable; safe to use from many threads.
class Batcher {
 public:
  // INVALID_ARGUMENT when an option is out of range or max_tokens cannot hold one row of the
  // cache's max_length.
  static absl::StatusOr<std::unique_ptr<Batcher>> Create(const TokenCache* cache,
                                                         const BatchingOptions& options);

  // Batches for samples given as parallel lists (positions[i] is the epoch position of
  // cache row cache_rows[i]), window by window in input order. Every sample lands in exactly
  // one batch. `seed` drives the in-window shuffle. For evaluation pass the validation rows,
  // positions 0..n-1 and shuffle=false.
  std::vector<BatchPlan> Plan(absl::Span<const uint64_t> positions,
                              absl::Span<const uint32_t> cache_rows, uint64_t seed) const;

  // Copies ids, mask and labels of `plan` into `batch` (reusing its buffers).
  void Fill(const BatchPlan& plan, Batch* batch) const;

  int PaddedLength(int longest) const;
  const BatchingOptions& options() const { return options_; }
  const TokenCache& cache() const { return *cache_; }

 private:
  Batcher(const TokenCache* cache, const BatchingOptions& options)
      : cache_(cache), options_(options) {}
  const TokenCache* cache_;
  BatchingOptions options_;
};

// Yields the batches of one worker's shard: walks the shard's positions in ascending order, a
// window at a time (memory stays O(window)), maps position -> sample (permutation) -> cache row
// (sample_rows, usually TokenCache::train_rows()). Borrows batcher, permutation and sample_rows;
// they must outlive the reader. Not thread-safe.
class ShardBatchReader {
 public:
  ShardBatchReader(const Batcher* batcher, const EpochPermutation* permutation,
                   absl::Span<const uint32_t> sample_rows, Shard shard, uint64_t seed);

  // Fills the next batch; false when the shard is exhausted.
  bool Next(Batch* batch);

 private:
  void PlanNextWindow();

  const Batcher* batcher_;
  const EpochPermutation* permutation_;
  absl::Span<const uint32_t> sample_rows_;
  Shard shard_;
  uint64_t seed_;
  size_t range_index_ = 0;
  uint64_t next_position_ = 0;  // within shard_.positions.ranges()[range_index_]
  std::vector<BatchPlan> pending_;
  size_t pending_index_ = 0;
};

}  // namespace murmur::data

#endif  // MURMUR_DATA_BATCHER_H_
