// SHA-256 digests (OpenSSL's EVP implementation) as lowercase hex, for checkpoint manifests and
// verified transfers. Sha256Hasher is not thread-safe; the free functions are.
#ifndef MURMUR_BASE_SHA256_H_
#define MURMUR_BASE_SHA256_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace murmur {

// Incremental hashing for streamed data (chunked uploads).
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::string_view bytes);
  // Returns the hex digest; the hasher is then reset for reuse.
  std::string FinishHex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string Sha256Hex(std::string_view bytes);

// Hashes a file through a memory map (no copy of the contents).
absl::StatusOr<std::string> Sha256FileHex(const std::string& path);

}  // namespace murmur

#endif  // MURMUR_BASE_SHA256_H_
