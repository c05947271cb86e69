#include "text/tokenizer.h"

#include <algorithm>
#include <array>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "text/unicode.h"

namespace murmur::text {
namespace {

// What the pre-tokenizer does with one normalized character.
enum CharClass : uint8_t {
  kWordChar = 0,  // part of the current word
  kBoundary = 1,  // whitespace: ends the current word
  kIsolated = 2,  // punctuation: a word of its own
  kDropped = 3,   // removed by clean_text
};

// A normalized character packed with its class: bits 0..20 code point, bits 24..25 class.
using PackedChar = uint32_t;
constexpr PackedChar Pack(char32_t c, CharClass cls) {
  return static_cast<PackedChar>(c) | (static_cast<PackedChar>(cls) << 24);
}
constexpr char32_t CodePoint(PackedChar p) { return p & 0x1FFFFF; }
constexpr CharClass ClassOf(PackedChar p) { return static_cast<CharClass>(p >> 24); }

constexpr char32_t kTableSize = 0x10000;  // the Basic Multilingual Plane is precomputed
constexpr int kMaxNormalized = 24;

// The five special tokens Hugging Face matches in raw text before normalization.
constexpr std::array<const char*, 5> kSpecialTokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                       "[MASK]"};

}  // namespace

struct Tokenizer::Impl {
  Impl(Vocab vocab_in, TokenizerOptions options_in)
      : vocab(std::move(vocab_in)), options(options_in) {}

  Vocab vocab;
  TokenizerOptions options;
  NormalizerOptions normalizer;

  // WordPiece lookups: pieces that may start a word, and "##" pieces with the prefix removed.
  absl::flat_hash_map<std::string, int32_t> initial_pieces;
  absl::flat_hash_map<std::string, int32_t> continuation_pieces;
  size_t max_initial_bytes = 0;
  size_t max_continuation_bytes = 0;

  // ASCII fast path: class and lowercased byte.
  std::array<CharClass, 128> ascii_class;
  std::array<char, 128> ascii_lower;

  // Normalization of every BMP character: bmp_offset[c] .. bmp_offset[c + 1] in bmp_pool.
  std::vector<uint32_t> bmp_offset;
  std::vector<PackedChar> bmp_pool;

  // The special tokens the vocabulary has, with their ids.
  std::vector<std::pair<std::string, int32_t>> specials;

  // Normalizes one character into packed, classified characters; returns the count.
  int NormalizeSlow(char32_t c, PackedChar* out) const {
    char32_t normalized[kMaxNormalized];
    int n = NormalizeChar(c, normalizer, normalized, kMaxNormalized);
    if (n == 0) {
      out[0] = Pack(c, kDropped);
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      char32_t d = normalized[i];
      CharClass cls = IsBertWhitespace(d)    ? kBoundary
                      : IsBertPunctuation(d) ? kIsolated
                                             : kWordChar;
      out[i] = Pack(d, cls);
    }
    return n;
  }

  void Build() {
    for (int b = 0; b < 128; ++b) {
      PackedChar packed[kMaxNormalized] = {};  // NormalizeSlow fills at least packed[0]
      int n = NormalizeSlow(static_cast<char32_t>(b), packed);
      // ASCII normalizes to at most one character (itself, lowercased, or a space).
      ascii_class[b] = ClassOf(packed[0]);
      ascii_lower[b] = n == 1 ? static_cast<char>(CodePoint(packed[0])) : static_cast<char>(b);
    }
    bmp_offset.resize(kTableSize + 1);
    bmp_pool.reserve(kTableSize + 4096);
    for (char32_t c = 0; c < kTableSize; ++c) {
      bmp_offset[c] = static_cast<uint32_t>(bmp_pool.size());
      PackedChar packed[kMaxNormalized];
      int n = (c >= 0xD800 && c <= 0xDFFF) ? 0 : NormalizeSlow(c, packed);
      bmp_pool.insert(bmp_pool.end(), packed, packed + n);
    }
    bmp_offset[kTableSize] = static_cast<uint32_t>(bmp_pool.size());

    for (int32_t id = 0; id < vocab.size(); ++id) {
      const std::string& token = vocab.token(id);
      if (token.size() > 2 && token[0] == '#' && token[1] == '#') {
        std::string piece = token.substr(2);
        max_continuation_bytes = std::max(max_continuation_bytes, piece.size());
        continuation_pieces.emplace(std::move(piece), id);
      } else {
        max_initial_bytes = std::max(max_initial_bytes, token.size());
        initial_pieces.emplace(token, id);
      }
    }
    for (const char* special : kSpecialTokens) {
      if (std::optional<int32_t> id = vocab.Find(special)) specials.emplace_back(special, *id);
    }
  }

