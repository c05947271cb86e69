#include "worker/coordinator_client.h"

#include <algorithm>
#include <vector>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/grpc_status.h"
#include "proto/coordinator.grpc.pb.h"

namespace murmur::worker {
namespace {

// Window and checkpoint reports are small; one that takes longer was lost with its connection.
constexpr absl::Duration kReportTimeout = absl::Seconds(5);
constexpr absl::Duration kLeaveTimeout = absl::Seconds(5);
constexpr absl::Duration kJoinTimeout = absl::Seconds(10);
// A delivery that keeps failing is retried for as long as the buffer lives: the worker decides
// (by its outage limit) when to stop training, not the buffer.
constexpr absl::Duration kDeliverForever = absl::InfiniteDuration();

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

class GrpcCoordinatorClient final : public CoordinatorClient {
 public:
  explicit GrpcCoordinatorClient(std::shared_ptr<grpc::Channel> channel)
      : channel_(std::move(channel)), stub_(v1::WorkerCoordination::NewStub(channel_)) {}

  absl::StatusOr<v1::JoinResponse> Join(const v1::JoinRequest& request) override {
    return Call<v1::JoinResponse>(&Stub::Join, request, kJoinTimeout, "join");
  }
  absl::StatusOr<v1::RendezvousResponse> Rendezvous(const v1::RendezvousRequest& request,
                                                    absl::Duration poll) override {
    return Call<v1::RendezvousResponse>(&Stub::Rendezvous, request, poll, "rendezvous");
  }
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request,
                                                  absl::Duration timeout) override {
    return Call<v1::HeartbeatResponse>(&Stub::Heartbeat, request, timeout, "heartbeat");
  }
  absl::StatusOr<v1::WindowReportsAck> ReportWindows(const v1::WindowReports& reports) override {
    return Call<v1::WindowReportsAck>(&Stub::ReportWindows, reports, kReportTimeout,
                                      "report windows");
  }
  absl::Status ReportCheckpoint(const v1::CheckpointReport& report) override {
    return Call<v1::CheckpointAck>(&Stub::ReportCheckpoint, report, kReportTimeout,
                                   "report checkpoint")
        .status();
  }
  absl::Status Leave(const v1::LeaveRequest& request) override {
    return Call<v1::LeaveResponse>(&Stub::Leave, request, kLeaveTimeout, "leave").status();
  }

 private:
  using Stub = v1::WorkerCoordination::Stub;

  // One unary call with a deadline; errors name the call. (The response is read only after the
  // call filled it.)
  template <typename Response, typename Request>
  absl::StatusOr<Response> Call(grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                             const Request&, Response*),
                                const Request& request, absl::Duration timeout,
                                const char* what) {
    Response response;
    auto context = Context(timeout);
    grpc::Status status = (stub_.get()->*method)(context.get(), request, &response);
    if (!status.ok()) {
      absl::Status converted = FromGrpcStatus(status);
      return absl::Status(converted.code(), absl::StrCat(what, ": ", converted.message()));
    }
    return response;
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerCoordination::Stub> stub_;
};

}  // namespace

std::shared_ptr<grpc::Channel> CreateCoordinatorChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  const int bound = static_cast<int>(RetryPolicy::kReconnectBound.count());
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(100, bound));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, std::min(100, bound));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, bound);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<CoordinatorClient> CreateGrpcCoordinatorClient(
    std::shared_ptr<grpc::Channel> channel) {
  return std::make_unique<GrpcCoordinatorClient>(std::move(channel));
}

bool RetryPolicy::Retryable(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
}

absl::Status RetryPolicy::Run(const std::function<absl::Status()>& call, absl::Time deadline,
                              const std::function<bool()>& stop) const {
  absl::Duration backoff = initial_backoff;
  while (true) {
    absl::Status status = call();
    if (!Retryable(status) || absl::Now() + backoff > deadline || (stop && stop())) {
      return status;
    }
    absl::SleepFor(backoff);
    backoff = std::min(max_backoff, backoff * 2);
  }
}

