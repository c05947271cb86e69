// BERT uncased WordPiece tokenization, id-for-id identical to Hugging Face's BertTokenizerFast
// (tokenizers' BertNormalizer{clean_text, handle_chinese_chars, strip_accents, lowercase},
// BertPreTokenizer, WordPiece{"##", max_input_chars_per_word=100}, `[CLS] A [SEP]`).
//
// Input is UTF-8. Invalid UTF-8 never fails: each byte that does not start a valid sequence is
// read as U+FFFD, which clean_text removes (Hugging Face drops U+FFFD the same way), so invalid
// bytes vanish. NUL and control characters are removed as in clean_text. Special-token strings
// in the raw text ("[CLS]", "[MASK]", ...) map to their ids, as Hugging Face's added-token
// matching does.
//
// Immutable after Create; Encode and Tokenize are const and safe from many threads at once.
#ifndef MURMUR_TEXT_TOKENIZER_H_
#define MURMUR_TEXT_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "text/vocab.h"

namespace murmur::text {

struct TokenizerOptions {
  // Lowercase (Unicode full lowercase per character). Default: true (uncased models).
  bool lowercase = true;
  // NFD-decompose and drop nonspacing marks. Default: true (HF: follows `lowercase`).
  bool strip_accents = true;
  // Surround CJK ideographs with spaces so each is its own word. Default: true.
  bool handle_chinese_chars = true;
  // Words longer than this (in code points) become [UNK]. Default: 100.
  int max_input_chars_per_word = 100;
};

class Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Create(Vocab vocab,
                                                           TokenizerOptions options = {});
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromVocabFile(const std::string& path,
                                                                  TokenizerOptions options = {});
  ~Tokenizer();

  // Appends the WordPiece ids of `text` (no special tokens) to `ids`.
  void Tokenize(std::string_view text, std::vector<int32_t>* ids) const;

  // `[CLS] ids [SEP]`. With max_length > 0 the word pieces are truncated so the result has at
  // most max_length ids, [SEP] kept last (HF truncation "longest_first" for one sequence).
  // max_length must be 0 or at least 2.
  std::vector<int32_t> Encode(std::string_view text, int max_length = 0) const;
  // The same, reusing `ids` (cleared first) to avoid allocation in hot loops.
  void EncodeInto(std::string_view text, int max_length, std::vector<int32_t>* ids) const;

  // The normalized words the pre-tokenizer produces (for tests and vocabulary training).
  void SplitWords(std::string_view text, std::vector<std::string>* words) const;

  const Vocab& vocab() const;
  const TokenizerOptions& options() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace murmur::text

#endif  // MURMUR_TEXT_TOKENIZER_H_
