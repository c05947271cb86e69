#include "data/ingest.h"

#include <gtest/gtest.h>

#include <string>

#include "base/file.h"
#include "base/test_util.h"
#include "data/cleaning.h"
#include "data/testing.h"
#include "data/token_cache.h"
#include "text/tokenizer.h"

namespace murmur::data {
namespace {

using ::murmur::data::testing::FakeEncoder;
using ::murmur::data::testing::TempPath;
using ::murmur::testing::SharedDataPath;

const char kSample[] = "sentiment140_sample_20k/training.1600000.processed.noemoticon.csv";

std::unique_ptr<text::Tokenizer> RealTokenizer() {
  auto tokenizer =
      text::Tokenizer::FromVocabFile(SharedDataPath("distilbert-base-uncased/vocab.txt"));
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? *std::move(tokenizer) : nullptr;
}

TEST(IngestTest, RealSampleWithRealTokenizer) {
  auto tokenizer = RealTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  const std::string cache_path = TempPath("sample.cache");
  IngestOptions options;
  options.max_length = 64;
  auto report = Ingest(SharedDataPath(kSample), *tokenizer, cache_path, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->cache_reused);
  EXPECT_EQ(report->read.lines, 20000u);
  EXPECT_EQ(report->read.malformed, 0u);
  // 19,953 distinct texts (SOURCES.md): 47 rows are repeats or conflicts.
  EXPECT_EQ(report->clean.duplicate_rows_dropped + report->clean.conflicting_rows_dropped -
                report->clean.conflicting_texts,
            47u);
  EXPECT_EQ(report->train_rows + report->validation_rows, report->clean.kept_rows);
  EXPECT_NEAR(static_cast<double>(report->validation_rows) / report->clean.kept_rows, 0.2, 0.02);
  EXPECT_NE(report->ToString().find("validation rows:"), std::string::npos);

  auto cache = TokenCache::Open(cache_path);
  ASSERT_TRUE(cache.ok()) << cache.status();
  EXPECT_EQ((*cache)->num_rows(), report->clean.kept_rows);
  EXPECT_EQ((*cache)->info().num_tokens, report->tokens);
  EXPECT_EQ((*cache)->info().key.vocab_fingerprint, tokenizer->vocab().fingerprint());
  EXPECT_EQ((*cache)->info().vocab_size, 30522u);
  EXPECT_EQ((*cache)->info().id_bytes, 2);

  // Row i of the cache is the i-th kept example, tokenized exactly as the tokenizer does.
  auto corpus = ReadCorpus(SharedDataPath(kSample));
  ASSERT_TRUE(corpus.ok());
  CleanResult cleaned = CleanExamples(corpus->examples());
  ASSERT_EQ(cleaned.kept.size(), (*cache)->num_rows());
  for (size_t row = 0; row < cleaned.kept.size(); row += 97) {
    const Example& example = corpus->examples()[cleaned.kept[row]];
    ASSERT_EQ((*cache)->Ids(row), tokenizer->Encode(example.text, 64)) << example.text;
    EXPECT_EQ((*cache)->label(row), example.label);
    EXPECT_EQ((*cache)->is_validation(row), IsValidation(example.text, options.split));
  }
  EXPECT_EQ((*cache)->Ids(0).front(), 101);
  EXPECT_EQ((*cache)->Ids(0).back(), 102);
}

TEST(IngestTest, RealTextFilesWithRealTokenizer) {
  auto tokenizer = RealTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  auto report = Ingest(SharedDataPath("sentiment140_text_100k"), *tokenizer,
                       TempPath("text.cache"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->read.lines, 100000u);
  // 49,538 + 49,841 distinct texts per file, 16 shared between the files.
  EXPECT_EQ(report->clean.conflicting_texts, 16u);
  EXPECT_EQ(report->clean.kept_rows, 49538u + 49841u - 32u);
  // About 22.7 tokens per tweet on the full corpus.
  const double per_row = static_cast<double>(report->tokens) / report->clean.kept_rows;
  EXPECT_GT(per_row, 18);
  EXPECT_LT(per_row, 28);
}

class IngestCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    csv_ = TempPath("copy.csv");
    auto bytes = ReadFile(SharedDataPath(kSample));
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    ASSERT_TRUE(WriteFileAtomically(csv_, *bytes).ok());
    cache_ = TempPath("copy.cache");
  }
  absl::StatusOr<IngestReport> Run(const IngestOptions& options = {}) {
    return Ingest(csv_, encoder_, cache_, options);
  }
  FakeEncoder encoder_;
  std::string csv_, cache_;
};

TEST_F(IngestCacheTest, ReusesAFreshCacheAndRebuildsAStaleOne) {
  auto first = Run();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->cache_reused);

  auto second = Run();
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->cache_reused);
  EXPECT_EQ(second->read.lines, first->read.lines);
  EXPECT_EQ(second->clean.kept_rows, first->clean.kept_rows);
  EXPECT_EQ(second->clean.duplicate_rows_dropped, first->clean.duplicate_rows_dropped);
  EXPECT_EQ(second->validation_rows, first->validation_rows);
  EXPECT_EQ(second->tokens, first->tokens);

  IngestOptions other;
  other.max_length = 32;
  EXPECT_FALSE(Run(other)->cache_reused);  // max_length changed
  EXPECT_TRUE(Run(other)->cache_reused);
  other.split.seed = 7;
  EXPECT_FALSE(Run(other)->cache_reused);  // split changed
  other.force_rebuild = true;
  EXPECT_FALSE(Run(other)->cache_reused);
  other.force_rebuild = false;

  // The source changes (appended row: new size and mtime).
  auto bytes = ReadFile(csv_);
  ASSERT_TRUE(WriteFileAtomically(
                  csv_, *bytes + "\n\"4\",\"5\",\"d\",\"NO_QUERY\",\"u\",\"one more\"")
                  .ok());
  auto grown = Run(other);
  ASSERT_TRUE(grown.ok());
  EXPECT_FALSE(grown->cache_reused);
  EXPECT_EQ(grown->read.lines, 20001u);

  // A corrupted cache is rebuilt, not trusted.
  auto cache_bytes = ReadFile(cache_);
  std::string corrupt = *cache_bytes;
  corrupt[corrupt.size() / 2] ^= 0x55;
  ASSERT_TRUE(WriteFileAtomically(cache_, corrupt).ok());
  auto repaired = Run(other);
  ASSERT_TRUE(repaired.ok());
  EXPECT_FALSE(repaired->cache_reused);
  EXPECT_TRUE(TokenCache::Open(cache_).ok());
}

TEST_F(IngestCacheTest, ErrorsNameTheProblem) {
  IngestOptions options;
  options.split.validation_fraction = 2;
  EXPECT_EQ(Run(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = IngestOptions();
  options.max_length = 1;
  EXPECT_EQ(Run(options).status().code(), absl::StatusCode::kInvalidArgument);

  const std::string junk = TempPath("junk.csv");
  ASSERT_TRUE(WriteFileAtomically(junk, "not,a,sentiment140\nfile\n").ok());
  auto report = Ingest(junk, encoder_, cache_);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(report.status().message().find("junk.csv:1: expected 6 fields, found 3"),
            std::string::npos)
      << report.status();
  EXPECT_EQ(Ingest(TempPath("nope.csv"), encoder_, cache_).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace murmur::data
