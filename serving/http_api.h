// murmur-serve's HTTP API, beside gRPC on a port of its own (TF Serving users expect 8500 for
// gRPC and 8501 for REST): KServe v2 REST (the open inference protocol's HTTP/JSON binding),
// murmur's plain POST /v1/classify and GET /v1/models, a page to classify tweets in the browser
// at GET / (http_page.h), GET /openapi.json describing every route, and /metrics.
//
// Everything a request does beyond JSON goes through what gRPC uses: kserve.h for the tensor
// signature and metadata, ClassifyRunner for validation, batching and the version, the same
// metrics (method "HTTP <route>") and the same inference token (a bearer token in the
// Authorization header). Errors are {"error": "..."} with the status a REST user expects:
// 400 bad request, 401 no or wrong token, 404 unknown model/version/route, 413 body too large,
// 429 queue full, 503 not ready, 504 deadline.
//
// base/http_server.h (cpp-httplib) serves it: a listener thread and a pool of handler threads,
// each handling a request synchronously (waiting for its batch). Ownership: borrows the
// repository, runner and metrics, which must outlive it. Thread-safe.
#ifndef MURMUR_SERVING_HTTP_API_H_
#define MURMUR_SERVING_HTTP_API_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/http_server.h"
#include "serving/classify_runner.h"
#include "serving/metrics.h"
#include "serving/model_repository.h"

namespace murmur::serving {

class HttpApi {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    // 0 picks a free port.
    int port = 0;
    // Bearer token inference routes need; empty: open. Default empty.
    std::string inference_token;
    // How long a request may wait for its batch. Default 30 s.
    absl::Duration timeout = absl::Seconds(30);
    // Request bodies beyond this are refused with 413. Default 4 MiB.
    size_t max_body_bytes = 4 << 20;
    // Requests handled at once (each waits for its batch, so this bounds how many HTTP clients
    // share a batch); more wait for a handler. Default 64.
    int handler_threads = 64;
  };

  static absl::StatusOr<std::unique_ptr<HttpApi>> Start(Options options,
                                                        const ModelRepository* repository,
                                                        const ClassifyRunner* runner,
                                                        ServingMetrics* metrics);
  ~HttpApi();  // stops
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  int port() const;
  // Stops accepting and waits for the listener; requests in flight finish.
  void Stop();

  // The OpenAPI 3 document GET /openapi.json serves.
  static std::string OpenApiDocument();

 private:
  HttpApi() = default;

  std::unique_ptr<HttpServer> http_;
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_HTTP_API_H_
