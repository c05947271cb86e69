#include "text/unicode.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "base/test_util.h"

namespace murmur::text {
namespace {

char32_t DecodeOne(std::string_view bytes, size_t* consumed) {
  size_t pos = 0;
  char32_t c = DecodeUtf8(bytes, &pos);
  *consumed = pos;
  return c;
}

TEST(DecodeUtf8Test, ValidSequencesOfEveryLength) {
  size_t n;
  EXPECT_EQ(DecodeOne("A", &n), U'A');
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(DecodeOne("\xC3\xA9", &n), U'\u00E9');
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(DecodeOne("\xE4\xB8\xAD", &n), U'\u4E2D');
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(DecodeOne("\xF0\x9F\x92\xA9", &n), U'\U0001F4A9');
  EXPECT_EQ(n, 4u);
}

TEST(DecodeUtf8Test, InvalidBytesBecomeReplacementOneByteAtATime) {
  size_t n;
  for (std::string bad : {std::string("\x80"), std::string("\xC0\x80"),  // overlong NUL
                          std::string("\xED\xA0\x80"),                    // surrogate
                          std::string("\xF4\x90\x80\x80"),                // above U+10FFFF
                          std::string("\xE4\xB8"),                        // truncated
                          std::string("\xFF"), std::string("\xC3\x41")}) {
    EXPECT_EQ(DecodeOne(bad, &n), kReplacementChar) << bad.size();
    EXPECT_EQ(n, 1u);
  }
}

TEST(IsValidUtf8Test, ShortestFormScalarValuesOnlyWithTheOffsetOfTheFirstBadSequence) {
  size_t offset = 0;
  EXPECT_TRUE(IsValidUtf8("plain ascii", &offset));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xF0\x9F\x98\x80 \xE2\x82\xAC", &offset));
  EXPECT_FALSE(IsValidUtf8("ab\xFF", &offset));
  EXPECT_EQ(offset, 2u);
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF", &offset)) << "overlong '/'";
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80", &offset)) << "surrogate";
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80", &offset)) << "past U+10FFFF";
  EXPECT_FALSE(IsValidUtf8("x\xE2\x82", &offset)) << "truncated";
  EXPECT_EQ(offset, 1u);
  EXPECT_FALSE(IsValidUtf8("ok\x80", &offset)) << "stray continuation byte";
  EXPECT_EQ(offset, 2u);
  EXPECT_TRUE(IsValidUtf8("\xEF\xBF\xBD", &offset)) << "U+FFFD itself is valid";
}

TEST(DecodeUtf8Test, AppendUtf8RoundTripsEveryScalarValue) {
  for (char32_t c = 0; c <= 0x10FFFF; c += (c < 0x3000 ? 1 : 97)) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    std::string encoded;
    AppendUtf8(c, &encoded);
    size_t pos = 0;
    ASSERT_EQ(DecodeUtf8(encoded, &pos), c);
    ASSERT_EQ(pos, encoded.size());
  }
}

std::u32string Normalize(char32_t c, NormalizerOptions options = {}) {
  char32_t out[24];
  int n = NormalizeChar(c, options, out, 24);
  return std::u32string(out, out + n);
}

TEST(NormalizeCharTest, CleanTextChineseAccentsLowercase) {
  EXPECT_EQ(Normalize(U'A'), U"a");
  EXPECT_EQ(Normalize(U'\t'), U" ");
  EXPECT_EQ(Normalize(0), U"");
  EXPECT_EQ(Normalize(0xFFFD), U"");
  EXPECT_EQ(Normalize(0x00AD), U"");         // soft hyphen, Cf
  EXPECT_EQ(Normalize(0x3000), U" ");        // ideographic space
  EXPECT_EQ(Normalize(U'\u00C9'), U"e");     // É -> E + acute -> e
  EXPECT_EQ(Normalize(U'\u0130'), U"i");     // İ -> I + dot above -> i
  EXPECT_EQ(Normalize(U'\u4E2D'), U" \u4E2D ");
  EXPECT_EQ(Normalize(0x2B820), U"\U0002B820");  // outside tokenizers' CJK ranges
  NormalizerOptions keep_accents;
  keep_accents.strip_accents = false;
  EXPECT_EQ(Normalize(U'\u00C9', keep_accents), U"\u00E9");
  NormalizerOptions cased;
  cased.lowercase = false;
  cased.strip_accents = false;
  EXPECT_EQ(Normalize(U'\u00C9', cased), U"\u00C9");
}

// The character-class cases of Google's and Hugging Face's BERT tests.
TEST(CharClassTest, UpstreamVectors) {
  std::ifstream in(
      testing::SharedDataPath("tokenizer_test_vectors/bert_uncased_wordpiece_vectors.json"));
  ASSERT_TRUE(in.good());
  nlohmann::json cases = nlohmann::json::parse(in)["char_class_cases"];
  auto first_char = [](const std::string& s) {
    size_t pos = 0;
    return DecodeUtf8(s, &pos);
  };
  int checked = 0;
  for (const auto& [name, predicate] :
       std::vector<std::pair<std::string, bool (*)(char32_t)>>{
           {"is_whitespace", IsBertWhitespace},
           {"is_control", IsBertControl},
           {"is_punctuation", IsBertPunctuation}}) {
    for (const auto& item : cases[name]["true"]) {
      const std::string s = item.get<std::string>();
      EXPECT_TRUE(predicate(first_char(s))) << name << " " << s;
      ++checked;
    }
    for (const auto& item : cases[name]["false"]) {
      const std::string s = item.get<std::string>();
      EXPECT_FALSE(predicate(first_char(s))) << name << " " << s;
      ++checked;
    }
  }
  EXPECT_GE(checked, 15);
}

}  // namespace
}  // namespace murmur::text
