#include "base/random.h"

#include <cstring>

namespace murmur {

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "StableHash64 reads little-endian words; port the loads before building on big-endian."
#endif

uint64_t StableHash64(std::string_view bytes, uint64_t seed) {
  constexpr uint64_t kMul = 0xc6a4a7935bd1e995ULL;
  constexpr int kShift = 47;
  const size_t len = bytes.size();
  const unsigned char* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned char* end = data + (len / 8) * 8;
  uint64_t h = seed ^ (static_cast<uint64_t>(len) * kMul);
  for (; data != end; data += 8) {
    uint64_t k;
    std::memcpy(&k, data, 8);
    k *= kMul;
    k ^= k >> kShift;
    k *= kMul;
    h ^= k;
    h *= kMul;
  }
  switch (len & 7) {
    case 7: h ^= static_cast<uint64_t>(data[6]) << 48; [[fallthrough]];
    case 6: h ^= static_cast<uint64_t>(data[5]) << 40; [[fallthrough]];
    case 5: h ^= static_cast<uint64_t>(data[4]) << 32; [[fallthrough]];
    case 4: h ^= static_cast<uint64_t>(data[3]) << 24; [[fallthrough]];
    case 3: h ^= static_cast<uint64_t>(data[2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<uint64_t>(data[1]) << 8; [[fallthrough]];
    case 1:
      h ^= static_cast<uint64_t>(data[0]);
      h *= kMul;
  }
  h ^= h >> kShift;
  h *= kMul;
  h ^= h >> kShift;
  return h;
}

uint64_t MixSeed(uint64_t a, uint64_t b) {
  // Mixing `a` before adding `b` makes (a, b) and (b, a) differ.
  return Mix64(Mix64(a + 0x9e3779b97f4a7c15ULL) + b);
}

uint64_t Rng::Uniform(uint64_t n) {
  // Lemire, "Fast Random Integer Generation in an Interval" (2019): unbiased, one multiply in
  // the common case.
  unsigned __int128 m = static_cast<unsigned __int128>(Next()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(Next()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

}  // namespace murmur
