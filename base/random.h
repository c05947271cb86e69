// Deterministic hashing and pseudo-random numbers, murmur's one source of them: the data
// pipeline's and the training's (dropout masks, masked-LM and word-dropout choices).
//
// Everything here must give the same numbers on every machine, build and run: the train/
// validation split, the epoch permutations and the generated corpus are recomputed by different
// processes (coordinator, workers, tools) that must agree bit for bit, and a resumed or regrouped
// job replays a step's random choices exactly. That rules out
// absl::Hash and std::hash (seeded per process or unspecified), std::shuffle and the std::
// distributions (implementation-defined). The algorithms are fixed here instead:
//   - StableHash64: MurmurHash64A (Austin Appleby, public domain), reading little-endian words.
//   - Rng: SplitMix64 (Steele, Lea & Flood 2014), bounded draws by Lemire's unbiased
//     multiply-and-reject method.
// Changing any of them changes splits and permutations of existing jobs: bump the token cache
// format version if you ever do.
//
// All functions are pure; an Rng object is not thread-safe (give each thread its own).
#ifndef MURMUR_BASE_RANDOM_H_
#define MURMUR_BASE_RANDOM_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace murmur {

// MurmurHash64A of `bytes` with `seed`.
uint64_t StableHash64(std::string_view bytes, uint64_t seed);

// Combines two values into a well-mixed 64-bit seed (not commutative), e.g. (job seed, epoch).
uint64_t MixSeed(uint64_t a, uint64_t b);

// The 64-bit finalizer of SplitMix64: a bijection that spreads every input bit.
inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// SplitMix64's increment (2^64 / golden ratio, odd).
inline constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ULL;

// SplitMix64's output for state `counter`: a counter-based generator, for parallel loops that
// draw element i's bits as CounterHash(seed ^ f(i)) in any order (dropout masks).
inline uint64_t CounterHash(uint64_t counter) { return Mix64(counter + kGoldenGamma); }

// A uniform double in [0, 1) from the top 53 bits of `bits`.
inline double UnitInterval(uint64_t bits) {
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

// SplitMix64 generator. Copyable (a copy continues the same sequence). Not thread-safe.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    state_ += kGoldenGamma;
    return Mix64(state_);
  }
  // Uniform in [0, n); n must be > 0.
  uint64_t Uniform(uint64_t n);
  // Uniform in [0, 1).
  double UniformDouble() { return UnitInterval(Next()); }
  // True with probability p.
  bool Bernoulli(double p) { return UniformDouble() < p; }

 private:
  uint64_t state_;
};

}  // namespace murmur

#endif  // MURMUR_BASE_RANDOM_H_
