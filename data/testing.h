// Helpers for data/ tests. Test-only.
#ifndef MURMUR_DATA_TESTING_H_
#define MURMUR_DATA_TESTING_H_

#include <string>
#include <vector>

#include "data/token_cache.h"

namespace murmur::data::testing {

// (The shared data directory comes from base/test_util.h: murmur::testing::SharedDataPath.)

// A fresh, unique path under murmur::testing::TempDir() ending in `name`.
std::string TempPath(const std::string& name);

// A deterministic stand-in for the WordPiece tokenizer: [CLS]=101, one id in [1000, 2000) per
// space-separated word, [SEP]=102, truncated to max_length with [SEP] kept. Vocab size 30522.
class FakeEncoder : public TextEncoder {
 public:
  void EncodeInto(std::string_view text, int max_length,
                  std::vector<int32_t>* ids) const override;
  int vocab_size() const override { return 30522; }
  std::string vocab_fingerprint() const override;
};

}  // namespace murmur::data::testing

#endif  // MURMUR_DATA_TESTING_H_
