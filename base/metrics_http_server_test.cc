#include "base/metrics_http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "base/test_util.h"

namespace murmur {
namespace {

using ::murmur::testing::HttpGet;

// A connected TCP socket to 127.0.0.1:port (-1 on failure).
int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True while the server keeps `fd` open without having answered.
bool OpenAndSilent(int fd) {
  char byte;
  return ::recv(fd, &byte, 1, MSG_DONTWAIT) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

TEST(MetricsHttpServerTest, ServesScrapesOverASocket) {
  std::atomic<int> renders{0};
  auto server = StartMetricsHttpServer("127.0.0.1", 0, [&] {
    return "# TYPE murmur_test_total counter\nmurmur_test_total " +
           std::to_string(++renders) + "\n";
  });
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);

  const std::string first = HttpGet((*server)->port(), "/metrics");
  EXPECT_EQ(first.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << first;
  EXPECT_NE(first.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  const std::string body = "# TYPE murmur_test_total counter\nmurmur_test_total 1\n";
  EXPECT_NE(first.find("Content-Length: " + std::to_string(body.size())), std::string::npos);
  EXPECT_EQ(first.substr(first.find("\r\n\r\n") + 4), body);
  // Rendered afresh for every scrape; Prometheus' query string is accepted.
  EXPECT_NE(HttpGet((*server)->port(), "/metrics?format=text").find("murmur_test_total 2"),
            std::string::npos);
  EXPECT_EQ(HttpGet((*server)->port(), "/").rfind("HTTP/1.1 404 Not Found", 0), 0u);
  EXPECT_EQ(renders.load(), 2);
}

TEST(MetricsHttpServerTest, StuckClientsDoNotBlockOthersAndAreDropped) {
  HttpServer::Options options;
  options.host = "127.0.0.1";
  options.read_timeout = absl::Seconds(2);
  auto server = StartMetricsHttpServer(options, [] { return std::string("up 1\n"); });
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();

  // One client connects and says nothing; another sends half a request head.
  const int silent = Connect(port);
  const int half = Connect(port);
  ASSERT_GE(silent, 0);
  ASSERT_GE(half, 0);
  const std::string partial = "GET /metrics HTTP/1.1\r\n";
  ASSERT_EQ(::send(half, partial.data(), partial.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(partial.size()));

  // Scrapes are answered while both are still connected and unanswered: a server that served
  // one connection at a time would only reach them after dropping the stuck ones.
  for (int i = 0; i < 3; ++i) {
    const std::string scraped = HttpGet(port, "/metrics", /*timeout_seconds=*/1.5);
    EXPECT_NE(scraped.find("\r\n\r\nup 1\n"), std::string::npos) << scraped;
  }
  EXPECT_TRUE(OpenAndSilent(silent));
  EXPECT_TRUE(OpenAndSilent(half));

  // Past the deadline the server hangs up on both (recv sees the end of the stream; the half
  // request may first get an error answer).
  timeval wait{5, 0};
  for (int fd : {silent, half}) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
    char buffer[4096];
    ssize_t received;
    std::string answer;
    while ((received = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) answer.append(buffer, received);
    EXPECT_EQ(received, 0) << "the server kept the connection open past its deadline";
    EXPECT_EQ(answer.find("up 1"), std::string::npos) << "a stuck request was answered: " << answer;
    ::close(fd);
  }
}

TEST(MetricsHttpServerTest, StopsListeningWhenDestroyed) {
  auto server = StartMetricsHttpServer("127.0.0.1", 0, [] { return std::string(); });
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  const int open = Connect(port);  // an open connection must not delay the destructor
  ASSERT_GE(open, 0);
  server->reset();
  EXPECT_EQ(Connect(port), -1);
  ::close(open);
}

TEST(MetricsHttpServerTest, BusyPortIsUnavailable) {
  auto first = StartMetricsHttpServer("127.0.0.1", 0, [] { return std::string(); });
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = StartMetricsHttpServer("127.0.0.1", (*first)->port(), [] {
    return std::string();
  });
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace murmur
