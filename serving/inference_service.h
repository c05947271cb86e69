// inference.GRPCInferenceService, the KServe v2 / Open Inference Protocol, over the same
// classification path as murmur's own API. The model takes one input, `text` (BYTES, shape [N]
// or [N, 1], in `contents.bytes_contents` or `raw_input_contents`), and produces
// `probabilities` (FP32, [N, labels]) and `label` (BYTES, [N]). Like Triton, a request sent with
// raw_input_contents gets raw_output_contents back.
//
// Thread-safe. Borrows repository, runner and metrics; they must outlive the grpc::Server.
#ifndef MURMUR_SERVING_INFERENCE_SERVICE_H_
#define MURMUR_SERVING_INFERENCE_SERVICE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/grpc_inference_service.grpc.pb.h"
#include "serving/classify_runner.h"
#include "serving/metrics.h"
#include "serving/model_repository.h"

namespace murmur::serving {

class InferenceServiceImpl final : public inference::GRPCInferenceService::CallbackService {
 public:
  // `inference_token`: the bearer token ModelInfer must carry (empty: none); health, metadata
  // and readiness stay open.
  InferenceServiceImpl(const ModelRepository* repository, const ClassifyRunner* runner,
                       ServingMetrics* metrics, std::string inference_token)
      : repository_(repository),
        runner_(runner),
        metrics_(metrics),
        inference_token_(std::move(inference_token)) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;

 private:
  const ModelRepository* const repository_;
  const ClassifyRunner* const runner_;
  ServingMetrics* const metrics_;
  const std::string inference_token_;
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_INFERENCE_SERVICE_H_
