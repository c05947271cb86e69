// A small tweet-like corpus made from templates, for machines without the Sentiment140 data:
// the main job still runs end to end (with a warning that the model learns templates, not real
// sentiment). Each text pairs a subject with sentiment-bearing phrases of its label, plus
// neutral fillers, mentions and hashtags. Deterministic from the seed.
#ifndef MURMUR_DATA_SYNTHETIC_CORPUS_H_
#define MURMUR_DATA_SYNTHETIC_CORPUS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace murmur::data {

struct SyntheticTexts {
  std::vector<std::string> negative;
  std::vector<std::string> positive;
};

// `per_class` texts of each label.
SyntheticTexts SynthesizeTexts(int per_class, uint64_t seed);

// Writes DIR/negative.txt and DIR/positive.txt (the layout ReadCorpus reads).
absl::Status WriteSyntheticCorpus(const std::string& dir, int per_class, uint64_t seed);

}  // namespace murmur::data

#endif  // MURMUR_DATA_SYNTHETIC_CORPUS_H_
