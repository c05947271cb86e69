#include "serving/inference_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "serving/bearer_token.h"
#include "serving/kserve.h"
#include "serving/rpc_call.h"

namespace murmur::serving {

using kserve::ParseVersion;

grpc::ServerUnaryReactor* InferenceServiceImpl::ServerLive(grpc::CallbackServerContext* context,
                                                           const inference::ServerLiveRequest*,
                                                           inference::ServerLiveResponse* response) {
  auto* call = new UnaryCall(context, metrics_, "ServerLive");
  response->set_live(true);
  call->Complete(absl::OkStatus());
  return call;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ServerReady(
    grpc::CallbackServerContext* context, const inference::ServerReadyRequest*,
    inference::ServerReadyResponse* response) {
  auto* call = new UnaryCall(context, metrics_, "ServerReady");
  response->set_ready(repository_->AllModelsReady());
  call->Complete(absl::OkStatus());
  return call;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelReady(
    grpc::CallbackServerContext* context, const inference::ModelReadyRequest* request,
    inference::ModelReadyResponse* response) {
  auto* call = new UnaryCall(context, metrics_, "ModelReady");
  absl::StatusOr<int64_t> version = ParseVersion(request->version());
  if (!version.ok()) {
    call->Complete(version.status());
    return call;
  }
  response->set_ready(repository_->Get(request->name(), *version).ok());
  call->Complete(absl::OkStatus());
  return call;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ServerMetadata(
    grpc::CallbackServerContext* context, const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* response) {
  auto* call = new UnaryCall(context, metrics_, "ServerMetadata");
  response->set_name("murmur");
  response->set_version("1");
  call->Complete(absl::OkStatus());
  return call;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelMetadata(
    grpc::CallbackServerContext* context, const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  auto* call = new UnaryCall(context, metrics_, "ModelMetadata");
  absl::StatusOr<int64_t> version = ParseVersion(request->version());
  if (!version.ok()) {
    call->Complete(version.status());
    return call;
  }
  call->Complete(kserve::FillModelMetadata(*repository_, request->name(), *version, response));
  return call;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelInfer(
    grpc::CallbackServerContext* context, const inference::ModelInferRequest* request,
    inference::ModelInferResponse* response) {
  auto* call = new UnaryCall(context, metrics_, "ModelInfer");
  if (absl::Status auth =
          CheckBearerToken(context->client_metadata(), inference_token_, "inference");
      !auth.ok()) {
    call->Complete(auth);
    return call;
  }
  absl::StatusOr<kserve::InferRequest> parsed = kserve::ParseInferRequest(*request);
  if (!parsed.ok()) {
    call->Complete(parsed.status());
    return call;
  }
  ClassifyCall classify = std::move(parsed->call);
  parsed->call = ClassifyCall();
  classify.deadline = call->deadline();
  classify.cancelled = call->cancelled();
  response->set_id(request->id());
  runner_->Classify(std::move(classify), [call, response, wanted = *std::move(parsed)](
                                              absl::StatusOr<ClassifyOutcome> outcome) mutable {
    if (!outcome.ok()) {
      call->Complete(outcome.status());
      return;
    }
    kserve::FillInferResponse(wanted, *outcome, response);
    outcome = absl::CancelledError("");  // release the version before finishing
    call->Complete(absl::OkStatus());
  });
  return call;
}

}  // namespace murmur::serving
