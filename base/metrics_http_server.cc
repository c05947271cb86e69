#include "base/metrics_http_server.h"

#include <httplib.h>

#include <utility>

namespace murmur {

void AddMetricsRoute(httplib::Server& server, std::function<std::string()> render) {
  server.Get("/metrics",
             [render = std::move(render)](const httplib::Request&, httplib::Response& res) {
               res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
             });
}

absl::StatusOr<std::unique_ptr<HttpServer>> StartMetricsHttpServer(
    HttpServer::Options options, std::function<std::string()> render) {
  if (options.name == HttpServer::Options().name) options.name = "metrics";
  if (options.host.empty()) options.host = "0.0.0.0";
  return HttpServer::Start(
      options, [&render](httplib::Server& server) { AddMetricsRoute(server, std::move(render)); });
}

absl::StatusOr<std::unique_ptr<HttpServer>> StartMetricsHttpServer(
    const std::string& host, int port, std::function<std::string()> render) {
  HttpServer::Options options;
  options.host = host;
  options.port = port;
  return StartMetricsHttpServer(std::move(options), std::move(render));
}

}  // namespace murmur
