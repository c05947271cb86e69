// The token cache: a cleaned, split corpus tokenized once into one compact binary file, which
// trainers and evaluators memory-map instead of re-reading and re-tokenizing 240 MB of CSV.
//
// File layout (little-endian; every section starts at a multiple of 8 bytes):
//   header      fixed-size struct (magic "MURMTOKC", format version, sizes, the TokenCacheKey it
//               was built from, ingestion counts, section offsets, a hash of the payload and a
//               hash of the header itself)
//   ids         num_tokens ids, uint16 when vocab_size <= 65536 else int32
//   offsets     num_rows + 1 offsets into ids, uint32 when num_tokens < 2^32 else uint64
//   labels      num_rows uint8 (Label)
//   validation  num_rows uint8, 1 = validation row, 0 = training row
// Row i's ids are ids[offsets[i] .. offsets[i+1]), `[CLS] ... [SEP]`, at most max_length long.
//
// Files are written atomically (temporary file, fsync, rename), so a reader sees a whole old or
// a whole new cache. Open() validates the header and every offset before handing out access, so
// a truncated or corrupted file is an error (DATA_LOSS), never an out-of-bounds read. A cache is
// stale when its TokenCacheKey (vocabulary, source files, max_length, split, labels) or format
// version differs from what is wanted: Ingest (ingest.h) rebuilds it then.
#ifndef MURMUR_DATA_TOKEN_CACHE_H_
#define MURMUR_DATA_TOKEN_CACHE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/file.h"
#include "data/sentiment140.h"
#include "data/split.h"

namespace murmur::data {

// Bump when the layout, StableHash64, the split rule or the cleaning rule changes: caches of
// other versions are then rebuilt, never misread.
inline constexpr uint32_t kTokenCacheFormatVersion = 1;

// Turns a text into token ids. Production uses text::Tokenizer (see ingest.h); tests use fakes.
// Implementations must be safe to call from several threads at once.
class TextEncoder {
 public:
  virtual ~TextEncoder() = default;
  // `[CLS] ... [SEP]` into `ids` (cleared first), at most max_length ids, each in
  // [0, vocab_size()).
  virtual void EncodeInto(std::string_view text, int max_length,
                          std::vector<int32_t>* ids) const = 0;
  virtual int vocab_size() const = 0;
  // 64 hex characters identifying the vocabulary (text::Vocab::fingerprint()).
  virtual std::string vocab_fingerprint() const = 0;
};

// What a cache is built from. A cache whose key differs from the wanted key is stale.
struct TokenCacheKey {
  std::string vocab_fingerprint;   // 64 hex characters
  std::string source_fingerprint;  // 64 hex characters, see SourceFingerprint()
  // Rows are truncated to this many ids, [SEP] kept. Default 128 (Sentiment140's p99 is 48).
  int max_length = 128;
  SplitOptions split;
  bool include_neutral = false;  // ReadOptions::include_neutral the rows were read with

