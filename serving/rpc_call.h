// Plumbing shared by the gRPC services (callback API): a unary reactor that turns client
// cancellation into a flag the batcher checks, knows the call's deadline, and on completion
// records metrics and converts the absl::Status (via ToGrpcStatus) in one place.
#ifndef MURMUR_SERVING_RPC_CALL_H_
#define MURMUR_SERVING_RPC_CALL_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "serving/metrics.h"

namespace murmur::serving {

// The call's deadline as absl::Time (InfiniteFuture when the client set none).
absl::Time DeadlineOf(const grpc::ServerContextBase& context);

// Owns itself: deleted by gRPC's OnDone after Complete. Complete may be called from any thread,
// exactly once. `metrics` is borrowed (may be null) and must outlive the server.
class UnaryCall : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(grpc::CallbackServerContext* context, ServingMetrics* metrics, const char* method)
      : metrics_(metrics), method_(method), start_(absl::Now()), deadline_(DeadlineOf(*context)) {}

  void Complete(const absl::Status& status);

  std::shared_ptr<const std::atomic<bool>> cancelled() const { return cancelled_; }
  absl::Time deadline() const { return deadline_; }

  void OnCancel() override { cancelled_->store(true); }
  void OnDone() override { delete this; }

 private:
  ServingMetrics* const metrics_;
  const char* const method_;
  const absl::Time start_;
  const absl::Time deadline_;
  const std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_RPC_CALL_H_
