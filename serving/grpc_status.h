// The one place where murmur's absl::Status becomes a grpc::Status at the RPC edge (as TF
// Serving's grpc_status_util). absl and gRPC share the canonical code numbers, so the code maps
// one to one and the message passes through unchanged. Stateless; thread-safe.
#ifndef MURMUR_SERVING_GRPC_STATUS_H_
#define MURMUR_SERVING_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace murmur::serving {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_GRPC_STATUS_H_
