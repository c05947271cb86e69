// A minimal HTTP/1.x endpoint serving `GET /metrics` (Prometheus text format) on its own port.
//
// Why not prometheus-cpp's Exposer: it runs on civetweb, which fails to start its threads in a
// process that also links libtorch ("Cannot create threads"), and takes ~2 s to stop. Scrapes
// are rare (every few seconds) and tiny, so one thread answering connections one at a time is
// plenty; each connection gets a short I/O timeout so a stuck client cannot block the next.
//
// Thread-safety: Create/destructor from one thread; `render` is called on the server's thread.
#ifndef MURMUR_SERVING_METRICS_HTTP_SERVER_H_
#define MURMUR_SERVING_METRICS_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace murmur::serving {

class MetricsHttpServer {
 public:
  // Listens on host:port (port 0: a free one). `render` produces the response body.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Create(
      const std::string& host, int port, std::function<std::string()> render);
  // Stops listening and joins the thread.
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }

 private:
  MetricsHttpServer(int listen_fd, int wake_read, int wake_write, int port,
                    std::function<std::string()> render);
  void Loop();
  void Serve(int fd);

  const int listen_fd_;
  const int wake_read_, wake_write_;  // a pipe: writing to it ends Loop
  const int port_;
  const std::function<std::string()> render_;
  std::thread thread_;
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_METRICS_HTTP_SERVER_H_
