#include "data/cleaning.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "base/random.h"

namespace murmur::data {
namespace {

// StableHash64 rather than absl::Hash: it is fast on short strings and needs no
// absl::string_view conversion (Debian's absl::string_view is not std::string_view).
struct TextHash {
  size_t operator()(std::string_view text) const { return StableHash64(text, 0); }
};

struct TextGroup {
  uint32_t first = 0;  // index of the first example with this text
  uint8_t label = 0;
  bool conflicting = false;
};

}  // namespace

CleanResult CleanExamples(absl::Span<const Example> examples) {
  CleanResult result;
  CleanReport& report = result.report;
  report.input_rows = examples.size();

  // Pass 1 groups rows by text; pass 2 decides per row from its group, so a conflict found late
  // also drops the rows seen before it.
  absl::flat_hash_map<std::string_view, uint32_t, TextHash> group_of_text;
  group_of_text.reserve(examples.size());
  std::vector<TextGroup> groups;
  groups.reserve(examples.size());
  std::vector<uint32_t> group_of_row(examples.size());
  for (uint32_t i = 0; i < examples.size(); ++i) {
    auto [it, inserted] =
        group_of_text.try_emplace(examples[i].text, static_cast<uint32_t>(groups.size()));
    if (inserted) {
      groups.push_back(TextGroup{i, examples[i].label, false});
    } else {
      TextGroup& group = groups[it->second];
      if (group.label != examples[i].label && !group.conflicting) {
        group.conflicting = true;
        ++report.conflicting_texts;
      }
    }
    group_of_row[i] = it->second;
  }
  group_of_text = {};  // release before allocating the result

  result.kept.reserve(groups.size());
  for (uint32_t i = 0; i < examples.size(); ++i) {
    const TextGroup& group = groups[group_of_row[i]];
    if (group.conflicting) {
      ++report.conflicting_rows_dropped;
    } else if (group.first != i) {
      ++report.duplicate_rows_dropped;
    } else {
      result.kept.push_back(i);
    }
  }
  report.kept_rows = result.kept.size();
  return result;
}

std::string CleanReport::ToString() const {
  return absl::StrCat(input_rows, " rows in, ", kept_rows, " kept; ", duplicate_rows_dropped,
                      " exact duplicates dropped; ", conflicting_rows_dropped, " rows of ",
                      conflicting_texts, " texts with conflicting labels dropped");
}

}  // namespace murmur::data
