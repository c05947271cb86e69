#include "coordinator/service.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/grpc_status.h"

namespace murmur::coordinator {
namespace {

// c10d's default store timeout, for a StoreGet that names none.
constexpr absl::Duration kDefaultStoreTimeout = absl::Seconds(300);
// Answer a little before the client's deadline, so it gets our answer rather than its own
// DEADLINE_EXCEEDED.
constexpr absl::Duration kDeadlineMargin = absl::Milliseconds(200);

// How long a wait may last within the client's deadline (infinite when it set none).
absl::Duration TimeLeft(const grpc::ServerContext& context) {
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteDuration();
  }
  const absl::Duration left = absl::FromChrono(deadline - std::chrono::system_clock::now());
  return std::max(absl::ZeroDuration(), left - kDeadlineMargin);
}

template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status WorkerCoordinationService::Join(grpc::ServerContext*, const v1::JoinRequest* request,
                                             v1::JoinResponse* response) {
  return Reply(job_->Join(*request), response);
}

grpc::Status WorkerCoordinationService::Rendezvous(grpc::ServerContext* context,
                                                   const v1::RendezvousRequest* request,
                                                   v1::RendezvousResponse* response) {
  return Reply(job_->Rendezvous(*request, TimeLeft(*context),
                                [context] { return context->IsCancelled(); }),
               response);
}

grpc::Status WorkerCoordinationService::Heartbeat(grpc::ServerContext* context,
                                                  const v1::HeartbeatRequest* request,
                                                  v1::HeartbeatResponse* response) {
  auto result = job_->Heartbeat(*request);
  if (absl::IsFailedPrecondition(result.status()) || absl::IsAborted(result.status())) {
    context->AddTrailingMetadata(kGenerationMetadataKey,
                                 absl::StrCat(job_->announced_generation()));
  }
  return Reply(std::move(result), response);
}

grpc::Status WorkerCoordinationService::ReportWindow(grpc::ServerContext*,
                                                     const v1::WindowReport* request,
                                                     v1::WindowAck*) {
  return ToGrpcStatus(job_->ReportWindow(*request));
}

grpc::Status WorkerCoordinationService::ReportWindows(grpc::ServerContext*,
                                                      const v1::WindowReports* request,
                                                      v1::WindowReportsAck* response) {
  *response = job_->ReportWindows(*request);
  return grpc::Status::OK;
}

grpc::Status WorkerCoordinationService::ReportCheckpoint(grpc::ServerContext*,
                                                         const v1::CheckpointReport* request,
                                                         v1::CheckpointAck*) {
  return ToGrpcStatus(job_->ReportCheckpoint(*request));
}

grpc::Status WorkerCoordinationService::Leave(grpc::ServerContext*,
                                              const v1::LeaveRequest* request,
                                              v1::LeaveResponse*) {
  return ToGrpcStatus(job_->Leave(*request));
}

grpc::Status WorkerCoordinationService::StoreSet(grpc::ServerContext*,
                                                 const v1::StoreSetRequest* request,
                                                 v1::StoreSetResponse*) {
  if (request->key().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("store set: key is required"));
  }
  store_->Set(request->key(), request->value());
  return grpc::Status::OK;
}

grpc::Status WorkerCoordinationService::StoreGet(grpc::ServerContext* context,
                                                 const v1::StoreGetRequest* request,
                                                 v1::StoreGetResponse* response) {
  if (request->timeout_ms() < 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("store get: timeout_ms must be >= 0"));
  }
  const absl::Duration timeout = request->timeout_ms() > 0
                                     ? absl::Milliseconds(request->timeout_ms())
                                     : kDefaultStoreTimeout;
  const std::vector<std::string> keys(request->keys().begin(), request->keys().end());
  auto value = store_->Get(keys, std::min(timeout, TimeLeft(*context)),
                           [context] { return context->IsCancelled(); });
  if (!value.ok()) return ToGrpcStatus(value.status());
  if (!request->wait_only()) response->set_value(*std::move(value));
  return grpc::Status::OK;
}

grpc::Status WorkerCoordinationService::StoreAdd(grpc::ServerContext*,
                                                 const v1::StoreAddRequest* request,
                                                 v1::StoreAddResponse* response) {
  if (request->key().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("store add: key is required"));
  }
  auto value = store_->Add(request->key(), request->delta());
  if (!value.ok()) return ToGrpcStatus(value.status());
  response->set_value(*value);
  return grpc::Status::OK;
}

grpc::Status WorkerCoordinationService::StoreCheck(grpc::ServerContext*,
                                                   const v1::StoreCheckRequest* request,
                                                   v1::StoreCheckResponse* response) {
  const std::vector<std::string> keys(request->keys().begin(), request->keys().end());
  response->set_all_present(store_->Check(keys));
  response->set_num_keys(store_->NumKeys());
  return grpc::Status::OK;
}

grpc::Status WorkerCoordinationService::StoreDelete(grpc::ServerContext*,
                                                    const v1::StoreDeleteRequest* request,
                                                    v1::StoreDeleteResponse* response) {
  response->set_deleted(store_->Delete(request->key()));
  return grpc::Status::OK;
}

grpc::Status JobControlService::GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                                          v1::JobStatus* response) {
  *response = job_->Status();
  return grpc::Status::OK;
}

grpc::Status JobControlService::WatchEvents(grpc::ServerContext* context,
                                            const v1::WatchEventsRequest* request,
                                            grpc::ServerWriter<v1::JobEvent>* writer) {
  if (request->after() < 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("watch events: after must be >= 0"));
  }
  int64_t after = request->after();
  auto cancelled = [context] { return context->IsCancelled(); };
  while (!cancelled()) {
    for (const v1::JobEvent& event : job_->WaitForEvents(after, absl::Seconds(1), &after,
                                                         cancelled)) {
      if (!writer->Write(event)) return grpc::Status::OK;  // the client went away
    }
    if (job_->shutting_down()) {
      return ToGrpcStatus(absl::UnavailableError("watch events: coordinator shutting down"));
    }
  }
  return grpc::Status::OK;
}

grpc::Status JobControlService::SetWorkerLimits(grpc::ServerContext*,
                                                const v1::SetWorkerLimitsRequest* request,
                                                v1::JobStatus* response) {
  return Reply(job_->SetWorkerLimits(request->min_workers(), request->max_workers()), response);
}

grpc::Status JobControlService::DrainWorker(grpc::ServerContext*,
                                            const v1::DrainWorkerRequest* request,
                                            v1::DrainWorkerResponse*) {
  return ToGrpcStatus(job_->DrainWorker(request->worker_id()));
}

grpc::Status JobControlService::Publish(grpc::ServerContext*, const v1::PublishRequest* request,
                                        v1::PublishResponse* response) {
  auto published =
      publisher_->Publish(request->checkpoint(), request->target(), request->model_name());
  if (!published.ok()) return ToGrpcStatus(published.status());
  response->set_checkpoint(published->first);
  response->set_version(published->second);
  return grpc::Status::OK;
}

}  // namespace murmur::coordinator
