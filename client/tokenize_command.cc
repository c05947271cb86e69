// murmur tokenize --vocab FILE [--max-len N]: one line of ids per stdin line.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/flags.h"
#include "client/commands.h"
#include "text/tokenizer.h"

namespace murmur::client {

int TokenizeCommand(const CommandArgs& args) {
  FlagParser flags("murmur tokenize");
  std::string vocab_path;
  int max_len = 0;
  flags.String("vocab", &vocab_path, "WordPiece vocab.txt", /*required=*/true);
  flags.Int("max-len", &max_len, "truncate to at most N ids, [SEP] kept (0: no limit)");
  if (auto exit_code = flags.ParseOrExitCode(args)) return *exit_code;
  if (max_len == 1 || max_len < 0) {
    std::cerr << "murmur tokenize: --max-len must be 0 or at least 2\n";
    return 2;
  }
  auto tokenizer = text::Tokenizer::FromVocabFile(vocab_path);
  if (!tokenizer.ok()) {
    std::cerr << "murmur tokenize: " << tokenizer.status().message() << "\n";
    return 1;
  }
  std::ios::sync_with_stdio(false);
  std::string line, out;
  std::vector<int32_t> ids;
  while (std::getline(std::cin, line)) {
    (*tokenizer)->EncodeInto(line, max_len, &ids);
    out.clear();
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i > 0) out.push_back(' ');
      absl::StrAppend(&out, ids[i]);
    }
    out.push_back('\n');
    std::cout.write(out.data(), static_cast<std::streamsize>(out.size()));
  }
  std::cout.flush();
  return std::cout.good() ? 0 : 1;
}

}  // namespace murmur::client
