#include "serving/rpc_call.h"

#include <chrono>

#include "base/grpc_status.h"

namespace murmur::serving {

absl::Time DeadlineOf(const grpc::ServerContextBase& context) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  // gRPC reports "no deadline" as a time centuries away.
  if (deadline >= std::chrono::system_clock::now() + std::chrono::hours(24 * 365)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

void UnaryCall::Complete(const absl::Status& status) {
  if (metrics_ != nullptr) metrics_->RecordRequest(method_, status.code(), absl::Now() - start_);
  Finish(ToGrpcStatus(status));
}

}  // namespace murmur::serving
