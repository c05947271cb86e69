// Builds a Sentiment140-sized corpus in the exact original CSV format from real tweets, for
// scale tests and benchmarks (the 1.6M-row original cannot be obtained here).
//
// Layout mimics the original: the first half of the rows is negative (target 0), the second
// positive (target 4); ids ascend within each half and interleave across halves; dates run from
// Mon Apr 06 22:19:45 PDT 2009 over ~70 days; flag NO_QUERY; users drawn from the @mentions of
// the source tweets; no trailing newline after the last row. Each half first emits every
// source text of its label once, unchanged, then recombinations of them: word-level splices of
// two tweets of the same label, swapped or added @mentions, case changes, punctuation,
// appended hashtags. A configurable share of rows adds latin-1 bytes 0x80-0xFF, phrases in
// double quotes (written as `""`), exact duplicates and conflicting-label duplicates, so that
// the reader and the cleaning step have real work. Deterministic from the seed.
#ifndef MURMUR_DATA_CORPUS_GENERATOR_H_
#define MURMUR_DATA_CORPUS_GENERATOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace murmur::data {

struct CorpusGeneratorOptions {
  // Rows to write. Default 1,600,000 (the original's size).
  uint64_t rows = 1600000;
  // Default 1.
  uint64_t seed = 1;
  // Share of recombined rows repeating a recent text of the same label. Default 0.01.
  double duplicate_fraction = 0.01;
  // Share of recombined rows repeating a source text of the other label. Default 0.001.
  double conflict_fraction = 0.001;
  // Share of recombined rows given latin-1 bytes 0x80-0xFF. Default 0.01.
  double latin1_fraction = 0.01;
  // Share of recombined rows with a word in double quotes. Default 0.01.
  double quote_fraction = 0.01;
};

struct CorpusGeneratorReport {
  uint64_t rows = 0;
  uint64_t negative_rows = 0;
  uint64_t positive_rows = 0;
  uint64_t source_rows = 0;  // source texts emitted unchanged
  uint64_t duplicate_rows = 0;
  uint64_t conflict_rows = 0;
  uint64_t latin1_rows = 0;
  uint64_t quoted_rows = 0;
  uint64_t bytes = 0;
};

// Holds the source tweets (latin-1 bytes, as they appear in the CSV). Immutable after
// construction; Generate is const and may run on several threads.
class CorpusGenerator {
 public:
  // Both lists must be non-empty; texts must not contain newlines.
  CorpusGenerator(std::vector<std::string> negative, std::vector<std::string> positive);

  // The whole CSV file contents.
  std::string Generate(const CorpusGeneratorOptions& options,
                       CorpusGeneratorReport* report) const;

 private:
  std::vector<std::string> texts_[2];  // [label]
  std::vector<std::string> users_;     // sorted, distinct
};

// "Mon Apr 06 22:19:45 PDT 2009" advanced by `seconds` (the original's first timestamp plus
// `seconds`, in its PDT wall-clock format). Exposed for tests.
std::string FormatSentiment140Date(uint64_t seconds);

// Reads the source tweets from `source_path` (anything ReadCorpus accepts: a directory with
// negative.txt/positive.txt, or a Sentiment140 CSV) and writes the generated CSV to `out_path`
// atomically.
absl::StatusOr<CorpusGeneratorReport> GenerateCorpusFile(const std::string& source_path,
                                                         const std::string& out_path,
                                                         const CorpusGeneratorOptions& options);

}  // namespace murmur::data

#endif  // MURMUR_DATA_CORPUS_GENERATOR_H_
