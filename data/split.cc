#include "data/split.h"

#include "absl/strings/str_cat.h"
#include "base/random.h"

namespace murmur::data {

absl::Status ValidateSplitOptions(const SplitOptions& options) {
  if (!(options.validation_fraction >= 0.0 && options.validation_fraction <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("validation fraction must be in [0, 1], got ",
                                                   options.validation_fraction));
  }
  return absl::OkStatus();
}

double SplitFraction(std::string_view text, uint64_t seed) {
  // The salt keeps this hash independent of other uses of StableHash64 with the same seed
  // (e.g. the cleaning table), so the split is not correlated with anything else.
  constexpr uint64_t kSplitSalt = 0x73706c6974ULL;  // "split"
  return UnitInterval(StableHash64(text, MixSeed(seed, kSplitSalt)));
}

std::vector<uint8_t> SplitRows(absl::Span<const Example> examples,
                               absl::Span<const uint32_t> rows, const SplitOptions& options) {
  std::vector<uint8_t> validation(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    validation[i] = IsValidation(examples[rows[i]].text, options) ? 1 : 0;
  }
  return validation;
}

}  // namespace murmur::data
