#include "data/token_cache.h"

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "base/random.h"
#include "base/sha256.h"

namespace murmur::data {
namespace {

constexpr char kMagic[8] = {'M', 'U', 'R', 'M', 'T', 'O', 'K', 'C'};
constexpr uint32_t kFlagIncludeNeutral = 1;
constexpr size_t kFingerprintChars = 64;
// Lengths are stored implicitly in offsets; this bounds max_length so lengths fit an int.
constexpr int kMaxMaxLength = 1 << 20;

// The on-disk header, copied with memcpy (the map is page-aligned; no packing needed: every
// field is naturally aligned and the static_asserts below pin the layout).
struct RawHeader {
  char magic[8];
  uint32_t format_version;
  uint32_t header_bytes;
  uint32_t id_bytes;
  uint32_t offset_bytes;
  uint32_t vocab_size;
  uint32_t max_length;
  uint32_t num_classes;
  uint32_t flags;
  uint64_t num_rows;
  uint64_t num_tokens;
  uint64_t num_validation;
  uint64_t split_seed;
  double validation_fraction;
  uint64_t lines_read;
  uint64_t malformed;
  uint64_t duplicate_rows_dropped;
  uint64_t conflicting_texts;
  uint64_t conflicting_rows_dropped;
  uint64_t ids_offset;
  uint64_t offsets_offset;
  uint64_t labels_offset;
  uint64_t validation_offset;
  uint64_t file_bytes;
  uint64_t payload_hash;  // StableHash64 of bytes [header_bytes, file_bytes)
  char vocab_fingerprint[kFingerprintChars];
  char source_fingerprint[kFingerprintChars];
  uint64_t header_hash;  // StableHash64 of the bytes before this field
};
static_assert(std::is_trivially_copyable_v<RawHeader>);
static_assert(sizeof(RawHeader) == 304, "the header layout is part of the file format");
static_assert(offsetof(RawHeader, header_hash) == sizeof(RawHeader) - 8);

constexpr uint64_t kHashSeed = 0x6d75726d7572ULL;  // "murmur"

uint64_t AlignUp(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

// Section offsets implied by the counts: the writer uses them and the reader insists on them.
struct Layout {
  int id_bytes = 2;
  int offset_bytes = 4;
  uint64_t ids = 0, offsets = 0, labels = 0, validation = 0, file_bytes = 0;
};

Layout ComputeLayout(uint32_t vocab_size, uint64_t num_rows, uint64_t num_tokens) {
  Layout layout;
  layout.id_bytes = vocab_size <= 65536 ? 2 : 4;
  layout.offset_bytes = num_tokens < (uint64_t{1} << 32) ? 4 : 8;
  layout.ids = AlignUp(sizeof(RawHeader));
  layout.offsets = AlignUp(layout.ids + num_tokens * layout.id_bytes);
  layout.labels = AlignUp(layout.offsets + (num_rows + 1) * layout.offset_bytes);
  layout.validation = AlignUp(layout.labels + num_rows);
  layout.file_bytes = layout.validation + num_rows;
  return layout;
}

// Ids of consecutive rows as one thread produced them, at the file's id width.
struct EncodedChunk {
  std::vector<uint16_t> ids16;
  std::vector<int32_t> ids32;
  std::vector<uint32_t> lengths;
  uint64_t rows_at_max_length = 0;
  std::string error;  // set when the encoder broke its contract

  size_t num_ids() const { return ids16.size() + ids32.size(); }
  const void* id_data() const {
    return ids16.empty() ? static_cast<const void*>(ids32.data()) : ids16.data();
  }
};

// Appends `ids` to `chunk` after checking the encoder's contract.
void AppendIds(const std::vector<int32_t>& ids, int vocab_size, int max_length, int id_bytes,
               EncodedChunk* chunk) {
  if (ids.size() > static_cast<size_t>(max_length)) {
    chunk->error = absl::StrCat("encoder returned ", ids.size(), " ids for max_length ",
                                max_length);
    return;
  }
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size) {
      chunk->error = absl::StrCat("encoder returned id ", id, " outside vocabulary of ",
                                  vocab_size);
      return;
    }
  }
  if (id_bytes == 2) {
    chunk->ids16.insert(chunk->ids16.end(), ids.begin(), ids.end());
  } else {
    chunk->ids32.insert(chunk->ids32.end(), ids.begin(), ids.end());
  }
  chunk->lengths.push_back(static_cast<uint32_t>(ids.size()));
  if (ids.size() == static_cast<size_t>(max_length)) ++chunk->rows_at_max_length;
}

absl::Status ValidateKey(const TokenCacheKey& key) {
  if (key.vocab_fingerprint.size() != kFingerprintChars ||
      key.source_fingerprint.size() != kFingerprintChars) {
    return absl::InvalidArgumentError(
        "token cache key needs 64-character vocab and source fingerprints");
  }
  if (key.max_length < 2 || key.max_length > kMaxMaxLength) {
    return absl::InvalidArgumentError(absl::StrCat("max_length must be in [2, ", kMaxMaxLength,
                                                   "], got ", key.max_length));
  }
  return ValidateSplitOptions(key.split);
}

absl::Status ValidateRows(size_t rows, absl::Span<const uint8_t> labels,
                          absl::Span<const uint8_t> validation, bool include_neutral) {
  if (rows >= UINT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("token cache row count ", rows,
                                                   " does not fit uint32 row numbers"));
  }
  if (labels.size() != rows || validation.size() != rows) {
    return absl::InvalidArgumentError(absl::StrCat("token cache inputs disagree: ", rows,
                                                   " rows, ", labels.size(), " labels, ",
                                                   validation.size(), " validation flags"));
  }
  const uint8_t num_classes = include_neutral ? 3 : 2;
  for (size_t i = 0; i < rows; ++i) {
    if (labels[i] >= num_classes || validation[i] > 1) {
      return absl::InvalidArgumentError(absl::StrCat("row ", i, " has label ", labels[i],
                                                     " / validation flag ", validation[i]));
    }
  }
  return absl::OkStatus();
}