  bool operator==(const TokenCacheKey& other) const;
  bool operator!=(const TokenCacheKey& other) const { return !(*this == other); }
};

// SHA-256 (hex) over each file's canonical path, size and modification time. Content hashing
// would read the whole corpus on every start; a file rewritten in place gets a new mtime.
absl::StatusOr<std::string> SourceFingerprint(const std::vector<std::string>& files);

// Ingestion counts, stored so that a reused cache still reports what ingestion saw.
struct IngestCounts {
  uint64_t lines_read = 0;
  uint64_t malformed = 0;
  uint64_t duplicate_rows_dropped = 0;
  uint64_t conflicting_texts = 0;
  uint64_t conflicting_rows_dropped = 0;
};

// Everything the header says.
struct TokenCacheInfo {
  uint32_t format_version = 0;
  TokenCacheKey key;
  IngestCounts counts;
  uint32_t vocab_size = 0;
  uint32_t num_classes = 0;
  int id_bytes = 0;      // 2 or 4
  int offset_bytes = 0;  // 4 or 8
  uint64_t num_rows = 0;
  uint64_t num_tokens = 0;
  uint64_t num_validation = 0;
  uint64_t file_bytes = 0;
};

struct TokenCacheBuildOptions {
  // Tokenizer threads; 0 = std::thread::hardware_concurrency(). Default 0.
  int num_threads = 0;
};

struct TokenCacheBuildStats {
  double tokenize_seconds = 0;
  double write_seconds = 0;  // assembling the file image and writing it atomically
  uint64_t num_tokens = 0;
  uint64_t rows_at_max_length = 0;  // rows that hit max_length (most of them were truncated)
  uint64_t file_bytes = 0;
};

// Tokenizes examples[rows[i]].text for every i (on several threads) and writes the cache to
// `path`. `validation[i]` is 1 when row i is a validation row. `encoder` is borrowed for the
// call. INVALID_ARGUMENT for inconsistent inputs; INTERNAL when the encoder breaks its contract.
absl::StatusOr<TokenCacheBuildStats> BuildTokenCache(
    const std::string& path, const TokenCacheKey& key, const IngestCounts& counts,
    absl::Span<const Example> examples, absl::Span<const uint32_t> rows,
    absl::Span<const uint8_t> validation, const TextEncoder& encoder,
    const TokenCacheBuildOptions& options = {});

// Writes a cache from ids already in memory (tests, tools): row i is ids[i], labels[i],
// validation[i]. Same checks as BuildTokenCache.
absl::Status WriteTokenCache(const std::string& path, const TokenCacheKey& key,
                             const IngestCounts& counts, int vocab_size,
                             const std::vector<std::vector<int32_t>>& ids,
                             absl::Span<const uint8_t> labels,
                             absl::Span<const uint8_t> validation);

// A memory-mapped token cache. Owns the mapping. Immutable, so safe to read from many threads.
// Row arguments must be < num_rows() (checked only in debug builds: this is the batching hot
// path, and Open has already validated every offset).
class TokenCache {
 public:
  struct OpenOptions {
    // Also hash the payload and check every id against vocab_size: one pass over the file.
    // Default true; the structural checks that keep reads in bounds always run.
    bool verify_payload = true;
  };
  static absl::StatusOr<std::unique_ptr<TokenCache>> Open(const std::string& path,
                                                          const OpenOptions& options);
  static absl::StatusOr<std::unique_ptr<TokenCache>> Open(const std::string& path) {
    return Open(path, OpenOptions());
  }

  const TokenCacheInfo& info() const { return info_; }
  const std::string& path() const { return file_->path(); }
  uint64_t num_rows() const { return info_.num_rows; }

  int length(uint64_t row) const {
    return static_cast<int>(Offset(row + 1) - Offset(row));
  }
  uint8_t label(uint64_t row) const { return labels_[row]; }
  bool is_validation(uint64_t row) const { return validation_[row] != 0; }
  // Writes the length(row) ids of `row` to out[0 .. length(row)).
  void CopyIds(uint64_t row, int32_t* out) const;
  std::vector<int32_t> Ids(uint64_t row) const;

  // Row numbers of the training and the validation rows, ascending. Samplers index these.
  const std::vector<uint32_t>& train_rows() const { return train_rows_; }
  const std::vector<uint32_t>& validation_rows() const { return validation_rows_; }

 private:
  TokenCache() = default;
  uint64_t Offset(uint64_t i) const {
    if (info_.offset_bytes == 4) return reinterpret_cast<const uint32_t*>(offsets_)[i];
    return reinterpret_cast<const uint64_t*>(offsets_)[i];
  }

  std::unique_ptr<MappedFile> file_;
  TokenCacheInfo info_;
  const uint8_t* ids_ = nullptr;
  const uint8_t* offsets_ = nullptr;
  const uint8_t* labels_ = nullptr;
  const uint8_t* validation_ = nullptr;
  std::vector<uint32_t> train_rows_;
  std::vector<uint32_t> validation_rows_;
};

}  // namespace murmur::data

#endif  // MURMUR_DATA_TOKEN_CACHE_H_
