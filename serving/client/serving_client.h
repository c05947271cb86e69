// A small C++ client for murmur-serve: classify texts (retrying UNAVAILABLE, spreading calls
// over several targets), push a checkpoint directory as a new version (chunked, with sha256 of
// every file), list versions.
//
// Load spreading: one channel per target, each with gRPC's round_robin policy, so a DNS name
// with several addresses is spread as well as a repeated --target; calls rotate over the
// channels and a retry goes to the next one.
//
// Thread-safety: thread-safe (channels and stubs are). Owns its channels.
#ifndef MURMUR_SERVING_CLIENT_SERVING_CLIENT_H_
#define MURMUR_SERVING_CLIENT_SERVING_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/serving.grpc.pb.h"

namespace murmur::serving {


class ServingClient {
 public:
  struct Options {
    // "host:port" or any gRPC target URI ("dns:///name:port"). At least one.
    std::vector<std::string> targets;
    // Bearer token for the repository API. Default none.
    std::string token;
    // Bearer token for inference (a server started with --inference-token-file). Default none.
    std::string inference_token;
    // TLS: set `tls` to use it; the PEM roots default to the system's. A client certificate and
    // key enable mutual TLS. Default plaintext.
    bool tls = false;
    std::string tls_root_ca_pem;
    std::string tls_client_cert_pem;
    std::string tls_client_key_pem;
    // Per-call deadline (each attempt). Default 30 s.
    absl::Duration timeout = absl::Seconds(30);
    // Attempts for a call that fails with UNAVAILABLE; backoff doubles from `backoff`. Defaults
    // 4 and 50 ms.
    int max_attempts = 4;
    absl::Duration backoff = absl::Milliseconds(50);
    // Largest response accepted. Default 8 MiB (as the server's default).
    int max_message_bytes = 8 << 20;
  };

  static absl::StatusOr<std::unique_ptr<ServingClient>> Create(Options options);

  // Classifies `texts` with `model` ("" = the server's default) at `version` (0 = latest).
  absl::StatusOr<v1::ClassifyResponse> Classify(const std::vector<std::string>& texts,
                                                         const std::string& model = "",
                                                         int64_t version = 0);

  // Uploads every regular file of `dir` as a new version (0: the server picks the next number).
  // Returns once the server serves it, or its reason for rejecting it.
  absl::StatusOr<v1::PushVersionResponse> Push(const std::string& dir,
                                                        const std::string& model = "",
                                                        int64_t version = 0,
                                                        size_t chunk_bytes = 1 << 20);

  absl::StatusOr<v1::ListVersionsResponse> ListVersions(const std::string& model = "");

 private:
  struct Target {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::ClassifyService::Stub> classify;
    std::unique_ptr<v1::RepositoryService::Stub> repository;
  };
  explicit ServingClient(Options options) : options_(std::move(options)) {}
  Target& Next();
  void Prepare(grpc::ClientContext* context, bool authenticated) const;

  const Options options_;
  std::vector<Target> targets_;
  std::atomic<uint64_t> next_{0};
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_CLIENT_SERVING_CLIENT_H_