// Lays out the whole file in memory and writes it atomically. `chunks` hold the ids of
// consecutive rows; they are released as they are copied to keep the peak low.
absl::Status WriteImage(const std::string& path, const TokenCacheKey& key,
                        const IngestCounts& counts, int vocab_size,
                        std::vector<EncodedChunk>& chunks, absl::Span<const uint8_t> labels,
                        absl::Span<const uint8_t> validation, uint64_t* file_bytes) {
  uint64_t num_rows = 0, num_tokens = 0, num_validation = 0;
  for (const EncodedChunk& chunk : chunks) {
    num_rows += chunk.lengths.size();
    num_tokens += chunk.num_ids();
  }
  for (uint8_t v : validation) num_validation += v;
  const Layout layout = ComputeLayout(static_cast<uint32_t>(vocab_size), num_rows, num_tokens);

  std::string image(layout.file_bytes, '\0');
  char* base = image.data();
  uint64_t token = 0, row = 0;
  for (EncodedChunk& chunk : chunks) {
    std::memcpy(base + layout.ids + token * layout.id_bytes, chunk.id_data(),
                chunk.num_ids() * layout.id_bytes);
    for (uint32_t length : chunk.lengths) {
      if (layout.offset_bytes == 4) {
        const uint32_t offset = static_cast<uint32_t>(token);
        std::memcpy(base + layout.offsets + row * 4, &offset, 4);
      } else {
        std::memcpy(base + layout.offsets + row * 8, &token, 8);
      }
      token += length;
      ++row;
    }
    chunk = EncodedChunk();
  }
  if (layout.offset_bytes == 4) {
    const uint32_t offset = static_cast<uint32_t>(token);
    std::memcpy(base + layout.offsets + row * 4, &offset, 4);
  } else {
    std::memcpy(base + layout.offsets + row * 8, &token, 8);
  }
  if (num_rows > 0) {
    std::memcpy(base + layout.labels, labels.data(), num_rows);
    std::memcpy(base + layout.validation, validation.data(), num_rows);
  }

  RawHeader header;
  std::memset(&header, 0, sizeof(header));
  std::memcpy(header.magic, kMagic, sizeof(kMagic));
  header.format_version = kTokenCacheFormatVersion;
  header.header_bytes = sizeof(RawHeader);
  header.id_bytes = layout.id_bytes;
  header.offset_bytes = layout.offset_bytes;
  header.vocab_size = static_cast<uint32_t>(vocab_size);
  header.max_length = static_cast<uint32_t>(key.max_length);
  header.num_classes = key.include_neutral ? 3 : 2;
  header.flags = key.include_neutral ? kFlagIncludeNeutral : 0;
  header.num_rows = num_rows;
  header.num_tokens = num_tokens;
  header.num_validation = num_validation;
  header.split_seed = key.split.seed;
  header.validation_fraction = key.split.validation_fraction;
  header.lines_read = counts.lines_read;
  header.malformed = counts.malformed;
  header.duplicate_rows_dropped = counts.duplicate_rows_dropped;
  header.conflicting_texts = counts.conflicting_texts;
  header.conflicting_rows_dropped = counts.conflicting_rows_dropped;
  header.ids_offset = layout.ids;
  header.offsets_offset = layout.offsets;
  header.labels_offset = layout.labels;
  header.validation_offset = layout.validation;
  header.file_bytes = layout.file_bytes;
  header.payload_hash = StableHash64(
      std::string_view(base + sizeof(RawHeader), layout.file_bytes - sizeof(RawHeader)),
      kHashSeed);
  std::memcpy(header.vocab_fingerprint, key.vocab_fingerprint.data(), kFingerprintChars);
  std::memcpy(header.source_fingerprint, key.source_fingerprint.data(), kFingerprintChars);
  header.header_hash = StableHash64(
      std::string_view(reinterpret_cast<const char*>(&header), offsetof(RawHeader, header_hash)),
      kHashSeed);
  std::memcpy(base, &header, sizeof(header));

  *file_bytes = layout.file_bytes;
  return WriteFileAtomically(path, image);
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

bool TokenCacheKey::operator==(const TokenCacheKey& other) const {
  return vocab_fingerprint == other.vocab_fingerprint &&
         source_fingerprint == other.source_fingerprint && max_length == other.max_length &&
         split == other.split && include_neutral == other.include_neutral;
}

absl::StatusOr<std::string> SourceFingerprint(const std::vector<std::string>& files) {
  std::string description = "murmur-source-fingerprint-v1\n";
  for (const std::string& file : files) {
    auto stat = StatFile(file);
    if (!stat.ok()) return stat.status();
    char* resolved = ::realpath(file.c_str(), nullptr);
    std::string canonical = resolved != nullptr ? resolved : file;
    std::free(resolved);
    absl::StrAppend(&description, canonical, "\t", stat->size, "\t", stat->mtime_ns, "\n");
  }
  return Sha256Hex(description);
}

absl::StatusOr<TokenCacheBuildStats> BuildTokenCache(
    const std::string& path, const TokenCacheKey& key, const IngestCounts& counts,
    absl::Span<const Example> examples, absl::Span<const uint32_t> rows,
    absl::Span<const uint8_t> validation, const TextEncoder& encoder,
    const TokenCacheBuildOptions& options) {
  if (auto status = ValidateKey(key); !status.ok()) return status;
  if (encoder.vocab_fingerprint() != key.vocab_fingerprint) {
    return absl::InvalidArgumentError("encoder vocabulary differs from the cache key's");
  }
  std::vector<uint8_t> labels(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] >= examples.size()) {
      return absl::InvalidArgumentError(absl::StrCat("row ", rows[i], " is not an example"));
    }
    labels[i] = examples[rows[i]].label;
  }
  if (auto status = ValidateRows(rows.size(), labels, validation, key.include_neutral);
      !status.ok()) {
    return status;
  }

  TokenCacheBuildStats stats;
  auto start = std::chrono::steady_clock::now();
  const int vocab_size = encoder.vocab_size();
  const int id_bytes = ComputeLayout(static_cast<uint32_t>(vocab_size), 0, 0).id_bytes;
  int threads = options.num_threads > 0 ? options.num_threads
                                        : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min<int>(threads, static_cast<int>(rows.size() / 1024) + 1));
  // Contiguous chunks keep the output in row order without a merge; tweets are short and
  // similar, so equal row counts are equal work.
  std::vector<EncodedChunk> chunks(threads);
  auto encode_chunk = [&](int k) {
    const size_t begin = rows.size() * k / threads;
    const size_t end = rows.size() * (k + 1) / threads;
    EncodedChunk& chunk = chunks[k];
    chunk.lengths.reserve(end - begin);
    // ~25 ids per tweet; reserving avoids repeated regrowth of a large buffer.
    if (id_bytes == 2) {
      chunk.ids16.reserve((end - begin) * 28);
    } else {
      chunk.ids32.reserve((end - begin) * 28);
    }
    std::vector<int32_t> ids;
    for (size_t i = begin; i < end && chunk.error.empty(); ++i) {
      encoder.EncodeInto(examples[rows[i]].text, key.max_length, &ids);
      AppendIds(ids, vocab_size, key.max_length, id_bytes, &chunk);
    }
  };
  std::vector<std::thread> workers;
  for (int k = 1; k < threads; ++k) workers.emplace_back(encode_chunk, k);
  encode_chunk(0);
  for (std::thread& worker : workers) worker.join();
  for (const EncodedChunk& chunk : chunks) {
    if (!chunk.error.empty()) return absl::InternalError(chunk.error);
    stats.num_tokens += chunk.num_ids();
    stats.rows_at_max_length += chunk.rows_at_max_length;
  }
  stats.tokenize_seconds = SecondsSince(start);

  start = std::chrono::steady_clock::now();
  if (auto status = WriteImage(path, key, counts, vocab_size, chunks, labels, validation,
                               &stats.file_bytes);
      !status.ok()) {
    return status;
  }
  stats.write_seconds = SecondsSince(start);
  return stats;
}

