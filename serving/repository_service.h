// murmur.serving.v1.RepositoryService: push a version (chunked, sha256-checked), list, load and
// unload versions. Every call needs `authorization: Bearer <token>` when a token is configured
// (UNAUTHENTICATED otherwise). Blocking work (commit + load, unload) runs on the repository's
// worker thread, never on gRPC's callback threads.
//
// Thread-safe. Borrows the repository and metrics; they must outlive the grpc::Server.
#ifndef MURMUR_SERVING_REPOSITORY_SERVICE_H_
#define MURMUR_SERVING_REPOSITORY_SERVICE_H_

#include <string>

#include "absl/status/status.h"
#include "proto/serving.grpc.pb.h"
#include "serving/metrics.h"
#include "serving/model_repository.h"

namespace murmur::serving {

class RepositoryServiceImpl final : public v1::RepositoryService::CallbackService {
 public:
  // `auth_token` empty: no authentication.
  RepositoryServiceImpl(ModelRepository* repository, std::string auth_token,
                        ServingMetrics* metrics)
      : repository_(repository), auth_token_(std::move(auth_token)), metrics_(metrics) {}

  grpc::ServerReadReactor<v1::PushVersionRequest>* PushVersion(
      grpc::CallbackServerContext* context, v1::PushVersionResponse* response) override;
  grpc::ServerUnaryReactor* ListVersions(grpc::CallbackServerContext* context,
                                         const v1::ListVersionsRequest* request,
                                         v1::ListVersionsResponse* response) override;
  grpc::ServerUnaryReactor* LoadVersion(grpc::CallbackServerContext* context,
                                        const v1::LoadVersionRequest* request,
                                        v1::LoadVersionResponse* response) override;
  grpc::ServerUnaryReactor* UnloadVersion(grpc::CallbackServerContext* context,
                                          const v1::UnloadVersionRequest* request,
                                          v1::UnloadVersionResponse* response) override;

 private:
  absl::Status Authenticate(const grpc::CallbackServerContext& context) const;

  ModelRepository* const repository_;
  const std::string auth_token_;
  ServingMetrics* const metrics_;
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_REPOSITORY_SERVICE_H_
