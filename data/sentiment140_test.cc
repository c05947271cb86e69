#include "data/sentiment140.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/test_util.h"
#include "data/latin1.h"
#include "data/testing.h"

namespace murmur::data {
namespace {

using ::murmur::testing::SharedDataPath;
using ::murmur::data::testing::TempPath;

std::string Row(const std::string& target, const std::string& id, const std::string& text) {
  return absl::StrCat("\"", target, "\",\"", id, "\",\"Mon Apr 06 22:19:45 PDT 2009\",",
                      "\"NO_QUERY\",\"someone\",\"", text, "\"");
}

Corpus Parse(const std::string& csv, ReadOptions options = {}) {
  return ParseSentiment140Csv(csv, "test.csv", options);
}

TEST(Sentiment140CsvTest, ReadsWellFormedRows) {
  Corpus corpus = Parse(Row("0", "1467810369", "sad day") + "\n" +
                        Row("4", "2193602129", "happy, \"\"quoted\"\" day") + "\n");
  ASSERT_EQ(corpus.examples().size(), 2u);
  EXPECT_EQ(corpus.report().malformed, 0u);
  EXPECT_EQ(corpus.report().lines, 2u);
  EXPECT_EQ(corpus.examples()[0].text, "sad day");
  EXPECT_EQ(corpus.examples()[0].label, kNegative);
  EXPECT_EQ(corpus.examples()[0].tweet_id, 1467810369u);
  EXPECT_EQ(corpus.examples()[0].line, 1u);
  EXPECT_EQ(corpus.examples()[1].text, "happy, \"quoted\" day");
  EXPECT_EQ(corpus.examples()[1].label, kPositive);
  EXPECT_EQ(corpus.examples()[1].line, 2u);
}

TEST(Sentiment140CsvTest, LastLineWithoutNewlineAndCrlf) {
  Corpus corpus = Parse(Row("0", "1", "a") + "\r\n" + Row("4", "2", "b\rc") + "\r\n" +
                        Row("4", "3", "last"));
  ASSERT_EQ(corpus.examples().size(), 3u);
  EXPECT_EQ(corpus.report().malformed, 0u);
  EXPECT_EQ(corpus.examples()[0].text, "a");
  EXPECT_EQ(corpus.examples()[1].text, "b\rc");  // a CR inside a field is data
  EXPECT_EQ(corpus.examples()[2].text, "last");
  EXPECT_EQ(corpus.examples()[2].line, 3u);
}

TEST(Sentiment140CsvTest, Latin1BytesBecomeUtf8) {
  std::string text;
  for (int b = 0x80; b <= 0xff; ++b) text.push_back(static_cast<char>(b));
  Corpus corpus = Parse(Row("4", "7", "x" + text + "y"));
  ASSERT_EQ(corpus.examples().size(), 1u);
  std::string expected = "x";
  for (int cp = 0x80; cp <= 0xff; ++cp) {
    expected.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    expected.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
  expected += "y";
  EXPECT_EQ(corpus.examples()[0].text, expected);
  // Both decoding paths at once: escaped quotes and latin-1.
  Corpus both = Parse(Row("0", "8", "caf\xe9 \"\"ol\xe9\"\""));
  ASSERT_EQ(both.examples().size(), 1u);
  EXPECT_EQ(both.examples()[0].text, "caf\xc3\xa9 \"ol\xc3\xa9\"");
}

TEST(Sentiment140CsvTest, EmptyFileHasNoRows) {
  Corpus corpus = Parse("");
  EXPECT_TRUE(corpus.examples().empty());
  EXPECT_EQ(corpus.report().lines, 0u);
  EXPECT_EQ(corpus.report().malformed, 0u);
}

struct MalformedCase {
  const char* name;
  std::string line;
  const char* reason;  // a substring of the expected reason
};

TEST(Sentiment140CsvTest, MalformedRowsAreSkippedCountedAndLocated) {
  const MalformedCase cases[] = {
      {"unterminated quote", R"("0","1","d","NO_QUERY","u","never closed)", "unterminated"},
      {"five fields", R"("0","1","d","NO_QUERY","text only")", "found 5"},
      {"seven fields", R"("0","1","d","NO_QUERY","u","t","extra")", "found 7"},
      {"bare quote in quoted field", R"("0","1","d","NO_QUERY","u","say "hi" now")",
       "stray quote"},
      {"bare quote in unquoted field", R"(0,1,d,NO_QUERY,u,say "hi")", "unquoted"},
      {"label 3", Row("3", "1", "t"), "unknown label '3'"},
      {"empty label", Row("", "1", "t"), "unknown label"},
      {"neutral label", Row("2", "1", "t"), "neutral"},
      {"non-numeric id", Row("0", "12a", "t"), "not a number"},
      {"empty id", Row("0", "", "t"), "not a number"},
      {"too long id", Row("0", "123456789012345678901234", "t"), "not a number"},
      {"NUL in label", Row(std::string("0\0", 2), "1", "t"), "unknown label '0\\x00'"},
      {"empty line", "", "empty line"},
  };
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.name);
    // The bad line sits between two good ones, which must survive it.
    Corpus corpus =
        Parse(Row("0", "1", "before") + "\n" + c.line + "\n" + Row("4", "2", "after") + "\n");
    ASSERT_EQ(corpus.examples().size(), 2u);
    EXPECT_EQ(corpus.examples()[0].text, "before");
    EXPECT_EQ(corpus.examples()[1].text, "after");
    EXPECT_EQ(corpus.examples()[1].line, 3u);
    EXPECT_EQ(corpus.report().malformed, 1u);
    EXPECT_EQ(corpus.report().lines, 3u);
    ASSERT_EQ(corpus.report().malformed_examples.size(), 1u);
    const MalformedRecord& record = corpus.report().malformed_examples[0];
    EXPECT_EQ(record.line, 2u);
    EXPECT_EQ(record.source, "test.csv");
    EXPECT_NE(record.reason.find(c.reason), std::string::npos) << record.reason;
    EXPECT_NE(corpus.report().MalformedSummary().find("test.csv:2: "), std::string::npos);
  }
}

TEST(Sentiment140CsvTest, NeutralAcceptedWithOption) {
  ReadOptions options;
  options.include_neutral = true;
  Corpus corpus = Parse(Row("2", "5", "meh") + "\n" + Row("3", "6", "bad"), options);
  ASSERT_EQ(corpus.examples().size(), 1u);
  EXPECT_EQ(corpus.examples()[0].label, kNeutral);
  EXPECT_EQ(corpus.report().malformed, 1u);
}

TEST(Sentiment140CsvTest, NulInTextIsData) {
  Corpus corpus = Parse(Row("0", "1", std::string("a\0b", 3)));
  ASSERT_EQ(corpus.examples().size(), 1u);
  EXPECT_EQ(corpus.examples()[0].text, std::string_view("a\0b", 3));
}

TEST(Sentiment140CsvTest, UnquotedFieldsAreAccepted) {
  Corpus corpus = Parse("4,99,date,NO_QUERY,user,plain text");
  ASSERT_EQ(corpus.examples().size(), 1u);
  EXPECT_EQ(corpus.examples()[0].text, "plain text");
  EXPECT_EQ(corpus.examples()[0].tweet_id, 99u);
}

TEST(Sentiment140CsvTest, KeepsOnlyTheFirstMalformedExamples) {
  std::string csv;
  for (int i = 0; i < 50; ++i) absl::StrAppend(&csv, Row("9", "1", "x"), "\n");
  ReadOptions options;
  options.max_malformed_examples = 5;
  Corpus corpus = Parse(csv, options);
  EXPECT_EQ(corpus.report().malformed, 50u);
  ASSERT_EQ(corpus.report().malformed_examples.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(corpus.report().malformed_examples[i].line, i + 1u);
}

TEST(Sentiment140CsvTest, ArbitraryBytesNeverCrash) {
  // Random bytes biased towards the characters the parser cares about.
  uint64_t state = 12345;
  const char alphabet[] = {'"', ',', '\n', '\r', '0', '4', '2', 'a', '\0', '\xe9', '\xff', ' '};
  for (int round = 0; round < 200; ++round) {
    std::string bytes;
    const int length = round * 7 % 300;
    for (int i = 0; i < length; ++i) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      bytes.push_back(alphabet[(state >> 33) % sizeof(alphabet)]);
    }
    Corpus corpus = Parse(bytes);
    EXPECT_EQ(corpus.report().examples + corpus.report().malformed, corpus.report().lines);
    EXPECT_EQ(corpus.examples().size(), corpus.report().examples);
  }
}

TEST(Sentiment140CsvTest, ParallelChunksGiveTheSameResultAsOneThread) {
  // Big enough (several MB) that the reader splits it into chunks; line numbers must still
  // be global and the order the file order.
  std::string csv;
  for (int i = 0; i < 60000; ++i) {
    if (i % 997 == 0) {
      absl::StrAppend(&csv, "broken line ", i, "\n");
    } else {
      absl::StrAppend(&csv, Row(i % 2 ? "4" : "0", absl::StrCat(i), absl::StrCat("tweet \xe9 ", i)),
                      i % 3 ? "\n" : "\r\n");
    }
  }
  ReadOptions one, four;
  one.num_threads = 1;
  four.num_threads = 4;
  Corpus a = Parse(csv, one);
  Corpus b = Parse(csv, four);
  ASSERT_EQ(a.examples().size(), b.examples().size());
  EXPECT_EQ(a.report().malformed, 61u);
  EXPECT_EQ(b.report().malformed, 61u);
  for (size_t i = 0; i < a.examples().size(); ++i) {
    ASSERT_EQ(a.examples()[i].text, b.examples()[i].text);
    ASSERT_EQ(a.examples()[i].line, b.examples()[i].line);
    ASSERT_EQ(a.examples()[i].line, a.examples()[i].tweet_id + 1);
  }
  for (size_t i = 0; i < b.report().malformed_examples.size(); ++i) {
    EXPECT_EQ(b.report().malformed_examples[i].line, 997 * i + 1);
  }
}

TEST(Sentiment140FileTest, ReadsFileAndResolvesSources) {
  const std::string path = TempPath("rows.csv");
  ASSERT_TRUE(WriteFileAtomically(path, Row("0", "1", "from a file")).ok());
  auto corpus = ReadCorpus(path);
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  ASSERT_EQ(corpus->examples().size(), 1u);
  EXPECT_EQ(corpus->examples()[0].text, "from a file");
  EXPECT_EQ(corpus->sources(), std::vector<std::string>{path});

  auto missing = ReadCorpus(TempPath("missing.csv"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("missing.csv"), std::string::npos);
}

TEST(TextLinesTest, ReadsDirectoryKeepingUtf8AsIs) {
  const std::string dir = TempPath("textdir");
  ASSERT_TRUE(MakeDirectories(dir).ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/negative.txt", "bad \xc3\xa9 day\r\n\nworse\n").ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/positive.txt", "good \"day\"").ok());
  auto corpus = ReadCorpus(dir);
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  ASSERT_EQ(corpus->examples().size(), 3u);
  EXPECT_EQ(corpus->examples()[0].text, "bad \xc3\xa9 day");  // UTF-8 kept, CR dropped
  EXPECT_EQ(corpus->examples()[0].label, kNegative);
  EXPECT_EQ(corpus->examples()[1].text, "worse");
  EXPECT_EQ(corpus->examples()[1].line, 3u);
  EXPECT_EQ(corpus->examples()[2].text, "good \"day\"");
  EXPECT_EQ(corpus->examples()[2].label, kPositive);
  EXPECT_EQ(corpus->sources()[corpus->examples()[2].source], dir + "/positive.txt");
  EXPECT_EQ(corpus->report().malformed, 1u);  // the empty line

  ASSERT_TRUE(MakeDirectories(dir + "/empty").ok());
  auto status = ReadCorpus(dir + "/empty").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find("negative.txt"), std::string::npos);
}

