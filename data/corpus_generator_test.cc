#include "data/corpus_generator.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/test_util.h"
#include "data/cleaning.h"
#include "data/latin1.h"
#include "data/sentiment140.h"
#include "data/testing.h"

namespace murmur::data {
namespace {

using ::murmur::testing::SharedDataPath;
using ::murmur::data::testing::TempPath;

TEST(FormatDateTest, MatchesTheOriginalsFirstAndLastTimestamps) {
  EXPECT_EQ(FormatSentiment140Date(0), "Mon Apr 06 22:19:45 PDT 2009");
  EXPECT_EQ(FormatSentiment140Date(15), "Mon Apr 06 22:20:00 PDT 2009");
  EXPECT_EQ(FormatSentiment140Date(2 * 3600), "Tue Apr 07 00:19:45 PDT 2009");
  // The original's last row: id 2193602129, Tue Jun 16 08:40:49 PDT 2009.
  EXPECT_EQ(FormatSentiment140Date(6085264), "Tue Jun 16 08:40:49 PDT 2009");
}

CorpusGenerator SmallGenerator() {
  std::vector<std::string> negative, positive;
  for (int i = 0; i < 300; ++i) {
    negative.push_back(absl::StrCat("@friend", i % 17, " so sad about number ", i, ". really"));
    positive.push_back(absl::StrCat("great day ", i, ", loving it @pal", i % 13));
  }
  negative.push_back("shared text");
  positive.push_back("shared text");  // one natural conflict, as in the real files
  return CorpusGenerator(negative, positive);
}

TEST(CorpusGeneratorTest, WritesParsableVariedCorpus) {
  CorpusGeneratorOptions options;
  options.rows = 20000;
  options.seed = 5;
  options.latin1_fraction = 0.05;
  options.quote_fraction = 0.05;
  CorpusGeneratorReport report;
  std::string csv = SmallGenerator().Generate(options, &report);
  EXPECT_EQ(report.rows, 20000u);
  EXPECT_EQ(report.negative_rows, 10000u);
  EXPECT_EQ(report.source_rows, 602u);
  EXPECT_GT(report.latin1_rows, 0u);
  EXPECT_GT(report.quoted_rows, 0u);
  EXPECT_GT(report.duplicate_rows, 0u);
  EXPECT_GT(report.conflict_rows, 0u);
  EXPECT_EQ(report.bytes, csv.size());
  EXPECT_NE(csv.back(), '\n');  // like the original: no newline after the last row
  EXPECT_NE(csv.find("\"\""), std::string::npos);

  ReadOptions read_options;
  read_options.num_threads = 3;
  Corpus corpus = ParseSentiment140Csv(csv, "generated.csv", read_options);
  ASSERT_EQ(corpus.examples().size(), 20000u) << corpus.report().MalformedSummary();
  EXPECT_EQ(corpus.report().malformed, 0u);
  std::set<uint64_t> ids;
  int high = 0, quotes = 0;
  for (size_t i = 0; i < corpus.examples().size(); ++i) {
    const Example& e = corpus.examples()[i];
    EXPECT_EQ(e.label, i < 10000 ? kNegative : kPositive);
    ids.insert(e.tweet_id);
    high += HasHighBytes(e.text);
    quotes += e.text.find('"') != std::string_view::npos;
    if (i > 0 && i != 10000) {
      EXPECT_GT(e.tweet_id, corpus.examples()[i - 1].tweet_id);
    }
  }
  EXPECT_EQ(ids.size(), 20000u);
  EXPECT_GE(high, static_cast<int>(report.latin1_rows));  // duplicates repeat some
  EXPECT_GE(quotes, static_cast<int>(report.quoted_rows));
  // Each half starts with its source texts, unchanged.
  EXPECT_EQ(corpus.examples()[0].text, "@friend0 so sad about number 0. really");
  EXPECT_EQ(corpus.examples()[10000].text, "great day 0, loving it @pal0");

  CleanResult cleaned = CleanExamples(corpus.examples());
  EXPECT_GE(cleaned.report.conflicting_texts, 1u);
  EXPECT_GT(cleaned.report.duplicate_rows_dropped, 0u);
  // Varied: most rows survive deduplication although there are only 602 source texts.
  EXPECT_GT(cleaned.report.kept_rows, 15000u);
}

TEST(CorpusGeneratorTest, DeterministicFromSeed) {
  CorpusGeneratorOptions options;
  options.rows = 3000;
  CorpusGeneratorReport report;
  CorpusGenerator generator = SmallGenerator();
  const std::string a = generator.Generate(options, &report);
  EXPECT_EQ(generator.Generate(options, &report), a);
  options.seed = 2;
  EXPECT_NE(generator.Generate(options, &report), a);
}

TEST(CorpusGeneratorTest, FromTheReal100kTweets) {
  const std::string out = TempPath("generated.csv");
  CorpusGeneratorOptions options;
  options.rows = 300000;
  auto report = GenerateCorpusFile(SharedDataPath("sentiment140_text_100k"), out, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->source_rows, 100000u);
  auto generated = ReadSentiment140Csv(out);
  ASSERT_TRUE(generated.ok()) << generated.status();
  EXPECT_EQ(generated->examples().size(), 300000u);
  EXPECT_EQ(generated->report().malformed, 0u) << generated->report().MalformedSummary();
  // Round trip: text file (UTF-8) -> latin-1 bytes in the CSV -> reader's UTF-8 = the text.
  auto source = ReadCorpus(SharedDataPath("sentiment140_text_100k"));
  ASSERT_TRUE(source.ok());
  for (size_t i = 0; i < 50000; ++i) {
    ASSERT_EQ(generated->examples()[i].text, source->examples()[i].text) << i;
    ASSERT_EQ(generated->examples()[150000 + i].text, source->examples()[50000 + i].text) << i;
  }
  CleanResult cleaned = CleanExamples(generated->examples());
  EXPECT_GE(cleaned.report.conflicting_texts, 16u);  // the real files share 16 texts
  EXPECT_GT(cleaned.report.kept_rows, 270000u);
}

}  // namespace
}  // namespace murmur::data
