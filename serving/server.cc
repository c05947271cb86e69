#include "serving/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "serving/classify_runner.h"
#include "serving/classify_service.h"
#include "serving/inference_service.h"
#include "serving/metrics.h"
#include "serving/repository_service.h"

namespace murmur::serving {
namespace {

// Health is reported for the whole server ("") and for each inference API by name.
constexpr const char* kHealthServices[] = {"", "murmur.serving.v1.ClassifyService",
                                           "inference.GRPCInferenceService"};

std::shared_ptr<grpc::ServerCredentials> Credentials(const Server::Options& options) {
  if (options.tls_cert_pem.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      options.tls_client_ca_pem.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = options.tls_client_ca_pem;
  ssl.pem_key_cert_pairs.push_back({options.tls_key_pem, options.tls_cert_pem});
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(Options options,
                                                       const ServableLoader* loader) {
  if (options.tls_cert_pem.empty() != options.tls_key_pem.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key");
  }
  if (!options.tls_client_ca_pem.empty() && options.tls_cert_pem.empty()) {
    return absl::InvalidArgumentError("a TLS client CA needs a server certificate and key");
  }
  if (options.limits.max_texts > options.repository.manager.batcher.max_queue_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max texts per request (", options.limits.max_texts, ") exceeds the queue size (",
        options.repository.manager.batcher.max_queue_size, "): such requests could never run"));
  }
  auto server = std::unique_ptr<Server>(new Server());
  Server* self = server.get();
  server->options_ = options;
  server->metrics_ = std::make_unique<ServingMetrics>();

  options.repository.manager.observer = server->metrics_.get();
  options.repository.on_change = [self] { self->UpdateHealth(); };
  absl::StatusOr<std::unique_ptr<ModelRepository>> repository =
      ModelRepository::Create(options.repository, loader);
  if (!repository.ok()) return repository.status();
  server->repository_ = std::move(*repository);
  // Load what is there before listening, so a restarted replica comes up ready. Failures are
  // logged and recorded per version; the server starts anyway (a push can fix it).
  if (absl::Status status = server->repository_->Poll(); !status.ok()) {
    LogLine(absl::StrCat("initial load: ", status.ToString()));
  }

  server->runner_ = std::make_unique<ClassifyRunner>(server->repository_.get(), options.limits);
  server->classify_service_ =
      std::make_unique<ClassifyServiceImpl>(server->runner_.get(), server->metrics_.get(),
                                            options.inference_token);
  server->inference_service_ = std::make_unique<InferenceServiceImpl>(
      server->repository_.get(), server->runner_.get(), server->metrics_.get(),
      options.inference_token);
  server->repository_service_ = std::make_unique<RepositoryServiceImpl>(
      server->repository_.get(), options.auth_token, server->metrics_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat(options.host, ":", options.port), Credentials(options),
                           &server->port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.SetMaxSendMessageSize(options.max_send_message_bytes);
  builder.RegisterService(server->classify_service_.get());
  builder.RegisterService(server->inference_service_.get());
  builder.RegisterService(server->repository_service_.get());
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.host, ":", options.port));
  }
  {
    absl::MutexLock lock(&server->mu_);
    server->serving_ = true;
  }
  server->UpdateHealth();

  if (options.metrics_port >= 0) {
    ServingMetrics* metrics = server->metrics_.get();
    absl::StatusOr<std::unique_ptr<HttpServer>> http = StartMetricsHttpServer(
        options.host, options.metrics_port, [metrics] { return metrics->Text(); });
    if (!http.ok()) return http.status();
    server->metrics_http_ = std::move(*http);
    server->metrics_port_ = server->metrics_http_->port();
  }
  if (options.http_port >= 0) {
    HttpApi::Options http;
    http.host = options.host;
    http.port = options.http_port;
    http.inference_token = options.inference_token;
    http.max_body_bytes = static_cast<size_t>(options.max_receive_message_bytes);
    absl::StatusOr<std::unique_ptr<HttpApi>> api = HttpApi::Start(
        http, server->repository_.get(), server->runner_.get(), server->metrics_.get());
    if (!api.ok()) return api.status();
    server->http_api_ = *std::move(api);
  }
  server->repository_->Start();
  LogLine(absl::StrCat("serving on ", options.host, ":", server->port_,
                       server->http_port() >= 0
                           ? absl::StrCat(", HTTP on :", server->http_port())
                           : std::string(),
                       server->metrics_port_ >= 0
                           ? absl::StrCat(", metrics on :", server->metrics_port_)
                           : std::string()));
  return server;
}

Server::~Server() {
  Shutdown(absl::ZeroDuration());
  // Unload while the members UpdateHealth reads are still alive (unloads report changes).
  repository_.reset();
}

void Server::UpdateHealth() {
  if (repository_ == nullptr) return;
  for (const std::string& model : repository_->Models()) {
    std::vector<int64_t> ready = repository_->ReadyVersions(model);
    metrics_->SetModelVersion(model, ready.empty() ? 0 : ready.back());
  }
  absl::MutexLock lock(&mu_);
  if (grpc_server_ == nullptr || repository_ == nullptr) return;
  grpc::HealthCheckServiceInterface* health = grpc_server_->GetHealthCheckService();
  if (health == nullptr) return;
  const bool ready = serving_ && repository_->AllModelsReady();
  for (const char* service : kHealthServices) health->SetServingStatus(service, ready);
}

void Server::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    serving_ = false;
  }
  UpdateHealth();
  if (grpc_server_ != nullptr) {
    LogLine("shutting down: finishing requests in flight");
    grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    grpc_server_->Wait();
  }
  if (http_api_ != nullptr) http_api_->Stop();  // requests in flight finish first
  metrics_http_.reset();
  // Versions unload after the RPCs are gone, so every admitted request got its answer.
  if (repository_ != nullptr) repository_->Stop();
  LogLine("shut down");
}

}  // namespace murmur::serving