TEST(RealDataTest, Sample20kParsesCompletely) {
  auto corpus = ReadSentiment140Csv(
      SharedDataPath("sentiment140_sample_20k/training.1600000.processed.noemoticon.csv"));
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  EXPECT_EQ(corpus->examples().size(), 20000u);
  EXPECT_EQ(corpus->report().malformed, 0u) << corpus->report().MalformedSummary();
  int negative = 0;
  for (const Example& e : corpus->examples()) negative += e.label == kNegative;
  EXPECT_EQ(negative, 9999);
  EXPECT_EQ(corpus->examples().front().tweet_id, 1467810369u);
  EXPECT_EQ(corpus->examples().back().tweet_id, 2193602129u);
  EXPECT_EQ(corpus->examples().front().text.substr(0, 23), "@switchfoot http://twit");
}

TEST(RealDataTest, TextFiles100kRead100000Texts) {
  auto corpus = ReadCorpus(SharedDataPath("sentiment140_text_100k"));
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  EXPECT_EQ(corpus->examples().size(), 100000u);
  EXPECT_EQ(corpus->report().malformed, 0u);
  EXPECT_EQ(corpus->examples()[49999].label, kNegative);
  EXPECT_EQ(corpus->examples()[50000].label, kPositive);
  // negative.txt is the head of the original: its first line is the 20k sample's first text.
  EXPECT_EQ(corpus->examples()[0].text.substr(0, 23), "@switchfoot http://twit");
}

TEST(RealDataTest, SampleCsvTextsEqualTheTextFilesOnesAfterLatin1Decoding) {
  // The text files were written by pandas after reading the CSV as latin-1, so the same tweet
  // must decode to the same UTF-8 from both. The first 9,999 negatives are the same rows.
  auto csv = ReadSentiment140Csv(
      SharedDataPath("sentiment140_sample_20k/training.1600000.processed.noemoticon.csv"));
  auto lines = ReadCorpus(SharedDataPath("sentiment140_text_100k"));
  ASSERT_TRUE(csv.ok() && lines.ok());
  int high = 0;
  for (int i = 0; i < 9999; ++i) {
    ASSERT_EQ(csv->examples()[i].text, lines->examples()[i].text) << "row " << i;
    high += HasHighBytes(csv->examples()[i].text);
  }
  EXPECT_GT(high, 0) << "the comparison should include decoded latin-1 texts";
}

}  // namespace
}  // namespace murmur::data
