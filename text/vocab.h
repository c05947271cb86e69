// A WordPiece vocabulary: token strings and their ids, as in Hugging Face's vocab.txt (one token
// per line; the 0-based line number is the id).
//
// Immutable after construction; safe to share between threads. Copyable (it is plain data).
#ifndef MURMUR_TEXT_VOCAB_H_
#define MURMUR_TEXT_VOCAB_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace murmur::text {

class Vocab {
 public:
  // Parses vocab.txt contents. Fails (INVALID_ARGUMENT, naming the line) on duplicate tokens,
  // empty tokens or a missing special token among [PAD] [UNK] [CLS] [SEP] ([MASK] is optional:
  // mask_id() is -1 without it).
  static absl::StatusOr<Vocab> FromString(std::string_view contents);
  static absl::StatusOr<Vocab> Load(const std::string& path);
  // Builds a vocabulary from tokens in id order (same checks as FromString).
  static absl::StatusOr<Vocab> FromTokens(std::vector<std::string> tokens);

  int size() const { return static_cast<int>(tokens_.size()); }
  // The id of `token`, or nullopt.
  std::optional<int32_t> Find(std::string_view token) const;
  const std::string& token(int32_t id) const { return tokens_[id]; }
  const std::vector<std::string>& tokens() const { return tokens_; }

  // vocab.txt contents: each token followed by '\n'.
  std::string ToString() const;

  // SHA-256 (hex) of ToString(): identifies the vocabulary in caches and checkpoints.
  const std::string& fingerprint() const { return fingerprint_; }

  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t mask_id() const { return mask_id_; }

 private:
  Vocab() = default;
  std::vector<std::string> tokens_;
  absl::flat_hash_map<std::string, int32_t> ids_;
  std::string fingerprint_;
  int32_t pad_id_ = -1, unk_id_ = -1, cls_id_ = -1, sep_id_ = -1, mask_id_ = -1;
};

}  // namespace murmur::text

#endif  // MURMUR_TEXT_VOCAB_H_
