// Trains a WordPiece vocabulary from a corpus, the way Hugging Face's WordPieceTrainer does:
// words come from the same normalizer and pre-tokenizer as tokenization; the vocabulary starts
// from the characters (as word-initial "c" and continuation "##c") and grows by repeatedly merging
// the most frequent adjacent pair of pieces (byte-pair-encoding style) until it has the requested
// size. A model trained from scratch can so use far fewer than 30,522 tokens: smaller embeddings
// and smaller gradients to all-reduce.
//
// Not thread-safe: one builder per thread (AddText from one thread, then Build).
#ifndef MURMUR_TEXT_VOCAB_BUILDER_H_
#define MURMUR_TEXT_VOCAB_BUILDER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "text/tokenizer.h"
#include "text/vocab.h"

namespace murmur::text {

struct VocabBuilderOptions {
  // Target size, special tokens and alphabet included. Default 8000.
  int vocab_size = 8000;
  // A pair seen fewer times than this is never merged. Default 2.
  int64_t min_frequency = 2;
  // Keep only the most frequent characters; words with other characters are skipped.
  // Default 1000.
  int limit_alphabet = 1000;
  // Normalization (lowercase, accents, CJK) as for tokenization. Default: BERT uncased.
  TokenizerOptions normalization;
};

class VocabBuilder {
 public:
  static absl::StatusOr<std::unique_ptr<VocabBuilder>> Create(VocabBuilderOptions options);

  // Counts the words of one text.
  void AddText(std::string_view text);
  int64_t distinct_words() const { return static_cast<int64_t>(word_counts_.size()); }

  // Runs the merges. Token ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then the alphabet,
  // then merged pieces in merge order. Deterministic for the same texts.
  absl::StatusOr<Vocab> Build() const;

 private:
  VocabBuilder(VocabBuilderOptions options, std::unique_ptr<Tokenizer> splitter)
      : options_(std::move(options)), splitter_(std::move(splitter)) {}

  VocabBuilderOptions options_;
  std::unique_ptr<Tokenizer> splitter_;  // normalizer + pre-tokenizer (its vocab is unused)
  absl::flat_hash_map<std::string, int64_t> word_counts_;
  std::vector<std::string> scratch_words_;
};

}  // namespace murmur::text

#endif  // MURMUR_TEXT_VOCAB_BUILDER_H_
