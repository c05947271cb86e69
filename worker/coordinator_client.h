// The worker's side of the coordinator protocol (coordinator/README.md), in three parts:
//
//  - CoordinatorClient: one call per method, nothing retried. UNAVAILABLE or DEADLINE_EXCEEDED
//    when the coordinator cannot be reached (it may be restarting); other codes are its answer.
//    Backends: gRPC (CreateGrpcCoordinatorClient) and, in tests, a Job in the same process
//    (worker/in_process_coordinator.h).
//  - RetryPolicy: the one backoff every retried call uses (bounded, so a worker reaches a
//    restarted coordinator within max_backoff of its return).
//  - ReportBuffer: window and checkpoint reports, delivered in order from a thread of its own,
//    so no training step waits on the coordinator. Reports wait in it through an outage and are
//    delivered when the coordinator is back, consecutive windows in batches (one journal write
//    each); the coordinator de-duplicates by step, so a report delivered twice (an answer lost
//    on the way back) does no harm.
//
// The client is thread-safe (the heartbeat thread, the training thread and the buffer's thread
// share it). The buffer borrows the client, which must outlive it.
#ifndef MURMUR_WORKER_COORDINATOR_CLIENT_H_
#define MURMUR_WORKER_COORDINATOR_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/coordinator.pb.h"

namespace murmur::worker {

class CoordinatorClient {
 public:
  virtual ~CoordinatorClient() = default;
  virtual absl::StatusOr<v1::JoinResponse> Join(const v1::JoinRequest& request) = 0;
  // A long poll of at most `poll` (the coordinator answers UNAVAILABLE when its own poll ends).
  virtual absl::StatusOr<v1::RendezvousResponse> Rendezvous(const v1::RendezvousRequest& request,
                                                            absl::Duration poll) = 0;
  virtual absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request,
                                                          absl::Duration timeout) = 0;
  // Window reports in step order, recorded up to the first refused one (WindowReportsAck).
  virtual absl::StatusOr<v1::WindowReportsAck> ReportWindows(const v1::WindowReports& reports) = 0;
  virtual absl::Status ReportCheckpoint(const v1::CheckpointReport& report) = 0;
  virtual absl::Status Leave(const v1::LeaveRequest& request) = 0;
};

// A channel to the coordinator whose reconnect backoff is bounded by
// RetryPolicy::kReconnectBound (gRPC's default grows to 120 s, so a worker would find a
// restarted coordinator only long after it came back).
std::shared_ptr<grpc::Channel> CreateCoordinatorChannel(const std::string& address);
std::unique_ptr<CoordinatorClient> CreateGrpcCoordinatorClient(
    std::shared_ptr<grpc::Channel> channel);

struct RetryPolicy {
  // The channel's reconnect backoff never exceeds this.
  static constexpr std::chrono::milliseconds kReconnectBound{1000};
  // Waits between attempts: initial, doubled each time up to max. Defaults 100 ms .. 1 s.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(1);

  // Whether a call that failed with `status` may succeed when repeated as it is.
  static bool Retryable(const absl::Status& status);
  // Calls `call` until it returns a non-retryable status, `deadline` passes or `stop()` holds
  // (may be empty); returns its last status.
  absl::Status Run(const std::function<absl::Status()>& call, absl::Time deadline,
                   const std::function<bool()>& stop = {}) const;
};

class ReportBuffer {
 public:
  // Starts the delivery thread. `on_refused` (may be empty) hears of every report the
  // coordinator refused (not an outage: e.g. a stale generation's window), from that thread.
  ReportBuffer(CoordinatorClient* client, RetryPolicy policy,
               std::function<void(const absl::Status&)> on_refused = {});
  ~ReportBuffer();  // stops delivering; reports still waiting are dropped
  ReportBuffer(const ReportBuffer&) = delete;
  ReportBuffer& operator=(const ReportBuffer&) = delete;

  void Add(v1::WindowReport report);
  void Add(v1::CheckpointReport report);
  // Blocks until every report added before the call was delivered or refused. DEADLINE_EXCEEDED
  // when `deadline` passes first (they stay queued).
  absl::Status Flush(absl::Time deadline);
  // Reports waiting (not yet delivered).
  size_t pending() const;
  // Reports delivered since the start (for tests and logs).
  int64_t delivered() const;

 private:
  using Report = std::variant<v1::WindowReport, v1::CheckpointReport>;
  // Window reports sent in one call at most.
  static constexpr int kMaxBatch = 128;
  void Loop();
  // Delivers the front `count` reports (one checkpoint, or `count` windows); how many of them
  // were recorded, and the status of the one refused after those, if any.
  struct Delivery {
    int recorded = 0;
    absl::Status refused;
  };
  absl::StatusOr<Delivery> Deliver(const std::vector<Report>& batch);

  CoordinatorClient* const client_;
  const RetryPolicy policy_;
  const std::function<void(const absl::Status&)> on_refused_;
  mutable absl::Mutex mu_;
  std::deque<Report> queue_ ABSL_GUARDED_BY(mu_);
  // Reports taken off the queue (delivered or refused) since the start; the front one counts
  // only once its delivery ended.
  int64_t done_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t added_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_COORDINATOR_CLIENT_H_
