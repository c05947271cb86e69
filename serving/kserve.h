// murmur's classifier as a KServe v2 model (the open inference protocol), independent of the
// transport: the gRPC service (inference_service.h) and the REST API (http_api.h) translate to
// and from these protos and share everything else: the tensor signature (input "text" BYTES [N];
// outputs "probabilities" FP32 [N, labels] and "label" BYTES [N]), its checks, model metadata,
// and the response built from the classifier's predictions.
//
// Pure functions (the repository is only read); thread-safe.
#ifndef MURMUR_SERVING_KSERVE_H_
#define MURMUR_SERVING_KSERVE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/grpc_inference_service.pb.h"
#include "serving/classify_runner.h"
#include "serving/model_repository.h"

namespace murmur::serving::kserve {

inline constexpr char kInput[] = "text";
inline constexpr char kProbabilities[] = "probabilities";
inline constexpr char kLabel[] = "label";
inline constexpr char kPlatform[] = "murmur_distilbert";

// A protocol version string: "" is the latest ready one (0); otherwise a positive integer.
absl::StatusOr<int64_t> ParseVersion(const std::string& text);

// What a ModelInfer request asks for: its texts and which outputs, in which encoding.
struct InferRequest {
  ClassifyCall call;  // model, version, texts (the deadline and cancellation are the caller's)
  bool want_probabilities = true;
  bool want_label = true;
  bool raw = false;  // answer in raw_output_contents, as the request used raw_input_contents
};
// INVALID_ARGUMENT naming what is wrong with the request's tensors or outputs.
absl::StatusOr<InferRequest> ParseInferRequest(const inference::ModelInferRequest& request);

// The response to `request` from the classifier's outcome (model, version, outputs).
void FillInferResponse(const InferRequest& request, const ClassifyOutcome& outcome,
                       inference::ModelInferResponse* response);

// Metadata of `name` (version 0: the latest ready); NOT_FOUND for an unknown model or version.
absl::Status FillModelMetadata(const ModelRepository& repository, const std::string& name,
                               int64_t version, inference::ModelMetadataResponse* response);

// Splits a raw BYTES tensor (elements of 4-byte little-endian length + bytes).
absl::StatusOr<std::vector<std::string>> DecodeRawBytesTensor(const std::string& raw);
std::string EncodeRawBytesTensor(const std::vector<std::string>& elements);

}  // namespace murmur::serving::kserve

#endif  // MURMUR_SERVING_KSERVE_H_