absl::Status WriteTokenCache(const std::string& path, const TokenCacheKey& key,
                             const IngestCounts& counts, int vocab_size,
                             const std::vector<std::vector<int32_t>>& ids,
                             absl::Span<const uint8_t> labels,
                             absl::Span<const uint8_t> validation) {
  if (auto status = ValidateKey(key); !status.ok()) return status;
  if (vocab_size <= 0) return absl::InvalidArgumentError("vocab_size must be positive");
  if (auto status = ValidateRows(ids.size(), labels, validation, key.include_neutral);
      !status.ok()) {
    return status;
  }
  std::vector<EncodedChunk> chunks(1);
  const int id_bytes = ComputeLayout(static_cast<uint32_t>(vocab_size), 0, 0).id_bytes;
  for (const std::vector<int32_t>& row : ids) {
    AppendIds(row, vocab_size, key.max_length, id_bytes, &chunks[0]);
    if (!chunks[0].error.empty()) return absl::InvalidArgumentError(chunks[0].error);
  }
  uint64_t file_bytes = 0;
  return WriteImage(path, key, counts, vocab_size, chunks, labels, validation, &file_bytes);
}

absl::StatusOr<std::unique_ptr<TokenCache>> TokenCache::Open(const std::string& path,
                                                             const OpenOptions& options) {
  auto file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  auto corrupt = [&path](const std::string& why) {
    return absl::DataLossError(absl::StrCat("token cache ", path, ": ", why));
  };
  const uint8_t* data = (*file)->data();
  const uint64_t size = (*file)->size();
  if (size < sizeof(RawHeader)) {
    return corrupt(absl::StrCat("truncated: ", size, " bytes, the header alone needs ",
                                sizeof(RawHeader)));
  }
  RawHeader header;
  std::memcpy(&header, data, sizeof(header));
  if (std::memcmp(header.magic, kMagic, sizeof(kMagic)) != 0) {
    return corrupt("not a murmur token cache (bad magic)");
  }
  if (header.format_version != kTokenCacheFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("token cache ", path, " has format version ", header.format_version,
                     ", this build reads version ", kTokenCacheFormatVersion, ": rebuild it"));
  }
  const uint64_t header_hash = StableHash64(
      std::string_view(reinterpret_cast<const char*>(data), offsetof(RawHeader, header_hash)),
      kHashSeed);
  if (header_hash != header.header_hash) return corrupt("header checksum mismatch");
  // The header is intact; now check that its numbers describe this file exactly. Bounding the
  // counts by the file size first keeps ComputeLayout free of overflow.
  if (header.header_bytes != sizeof(RawHeader) || header.num_rows > size ||
      header.num_tokens > size || header.num_rows >= UINT32_MAX || header.vocab_size == 0 ||
      header.max_length < 2 || header.max_length > kMaxMaxLength ||
      (header.num_classes != 2 && header.num_classes != 3)) {
    return corrupt("implausible header values");
  }
  const Layout layout = ComputeLayout(header.vocab_size, header.num_rows, header.num_tokens);
  if (header.id_bytes != static_cast<uint32_t>(layout.id_bytes) ||
      header.offset_bytes != static_cast<uint32_t>(layout.offset_bytes) ||
      header.ids_offset != layout.ids || header.offsets_offset != layout.offsets ||
      header.labels_offset != layout.labels || header.validation_offset != layout.validation ||
      header.file_bytes != layout.file_bytes) {
    return corrupt("section layout does not match the counts");
  }
  if (size != layout.file_bytes) {
    return corrupt(absl::StrCat(size < layout.file_bytes ? "truncated: " : "trailing bytes: ",
                                size, " bytes, header says ", layout.file_bytes));
  }
  if (options.verify_payload &&
      StableHash64(std::string_view(reinterpret_cast<const char*>(data) + sizeof(RawHeader),
                                    size - sizeof(RawHeader)),
                   kHashSeed) != header.payload_hash) {
    return corrupt("payload checksum mismatch");
  }

  std::unique_ptr<TokenCache> cache(new TokenCache());
  TokenCacheInfo& info = cache->info_;
  info.format_version = header.format_version;
  info.key.vocab_fingerprint.assign(header.vocab_fingerprint, kFingerprintChars);
  info.key.source_fingerprint.assign(header.source_fingerprint, kFingerprintChars);
  info.key.max_length = static_cast<int>(header.max_length);
  info.key.split.seed = header.split_seed;
  info.key.split.validation_fraction = header.validation_fraction;
  info.key.include_neutral = (header.flags & kFlagIncludeNeutral) != 0;
  info.counts = {header.lines_read, header.malformed, header.duplicate_rows_dropped,
                 header.conflicting_texts, header.conflicting_rows_dropped};
  info.vocab_size = header.vocab_size;
  info.num_classes = header.num_classes;
  info.id_bytes = layout.id_bytes;
  info.offset_bytes = layout.offset_bytes;
  info.num_rows = header.num_rows;
  info.num_tokens = header.num_tokens;
  info.num_validation = header.num_validation;
  info.file_bytes = layout.file_bytes;
  cache->ids_ = data + layout.ids;
  cache->offsets_ = data + layout.offsets;
  cache->labels_ = data + layout.labels;
  cache->validation_ = data + layout.validation;

  // Offsets decide every later read: check them all, always.
  if (cache->Offset(0) != 0 || cache->Offset(info.num_rows) != info.num_tokens) {
    return corrupt("offsets do not span the ids");
  }
  for (uint64_t row = 0; row < info.num_rows; ++row) {
    const uint64_t begin = cache->Offset(row), end = cache->Offset(row + 1);
    if (end < begin || end - begin > header.max_length) {
      return corrupt(absl::StrCat("row ", row, " has a bad offset range"));
    }
    if (cache->labels_[row] >= info.num_classes || cache->validation_[row] > 1) {
      return corrupt(absl::StrCat("row ", row, " has a bad label or validation flag"));
    }
  }
  cache->validation_rows_.reserve(info.num_validation);
  cache->train_rows_.reserve(info.num_rows - std::min(info.num_rows, info.num_validation));
  for (uint32_t row = 0; row < info.num_rows; ++row) {
    (cache->validation_[row] ? cache->validation_rows_ : cache->train_rows_).push_back(row);
  }
  if (cache->validation_rows_.size() != info.num_validation) {
    return corrupt("validation count does not match the flags");
  }
  if (options.verify_payload) {
    for (uint64_t i = 0; i < info.num_tokens; ++i) {
      const uint32_t id = info.id_bytes == 2
                              ? reinterpret_cast<const uint16_t*>(cache->ids_)[i]
                              : static_cast<uint32_t>(reinterpret_cast<const int32_t*>(cache->ids_)[i]);
      if (id >= info.vocab_size) return corrupt(absl::StrCat("id ", id, " outside vocabulary"));
    }
  }
  cache->file_ = std::move(*file);
  return cache;
}

void TokenCache::CopyIds(uint64_t row, int32_t* out) const {
  const uint64_t begin = Offset(row), end = Offset(row + 1);
  if (info_.id_bytes == 2) {
    const uint16_t* ids = reinterpret_cast<const uint16_t*>(ids_) + begin;
    for (uint64_t i = 0; i < end - begin; ++i) out[i] = ids[i];
  } else {
    std::memcpy(out, reinterpret_cast<const int32_t*>(ids_) + begin, (end - begin) * 4);
  }
}

std::vector<int32_t> TokenCache::Ids(uint64_t row) const {
  std::vector<int32_t> ids(length(row));
  CopyIds(row, ids.data());
  return ids;
}

}  // namespace murmur::data
