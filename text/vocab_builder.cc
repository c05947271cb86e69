#include "text/vocab_builder.h"

#include <algorithm>
#include <queue>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "text/unicode.h"

namespace murmur::text {
namespace {

constexpr const char* kSpecials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

// Splits UTF-8 into characters (each a string).
std::vector<std::string> Characters(std::string_view word) {
  std::vector<std::string> chars;
  size_t pos = 0;
  while (pos < word.size()) {
    size_t start = pos;
    DecodeUtf8(word, &pos);
    chars.emplace_back(word.substr(start, pos - start));
  }
  return chars;
}

using Pair = std::pair<int32_t, int32_t>;

}  // namespace

absl::StatusOr<std::unique_ptr<VocabBuilder>> VocabBuilder::Create(VocabBuilderOptions options) {
  if (options.vocab_size < 16) {
    return absl::InvalidArgumentError("vocab_size must be at least 16");
  }
  if (options.limit_alphabet < 1 || options.min_frequency < 1) {
    return absl::InvalidArgumentError("limit_alphabet and min_frequency must be positive");
  }
  auto specials_only = Vocab::FromTokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"});
  if (!specials_only.ok()) return specials_only.status();
  auto splitter = Tokenizer::Create(*std::move(specials_only), options.normalization);
  if (!splitter.ok()) return splitter.status();
  return std::unique_ptr<VocabBuilder>(
      new VocabBuilder(std::move(options), *std::move(splitter)));
}

void VocabBuilder::AddText(std::string_view text) {
  scratch_words_.clear();
  splitter_->SplitWords(text, &scratch_words_);
  for (std::string& word : scratch_words_) ++word_counts_[std::move(word)];
}

absl::StatusOr<Vocab> VocabBuilder::Build() const {
  // Words in a fixed order so ties break the same way on every run.
  std::vector<std::pair<std::string, int64_t>> words(word_counts_.begin(), word_counts_.end());
  std::sort(words.begin(), words.end());

  // The alphabet: the most frequent characters.
  absl::flat_hash_map<std::string, int64_t> char_counts;
  for (const auto& [word, count] : words) {
    for (std::string& c : Characters(word)) char_counts[c] += count;
  }
  std::vector<std::pair<std::string, int64_t>> alphabet(char_counts.begin(), char_counts.end());
  std::sort(alphabet.begin(), alphabet.end(), [](const auto& a, const auto& b) {
    return std::tie(b.second, a.first) < std::tie(a.second, b.first);
  });
  if (alphabet.size() > static_cast<size_t>(options_.limit_alphabet)) {
    alphabet.resize(options_.limit_alphabet);
  }
  std::sort(alphabet.begin(), alphabet.end());

  std::vector<std::string> tokens(std::begin(kSpecials), std::end(kSpecials));
  absl::flat_hash_map<std::string, int32_t> token_ids;
  for (size_t i = 0; i < tokens.size(); ++i) token_ids[tokens[i]] = static_cast<int32_t>(i);
  auto add_token = [&](const std::string& token) -> int32_t {
    auto [it, inserted] = token_ids.emplace(token, static_cast<int32_t>(tokens.size()));
    if (inserted) tokens.push_back(token);
    return it->second;
  };
  for (const auto& [c, count] : alphabet) add_token(c);
  for (const auto& [c, count] : alphabet) add_token("##" + c);
  if (tokens.size() > static_cast<size_t>(options_.vocab_size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vocab_size ", options_.vocab_size, " is smaller than the special tokens plus the ",
        alphabet.size(), "-character alphabet (", tokens.size(), "); raise it or lower ",
        "limit_alphabet"));
  }

  // Each word as a sequence of piece ids; words with characters outside the alphabet are left
  // out (they would tokenize to [UNK] whatever the merges).
  std::vector<std::vector<int32_t>> pieces;
  std::vector<int64_t> counts;
  for (const auto& [word, count] : words) {
    std::vector<int32_t> ids;
    bool known = true;
    std::vector<std::string> chars = Characters(word);
    for (size_t i = 0; i < chars.size() && known; ++i) {
      auto it = token_ids.find(i == 0 ? chars[i] : "##" + chars[i]);
      if (it == token_ids.end()) known = false; else ids.push_back(it->second);
    }
    if (known && ids.size() > 1) {
      pieces.push_back(std::move(ids));
      counts.push_back(count);
    }
  }

  // Pair statistics: weighted count and the words where the pair occurs.
  absl::flat_hash_map<Pair, int64_t> pair_counts;
  absl::flat_hash_map<Pair, absl::flat_hash_set<int32_t>> pair_words;
  for (size_t w = 0; w < pieces.size(); ++w) {
    for (size_t i = 0; i + 1 < pieces[w].size(); ++i) {
      Pair pair{pieces[w][i], pieces[w][i + 1]};
      pair_counts[pair] += counts[w];
      pair_words[pair].insert(static_cast<int32_t>(w));
    }
  }
  // Max-heap of (count, pair); entries go stale when counts change and are re-checked on pop.
  // Ties: the pair with the smaller ids first, for determinism.
  using Entry = std::tuple<int64_t, int32_t, int32_t>;
  auto lower_priority = [](const Entry& a, const Entry& b) {
    if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) < std::get<0>(b);
    return std::tie(std::get<1>(a), std::get<2>(a)) > std::tie(std::get<1>(b), std::get<2>(b));
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(lower_priority)> queue(lower_priority);
  for (const auto& [pair, count] : pair_counts) queue.emplace(count, pair.first, pair.second);

  while (tokens.size() < static_cast<size_t>(options_.vocab_size) && !queue.empty()) {
    auto [count, left, right] = queue.top();
    queue.pop();
    Pair pair{left, right};
    auto current = pair_counts.find(pair);
    if (current == pair_counts.end() || current->second != count) continue;  // stale
    if (count < options_.min_frequency) break;
    const std::string& right_token = tokens[right];
    std::string merged =
        tokens[left] + (right_token.rfind("##", 0) == 0 ? right_token.substr(2) : right_token);
    int32_t merged_id = add_token(merged);

    absl::flat_hash_map<Pair, int64_t> changed;
    auto affected = pair_words[pair];  // copy: the loop below edits pair_words
    for (int32_t w : affected) {
      std::vector<int32_t>& word = pieces[w];
      const int64_t weight = counts[w];
      for (size_t i = 0; i + 1 < word.size(); ++i) {
        Pair p{word[i], word[i + 1]};
        changed[p] -= weight;
      }
      std::vector<int32_t> next;
      next.reserve(word.size());
      for (size_t i = 0; i < word.size(); ++i) {
        if (i + 1 < word.size() && word[i] == left && word[i + 1] == right) {
          next.push_back(merged_id);
          ++i;
        } else {
          next.push_back(word[i]);
        }
      }
      word = std::move(next);
      for (size_t i = 0; i + 1 < word.size(); ++i) {
        Pair p{word[i], word[i + 1]};
        changed[p] += weight;
        pair_words[p].insert(w);
      }
    }
    for (const auto& [p, delta] : changed) {
      if (delta == 0) continue;
      int64_t& total = pair_counts[p];
      total += delta;
      if (total > 0) queue.emplace(total, p.first, p.second);
    }
    pair_counts.erase(pair);
    pair_words.erase(pair);
  }
  return Vocab::FromTokens(std::move(tokens));
}

}  // namespace murmur::text
