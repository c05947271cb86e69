// The coordinator's gRPC services: WorkerCoordination (workers, including the c10d-style store)
// and JobControl (operators). They only translate between protos and Job / KeyValueStore.
//
// They use gRPC's synchronous API on purpose: Rendezvous, StoreGet and WatchEvents are long
// waits, which the callback API would have to hand to threads of our own anyway; the sync
// server gives each call its own thread from its pool. Every wait polls the call's cancellation
// and ends when the Job shuts down, so Server::Shutdown never hangs on them.
//
// Publish hands over to the Publisher (publisher.h).
//
// Borrow the Job and the store, which must outlive the services. Thread-safe.
#ifndef MURMUR_COORDINATOR_SERVICE_H_
#define MURMUR_COORDINATOR_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "coordinator/job.h"
#include "coordinator/publisher.h"
#include "coordinator/kv_store.h"
#include "proto/coordinator.grpc.pb.h"

namespace murmur::coordinator {

// Trailing metadata key carrying the current generation on a stale-generation heartbeat error
// (the response body is not sent with an error status).
inline constexpr char kGenerationMetadataKey[] = "murmur-generation";

class WorkerCoordinationService final : public v1::WorkerCoordination::Service {
 public:
  WorkerCoordinationService(Job* job, KeyValueStore* store) : job_(job), store_(store) {}

  grpc::Status Join(grpc::ServerContext* context, const v1::JoinRequest* request,
                    v1::JoinResponse* response) override;
  grpc::Status Rendezvous(grpc::ServerContext* context, const v1::RendezvousRequest* request,
                          v1::RendezvousResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status ReportWindows(grpc::ServerContext* context, const v1::WindowReports* request,
                             v1::WindowReportsAck* response) override;
  grpc::Status ReportWindow(grpc::ServerContext* context, const v1::WindowReport* request,
                            v1::WindowAck* response) override;
  grpc::Status ReportCheckpoint(grpc::ServerContext* context, const v1::CheckpointReport* request,
                                v1::CheckpointAck* response) override;
  grpc::Status Leave(grpc::ServerContext* context, const v1::LeaveRequest* request,
                     v1::LeaveResponse* response) override;
  grpc::Status StoreSet(grpc::ServerContext* context, const v1::StoreSetRequest* request,
                        v1::StoreSetResponse* response) override;
  grpc::Status StoreGet(grpc::ServerContext* context, const v1::StoreGetRequest* request,
                        v1::StoreGetResponse* response) override;
  grpc::Status StoreAdd(grpc::ServerContext* context, const v1::StoreAddRequest* request,
                        v1::StoreAddResponse* response) override;
  grpc::Status StoreCheck(grpc::ServerContext* context, const v1::StoreCheckRequest* request,
                          v1::StoreCheckResponse* response) override;
  grpc::Status StoreDelete(grpc::ServerContext* context, const v1::StoreDeleteRequest* request,
                           v1::StoreDeleteResponse* response) override;

 private:
  Job* const job_;
  KeyValueStore* const store_;
};

class JobControlService final : public v1::JobControl::Service {
 public:
  // Borrows the publisher, which must outlive the service.
  JobControlService(Job* job, Publisher* publisher) : job_(job), publisher_(publisher) {}

  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest* request,
                         v1::JobStatus* response) override;
  grpc::Status WatchEvents(grpc::ServerContext* context, const v1::WatchEventsRequest* request,
                           grpc::ServerWriter<v1::JobEvent>* writer) override;
  grpc::Status SetWorkerLimits(grpc::ServerContext* context,
                               const v1::SetWorkerLimitsRequest* request,
                               v1::JobStatus* response) override;
  grpc::Status DrainWorker(grpc::ServerContext* context, const v1::DrainWorkerRequest* request,
                           v1::DrainWorkerResponse* response) override;
  grpc::Status Publish(grpc::ServerContext* context, const v1::PublishRequest* request,
                       v1::PublishResponse* response) override;

 private:
  Job* const job_;
  Publisher* const publisher_;
};

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_SERVICE_H_
