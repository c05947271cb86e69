// The one conversion between absl::Status (murmur's errors everywhere inside) and grpc::Status
// (at the RPC edge), used by every server and client. The canonical codes are the same numbers
// in both, so the code is kept and the message carried over.
#ifndef MURMUR_BASE_GRPC_STATUS_H_
#define MURMUR_BASE_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace murmur {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace murmur

#endif  // MURMUR_BASE_GRPC_STATUS_H_
