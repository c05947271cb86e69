#include "data/testing.h"

#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "base/random.h"
#include "base/sha256.h"
#include "base/test_util.h"

namespace murmur::data::testing {

std::string TempPath(const std::string& name) {
  static std::atomic<int> counter{0};
  return absl::StrCat(::murmur::testing::TempDir(), "/", ::getpid(), "_", counter++, "_", name);
}

void FakeEncoder::EncodeInto(std::string_view text, int max_length,
                             std::vector<int32_t>* ids) const {
  ids->clear();
  ids->push_back(101);
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) {
      ids->push_back(1000 + static_cast<int32_t>(StableHash64(text.substr(start, end - start), 0) % 1000));
    }
    start = end + 1;
  }
  if (max_length > 0 && static_cast<int>(ids->size()) >= max_length) ids->resize(max_length - 1);
  ids->push_back(102);
}

std::string FakeEncoder::vocab_fingerprint() const { return Sha256Hex("fake-encoder-vocab"); }

}  // namespace murmur::data::testing
