// murmur.serving.v1.ClassifyService: Classify (unary) and ClassifyStream (bidirectional).
// Translates protos to ClassifyCall and back; the work is ClassifyRunner's.
//
// Thread-safe (gRPC calls it from many threads). Borrows the runner and metrics, which must
// outlive the grpc::Server it is registered with.
#ifndef MURMUR_SERVING_CLASSIFY_SERVICE_H_
#define MURMUR_SERVING_CLASSIFY_SERVICE_H_

#include "proto/serving.grpc.pb.h"
#include "serving/classify_runner.h"
#include "serving/metrics.h"

namespace murmur::serving {

class ClassifyServiceImpl final : public v1::ClassifyService::CallbackService {
 public:
  // `inference_token`: the bearer token every call must carry (empty: none).
  ClassifyServiceImpl(const ClassifyRunner* runner, ServingMetrics* metrics,
                      std::string inference_token)
      : runner_(runner), metrics_(metrics), inference_token_(std::move(inference_token)) {}

  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context,
                                     const v1::ClassifyRequest* request,
                                     v1::ClassifyResponse* response) override;
  grpc::ServerBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse>* ClassifyStream(
      grpc::CallbackServerContext* context) override;

 private:
  const ClassifyRunner* const runner_;
  ServingMetrics* const metrics_;
  const std::string inference_token_;
};

// Fills `response` (model, version, results) from an outcome. Exposed for tests.
void FillClassifyResponse(const ClassifyOutcome& outcome, v1::ClassifyResponse* response);

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_CLASSIFY_SERVICE_H_
