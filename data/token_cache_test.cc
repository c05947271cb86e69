#include "data/token_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "data/testing.h"

namespace murmur::data {
namespace {

using ::murmur::data::testing::FakeEncoder;
using ::murmur::data::testing::TempPath;

TokenCacheKey Key(int max_length = 16) {
  TokenCacheKey key;
  key.vocab_fingerprint = FakeEncoder().vocab_fingerprint();
  key.source_fingerprint = std::string(64, 'a');
  key.max_length = max_length;
  return key;
}

struct Rows {
  std::vector<std::vector<int32_t>> ids;
  std::vector<uint8_t> labels;
  std::vector<uint8_t> validation;
};

Rows SampleRows() {
  Rows rows;
  rows.ids = {{101, 7, 102}, {101, 102}, {101, 5, 6, 7, 8, 9, 102}, {101, 30000, 102}};
  rows.labels = {0, 1, 1, 0};
  rows.validation = {0, 1, 0, 0};
  return rows;
}

std::string WriteSample(const TokenCacheKey& key = Key(), int vocab_size = 30522) {
  const std::string path = TempPath("sample.cache");
  Rows rows = SampleRows();
  IngestCounts counts;
  counts.lines_read = 9;
  counts.malformed = 2;
  counts.duplicate_rows_dropped = 3;
  EXPECT_TRUE(WriteTokenCache(path, key, counts, vocab_size, rows.ids, rows.labels,
                              rows.validation)
                  .ok());
  return path;
}

TEST(TokenCacheTest, RoundTrip) {
  const std::string path = WriteSample();
  auto cache = TokenCache::Open(path);
  ASSERT_TRUE(cache.ok()) << cache.status();
  const TokenCacheInfo& info = (*cache)->info();
  EXPECT_EQ(info.format_version, kTokenCacheFormatVersion);
  EXPECT_EQ(info.key, Key());
  EXPECT_EQ(info.num_rows, 4u);
  EXPECT_EQ(info.num_tokens, 15u);
  EXPECT_EQ(info.num_validation, 1u);
  EXPECT_EQ(info.id_bytes, 2);
  EXPECT_EQ(info.offset_bytes, 4);
  EXPECT_EQ(info.num_classes, 2u);
  EXPECT_EQ(info.counts.lines_read, 9u);
  EXPECT_EQ(info.counts.malformed, 2u);
  EXPECT_EQ(info.counts.duplicate_rows_dropped, 3u);
  Rows rows = SampleRows();
  for (uint64_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*cache)->Ids(i), rows.ids[i]);
    EXPECT_EQ((*cache)->length(i), static_cast<int>(rows.ids[i].size()));
    EXPECT_EQ((*cache)->label(i), rows.labels[i]);
    EXPECT_EQ((*cache)->is_validation(i), rows.validation[i] == 1);
  }
  EXPECT_EQ((*cache)->train_rows(), (std::vector<uint32_t>{0, 2, 3}));
  EXPECT_EQ((*cache)->validation_rows(), (std::vector<uint32_t>{1}));
}

TEST(TokenCacheTest, WideIdsForLargeVocabularies) {
  TokenCacheKey key = Key();
  const std::string path = TempPath("wide.cache");
  std::vector<std::vector<int32_t>> ids = {{101, 70000, 102}};
  ASSERT_TRUE(WriteTokenCache(path, key, {}, 100000, ids, std::vector<uint8_t>{1},
                              std::vector<uint8_t>{0})
                  .ok());
  auto cache = TokenCache::Open(path);
  ASSERT_TRUE(cache.ok()) << cache.status();
  EXPECT_EQ((*cache)->info().id_bytes, 4);
  EXPECT_EQ((*cache)->Ids(0), ids[0]);
}

