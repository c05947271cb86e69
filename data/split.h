// The train/validation split. A row goes to validation when a 64-bit hash of (seed, text) maps
// to a fraction below validation_fraction. It depends on nothing but the seed and the text:
// not on row order or corpus size, so growing the corpus never moves an existing row to the
// other side (a validation tweet never leaks into training), and every process computes the
// same split without exchanging it.
//
// Pure functions; thread-safe.
#ifndef MURMUR_DATA_SPLIT_H_
#define MURMUR_DATA_SPLIT_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "data/sentiment140.h"

namespace murmur::data {

struct SplitOptions {
  // Expected share of rows in validation, in [0, 1]. Default 0.2.
  double validation_fraction = 0.2;
  // Changing the seed reshuffles which rows are validation. Default 42.
  uint64_t seed = 42;

  bool operator==(const SplitOptions& other) const {
    return validation_fraction == other.validation_fraction && seed == other.seed;
  }
};

// INVALID_ARGUMENT unless 0 <= validation_fraction <= 1.
absl::Status ValidateSplitOptions(const SplitOptions& options);

// The fraction in [0, 1) that a text hashes to under `seed`.
double SplitFraction(std::string_view text, uint64_t seed);

inline bool IsValidation(std::string_view text, const SplitOptions& options) {
  return SplitFraction(text, options.seed) < options.validation_fraction;
}

// For each index in `rows`: 1 when examples[index] is validation, else 0.
std::vector<uint8_t> SplitRows(absl::Span<const Example> examples,
                               absl::Span<const uint32_t> rows, const SplitOptions& options);

}  // namespace murmur::data

#endif  // MURMUR_DATA_SPLIT_H_
