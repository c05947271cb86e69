// murmur-coordinator --spec JOB.json --journal-dir DIR [--port P] [--host H]
//                    [--metrics-port M] [--http-port D] [--serving-token-file F]
//
// Thin: flags -> CoordinatorServer::Options -> serve until SIGTERM/SIGINT, then shut down
// gracefully. Prints "listening on 127.0.0.1:<port>" (also written to DIR/port) once serving,
// so launchers and tests can read the port when they passed --port 0; likewise "dashboard on
// http://127.0.0.1:<port>/" (DIR/http_port) with --http-port.
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "base/file.h"
#include "base/flags.h"
#include "base/logging.h"
#include "base/shutdown_signal.h"
#include "coordinator/server.h"

int main(int argc, char** argv) {
  murmur::SetLogProgram("murmur-coordinator");
  if (auto installed = murmur::InstallShutdownSignalHandler(); !installed.ok()) {
    murmur::LogLine(installed.message());
    return 1;
  }
  murmur::FlagParser flags("murmur-coordinator");
  murmur::coordinator::CoordinatorServer::Options options;
  std::string serving_token_file;
  flags.String("spec", &options.spec_path, "job spec JSON file", /*required=*/true);
  flags.String("journal-dir", &options.journal_dir,
               "journal, token cache and default checkpoint directory", /*required=*/true);
  flags.Int("port", &options.port, "gRPC port (0: pick a free one)");
  flags.String("host", &options.bind_host, "address to listen on");
  flags.String("serving-token-file", &serving_token_file,
               "file holding the serving repository API's bearer token (for Publish)");
  flags.Repeated("publish-to", &options.publish_targets,
                 "serving replica (host:port) that receives each new best checkpoint");
  flags.Int("metrics-port", &options.metrics_port,
            "Prometheus /metrics port (0: pick one; -1: off)");
  flags.Int("http-port", &options.http_port,
            "dashboard port: the job's page, JSON status and /metrics (0: pick one; -1: off)");
  flags.ParseOrExit(argc, argv);
  if (!serving_token_file.empty()) {
    auto token = murmur::ReadFile(serving_token_file);
    if (!token.ok()) {
      murmur::LogLine(token.status().ToString());
      return 2;
    }
    options.serving_token = std::string(absl::StripAsciiWhitespace(*token));
  }

  auto server = murmur::coordinator::CoordinatorServer::Create(options);
  if (!server.ok()) {
    murmur::LogLine(server.status().ToString());
    return 1;
  }
  std::printf("listening on 127.0.0.1:%d\n", (*server)->port());
  if ((*server)->metrics_port() > 0) {
    std::printf("metrics on http://127.0.0.1:%d/metrics\n", (*server)->metrics_port());
  }
  if ((*server)->http_port() > 0) {
    std::printf("dashboard on http://127.0.0.1:%d/\n", (*server)->http_port());
  }
  if (!(*server)->tensorboard_dir().empty()) {
    std::printf("training curves: tensorboard --logdir %s\n",
                (*server)->tensorboard_dir().c_str());
  }
  std::fflush(stdout);

  std::thread watcher([&server] {
    const int signal = murmur::WaitForShutdownSignal();
    if (signal == 0) return;  // woken: the server stopped for another reason
    murmur::Logf("signal %d, shutting down", signal);
    (*server)->Shutdown();
  });
  (*server)->Wait();
  murmur::WakeShutdownWaiter();
  watcher.join();
  return 0;
}
