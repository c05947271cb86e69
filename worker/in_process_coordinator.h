// A CoordinatorClient that calls a coordinator::Job in the same process: the real state machine
// without gRPC, for unit tests of the worker's generation loop. SetReachable(false) makes every
// call fail with UNAVAILABLE, as a restarting or partitioned-off coordinator does; Replace()
// swaps in another Job (a restarted coordinator that recovered from its journal).
//
// Thread-safe. Borrows the Job, which must outlive the client (or be replaced first).
#ifndef MURMUR_WORKER_IN_PROCESS_COORDINATOR_H_
#define MURMUR_WORKER_IN_PROCESS_COORDINATOR_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/job.h"
#include "worker/coordinator_client.h"

namespace murmur::worker {

class InProcessCoordinator final : public CoordinatorClient {
 public:
  explicit InProcessCoordinator(coordinator::Job* job) : job_(job) {}

  void SetReachable(bool reachable) {
    absl::MutexLock lock(&mu_);
    reachable_ = reachable;
  }
  void Replace(coordinator::Job* job) {
    absl::MutexLock lock(&mu_);
    job_ = job;
  }
  // Calls answered (not refused for unreachability) so far.
  int64_t calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

  absl::StatusOr<v1::JoinResponse> Join(const v1::JoinRequest& request) override {
    coordinator::Job* job = Reach();
    if (job == nullptr) return Unreachable();
    return job->Join(request);
  }
  absl::StatusOr<v1::RendezvousResponse> Rendezvous(const v1::RendezvousRequest& request,
                                                    absl::Duration poll) override {
    coordinator::Job* job = Reach();
    if (job == nullptr) return Unreachable();
    return job->Rendezvous(request, poll);
  }
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request,
                                                  absl::Duration) override {
    coordinator::Job* job = Reach();
    if (job == nullptr) return Unreachable();
    return job->Heartbeat(request);
  }
  absl::StatusOr<v1::WindowReportsAck> ReportWindows(const v1::WindowReports& reports) override {
    coordinator::Job* job = Reach();
    if (job == nullptr) return Unreachable();
    return job->ReportWindows(reports);
  }
  absl::Status ReportCheckpoint(const v1::CheckpointReport& report) override {
    coordinator::Job* job = Reach();
    if (job == nullptr) return Unreachable();
    return job->ReportCheckpoint(report);
  }
  absl::Status Leave(const v1::LeaveRequest& request) override {
    coordinator::Job* job = Reach();
    if (job == nullptr) return Unreachable();
    return job->Leave(request);
  }

 private:
  static absl::Status Unreachable() {
    return absl::UnavailableError("coordinator unreachable (test outage)");
  }
  coordinator::Job* Reach() {
    absl::MutexLock lock(&mu_);
    if (!reachable_) return nullptr;
    ++calls_;
    return job_;
  }

  mutable absl::Mutex mu_;
  coordinator::Job* job_ ABSL_GUARDED_BY(mu_);
  bool reachable_ ABSL_GUARDED_BY(mu_) = true;
  int64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_IN_PROCESS_COORDINATOR_H_
