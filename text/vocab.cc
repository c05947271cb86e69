#include "text/vocab.h"

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/sha256.h"

namespace murmur::text {

absl::StatusOr<Vocab> Vocab::FromTokens(std::vector<std::string> tokens) {
  Vocab vocab;
  vocab.ids_.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("vocab line ", i + 1, ": empty token"));
    }
    auto [it, inserted] = vocab.ids_.emplace(tokens[i], static_cast<int32_t>(i));
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat("vocab line ", i + 1, ": token '", tokens[i],
                                                     "' duplicates line ", it->second + 1));
    }
  }
  vocab.tokens_ = std::move(tokens);
  struct Special {
    const char* token;
    int32_t* id;
  };
  for (Special special : {Special{"[PAD]", &vocab.pad_id_}, Special{"[UNK]", &vocab.unk_id_},
                          Special{"[CLS]", &vocab.cls_id_}, Special{"[SEP]", &vocab.sep_id_},
                          Special{"[MASK]", &vocab.mask_id_}}) {
    auto it = vocab.ids_.find(special.token);
    if (it == vocab.ids_.end() && special.id == &vocab.mask_id_) continue;  // only MLM needs it
    if (it == vocab.ids_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("vocab has no ", special.token, " token (a BERT vocabulary needs it)"));
    }
    *special.id = it->second;
  }
  vocab.fingerprint_ = Sha256Hex(vocab.ToString());
  return vocab;
}

absl::StatusOr<Vocab> Vocab::FromString(std::string_view contents) {
  std::vector<std::string> tokens;
  size_t start = 0;
  while (start < contents.size()) {
    size_t end = contents.find('\n', start);
    if (end == std::string_view::npos) end = contents.size();
    std::string_view line = contents.substr(start, end - start);
    // vocab.txt files written on Windows end lines with \r\n; the \r is not part of the token.
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    tokens.emplace_back(line);
    start = end + 1;
  }
  return FromTokens(std::move(tokens));
}

absl::StatusOr<Vocab> Vocab::Load(const std::string& path) {
  auto contents = ReadFile(path);
  if (!contents.ok()) return contents.status();
  auto vocab = FromString(*contents);
  if (!vocab.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", vocab.status().message()));
  }
  return vocab;
}

std::optional<int32_t> Vocab::Find(std::string_view token) const {
  auto it = ids_.find(absl::string_view(token.data(), token.size()));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::string Vocab::ToString() const {
  std::string out;
  for (const std::string& token : tokens_) absl::StrAppend(&out, token, "\n");
  return out;
}

}  // namespace murmur::text
