// VirtualNetwork: hosts reach each other over their own interfaces, a partition cuts a host off
// (and only it), healing restores it, and nothing is left behind. Skips where namespaces cannot
// be made (not root, no iproute2, a sandbox).
#include "tests/netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <set>
#include <signal.h>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/subprocess.h"
#include "base/test_util.h"

namespace murmur::testing {
namespace {

constexpr char kPython[] = "/usr/bin/python3";
constexpr int kPort = 7070;  // inside our own namespaces: collides with nothing

// A TCP server answering "ok\n" to every connection, bound to one address.
constexpr char kServer[] =
    "import socket, sys\n"
    "s = socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind((sys.argv[1], int(sys.argv[2])))\n"
    "s.listen(16)\n"
    "print('listening', flush=True)\n"
    "while True:\n"
    "    c, _ = s.accept()\n"
    "    c.sendall(b'ok\\n')\n"
    "    c.close()\n";
// Exit 0 when the server answered within a second.
constexpr char kClient[] =
    "import socket, sys\n"
    "s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)\n"
    "sys.exit(0 if s.recv(3) == b'ok\\n' else 1)\n";

using Clock = std::chrono::steady_clock;

// Runs argv to completion within `seconds` (then SIGKILL); returns its exit code.
int RunBounded(const std::vector<std::string>& argv, const std::string& log, double seconds) {
  auto process = Subprocess::Start(argv, log);
  if (!process.ok()) {
    ADD_FAILURE() << process.status();
    return -1;
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (Clock::now() < deadline) {
    if (auto code = (*process)->Poll()) return *code;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  (*process)->Signal(SIGKILL);
  return (*process)->Wait();
}

// From the test process itself (the root namespace, over the control link).
bool ConnectFromRoot(const std::string& address, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in target = {};
  target.sin_family = AF_INET;
  target.sin_port = htons(port);
  ::inet_pton(AF_INET, address.c_str(), &target.sin_addr);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof(target)) == 0 ||
      errno == EINPROGRESS) {
    pollfd wait = {fd, POLLIN, 0};  // readable once "ok\n" arrived
    if (::poll(&wait, 1, 1000) == 1 && (wait.revents & POLLIN)) {
      char buffer[3];
      ok = ::recv(fd, buffer, sizeof(buffer), 0) == 3 && std::string(buffer, 3) == "ok\n";
    }
  }
  ::close(fd);
  return ok;
}

// Polls `condition` every 100 ms until it holds or `seconds` pass.
bool Eventually(const std::function<bool()>& condition, double seconds) {
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

bool HasNamespaceWithPrefix(const std::string& prefix) {
  auto names = VirtualNetwork::ListNamespaces();
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& name) { return absl::StartsWith(name, prefix); });
}

bool LinkExists(const std::string& name) {
  struct stat info;
  return ::stat(("/sys/class/net/" + name).c_str(), &info) == 0;
}

TEST(VirtualNetworkTest, HostsTalkOverTheirInterfacesAndPartitionsCutThemOff) {
  auto created = VirtualNetwork::Create(3);
  if (absl::IsFailedPrecondition(created.status())) GTEST_SKIP() << created.status().message();
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<VirtualNetwork> network = *std::move(created);
  if (::access(kPython, X_OK) != 0) GTEST_SKIP() << kPython << " is missing (deploy/setup.sh)";

  const std::string prefix = network->ns(0).substr(0, network->ns(0).rfind('-') + 1);
  EXPECT_TRUE(HasNamespaceWithPrefix(prefix));
  EXPECT_TRUE(LinkExists(network->control_link()));
  EXPECT_LE(network->control_link().size(), 15u);
  std::set<std::string> addresses;
  for (int host = 0; host < 3; ++host) addresses.insert(network->address(host));
  EXPECT_EQ(addresses.size(), 3u);
  EXPECT_FALSE(addresses.count("127.0.0.1"));

  const std::string dir = TempDir() + "/netns";
  ASSERT_TRUE(MakeDirectories(dir).ok());
  // Servers on host 0 and host 2, each bound to its host's address only.
  std::vector<std::unique_ptr<Subprocess>> servers;
  for (int host : {0, 2}) {
    auto server = Subprocess::Start(
        network->Wrap(host, {kPython, "-c", kServer, network->address(host),
                             std::to_string(kPort)}),
        absl::StrCat(dir, "/server", host, ".log"));
    ASSERT_TRUE(server.ok()) << server.status();
    servers.push_back(*std::move(server));
  }
  auto from_host1 = [&](int target) {
    return RunBounded(network->Wrap(1, {kPython, "-c", kClient, network->address(target),
                                        std::to_string(kPort)}),
                      dir + "/client.log", 5) == 0;
  };
  auto logs = [&] {
    return absl::StrCat("server0: ", ReadFile(dir + "/server0.log").value_or("?"),
                        "\nserver2: ", ReadFile(dir + "/server2.log").value_or("?"),
                        "\nclient: ", ReadFile(dir + "/client.log").value_or("?"));
  };

  ASSERT_TRUE(Eventually([&] { return from_host1(2); }, 15)) << "host 1 -> host 2\n" << logs();
  EXPECT_TRUE(from_host1(0)) << logs();
  EXPECT_TRUE(ConnectFromRoot(network->address(2), kPort)) << "control link -> host 2";
  EXPECT_TRUE(ConnectFromRoot(network->address(0), kPort)) << "control link -> host 0";
  // The servers' own namespace: nothing listens on its loopback (they bound eth0's address).
  EXPECT_NE(RunBounded(network->Wrap(2, {kPython, "-c", kClient, "127.0.0.1",
                                         std::to_string(kPort)}),
                       dir + "/client.log", 5),
            0);

  ASSERT_TRUE(network->Partition(2).ok());
  EXPECT_TRUE(network->partitioned(2));
  EXPECT_TRUE(Eventually([&] { return !from_host1(2); }, 10)) << "partition did not cut host 2";
  EXPECT_FALSE(from_host1(2));
  EXPECT_FALSE(ConnectFromRoot(network->address(2), kPort));
  // Only host 2 is cut off: host 1 still reaches host 0, and so does the control link.
  EXPECT_TRUE(from_host1(0)) << logs();
  EXPECT_TRUE(ConnectFromRoot(network->address(0), kPort));

  ASSERT_TRUE(network->Heal(2).ok());
  EXPECT_FALSE(network->partitioned(2));
  EXPECT_TRUE(Eventually([&] { return from_host1(2); }, 15)) << "heal did not restore host 2\n"
                                                               << logs();
  EXPECT_TRUE(Eventually([&] { return ConnectFromRoot(network->address(2), kPort); }, 10));

  for (auto& server : servers) server->Stop(std::chrono::seconds(2));
  const std::string control_link = network->control_link();
  network.reset();
  EXPECT_FALSE(HasNamespaceWithPrefix(prefix)) << "namespaces left behind";
  EXPECT_FALSE(LinkExists(control_link)) << control_link << " left behind";
}

// A running process in a namespace does not stop the destructor from removing it.
TEST(VirtualNetworkTest, DestructorRemovesNamespacesWithProcessesStillInside) {
  auto created = VirtualNetwork::Create(2);
  if (absl::IsFailedPrecondition(created.status())) GTEST_SKIP() << created.status().message();
  ASSERT_TRUE(created.ok()) << created.status();
  auto sleeper = Subprocess::Start((*created)->Wrap(1, {"/bin/sleep", "60"}), "");
  ASSERT_TRUE(sleeper.ok()) << sleeper.status();
  const std::string ns = (*created)->ns(1);
  created->reset();
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (!(*sleeper)->Poll().has_value() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE((*sleeper)->Poll().has_value()) << "the process in " << ns << " survived";
  auto names = VirtualNetwork::ListNamespaces();
  EXPECT_EQ(std::count(names.begin(), names.end(), ns), 0);
}

// What a crashed run leaves (named after its pid, now dead) is removed by the next Create.
TEST(VirtualNetworkTest, CreateRemovesLeftoversOfDeadProcesses) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  // A pid that certainly belongs to no process: a child that has exited and been reaped.
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  const std::string leftover = absl::StrCat("mm", child, "-0-hub");
  const std::string link = absl::StrCat("mm", child, "c0");
  if (RunShell("ip netns add " + leftover) != 0) {
    GTEST_SKIP() << "cannot create network namespaces here";
  }
  ASSERT_EQ(RunShell(absl::StrCat("ip link add ", link, " type veth peer name ctl netns ",
                                  leftover)),
            0);
  auto names = VirtualNetwork::ListNamespaces();
  ASSERT_EQ(std::count(names.begin(), names.end(), leftover), 1);
  ASSERT_TRUE(LinkExists(link));
  {
    auto created = VirtualNetwork::Create(1);
    ASSERT_TRUE(created.ok()) << created.status();
  }
  names = VirtualNetwork::ListNamespaces();
  EXPECT_EQ(std::count(names.begin(), names.end(), leftover), 0) << leftover << " still there";
  EXPECT_FALSE(LinkExists(link)) << link << " still there";
  // Clean up by hand should Create have failed to.
  if (std::count(names.begin(), names.end(), leftover)) RunShell("ip netns del " + leftover);
  if (LinkExists(link)) RunShell("ip link del " + link);
}

}  // namespace
}  // namespace murmur::testing
