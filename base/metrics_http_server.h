// GET /metrics (the Prometheus text exposition format) over HttpServer: every murmur process
// (coordinator, worker, murmur-serve) exposes its metrics this way, on a port of its own and beside
// the HTTP APIs that have one (murmur-serve's REST API, the coordinator's dashboard).
//
// Scrapes are rare (every few seconds) and small; each renders afresh, so what Prometheus sees is
// what the process holds at that moment. `render` runs on a handler thread, possibly several at
// once, and must be safe to call concurrently with whatever updates the metrics.
#ifndef MURMUR_BASE_METRICS_HTTP_SERVER_H_
#define MURMUR_BASE_METRICS_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "base/http_server.h"

namespace murmur {

// Registers GET /metrics on `server`, answering render().
void AddMetricsRoute(httplib::Server& server, std::function<std::string()> render);

// A server with only GET /metrics. options.name defaults to "metrics" in the
// errors.
absl::StatusOr<std::unique_ptr<HttpServer>> StartMetricsHttpServer(
    HttpServer::Options options, std::function<std::string()> render);
// Shorthand: on host:port (host "" or "0.0.0.0": every interface; port 0: pick
// one).
absl::StatusOr<std::unique_ptr<HttpServer>> StartMetricsHttpServer(
    const std::string& host, int port, std::function<std::string()> render);

}  // namespace murmur

#endif  // MURMUR_BASE_METRICS_HTTP_SERVER_H_
