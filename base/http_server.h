// An HTTP/1.1 server on a port of its own, with the lifecycle every murmur HTTP endpoint shares:
// register routes, bind (or pick a free port), serve on a listener thread, stop. cpp-httplib
// (Debian's libcpp-httplib) does the HTTP: the listener hands each connection to a pool of handler
// threads, and a connection that sends nothing for `read_timeout` is closed, so a stalled client
// holds one handler thread for a bounded time and never the port.
//
// Users: the /metrics endpoint of every process (metrics_http_server.h), murmur-serve's REST API
// and the coordinator's dashboard. cpp-httplib rather than prometheus-cpp's civetweb exposer:
// civetweb cannot start its threads in a process that links libtorch.
//
// Owns the httplib::Server and the listener thread. Thread-safety: Start, Stop and the destructor
// run on one thread; handlers run on the pool's threads, several at a time.
#ifndef MURMUR_BASE_HTTP_SERVER_H_
#define MURMUR_BASE_HTTP_SERVER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace httplib {
class Server;
}

namespace murmur {

class HttpServer {
 public:
  struct Options {
    // What the errors call the endpoint ("metrics", "HTTP API", ...). Default
    // "HTTP".
    std::string name = "HTTP";
    // Address to listen on ("0.0.0.0": all interfaces). Default "127.0.0.1".
    std::string host = "127.0.0.1";
    // 0 picks a free port. Default 0.
    int port = 0;
    // A connection silent for this long (no request, or a request stalled half
    // way) is closed. Default 5 s.
    absl::Duration read_timeout = absl::Seconds(5);
    // Requests handled at once; more wait for a handler thread. Default 8.
    int handler_threads = 8;
    // Request bodies beyond this are refused with 413. Default 1 MiB.
    size_t max_body_bytes = 1 << 20;
  };

  // `add_routes` registers the handlers before the server listens. UNAVAILABLE
  // when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const Options& options, const std::function<void(httplib::Server&)>& add_routes);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port actually bound.
  int port() const { return port_; }
  // Stops accepting, lets requests in flight finish and joins the listener.
  // Idempotent.
  void Stop();

 private:
  HttpServer() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  int port_ = 0;
};

}  // namespace murmur

#endif  // MURMUR_BASE_HTTP_SERVER_H_
