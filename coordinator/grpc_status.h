// The one place where absl::Status becomes grpc::Status (codes map one to one; DESIGN.md §3:
// convert at the RPC edge only), and back for clients.
#ifndef MURMUR_COORDINATOR_GRPC_STATUS_H_
#define MURMUR_COORDINATOR_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace murmur::coordinator {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_GRPC_STATUS_H_
