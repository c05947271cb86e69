#include "serving/bearer_token.h"

#include <string_view>

#include "absl/strings/str_cat.h"

namespace murmur::serving {
namespace {

// Compares without an early exit, so response time does not reveal how much of a guess matched.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

}  // namespace

absl::Status CheckBearerHeader(bool present, std::string_view value, const std::string& token,
                               const std::string& api) {
  if (token.empty()) return absl::OkStatus();
  if (!present) {
    return absl::UnauthenticatedError(
        absl::StrCat(api, " needs 'authorization: Bearer <token>' (gRPC metadata or HTTP "
                          "header)"));
  }
  if (!ConstantTimeEquals(value, "Bearer " + token)) {
    return absl::UnauthenticatedError(absl::StrCat(api, ": wrong bearer token"));
  }
  return absl::OkStatus();
}

absl::Status CheckBearerToken(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                              const std::string& token, const std::string& api) {
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return CheckBearerHeader(false, "", token, api);
  return CheckBearerHeader(true, std::string_view(it->second.data(), it->second.size()), token,
                           api);
}

}  // namespace murmur::serving
