#include "base/metrics_http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace murmur {

struct MetricsHttpServer::Connection {
  int fd;
  absl::Time deadline;
  std::string request;
  std::string response;  // non-empty once the request head is complete
  size_t sent = 0;
};

namespace {

// Larger request heads are not scrapes.
constexpr size_t kMaxRequestBytes = 16384;

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Create(
    const std::string& host, int port, std::function<std::string()> render) {
  Options options;
  options.host = host;
  options.port = port;
  return Create(options, std::move(render));
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Create(
    const Options& options, std::function<std::string()> render) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* addresses = nullptr;
  const std::string service = absl::StrCat(options.port);
  if (int rc = getaddrinfo(options.host.empty() ? nullptr : options.host.c_str(),
                           service.c_str(), &hints, &addresses);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics host ", options.host, ": ", gai_strerror(rc)));
  }
  int fd = socket(addresses->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const bool bound = fd >= 0 && bind(fd, addresses->ai_addr, addresses->ai_addrlen) == 0 &&
                     listen(fd, 64) == 0;
  const int error = errno;
  freeaddrinfo(addresses);
  if (!bound) {
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("cannot listen on metrics port ", options.host,
                                               ":", options.port, ": ", std::strerror(error)));
  }
  sockaddr_storage local{};
  socklen_t length = sizeof(local);
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
  const int actual = ntohs(local.ss_family == AF_INET6
                               ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                               : reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  int wake[2];
  if (pipe2(wake, O_CLOEXEC) != 0) {
    const int pipe_error = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(pipe_error)));
  }
  auto server = std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(options, fd, wake[0], wake[1], actual, std::move(render)));
  server->thread_ = std::thread([s = server.get()] { s->Loop(); });
  return server;
}

MetricsHttpServer::MetricsHttpServer(const Options& options, int listen_fd, int wake_read,
                                     int wake_write, int port,
                                     std::function<std::string()> render)
    : options_(options),
      listen_fd_(listen_fd),
      wake_read_(wake_read),
      wake_write_(wake_write),
      port_(port),
      render_(std::move(render)) {}

MetricsHttpServer::~MetricsHttpServer() {
  const char byte = 0;
  // A full pipe cannot happen (one byte, written once); a failed write would leave the thread
  // running, so there is nothing better to do than try.
  while (write(wake_write_, &byte, 1) < 0 && errno == EINTR) {
  }
  thread_.join();
  close(listen_fd_);
  close(wake_read_);
  close(wake_write_);
}

void MetricsHttpServer::Loop() {
  std::list<Connection> connections;
  std::vector<pollfd> fds;
  while (true) {
    // [0] wake pipe, [1] listening socket (only while there is room), then the connections.
    fds.clear();
    fds.push_back({wake_read_, POLLIN, 0});
    const bool room = static_cast<int>(connections.size()) < options_.max_connections;
    fds.push_back({room ? listen_fd_ : -1, POLLIN, 0});
    absl::Time next_deadline = absl::InfiniteFuture();
    for (const Connection& c : connections) {
      fds.push_back({c.fd, static_cast<short>(c.response.empty() ? POLLIN : POLLOUT), 0});
      next_deadline = std::min(next_deadline, c.deadline);
    }
    int timeout_ms = -1;
    if (next_deadline != absl::InfiniteFuture()) {
      timeout_ms = static_cast<int>(std::clamp<int64_t>(
          absl::ToInt64Milliseconds(next_deadline - absl::Now()) + 1, 0, 60000));
    }
    if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) break;

    const absl::Time now = absl::Now();
    size_t index = 2;
    for (auto it = connections.begin(); it != connections.end(); ++index) {
      const short events = fds[index].revents;
      bool keep = now < it->deadline;
      if (keep && events != 0) {
        if (it->response.empty()) {
          // POLLHUP/POLLERR also surface here: recv then reports the end or the error.
          keep = OnReadable(*it);
        } else {
          keep = (events & (POLLERR | POLLHUP)) == 0 && OnWritable(*it);
        }
      }
      if (keep) {
        ++it;
      } else {
        close(it->fd);
        it = connections.erase(it);
      }
    }
    // Accept after serving, so the new connections' slots in `fds` did not exist above.
    if (fds[1].revents & POLLIN) {
      while (static_cast<int>(connections.size()) < options_.max_connections) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;  // EAGAIN: accepted everything pending
        connections.push_back({fd, now + options_.connection_deadline});
      }
    }
  }
  for (const Connection& c : connections) close(c.fd);
}

bool MetricsHttpServer::OnReadable(Connection& connection) {
  char buffer[4096];
  while (true) {
    const ssize_t n = recv(connection.fd, buffer, sizeof(buffer), 0);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    connection.request.append(buffer, static_cast<size_t>(n));
    if (connection.request.find("\r\n\r\n") != std::string::npos) break;
    if (connection.request.size() > kMaxRequestBytes) return false;
  }
  std::string status = "200 OK", body;
  if (absl::StartsWith(connection.request, "GET /metrics ") ||
      absl::StartsWith(connection.request, "GET /metrics?")) {
    body = render_();
  } else {
    status = "404 Not Found";
    body = "metrics are at /metrics\n";
  }
  connection.response =
      absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: text/plain; version=0.0.4\r\n",
                   "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
  // Most answers fit the socket buffer: send now rather than after another poll.
  return OnWritable(connection);
}

bool MetricsHttpServer::OnWritable(Connection& connection) {
  while (connection.sent < connection.response.size()) {
    const ssize_t n = send(connection.fd, connection.response.data() + connection.sent,
                           connection.response.size() - connection.sent, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    connection.sent += static_cast<size_t>(n);
  }
  return false;
}

}  // namespace murmur
