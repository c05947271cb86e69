// Ingestion: read -> clean -> split -> tokenize -> token cache, or reuse the cache when it is
// fresh. The one entry point the `murmur ingest` command, the benchmark and the coordinator
// share, so they cannot disagree on how a corpus becomes training data.
#ifndef MURMUR_DATA_INGEST_H_
#define MURMUR_DATA_INGEST_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "data/cleaning.h"
#include "data/sentiment140.h"
#include "data/split.h"
#include "data/token_cache.h"
#include "text/tokenizer.h"

namespace murmur::data {

struct IngestOptions {
  ReadOptions read;  // read.num_threads is overridden by num_threads when that is > 0
  SplitOptions split;
  // Rows are truncated to this many ids ([CLS] and [SEP] included). Default 128.
  int max_length = 128;
  // Threads for parsing and tokenizing; 0 = all cores. Default 0.
  int num_threads = 0;
  // Rebuild even when the cache is fresh (benchmarks). Default false.
  bool force_rebuild = false;
};

struct IngestReport {
  bool cache_reused = false;
  // Counts. On reuse they come from the cache header; malformed examples are then not known.
  ReadReport read;
  CleanReport clean;
  uint64_t train_rows = 0;
  uint64_t validation_rows = 0;
  uint64_t tokens = 0;
  uint64_t rows_at_max_length = 0;  // not known on reuse
  uint64_t cache_bytes = 0;
  // Wall seconds per phase (zero for phases that did not run).
  double read_seconds = 0, clean_seconds = 0, split_seconds = 0, tokenize_seconds = 0,
         write_seconds = 0, total_seconds = 0;

  // Multi-line human-readable summary.
  std::string ToString() const;
};

// text::Tokenizer as a TextEncoder. Borrows the tokenizer, which must outlive it. Thread-safe
// (Tokenizer::EncodeInto is const and thread-safe).
class TokenizerEncoder : public TextEncoder {
 public:
  explicit TokenizerEncoder(const text::Tokenizer* tokenizer) : tokenizer_(tokenizer) {}
  void EncodeInto(std::string_view text, int max_length,
                  std::vector<int32_t>* ids) const override {
    tokenizer_->EncodeInto(text, max_length, ids);
  }
  int vocab_size() const override { return tokenizer_->vocab().size(); }
  std::string vocab_fingerprint() const override { return tokenizer_->vocab().fingerprint(); }

 private:
  const text::Tokenizer* tokenizer_;
};

// Makes `cache_path` a fresh token cache of the corpus at `data_path` (a Sentiment140 CSV or a
// directory with negative.txt/positive.txt). INVALID_ARGUMENT when options are out of range or
// no row survives reading and cleaning (the message carries the malformed summary).
absl::StatusOr<IngestReport> Ingest(const std::string& data_path, const TextEncoder& encoder,
                                    const std::string& cache_path,
                                    const IngestOptions& options = {});

inline absl::StatusOr<IngestReport> Ingest(const std::string& data_path,
                                           const text::Tokenizer& tokenizer,
                                           const std::string& cache_path,
                                           const IngestOptions& options = {}) {
  return Ingest(data_path, TokenizerEncoder(&tokenizer), cache_path, options);
}

}  // namespace murmur::data

#endif  // MURMUR_DATA_INGEST_H_
