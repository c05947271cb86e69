#include "proto/job_conversions.h"

#include <utility>
#include <vector>

namespace murmur {

data::PositionSet ToPositionSet(
    const google::protobuf::RepeatedPtrField<v1::PositionRange>& ranges) {
  std::vector<data::PositionRange> converted;
  converted.reserve(ranges.size());
  for (const v1::PositionRange& range : ranges) {
    if (range.begin() < 0 || range.end() <= range.begin()) continue;
    converted.push_back({static_cast<uint64_t>(range.begin()), static_cast<uint64_t>(range.end())});
  }
  return data::PositionSet::FromRanges(std::move(converted));
}

void ToRanges(const data::PositionSet& set,
              google::protobuf::RepeatedPtrField<v1::PositionRange>* ranges) {
  ranges->Clear();
  for (const data::PositionRange& range : set.ranges()) {
    v1::PositionRange* out = ranges->Add();
    out->set_begin(static_cast<int64_t>(range.begin));
    out->set_end(static_cast<int64_t>(range.end));
  }
}

data::IngestOptions IngestOptionsFor(const v1::JobSpec& spec) {
  data::IngestOptions options;
  options.max_length = spec.max_length();
  options.split.validation_fraction = spec.validation_fraction();
  options.split.seed = spec.seed();
  return options;
}

}  // namespace murmur
