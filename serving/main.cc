// murmur-serve --model-repository DIR [--port P] [--metrics-port M] [--auth-token-file F]
//   [--tls-cert C --tls-key K [--tls-client-ca CA]] [batching and limit flags]
//
// Thin: flags -> Server::Options, then wait for SIGTERM/SIGINT and shut down gracefully (stop
// accepting, let requests in flight finish, unload).
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/flags.h"
#include "base/logging.h"
#include "base/shutdown_signal.h"
#include "model/precision.h"
#include "serving/classifier_servable.h"
#include "serving/server.h"

namespace {

int Run(int argc, char** argv) {
  using murmur::serving::Server;
  murmur::SetLogProgram("murmur-serve");
  if (auto installed = murmur::InstallShutdownSignalHandler(); !installed.ok()) {
    murmur::LogLine(installed.message());
    return 1;
  }
  murmur::FlagParser flags("murmur-serve");
  Server::Options options;
  std::string auth_token_file, inference_token_file, tls_cert, tls_key, tls_client_ca;
  int max_queue_delay_us = 5000, poll_ms = 1000, shutdown_grace_s = 30, threads = 0;
  bool bf16 = false;
  std::string precision_flag = "auto";
  auto& batcher = options.repository.manager.batcher;
  flags.String("model-repository", &options.repository.root,
               "repository directory: DIR/<model>/<version>/", /*required=*/true);
  flags.String("host", &options.host, "listening address");
  flags.Int("port", &options.port, "gRPC port (all APIs)");
  flags.Int("metrics-port", &options.metrics_port, "Prometheus /metrics port (-1: off)");
  options.http_port = 8501;
  flags.Int("http-port", &options.http_port,
            "HTTP API port: KServe v2 REST, /v1/classify, /openapi.json, /metrics (0: pick "
            "one; -1: off)");
  flags.String("auth-token-file", &auth_token_file,
               "file holding the bearer token the repository API requires");
  flags.String("inference-token-file", &inference_token_file,
               "file holding a bearer token that inference calls (Classify, ClassifyStream, "
               "ModelInfer) must carry; default: inference is open");
  flags.String("tls-cert", &tls_cert, "PEM certificate chain (enables TLS)");
  flags.String("tls-key", &tls_key, "PEM private key");
  flags.String("tls-client-ca", &tls_client_ca, "PEM CA that client certificates must chain to");
  flags.String("default-model", &options.repository.default_model,
               "model used when a request names none");
  flags.Int("keep-versions", &options.repository.keep_versions, "serve the latest N versions");
  flags.Int("poll-ms", &poll_ms, "repository polling interval in ms (0: no polling)");
  flags.Int("max-batch-size", &batcher.max_batch_size, "texts per forward pass");
  flags.Int("max-queue-delay-us", &max_queue_delay_us,
            "how long a text waits for its batch to fill (microseconds)");
  flags.Int("max-tokens-per-batch", &batcher.max_tokens_per_batch,
            "padded tokens per forward pass");
  flags.Int("max-queue-size", &batcher.max_queue_size,
            "texts waiting at most; beyond, RESOURCE_EXHAUSTED");
  flags.Int("instances", &batcher.num_instances, "model instances (concurrent forward passes)");
  flags.Int("threads", &threads, "libtorch intra-op threads (0: cores / instances)");
  flags.String("precision", &precision_flag,
               "auto (bf16 where the CPU has native bf16: AMX or AVX512-BF16; fp32 elsewhere), "
               "fp32 or bf16");
  flags.Bool("bf16", &bf16, "the same as --precision bf16");
  flags.Int("max-texts", &options.limits.max_texts, "texts per request");
  flags.Int("max-text-bytes", &options.limits.max_text_bytes, "bytes per text");
  flags.Int("max-message-bytes", &options.max_receive_message_bytes,
            "largest request message");
  std::string port_file;
  flags.String("port-file", &port_file,
               "write the gRPC port here once listening (for launchers using --port 0)");
  flags.Int("shutdown-grace-s", &shutdown_grace_s,
            "seconds requests in flight get on SIGTERM");
  flags.ParseOrExit(argc, argv);
  auto read = [](const std::string& path, std::string* out) {
    if (path.empty()) return true;
    absl::StatusOr<std::string> contents = murmur::ReadFile(path);
    if (!contents.ok()) {
      murmur::LogLine(contents.status().message());
      return false;
    }
    *out = std::move(*contents);
    return true;
  };
  if (!read(auth_token_file, &options.auth_token) ||
      !read(inference_token_file, &options.inference_token) ||
      !read(tls_cert, &options.tls_cert_pem) ||
      !read(tls_key, &options.tls_key_pem) || !read(tls_client_ca, &options.tls_client_ca_pem)) {
    return 1;
  }
  options.auth_token = std::string(absl::StripAsciiWhitespace(options.auth_token));
  if (!auth_token_file.empty() && options.auth_token.empty()) {
    murmur::LogLine(absl::StrCat(auth_token_file, " holds no token"));
    return 2;
  }
  options.inference_token = std::string(absl::StripAsciiWhitespace(options.inference_token));
  if (!inference_token_file.empty() && options.inference_token.empty()) {
    murmur::LogLine(absl::StrCat(inference_token_file, " holds no token"));
    return 2;
  }
  batcher.max_queue_delay = absl::Microseconds(max_queue_delay_us);
  options.repository.poll = poll_ms > 0;
  if (poll_ms > 0) options.repository.poll_interval = absl::Milliseconds(poll_ms);
  options.max_send_message_bytes = options.max_receive_message_bytes;

  auto precision = murmur::model::ChoosePrecision(bf16 ? "bf16" : precision_flag,
                                                  murmur::model::CpuFeatures::Detect());
  if (!precision.ok()) {
    murmur::LogLine(precision.status().message());
    return 2;
  }
  murmur::Logf("precision %s (%s)", murmur::model::PrecisionName(precision->precision).c_str(),
               precision->reason.c_str());
  murmur::serving::ClassifierServableLoader::Options loader_options;
  loader_options.precision = precision->precision;
  loader_options.agreement_texts = options.repository.manager.warmup_texts;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  loader_options.intra_op_threads =
      threads > 0 ? threads : std::max(1, cores / std::max(1, batcher.num_instances));
  murmur::serving::ClassifierServableLoader loader(loader_options);

  absl::StatusOr<std::unique_ptr<Server>> server = Server::Create(options, &loader);
  if (!server.ok()) {
    murmur::LogLine(server.status().ToString());
    return 1;
  }
  if (!port_file.empty()) {
    absl::Status written =
        murmur::WriteFileAtomically(port_file, absl::StrCat((*server)->port(), "\n"));
    if (!written.ok()) {
      murmur::LogLine(written.message());
      return 1;
    }
  }
  const int signal = murmur::WaitForShutdownSignal();
  murmur::Logf("received signal %d", signal);
  (*server)->Shutdown(absl::Seconds(shutdown_grace_s));
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
