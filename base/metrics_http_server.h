// A minimal HTTP/1.x endpoint serving `GET /metrics` (Prometheus text format) on its own port;
// every murmur process (coordinator, worker, murmur-serve) exposes its metrics through it.
//
// Why not prometheus-cpp's Exposer: it runs on civetweb, which fails to start its threads in a
// process that also links libtorch ("Cannot create threads"), and is slow to stop. Scrapes
// are rare (every few seconds) and tiny, so one thread multiplexing the connections with poll()
// is plenty. Each connection has a deadline for its whole exchange, so a client that stalls or
// trickles bytes is dropped instead of holding the port, and it never delays other scrapes.
//
// Owns its socket and thread. Thread-safety: Create and the destructor run on one thread;
// `render` is called on the server's thread (one call at a time) and must be safe to call
// concurrently with whatever updates the metrics.
#ifndef MURMUR_BASE_METRICS_HTTP_SERVER_H_
#define MURMUR_BASE_METRICS_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace murmur {

class MetricsHttpServer {
 public:
  struct Options {
    // Address to listen on ("": all interfaces). Default "".
    std::string host;
    // Port; 0 picks a free one. Default 0.
    int port = 0;
    // A connection that has not sent its request and received the answer within this is
    // closed. Default 5 s (Prometheus' default scrape timeout is 10 s).
    absl::Duration connection_deadline = absl::Seconds(5);
    // Connections served at once; more wait in the listen backlog. Default 64.
    int max_connections = 64;
  };

  // Listens and starts the thread. `render` produces the body of each /metrics answer.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Create(
      const Options& options, std::function<std::string()> render);
  // Shorthand for the common case.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Create(
      const std::string& host, int port, std::function<std::string()> render);
  // Stops listening, closes open connections and joins the thread.
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The port actually bound.
  int port() const { return port_; }

 private:
  struct Connection;
  MetricsHttpServer(const Options& options, int listen_fd, int wake_read, int wake_write,
                    int port, std::function<std::string()> render);
  void Loop();
  // Reads what is available; once the request head is complete, prepares the answer.
  // Returns false when the connection is finished (closed by the peer or malformed).
  bool OnReadable(Connection& connection);
  // Sends what the socket takes; returns false once everything was sent (or sending failed).
  bool OnWritable(Connection& connection);

  const Options options_;
  const int listen_fd_;
  const int wake_read_, wake_write_;  // a pipe: writing to it ends Loop
  const int port_;
  const std::function<std::string()> render_;
  std::thread thread_;
};

}  // namespace murmur

#endif  // MURMUR_BASE_METRICS_HTTP_SERVER_H_