  // Greedy longest-match-first WordPiece of one normalized word (as Hugging Face's WordPiece
  // model): the whole word becomes [UNK] when any part cannot be matched.
  void WordPiece(std::string_view word, size_t chars, std::vector<int32_t>* ids) const {
    if (chars > static_cast<size_t>(options.max_input_chars_per_word)) {
      ids->push_back(vocab.unk_id());
      return;
    }
    if (auto it = initial_pieces.find(absl::string_view(word.data(), word.size()));
        it != initial_pieces.end()) {
      ids->push_back(it->second);
      return;
    }
    const size_t mark = ids->size();
    size_t start = 0;
    while (start < word.size()) {
      const auto& pieces = start == 0 ? initial_pieces : continuation_pieces;
      size_t end = std::min(word.size(), start + (start == 0 ? max_initial_bytes
                                                              : max_continuation_bytes));
      int32_t found = -1;
      while (end > start) {
        // Only cut between characters: skip back over UTF-8 continuation bytes.
        while (end < word.size() && end > start &&
               (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) {
          --end;
        }
        if (end == start) break;
        auto it = pieces.find(absl::string_view(word.data() + start, end - start));
        if (it != pieces.end()) {
          found = it->second;
          break;
        }
        --end;
      }
      if (found < 0) {
        ids->resize(mark);
        ids->push_back(vocab.unk_id());
        return;
      }
      ids->push_back(found);
      start = end;
    }
  }

  // Runs normalization and pre-tokenization over `text`, calling on_word(word, char_count) for
  // each word and on_special(id) for each special token found in the raw text.
  template <typename OnWord, typename OnSpecial>
  void ForEachWord(std::string_view text, OnWord&& on_word, OnSpecial&& on_special) const {
    thread_local std::string word;
    size_t segment_start = 0;
    size_t bracket = text.find('[');
    while (true) {
      // Find the next special token at or after `bracket`.
      size_t special_at = std::string_view::npos;
      int special_index = -1;
      while (bracket != std::string_view::npos) {
        for (size_t i = 0; i < specials.size(); ++i) {
          const std::string& s = specials[i].first;
          if (text.compare(bracket, s.size(), s) == 0) {
            special_at = bracket;
            special_index = static_cast<int>(i);
            break;
          }
        }
        if (special_index >= 0) break;
        bracket = text.find('[', bracket + 1);
      }
      size_t segment_end = special_index >= 0 ? special_at : text.size();
      WordsOfSegment(text.substr(segment_start, segment_end - segment_start), word, on_word);
      if (special_index < 0) return;
      on_special(specials[special_index].second);
      segment_start = special_at + specials[special_index].first.size();
      bracket = text.find('[', segment_start);
    }
  }

  template <typename OnWord>
  void WordsOfSegment(std::string_view text, std::string& word, OnWord& on_word) const {
    word.clear();
    size_t chars = 0;
    auto flush = [&] {
      if (!word.empty()) {
        on_word(std::string_view(word), chars);
        word.clear();
        chars = 0;
      }
    };
    auto add = [&](PackedChar packed) {
      switch (ClassOf(packed)) {
        case kWordChar:
          AppendUtf8(CodePoint(packed), &word);
          ++chars;
          break;
        case kBoundary:
          flush();
          break;
        case kIsolated:
          flush();
          AppendUtf8(CodePoint(packed), &word);
          chars = 1;
          flush();
          break;
        case kDropped:
          break;
      }
    };
    const size_t n = text.size();
    size_t i = 0;
    while (i < n) {
      unsigned char b = static_cast<unsigned char>(text[i]);
      if (b < 0x80) {
        switch (ascii_class[b]) {
          case kWordChar:
            word.push_back(ascii_lower[b]);
            ++chars;
            break;
          case kBoundary:
            flush();
            break;
          case kIsolated:
            flush();
            word.push_back(static_cast<char>(b));
            chars = 1;
            flush();
            break;
          case kDropped:
            break;
        }
        ++i;
        continue;
      }
      char32_t c = DecodeUtf8(text, &i);
      if (c < kTableSize) {
        for (uint32_t k = bmp_offset[c]; k < bmp_offset[c + 1]; ++k) add(bmp_pool[k]);
      } else {
        PackedChar packed[kMaxNormalized];
        int count = NormalizeSlow(c, packed);
        for (int k = 0; k < count; ++k) add(packed[k]);
      }
    }
    flush();
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Create(Vocab vocab,
                                                             TokenizerOptions options) {
  if (options.max_input_chars_per_word < 1) {
    return absl::InvalidArgumentError("max_input_chars_per_word must be at least 1");
  }
  auto impl = std::make_unique<Impl>(std::move(vocab), options);
  impl->normalizer.clean_text = true;
  impl->normalizer.handle_chinese_chars = options.handle_chinese_chars;
  impl->normalizer.strip_accents = options.strip_accents;
  impl->normalizer.lowercase = options.lowercase;
  impl->Build();
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromVocabFile(const std::string& path,
                                                                    TokenizerOptions options) {
  auto vocab = Vocab::Load(path);
  if (!vocab.ok()) return vocab.status();
  return Create(*std::move(vocab), options);
}

void Tokenizer::Tokenize(std::string_view text, std::vector<int32_t>* ids) const {
  impl_->ForEachWord(
      text, [&](std::string_view word, size_t chars) { impl_->WordPiece(word, chars, ids); },
      [&](int32_t special_id) { ids->push_back(special_id); });
}

void Tokenizer::EncodeInto(std::string_view text, int max_length,
                           std::vector<int32_t>* ids) const {
  ids->clear();
  ids->push_back(impl_->vocab.cls_id());
  Tokenize(text, ids);
  if (max_length >= 2 && ids->size() + 1 > static_cast<size_t>(max_length)) {
    ids->resize(static_cast<size_t>(max_length) - 1);
  }
  ids->push_back(impl_->vocab.sep_id());
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, int max_length) const {
  std::vector<int32_t> ids;
  EncodeInto(text, max_length, &ids);
  return ids;
}

void Tokenizer::SplitWords(std::string_view text, std::vector<std::string>* words) const {
  impl_->ForEachWord(
      text, [&](std::string_view word, size_t) { words->emplace_back(word); },
      [](int32_t) {});
}

const Vocab& Tokenizer::vocab() const { return impl_->vocab; }
const TokenizerOptions& Tokenizer::options() const { return impl_->options; }

}  // namespace murmur::text
