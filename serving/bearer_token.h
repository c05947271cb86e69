// Bearer-token authentication of gRPC calls, for the two APIs that can require one: repository
// management (--auth-token-file) and inference (--inference-token-file). The token is compared
// in constant time. Pure function; thread-safe.
#ifndef MURMUR_SERVING_BEARER_TOKEN_H_
#define MURMUR_SERVING_BEARER_TOKEN_H_

#include <grpcpp/grpcpp.h>

#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace murmur::serving {

// OK when `token` is empty (no authentication) or `metadata` carries
// "authorization: Bearer <token>"; UNAUTHENTICATED naming `api` otherwise.
absl::Status CheckBearerToken(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                              const std::string& token, const std::string& api);
// The same for an HTTP Authorization header's value (`present`: whether the header was sent).
absl::Status CheckBearerHeader(bool present, std::string_view value, const std::string& token,
                               const std::string& api);

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_BEARER_TOKEN_H_
