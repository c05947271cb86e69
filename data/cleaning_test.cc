#include "data/cleaning.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace murmur::data {
namespace {

std::vector<Example> Examples(const std::vector<std::pair<const char*, uint8_t>>& rows) {
  std::vector<Example> out;
  for (const auto& [text, label] : rows) {
    Example e;
    e.text = text;
    e.label = label;
    out.push_back(e);
  }
  return out;
}

TEST(CleaningTest, KeepsFirstOfExactDuplicatesAndDropsConflictsEntirely) {
  const std::vector<Example> examples = Examples({
      {"a", 0},  // 0 kept
      {"b", 1},  // 1 conflicting with 4 and 6: all dropped
      {"a", 0},  // 2 duplicate of 0
      {"c", 1},  // 3 kept
      {"b", 0},  // 4 conflict
      {"a", 0},  // 5 duplicate
      {"b", 1},  // 6 conflict
      {"A", 0},  // 7 kept: case matters, no normalization
  });
  CleanResult result = CleanExamples(examples);
  EXPECT_EQ(result.kept, (std::vector<uint32_t>{0, 3, 7}));
  EXPECT_EQ(result.report.input_rows, 8u);
  EXPECT_EQ(result.report.kept_rows, 3u);
  EXPECT_EQ(result.report.duplicate_rows_dropped, 2u);
  EXPECT_EQ(result.report.conflicting_texts, 1u);
  EXPECT_EQ(result.report.conflicting_rows_dropped, 3u);
  EXPECT_NE(result.report.ToString().find("3 kept"), std::string::npos);
}

TEST(CleaningTest, ConflictFoundLateDropsEarlierRows) {
  CleanResult result = CleanExamples(Examples({{"x", 1}, {"x", 1}, {"y", 0}, {"x", 0}}));
  EXPECT_EQ(result.kept, (std::vector<uint32_t>{2}));
  EXPECT_EQ(result.report.conflicting_rows_dropped, 3u);
  EXPECT_EQ(result.report.duplicate_rows_dropped, 0u);
}

TEST(CleaningTest, ThreeLabelsAndEmptyInput) {
  CleanResult result = CleanExamples(Examples({{"n", 2}, {"n", 2}, {"m", 2}, {"m", 1}}));
  EXPECT_EQ(result.kept, (std::vector<uint32_t>{0}));
  EXPECT_EQ(result.report.conflicting_texts, 1u);
  CleanResult empty = CleanExamples({});
  EXPECT_TRUE(empty.kept.empty());
  EXPECT_EQ(empty.report.kept_rows, 0u);
}

TEST(CleaningTest, ManyRowsAreDeterministic) {
  std::vector<std::string> texts;
  for (int i = 0; i < 50000; ++i) texts.push_back("tweet " + std::to_string(i % 30000));
  std::vector<Example> examples(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    examples[i].text = texts[i];
    // Texts 0..99 get both labels; the rest keep one label.
    const int base = static_cast<int>(i % 30000);
    examples[i].label = base < 100 ? static_cast<uint8_t>(i / 30000) : base % 2;
  }
  CleanResult a = CleanExamples(examples);
  CleanResult b = CleanExamples(examples);
  EXPECT_EQ(a.kept, b.kept);
  EXPECT_EQ(a.report.kept_rows, 30000u - 100u);
  EXPECT_EQ(a.report.conflicting_texts, 100u);
  EXPECT_EQ(a.report.conflicting_rows_dropped, 200u);
  EXPECT_EQ(a.report.duplicate_rows_dropped, 20000u - 100u);
}

}  // namespace
}  // namespace murmur::data
