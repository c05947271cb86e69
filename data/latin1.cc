#include "data/latin1.h"

#include <cstdint>
#include <cstring>

namespace murmur::data {

void AppendLatin1AsUtf8(std::string_view latin1, std::string* out) {
  out->reserve(out->size() + latin1.size() + 8);
  for (char c : latin1) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80) {
      out->push_back(c);
    } else {
      out->push_back(static_cast<char>(0xC0 | (byte >> 6)));
      out->push_back(static_cast<char>(0x80 | (byte & 0x3F)));
    }
  }
}

std::string Utf8ToLatin1(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (size_t i = 0; i < utf8.size(); ++i) {
    const auto byte = static_cast<unsigned char>(utf8[i]);
    // 0xC2/0xC3 lead bytes encode exactly U+0080-U+00FF.
    if ((byte == 0xC2 || byte == 0xC3) && i + 1 < utf8.size() &&
        (static_cast<unsigned char>(utf8[i + 1]) & 0xC0) == 0x80) {
      out.push_back(static_cast<char>(((byte & 0x03) << 6) |
                                      (static_cast<unsigned char>(utf8[i + 1]) & 0x3F)));
      ++i;
    } else {
      out.push_back(utf8[i]);
    }
  }
  return out;
}

bool HasHighBytes(std::string_view bytes) {
  // Eight bytes at a time: this runs over every text of the corpus.
  const char* p = bytes.data();
  size_t n = bytes.size();
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    if (word & 0x8080808080808080ULL) return true;
    p += 8;
    n -= 8;
  }
  for (; n > 0; --n, ++p) {
    if (static_cast<unsigned char>(*p) >= 0x80) return true;
  }
  return false;
}

}  // namespace murmur::data
