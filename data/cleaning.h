// Cleaning a read corpus: exact duplicates (same text, same label) are kept once, and a text
// that occurs with different labels is dropped entirely (all of its rows), since no label for it
// can be trusted. "Same text" means byte-equal after decoding; no normalization, so cleaning
// never merges tweets the tokenizer could still tell apart.
//
// Deterministic: the result depends only on the examples and their order (the first
// occurrence of a kept text is the one kept). Pure function; thread-safe.
#ifndef MURMUR_DATA_CLEANING_H_
#define MURMUR_DATA_CLEANING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "data/sentiment140.h"

namespace murmur::data {

struct CleanReport {
  uint64_t input_rows = 0;
  uint64_t kept_rows = 0;
  // Rows dropped because an earlier row had the same text and label.
  uint64_t duplicate_rows_dropped = 0;
  // Distinct texts seen with more than one label, and all rows carrying them.
  uint64_t conflicting_texts = 0;
  uint64_t conflicting_rows_dropped = 0;

  std::string ToString() const;
};

struct CleanResult {
  // Indices into the input examples, ascending.
  std::vector<uint32_t> kept;
  CleanReport report;
};

CleanResult CleanExamples(absl::Span<const Example> examples);

}  // namespace murmur::data

#endif  // MURMUR_DATA_CLEANING_H_
