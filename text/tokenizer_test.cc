#include "text/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <atomic>

#include "base/test_util.h"

namespace murmur::text {
namespace {

const Tokenizer& RealTokenizer() {
  static const Tokenizer* tokenizer = [] {
    auto created =
        Tokenizer::FromVocabFile(testing::SharedDataPath("distilbert-base-uncased/vocab.txt"));
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->release() : nullptr;
  }();
  if (tokenizer == nullptr) std::abort();
  return *tokenizer;
}

nlohmann::json Vectors() {
  std::ifstream in(
      testing::SharedDataPath("tokenizer_test_vectors/bert_uncased_wordpiece_vectors.json"));
  EXPECT_TRUE(in.good());
  return nlohmann::json::parse(in);
}

std::vector<std::string> TokensOf(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  std::vector<std::string> tokens;
  for (int32_t id : ids) tokens.push_back(tokenizer.vocab().token(id));
  return tokens;
}

// Upstream cases with the real distilbert-base-uncased vocabulary (single sequences; pairs are
// not part of murmur's API).
TEST(TokenizerTest, RealVocabUpstreamVectors) {
  const Tokenizer& tokenizer = RealTokenizer();
  int checked = 0;
  const nlohmann::json vectors = Vectors();
  for (const auto& c : vectors["real_vocab_cases"]) {
    if (c.contains("pair")) continue;
    TokenizerOptions options;
    if (c.contains("options") && c["options"].contains("tokenize_chinese_chars")) {
      options.handle_chinese_chars = c["options"]["tokenize_chinese_chars"];
    }
    auto own = Tokenizer::Create(tokenizer.vocab(), options);
    ASSERT_TRUE(own.ok());
    std::string input = c["input"];
    std::vector<int32_t> ids;
    if (c.value("add_special_tokens", true)) {
      ids = (*own)->Encode(input);
    } else {
      (*own)->Tokenize(input, &ids);
    }
    if (c.contains("expected_ids")) {
      EXPECT_EQ(ids, c["expected_ids"].get<std::vector<int32_t>>()) << input;
    }
    if (c.contains("expected_tokens")) {
      EXPECT_EQ(TokensOf(tokenizer, ids), c["expected_tokens"].get<std::vector<std::string>>())
          << input;
    }
    ++checked;
  }
  EXPECT_GE(checked, 20);
}

// Google BERT / transformers cases with tiny vocabularies: the pre-tokenizer alone ("basic") and
// the whole pipeline ("full_tokenizer", "wordpiece").
TEST(TokenizerTest, ToyVocabUpstreamVectors) {
  int checked = 0;
  const nlohmann::json vectors = Vectors();
  for (const auto& c : vectors["toy_vocab_cases"]) {
    std::string component = c["component"];
    if (component.find("never_split") != std::string::npos) continue;  // not a murmur option
    std::vector<std::string> tokens = c.value("vocab", std::vector<std::string>{});
    // Toy vocabularies lack some special tokens; appending them keeps every listed id.
    for (const char* special : {"[UNK]", "[CLS]", "[SEP]", "[PAD]"}) {
      if (std::find(tokens.begin(), tokens.end(), special) == tokens.end()) {
        tokens.push_back(special);
      }
    }
    auto vocab = Vocab::FromTokens(tokens);
    ASSERT_TRUE(vocab.ok()) << vocab.status();
    TokenizerOptions options;
    options.lowercase = component.find("do_lower_case=False") == std::string::npos;
    options.strip_accents = options.lowercase;
    if (component.find("strip_accents=False") != std::string::npos) options.strip_accents = false;
    if (component.find("strip_accents=True") != std::string::npos) options.strip_accents = true;
    auto tokenizer = Tokenizer::Create(*std::move(vocab), options);
    ASSERT_TRUE(tokenizer.ok());
    std::string input = c["input"];
    std::vector<std::string> got;
    if (component.rfind("basic", 0) == 0) {
      (*tokenizer)->SplitWords(input, &got);
    } else {
      std::vector<int32_t> ids;
      (*tokenizer)->Tokenize(input, &ids);
      got = TokensOf(**tokenizer, ids);
      if (c.contains("expected_ids")) {
        EXPECT_EQ(ids, c["expected_ids"].get<std::vector<int32_t>>()) << input;
      }
    }
    EXPECT_EQ(got, c["expected_tokens"].get<std::vector<std::string>>())
        << component << ": " << input;
    ++checked;
  }
  EXPECT_GE(checked, 18);
}

TEST(TokenizerTest, EmptyInputGivesClsSep) {
  EXPECT_EQ(RealTokenizer().Encode(""), (std::vector<int32_t>{101, 102}));
  EXPECT_EQ(RealTokenizer().Encode(" \t\r"), (std::vector<int32_t>{101, 102}));
}

TEST(TokenizerTest, TruncationKeepsSep) {
  const Tokenizer& tokenizer = RealTokenizer();
  std::vector<int32_t> full = tokenizer.Encode("the quick brown fox jumps over the lazy dog");
  ASSERT_EQ(full.size(), 11u);
  std::vector<int32_t> cut = tokenizer.Encode("the quick brown fox jumps over the lazy dog", 5);
  EXPECT_EQ(cut, (std::vector<int32_t>{101, full[1], full[2], full[3], 102}));
  EXPECT_EQ(tokenizer.Encode("the quick", 2), (std::vector<int32_t>{101, 102}));
  EXPECT_EQ(tokenizer.Encode("the quick", 64), tokenizer.Encode("the quick"));
}

TEST(TokenizerTest, SpecialTokensInRawTextMapToTheirIds) {
  const Tokenizer& tokenizer = RealTokenizer();
  // Matched case-sensitively before normalization, also inside words, as Hugging Face does.
  EXPECT_EQ(tokenizer.Encode("a[MASK]b [SEP]"), (std::vector<int32_t>{101, 1037, 103, 1038, 102, 102}));
  std::vector<int32_t> lower = tokenizer.Encode("[mask]");
  EXPECT_EQ(TokensOf(tokenizer, lower),
            (std::vector<std::string>{"[CLS]", "[", "mask", "]", "[SEP]"}));
}

TEST(TokenizerTest, LongWordsBecomeUnknown) {
  const Tokenizer& tokenizer = RealTokenizer();
  std::string hundred(100, 'a');
  std::vector<int32_t> ids;
  tokenizer.Tokenize(hundred, &ids);
  EXPECT_GT(ids.size(), 1u);
  EXPECT_NE(ids[0], tokenizer.vocab().unk_id());
  ids.clear();
  tokenizer.Tokenize(hundred + "a", &ids);
  EXPECT_EQ(ids, (std::vector<int32_t>{tokenizer.vocab().unk_id()}));
}

// Arbitrary bytes never crash and invalid UTF-8 vanishes (read as U+FFFD, which clean_text
// removes); NUL and controls are removed.
TEST(TokenizerTest, ArbitraryBytesAreSafe) {
  const Tokenizer& tokenizer = RealTokenizer();
  EXPECT_EQ(tokenizer.Encode("he\xFFllo"), tokenizer.Encode("hello"));
  EXPECT_EQ(tokenizer.Encode(std::string("he\0llo", 6)), tokenizer.Encode("hello"));
  EXPECT_EQ(tokenizer.Encode("he\x01\x7Fllo\xC0\x80"), tokenizer.Encode("hello"));
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 2000; ++round) {
    std::string junk(static_cast<size_t>(byte(rng) % 64), '\0');
    for (char& ch : junk) ch = static_cast<char>(byte(rng));
    std::vector<int32_t> ids = tokenizer.Encode(junk, 32);
    ASSERT_GE(ids.size(), 2u);
    ASSERT_LE(ids.size(), 32u);
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tokenizer.vocab().size());
  }
}

