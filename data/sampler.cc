#include "data/sampler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/random.h"

namespace murmur::data {

PositionSet::PositionSet(std::vector<PositionRange> normalized)
    : ranges_(std::move(normalized)) {
  for (const PositionRange& range : ranges_) size_ += range.size();
}

PositionSet PositionSet::Range(uint64_t begin, uint64_t end) {
  if (end <= begin) return PositionSet();
  return PositionSet({PositionRange{begin, end}});
}

PositionSet PositionSet::FromRanges(std::vector<PositionRange> ranges) {
  ranges.erase(std::remove_if(ranges.begin(), ranges.end(),
                              [](const PositionRange& r) { return r.end <= r.begin; }),
               ranges.end());
  std::sort(ranges.begin(), ranges.end(), [](const PositionRange& a, const PositionRange& b) {
    return a.begin < b.begin;
  });
  std::vector<PositionRange> merged;
  for (const PositionRange& range : ranges) {
    if (!merged.empty() && range.begin <= merged.back().end) {
      merged.back().end = std::max(merged.back().end, range.end);
    } else {
      merged.push_back(range);
    }
  }
  return PositionSet(std::move(merged));
}

PositionSet PositionSet::FromPositions(absl::Span<const uint64_t> positions) {
  std::vector<uint64_t> sorted(positions.begin(), positions.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<PositionRange> ranges;
  for (uint64_t p : sorted) {
    if (!ranges.empty() && p <= ranges.back().end) {
      ranges.back().end = std::max(ranges.back().end, p + 1);
    } else {
      ranges.push_back(PositionRange{p, p + 1});
    }
  }
  return PositionSet(std::move(ranges));
}

bool PositionSet::Contains(uint64_t position) const {
  auto it = std::upper_bound(
      ranges_.begin(), ranges_.end(), position,
      [](uint64_t p, const PositionRange& range) { return p < range.begin; });
  return it != ranges_.begin() && position < std::prev(it)->end;
}

PositionSet PositionSet::Union(const PositionSet& other) const {
  // A linear merge of two sorted lists: the coordinator calls this once per reported batch.
  std::vector<PositionRange> out;
  out.reserve(ranges_.size() + other.ranges_.size());
  size_t i = 0, j = 0;
  while (i < ranges_.size() || j < other.ranges_.size()) {
    const PositionRange& next =
        (j == other.ranges_.size() ||
         (i < ranges_.size() && ranges_[i].begin <= other.ranges_[j].begin))
            ? ranges_[i++]
            : other.ranges_[j++];
    if (!out.empty() && next.begin <= out.back().end) {
      out.back().end = std::max(out.back().end, next.end);
    } else {
      out.push_back(next);
    }
  }
  return PositionSet(std::move(out));
}

PositionSet PositionSet::Intersect(const PositionSet& other) const {
  std::vector<PositionRange> out;
  size_t i = 0, j = 0;
  while (i < ranges_.size() && j < other.ranges_.size()) {
    const uint64_t begin = std::max(ranges_[i].begin, other.ranges_[j].begin);
    const uint64_t end = std::min(ranges_[i].end, other.ranges_[j].end);
    if (begin < end) out.push_back(PositionRange{begin, end});
    (ranges_[i].end < other.ranges_[j].end) ? ++i : ++j;
  }
  return PositionSet(std::move(out));
}

PositionSet PositionSet::Subtract(const PositionSet& other) const {
  std::vector<PositionRange> out;
  size_t j = 0;
  for (PositionRange range : ranges_) {
    while (j < other.ranges_.size() && other.ranges_[j].end <= range.begin) ++j;
    size_t k = j;
    while (k < other.ranges_.size() && other.ranges_[k].begin < range.end) {
      if (other.ranges_[k].begin > range.begin) {
        out.push_back(PositionRange{range.begin, other.ranges_[k].begin});
      }
      range.begin = std::max(range.begin, other.ranges_[k].end);
      if (range.begin >= range.end) break;
      ++k;
    }
    if (range.begin < range.end) out.push_back(range);
  }
  return PositionSet(std::move(out));
}

PositionSet PositionSet::Prefix(uint64_t count) const {
  std::vector<PositionRange> out;
  for (const PositionRange& range : ranges_) {
    if (count == 0) break;
    const uint64_t take = std::min(count, range.size());
    out.push_back(PositionRange{range.begin, range.begin + take});
    count -= take;
  }
  return PositionSet(std::move(out));
}

std::vector<PositionSet> PositionSet::SplitEvenly(int parts) const {
  std::vector<PositionSet> out;
  out.reserve(parts);
  const uint64_t base = size_ / parts, extra = size_ % parts;
  size_t index = 0;
  uint64_t offset = 0;  // positions of ranges_[index] already handed out
  for (int part = 0; part < parts; ++part) {
    uint64_t want = base + (static_cast<uint64_t>(part) < extra ? 1 : 0);
    std::vector<PositionRange> piece;
    while (want > 0) {
      const PositionRange& range = ranges_[index];
      const uint64_t take = std::min(want, range.size() - offset);
      piece.push_back(PositionRange{range.begin + offset, range.begin + offset + take});
      want -= take;
      offset += take;
      if (offset == range.size()) {
        ++index;
        offset = 0;
      }
    }
    out.push_back(PositionSet(std::move(piece)));
  }
  return out;
}

std::string PositionSet::ToString() const {
  std::string out = "{";
  for (size_t i = 0; i < ranges_.size(); ++i) {
    absl::StrAppend(&out, i > 0 ? " [" : "[", ranges_[i].begin, ",", ranges_[i].end, ")");
  }
  out += "}";
  return out;
}

uint64_t EpochPermutation::EpochSeed(uint64_t seed, int64_t epoch) {
  return MixSeed(seed, static_cast<uint64_t>(epoch));
}

EpochPermutation::EpochPermutation(uint32_t num_samples, uint64_t seed, int64_t epoch)
    : epoch_(epoch), order_(num_samples) {
  for (uint32_t i = 0; i < num_samples; ++i) order_[i] = i;
  // Fisher-Yates with our own Rng: std::shuffle's algorithm is implementation-defined, and
  // workers on different builds must agree on the order.
  Rng rng(EpochSeed(seed, epoch));
  for (uint64_t i = num_samples; i > 1; --i) {
    std::swap(order_[i - 1], order_[rng.Uniform(i)]);
  }
}

void EpochPermutation::GroupByLength(const std::function<int(uint32_t sample)>& length,
                                     uint64_t seed, int chunk, int group) {
  Rng rng(EpochSeed(seed, epoch_) ^ 0x6c656e67746873ULL);  // "lengths": its own stream
  std::vector<uint32_t> groups_order;
  std::vector<uint32_t> reordered;
  for (size_t begin = 0; begin < order_.size(); begin += static_cast<size_t>(chunk)) {
    const size_t end = std::min(order_.size(), begin + static_cast<size_t>(chunk));
    // Stable: equal lengths keep their (random) permutation order.
    std::stable_sort(order_.begin() + begin, order_.begin() + end,
                     [&](uint32_t a, uint32_t b) { return length(a) < length(b); });
    const size_t groups = (end - begin + group - 1) / group;
    groups_order.resize(groups);
    for (size_t g = 0; g < groups; ++g) groups_order[g] = static_cast<uint32_t>(g);
    for (size_t g = groups; g > 1; --g) std::swap(groups_order[g - 1], groups_order[rng.Uniform(g)]);
    reordered.clear();
    for (uint32_t g : groups_order) {
      const size_t from = begin + static_cast<size_t>(g) * group;
      reordered.insert(reordered.end(), order_.begin() + from,
                       order_.begin() + std::min(end, from + static_cast<size_t>(group)));
    }
    std::copy(reordered.begin(), reordered.end(), order_.begin() + begin);
  }
}

EpochProgress::EpochProgress(int64_t epoch, uint64_t num_samples)
    : epoch_(epoch), num_samples_(num_samples) {}

absl::StatusOr<EpochProgress> EpochProgress::Restore(int64_t epoch, uint64_t num_samples,
                                                     PositionSet consumed) {
  if (!consumed.empty() && consumed.ranges().back().end > num_samples) {
    return absl::InvalidArgumentError(absl::StrCat("epoch ", epoch, " progress ",
                                                   consumed.ToString(), " reaches past ",
                                                   num_samples, " samples"));
  }
  EpochProgress progress(epoch, num_samples);
  progress.consumed_ = std::move(consumed);
  return progress;
}

PositionSet EpochProgress::Unread() const {
  return PositionSet::Range(0, num_samples_).Subtract(consumed_);
}

absl::Status EpochProgress::MarkConsumed(const PositionSet& positions) {
  if (!positions.empty() && positions.ranges().back().end > num_samples_) {
    return absl::InvalidArgumentError(absl::StrCat("positions ", positions.ToString(),
                                                   " reach past the ", num_samples_,
                                                   " samples of epoch ", epoch_));
  }
  const PositionSet twice = consumed_.Intersect(positions);
  if (!twice.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "epoch ", epoch_, ": positions ", twice.Prefix(8).ToString(),
        twice.size() > 8 ? "..." : "", " were already consumed"));
  }
  consumed_ = consumed_.Union(positions);
  return absl::OkStatus();
}

std::vector<Shard> EpochProgress::Plan(int world_size) const {
  std::vector<PositionSet> parts = Unread().SplitEvenly(std::max(1, world_size));
  std::vector<Shard> shards(parts.size());
  for (size_t r = 0; r < parts.size(); ++r) {
    shards[r].epoch = epoch_;
    shards[r].rank = static_cast<int>(r);
    shards[r].world_size = static_cast<int>(parts.size());
    shards[r].positions = std::move(parts[r]);
  }
  return shards;
}

}  // namespace murmur::data
