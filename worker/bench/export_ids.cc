// Writes a token cache's training rows as text, "label id id ...", one row per line: the input
// of the PyTorch DDP baseline (ddp_baseline.py), so both sides train on identical ids.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "data/token_cache.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: export_ids TOKEN_CACHE OUT.txt\n");
    return 2;
  }
  auto cache = murmur::data::TokenCache::Open(argv[1]);
  if (!cache.ok()) {
    std::fprintf(stderr, "%s\n", std::string(cache.status().message()).c_str());
    return 1;
  }
  std::string out;
  for (uint32_t row : (*cache)->train_rows()) {
    absl::StrAppend(&out, static_cast<int>((*cache)->label(row)));
    for (int32_t id : (*cache)->Ids(row)) absl::StrAppend(&out, " ", id);
    out += '\n';
  }
  absl::Status written = murmur::WriteFileAtomically(argv[2], out);
  if (!written.ok()) {
    std::fprintf(stderr, "%s\n", std::string(written.message()).c_str());
    return 1;
  }
  return 0;
}