TEST(TokenizerTest, MegabyteLine) {
  const Tokenizer& tokenizer = RealTokenizer();
  const std::string unit = "lol this is fine ";
  const size_t ids_per_unit = tokenizer.Encode(unit).size() - 2;
  std::string words;
  while (words.size() < (1 << 20)) words += unit;
  std::vector<int32_t> ids = tokenizer.Encode(words);
  EXPECT_EQ(ids.size(), 2 + ids_per_unit * (words.size() / unit.size()));
  std::string one_word(1 << 20, 'x');
  EXPECT_EQ(tokenizer.Encode(one_word),
            (std::vector<int32_t>{101, tokenizer.vocab().unk_id(), 102}));
}

TEST(TokenizerTest, ConcurrentUseGivesSameIds) {
  const Tokenizer& tokenizer = RealTokenizer();
  std::vector<int32_t> expected = tokenizer.Encode("Héllo wörld, 中文 tweets!! #murmur @you");
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        if (tokenizer.Encode("Héllo wörld, 中文 tweets!! #murmur @you") != expected) ++mismatches;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(VocabErrorsTest, RejectsDuplicatesAndMissingSpecials) {
  EXPECT_FALSE(Vocab::FromString("[PAD]\n[UNK]\n[CLS]\n[SEP]\na\na\n").ok());
  auto missing = Vocab::FromString("[PAD]\n[CLS]\n[SEP]\na\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("[UNK]"), std::string::npos);
  EXPECT_FALSE(Tokenizer::FromVocabFile("/nonexistent/vocab.txt").ok());
}

}  // namespace
}  // namespace murmur::text
