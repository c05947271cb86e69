#include "base/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace murmur {

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const Options& options, const std::function<void(httplib::Server&)>& add_routes) {
  std::unique_ptr<HttpServer> http(new HttpServer());
  http->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *http->server_;
  const int threads = std::max(1, options.handler_threads);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  const int64_t timeout_us = std::max<int64_t>(1, absl::ToInt64Microseconds(options.read_timeout));
  server.set_read_timeout(timeout_us / 1000000, timeout_us % 1000000);
  server.set_keep_alive_timeout(std::max<int64_t>(1, timeout_us / 1000000));
  server.set_payload_max_length(options.max_body_bytes);
  // httplib's default sets SO_REUSEPORT, which lets a second process bind a
  // port in use and take half its connections. SO_REUSEADDR alone still allows
  // a restart on a port whose old connections linger in TIME_WAIT.
  server.set_socket_options([](int socket) {
    const int yes = 1;
    ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  add_routes(server);

  const int port = options.port == 0
                       ? server.bind_to_any_port(options.host)
                       : (server.bind_to_port(options.host, options.port) ? options.port : -1);
  if (port <= 0) {
    return absl::UnavailableError(
        absl::StrCat(options.name, ": cannot listen on ", options.host, ":", options.port));
  }
  http->port_ = port;
  http->listener_ = std::thread([&server] { server.listen_after_bind(); });
  // httplib's stop() does nothing before the listener has started running (it
  // would then listen forever and Stop() would never return): wait for it.
  // listen_after_bind marks itself running before anything else, so this takes
  // as long as starting a thread.
  while (!server.is_running()) absl::SleepFor(absl::Milliseconds(1));
  return http;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (server_ != nullptr) server_->stop();
  if (listener_.joinable()) listener_.join();
}

}  // namespace murmur