TEST(TokenCacheTest, RejectsBadInputs) {
  Rows rows = SampleRows();
  const std::string path = TempPath("bad.cache");
  TokenCacheKey short_key = Key(/*max_length=*/4);  // row 2 has 7 ids
  EXPECT_EQ(WriteTokenCache(path, short_key, {}, 30522, rows.ids, rows.labels, rows.validation)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(WriteTokenCache(path, Key(), {}, 1000, rows.ids, rows.labels, rows.validation)
                   .ok());  // id 30000 outside the vocabulary
  rows.labels[0] = 2;  // neutral without include_neutral
  EXPECT_FALSE(WriteTokenCache(path, Key(), {}, 30522, rows.ids, rows.labels, rows.validation)
                   .ok());
  TokenCacheKey bad = Key();
  bad.vocab_fingerprint = "short";
  EXPECT_FALSE(WriteTokenCache(path, bad, {}, 30522, {}, {}, {}).ok());
  EXPECT_FALSE(PathExists(path));
}

TEST(TokenCacheTest, EveryTruncationIsAnErrorNotACrash) {
  const std::string path = WriteSample();
  const std::string bytes = *ReadFile(path);
  for (size_t length = 0; length < bytes.size(); ++length) {
    const std::string cut = TempPath("cut.cache");
    ASSERT_TRUE(WriteFileAtomically(cut, bytes.substr(0, length)).ok());
    auto cache = TokenCache::Open(cut, {/*verify_payload=*/false});
    ASSERT_FALSE(cache.ok()) << "length " << length;
    EXPECT_EQ(cache.status().code(), absl::StatusCode::kDataLoss) << cache.status();
    ::unlink(cut.c_str());
  }
  // Extra bytes are also wrong.
  const std::string longer = TempPath("long.cache");
  ASSERT_TRUE(WriteFileAtomically(longer, bytes + "x").ok());
  EXPECT_EQ(TokenCache::Open(longer).status().code(), absl::StatusCode::kDataLoss);
}

TEST(TokenCacheTest, CorruptionIsDetected) {
  const std::string path = WriteSample();
  const std::string bytes = *ReadFile(path);
  auto open_modified = [&](size_t at, char value, bool verify) {
    std::string copy = bytes;
    copy[at] = value;
    const std::string modified = TempPath("mod.cache");
    EXPECT_TRUE(WriteFileAtomically(modified, copy).ok());
    return TokenCache::Open(modified, {verify}).status();
  };
  // Header byte (num_rows) -> header checksum.
  absl::Status header = open_modified(48, 9, false);
  EXPECT_EQ(header.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(header.message().find("header checksum"), std::string::npos) << header;
  // Payload byte (an id) -> payload checksum when verifying.
  absl::Status payload = open_modified(304, 1, true);
  EXPECT_NE(payload.message().find("payload checksum"), std::string::npos) << payload;
  // Offsets (start after 15 two-byte ids, aligned to 8: 304 + 32 = 336); offset[1] = 255 points
  // past the ids. Without payload verification the structural check must still catch it.
  absl::Status offsets = open_modified(336 + 4, static_cast<char>(0xff), false);
  EXPECT_EQ(offsets.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(offsets.message().find("offset"), std::string::npos) << offsets;
  // Magic.
  EXPECT_NE(open_modified(0, 'X', false).message().find("magic"), std::string::npos);
  // Format version: a clear "rebuild" error, not corruption.
  absl::Status version = open_modified(8, 99, false);
  EXPECT_EQ(version.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(version.message().find("rebuild"), std::string::npos);
}

TEST(TokenCacheTest, RandomCorruptionNeverCrashes) {
  const std::string path = WriteSample();
  const std::string bytes = *ReadFile(path);
  uint64_t state = 99;
  int detected = 0;
  for (int round = 0; round < 300; ++round) {
    std::string copy = bytes;
    for (int flips = 0; flips < 1 + round % 4; ++flips) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      copy[(state >> 33) % copy.size()] ^= static_cast<char>(1 + (state >> 20) % 255);
    }
    const std::string modified = TempPath("fuzz.cache");
    ASSERT_TRUE(WriteFileAtomically(modified, copy).ok());
    auto cache = TokenCache::Open(modified);
    if (!cache.ok()) {
      ++detected;
    } else {
      for (uint64_t r = 0; r < (*cache)->num_rows(); ++r) (*cache)->Ids(r);
    }
    ::unlink(modified.c_str());
  }
  EXPECT_EQ(detected, 300);  // with payload verification every flip is caught
}

TEST(TokenCacheTest, BuildTokenizesOnThreadsAndIsByteIdentical) {
  std::vector<std::string> texts;
  for (int i = 0; i < 20000; ++i) {
    texts.push_back(absl::StrCat("tweet ", i, std::string(i % 40, ' '), " word", i % 7));
  }
  std::vector<Example> examples(texts.size());
  std::vector<uint32_t> rows;
  std::vector<uint8_t> validation;
  for (size_t i = 0; i < texts.size(); ++i) {
    examples[i].text = texts[i];
    examples[i].label = i % 2;
    if (i % 3 != 0) {
      rows.push_back(static_cast<uint32_t>(i));
      validation.push_back(i % 5 == 0);
    }
  }
  FakeEncoder encoder;
  std::string files[2];
  for (int threads : {1, 3}) {
    const std::string path = TempPath(absl::StrCat("build", threads, ".cache"));
    TokenCacheBuildOptions options;
    options.num_threads = threads;
    auto stats = BuildTokenCache(path, Key(), {}, examples, rows, validation, encoder, options);
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_EQ(stats->num_tokens, rows.size() * 5);  // [CLS] tweet N wordK [SEP]
    files[threads == 1 ? 0 : 1] = *ReadFile(path);
  }
  EXPECT_EQ(files[0], files[1]);
  auto cache = TokenCache::Open(TempPath("x"));  // missing file
  EXPECT_EQ(cache.status().code(), absl::StatusCode::kNotFound);
}

// Breaks the TextEncoder contract.
class BadEncoder : public testing::FakeEncoder {
 public:
  void EncodeInto(std::string_view, int, std::vector<int32_t>* ids) const override {
    *ids = {101, 999999, 102};
  }
};

TEST(TokenCacheTest, EncoderContractViolationIsInternalError) {
  std::string text = "x";
  std::vector<Example> examples(1);
  examples[0].text = text;
  std::vector<uint32_t> rows = {0};
  std::vector<uint8_t> validation = {0};
  auto stats = BuildTokenCache(TempPath("bad.cache"), Key(), {}, examples, rows, validation,
                               BadEncoder());
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kInternal);
}

TEST(TokenCacheKeyTest, AnyFieldMakesItDiffer) {
  const TokenCacheKey base = Key();
  TokenCacheKey other = base;
  EXPECT_EQ(base, other);
  other.max_length = 17;
  EXPECT_NE(base, other);
  other = base;
  other.split.seed = 7;
  EXPECT_NE(base, other);
  other = base;
  other.split.validation_fraction = 0.1;
  EXPECT_NE(base, other);
  other = base;
  other.include_neutral = true;
  EXPECT_NE(base, other);
  other = base;
  other.source_fingerprint = std::string(64, 'b');
  EXPECT_NE(base, other);
}

TEST(SourceFingerprintTest, ChangesWithContentSizeAndFile) {
  const std::string a = TempPath("a.csv"), b = TempPath("b.csv");
  ASSERT_TRUE(WriteFileAtomically(a, "one").ok());
  ASSERT_TRUE(WriteFileAtomically(b, "one").ok());
  auto fa = SourceFingerprint({a});
  ASSERT_TRUE(fa.ok());
  EXPECT_EQ(fa->size(), 64u);
  EXPECT_EQ(*SourceFingerprint({a}), *fa);
  EXPECT_NE(*SourceFingerprint({b}), *fa);
  EXPECT_NE(*SourceFingerprint({a, b}), *fa);
  ASSERT_TRUE(WriteFileAtomically(a, "one more").ok());
  EXPECT_NE(*SourceFingerprint({a}), *fa);
  EXPECT_EQ(SourceFingerprint({TempPath("none")}).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace murmur::data