ReportBuffer::ReportBuffer(CoordinatorClient* client, RetryPolicy policy,
                           std::function<void(const absl::Status&)> on_refused)
    : client_(client), policy_(policy), on_refused_(std::move(on_refused)) {
  thread_ = std::thread([this] { Loop(); });
}

ReportBuffer::~ReportBuffer() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void ReportBuffer::Add(v1::WindowReport report) {
  absl::MutexLock lock(&mu_);
  queue_.emplace_back(std::move(report));
  ++added_;
}

void ReportBuffer::Add(v1::CheckpointReport report) {
  absl::MutexLock lock(&mu_);
  queue_.emplace_back(std::move(report));
  ++added_;
}

absl::Status ReportBuffer::Flush(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  const int64_t target = added_;
  auto flushed = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ >= target; };
  if (!mu_.AwaitWithDeadline(absl::Condition(&flushed), deadline)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "reports not delivered: ", target - done_, " still waiting for the coordinator"));
  }
  return absl::OkStatus();
}

size_t ReportBuffer::pending() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

int64_t ReportBuffer::delivered() const {
  absl::MutexLock lock(&mu_);
  return delivered_;
}

absl::StatusOr<ReportBuffer::Delivery> ReportBuffer::Deliver(const std::vector<Report>& batch) {
  Delivery delivery;
  if (const auto* checkpoint = std::get_if<v1::CheckpointReport>(&batch.front())) {
    absl::Status status = client_->ReportCheckpoint(*checkpoint);
    if (RetryPolicy::Retryable(status)) return status;
    if (status.ok()) delivery.recorded = 1;
    delivery.refused = status;
    return delivery;
  }
  v1::WindowReports reports;
  for (const Report& report : batch) *reports.add_reports() = std::get<v1::WindowReport>(report);
  auto ack = client_->ReportWindows(reports);
  if (!ack.ok()) {
    if (RetryPolicy::Retryable(ack.status())) return ack.status();
    // The call itself was refused (not one report): count it against the first.
    delivery.refused = ack.status();
    return delivery;
  }
  delivery.recorded = ack->recorded();
  if (ack->recorded() < static_cast<int>(batch.size())) {
    delivery.refused = absl::Status(static_cast<absl::StatusCode>(ack->refused_code()),
                                    ack->refused_message());
  }
  return delivery;
}

void ReportBuffer::Loop() {
  while (true) {
    std::vector<Report> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
      // Reports stay queued (and pending) until delivered. A checkpoint goes alone, so that it
      // arrives after the windows before it and before those after it.
      batch.push_back(queue_.front());
      if (std::holds_alternative<v1::WindowReport>(queue_.front())) {
        for (size_t i = 1; i < queue_.size() && static_cast<int>(batch.size()) < kMaxBatch &&
                           std::holds_alternative<v1::WindowReport>(queue_[i]);
             ++i) {
          batch.push_back(queue_[i]);
        }
      }
    }
    auto stopping = [this] {
      absl::MutexLock lock(&mu_);
      return stop_;
    };
    absl::StatusOr<Delivery> delivery;
    policy_
        .Run(
            [&] {
              delivery = Deliver(batch);
              return delivery.status();
            },
            absl::Now() + kDeliverForever, stopping)
        .IgnoreError();  // `delivery` holds the outcome
    if (stopping()) return;
    int taken = 0;
    absl::Status refused;
    if (delivery.ok()) {
      taken = delivery->recorded;
      refused = delivery->refused;
      if (!refused.ok()) ++taken;  // the refused one is dropped too
    } else {
      refused = delivery.status();  // not retryable, and not an answer about any one report
      taken = 1;
    }
    if (!refused.ok() && on_refused_) on_refused_(refused);
    absl::MutexLock lock(&mu_);
    for (int i = 0; i < taken && !queue_.empty(); ++i) queue_.pop_front();
    done_ += taken;
    delivered_ += delivery.ok() ? delivery->recorded : 0;
  }
}

}  // namespace murmur::worker
