// murmur-serve as a library: the model repository, the request path and every API on one gRPC
// port — murmur.serving.v1.ClassifyService, inference.GRPCInferenceService (KServe v2),
// murmur.serving.v1.RepositoryService, grpc.health.v1.Health (SERVING only while every model has
// a ready version) and server reflection — plus Prometheus metrics on their own HTTP port.
// The main() in main.cc only maps flags to Options.
//
// Thread-safety: thread-safe. Ownership: owns everything it creates; borrows `loader`, which
// must outlive the server.
#ifndef MURMUR_SERVING_SERVER_H_
#define MURMUR_SERVING_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/metrics_http_server.h"
#include "serving/http_api.h"
#include "serving/model_repository.h"
#include "serving/servable.h"
#include "serving/validation.h"

namespace grpc {
class Server;
}

namespace murmur::serving {

class ServingMetrics;
class ClassifyRunner;
class ClassifyServiceImpl;
class InferenceServiceImpl;
class RepositoryServiceImpl;

class Server {
 public:
  struct Options {
    // Listening address. Default "0.0.0.0"; port 0 picks a free port (see port()). Default 8500.
    std::string host = "0.0.0.0";
    int port = 8500;
    // Prometheus /metrics port on `host`; 0 picks a free one, -1 disables. Default -1.
    int metrics_port = -1;
    // The HTTP API (http_api.h: KServe v2 REST, /v1/classify, /openapi.json, /metrics) on
    // `host`; 0 picks a free one, -1 disables. Default -1 (murmur-serve's flag: 8501).
    int http_port = -1;
    // Bearer token for the repository API; empty: the API is open. Default empty.
    std::string auth_token;
    // Bearer token for inference (Classify, ClassifyStream, KServe ModelInfer); health, metadata
    // and readiness stay open. Empty: inference is open. Default empty.
    std::string inference_token;
    // TLS: PEM server certificate chain and key (both or neither). With a client CA, clients
    // must present a certificate it signed (mutual TLS). Default: plaintext.
    std::string tls_cert_pem;
    std::string tls_key_pem;
    std::string tls_client_ca_pem;
    // Largest request and response messages. Defaults 8 MiB: a full request (256 texts x 4 KiB)
    // and a push chunk (1 MiB) fit with room; anything far larger is refused by gRPC before it
    // is buffered.
    int max_receive_message_bytes = 8 << 20;
    int max_send_message_bytes = 8 << 20;
    RequestLimits limits;
    // The repository (root required). Its on_change is set by the server.
    ModelRepository::Options repository;
  };

  // Loads what the repository holds (so the server starts ready when it can), then starts
  // serving and polling.
  static absl::StatusOr<std::unique_ptr<Server>> Create(Options options,
                                                        const ServableLoader* loader);
  // Shutdown(0) if not shut down yet.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const { return port_; }
  // -1 when metrics are disabled.
  int metrics_port() const { return metrics_port_; }
  // -1 when the HTTP API is disabled.
  int http_port() const { return http_api_ != nullptr ? http_api_->port() : -1; }
  ModelRepository& repository() { return *repository_; }
  ServingMetrics& metrics() { return *metrics_; }

  // Graceful shutdown: health goes NOT_SERVING, no new RPCs are accepted, RPCs in flight get up
  // to `grace` to finish (then they are cancelled), then versions are unloaded. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  Server() = default;
  void UpdateHealth();

  Options options_;
  std::unique_ptr<ServingMetrics> metrics_;
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<ClassifyRunner> runner_;
  std::unique_ptr<ClassifyServiceImpl> classify_service_;
  std::unique_ptr<InferenceServiceImpl> inference_service_;
  std::unique_ptr<RepositoryServiceImpl> repository_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<HttpServer> metrics_http_;
  std::unique_ptr<HttpApi> http_api_;
  int port_ = 0;
  int metrics_port_ = -1;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  bool serving_ ABSL_GUARDED_BY(mu_) = false;  // health checks may report SERVING
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_SERVER_H_
