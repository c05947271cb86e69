#include "tests/netns.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace murmur::testing {
namespace {

constexpr int kSubnetBase = 77;  // 10.77.S.0/24

struct Result {
  int code = -1;  // exit status; -1: could not run, 128+N: killed by signal N
  std::string output;  // stdout and stderr together
};

// Runs argv (argv[0] a path) without a shell, collecting its output.
Result Run(const std::vector<std::string>& argv) {
  Result result;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    result.output = absl::StrCat("pipe: ", std::strerror(errno));
    return result;
  }
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    result.output = absl::StrCat("fork: ", std::strerror(errno));
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return result;
  }
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(pipe_fds[0], buffer, sizeof(buffer));
    if (n > 0) {
      result.output.append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return result;
  }
  if (WIFEXITED(status)) result.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.code = 128 + WTERMSIG(status);
  return result;
}

std::string FindIp() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

std::string Quote(const std::vector<std::string>& argv) { return absl::StrJoin(argv, " "); }

// Runs `ip args...`; an error names the command and quotes its output.
absl::Status Ip(const std::string& ip, const std::vector<std::string>& args,
                std::string* output = nullptr) {
  std::vector<std::string> argv = {ip};
  argv.insert(argv.end(), args.begin(), args.end());
  Result result = Run(argv);
  if (output != nullptr) *output = result.output;
  if (result.code != 0) {
    return absl::InternalError(absl::StrCat("`", Quote(argv), "` exited with ", result.code,
                                            ": ", absl::StripAsciiWhitespace(result.output)));
  }
  return absl::OkStatus();
}

bool ProcessAlive(int64_t pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// "mm<pid>-..." (namespaces) or "mm<pid>c<n>" (control links) -> pid; -1 for other names.
int64_t OwnerPid(const std::string& name, char separator) {
  if (!absl::StartsWith(name, "mm")) return -1;
  size_t end = 2;
  while (end < name.size() && absl::ascii_isdigit(name[end])) ++end;
  if (end == 2 || end >= name.size() || name[end] != separator) return -1;
  int64_t pid = -1;
  if (!absl::SimpleAtoi(name.substr(2, end - 2), &pid)) return -1;
  if (separator == 'c') {  // the rest must be digits
    if (end + 1 >= name.size()) return -1;
    for (size_t i = end + 1; i < name.size(); ++i) {
      if (!absl::ascii_isdigit(name[i])) return -1;
    }
  }
  return pid;
}

// SIGKILLs every process in namespace `ns` (our own namespaces only).
void KillProcessesIn(const std::string& ip, const std::string& ns) {
  std::string pids;
  if (!Ip(ip, {"netns", "pids", ns}, &pids).ok()) return;
  for (absl::string_view line : absl::StrSplit(pids, '\n', absl::SkipWhitespace())) {
    int64_t pid = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &pid) && pid > 1 &&
        pid != ::getpid()) {
      ::kill(static_cast<pid_t>(pid), SIGKILL);
    }
  }
}

std::vector<std::string> RootLinks(const std::string& ip) {
  std::vector<std::string> links;
  std::string output;
  if (!Ip(ip, {"-o", "link", "show"}, &output).ok()) return links;
  // "12: mm123c0@if11: <BROADCAST,...> ..."
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(": ", 2));
    if (fields.size() < 2) continue;
    absl::string_view name = fields[1];
    name = name.substr(0, name.find('@'));
    links.emplace_back(name);
  }
  return links;
}

// Removes what earlier runs left behind when their process died before its destructor ran.
void RemoveLeftovers(const std::string& ip) {
  for (const std::string& ns : VirtualNetwork::ListNamespaces()) {
    int64_t pid = OwnerPid(ns, '-');
    if (pid < 0 || pid == ::getpid() || ProcessAlive(pid)) continue;
    std::fprintf(stderr, "netns: removing namespace %s left by dead process %lld\n", ns.c_str(),
                 static_cast<long long>(pid));
    KillProcessesIn(ip, ns);
    if (auto deleted = Ip(ip, {"netns", "del", ns}); !deleted.ok()) {
      std::fprintf(stderr, "netns: %s\n", std::string(deleted.message()).c_str());
    }
  }
  for (const std::string& link : RootLinks(ip)) {
    int64_t pid = OwnerPid(link, 'c');
    if (pid < 0 || pid == ::getpid() || ProcessAlive(pid)) continue;
    std::fprintf(stderr, "netns: removing link %s left by dead process %lld\n", link.c_str(),
                 static_cast<long long>(pid));
    if (auto deleted = Ip(ip, {"link", "del", link}); !deleted.ok()) {
      std::fprintf(stderr, "netns: %s\n", std::string(deleted.message()).c_str());
    }
  }
}

struct Prefix {
  uint32_t address;
  int length;
};

bool ParseIpv4(absl::string_view text, uint32_t* address) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '.');
  if (parts.size() != 4) return false;
  uint32_t value = 0;
  for (absl::string_view part : parts) {
    int octet = 0;
    if (!absl::SimpleAtoi(part, &octet) || octet < 0 || octet > 255) return false;
    value = (value << 8) | static_cast<uint32_t>(octet);
  }
  *address = value;
  return true;
}

// Destinations of the root namespace's IPv4 routes (every table), "default" left out: a subnet
// that overlaps none of them is not used by anything here.
std::vector<Prefix> RootRoutes(const std::string& ip, absl::Status* error) {
  std::vector<Prefix> prefixes;
  std::string output;
  *error = Ip(ip, {"-4", "route", "show", "table", "all"}, &output);
  if (!error->ok()) return prefixes;
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipWhitespace())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    size_t i = 0;
    // "broadcast 10.0.0.255 dev ...", "local ...", "unreachable ..." etc. put a type first.
    while (i < fields.size() && !fields[i].empty() && !absl::ascii_isdigit(fields[i][0]) &&
           fields[i] != "default") {
      ++i;
    }
    if (i >= fields.size() || fields[i] == "default") continue;
    absl::string_view destination = fields[i];
    int length = 32;
    size_t slash = destination.find('/');
    if (slash != absl::string_view::npos) {
      if (!absl::SimpleAtoi(destination.substr(slash + 1), &length)) continue;
      destination = destination.substr(0, slash);
    }
    uint32_t address = 0;
    if (ParseIpv4(destination, &address)) prefixes.push_back({address, length});
  }
  return prefixes;
}

bool Overlaps(const Prefix& a, const Prefix& b) {
  int length = std::min(a.length, b.length);
  uint32_t mask = length == 0 ? 0 : ~uint32_t{0} << (32 - length);
  return (a.address & mask) == (b.address & mask);
}

// Serialises subnet choice among processes (an flock, released with the descriptor).
class SubnetLock {
 public:
  SubnetLock() {
    const char* path = ::access("/run/lock", W_OK) == 0 ? "/run/lock/murmur-netns.lock"
                                                       : "/tmp/murmur-netns.lock";
    fd_ = ::open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    // Held for milliseconds by anyone; give up waiting after 30 s (and go on unlocked).
    for (int i = 0; fd_ >= 0 && i < 3000; ++i) {
      if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
      ::usleep(10000);
    }
  }
  ~SubnetLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_ = -1;
};

std::atomic<int> network_counter{0};

}  // namespace

std::vector<std::string> VirtualNetwork::ListNamespaces() {
  std::vector<std::string> names;
  std::string ip = FindIp();
  if (ip.empty()) return names;
  std::string output;
  if (!Ip(ip, {"netns", "list"}, &output).ok()) return names;
  // "name (id: 3)" or "name"
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipWhitespace())) {
    line = absl::StripAsciiWhitespace(line);
    names.emplace_back(line.substr(0, line.find(' ')));
  }
  return names;
}

absl::StatusOr<std::unique_ptr<VirtualNetwork>> VirtualNetwork::Create(int num_hosts) {
  if (num_hosts < 1 || num_hosts > 200) {
    return absl::InvalidArgumentError(absl::StrCat("num_hosts must be 1..200, got ", num_hosts));
  }
  if (::geteuid() != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "network namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN); running as uid ",
        ::geteuid()));
  }
  std::string ip = FindIp();
  if (ip.empty()) {
    return absl::FailedPreconditionError(
        "no `ip` program (iproute2) in /usr/sbin, /sbin, /usr/bin or /bin: install iproute2 "
        "(deploy/setup.sh does)");
  }
  RemoveLeftovers(ip);
  std::unique_ptr<VirtualNetwork> network(new VirtualNetwork());
  network->ip_ = ip;
  const int n = network_counter++;
  network->prefix_ = absl::StrCat("mm", ::getpid(), "-", n, "-");
  network->control_link_ = absl::StrCat("mm", ::getpid(), "c", n);
  if (network->control_link_.size() > 15) {
    return absl::InternalError(absl::StrCat("link name too long: ", network->control_link_));
  }
  absl::Status built = network->Build(num_hosts);
  if (!built.ok()) {
    network->Destroy();
    // The first namespace failing means this machine cannot make them (no permission inside a
    // container, a read-only /run, a sandbox): a precondition. Anything later is a real error.
    if (network->namespaces_.empty() || absl::IsFailedPrecondition(built)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot create network namespaces here (Bazel tests need tags [\"no-sandbox\"]; "
          "containers need CAP_SYS_ADMIN): ",
          built.message()));
    }
    return built;
  }
  return network;
}

absl::Status VirtualNetwork::Build(int num_hosts) {
  // The first namespace: the probe of whether namespaces can be made at all.
  hub_ = prefix_ + "hub";
  if (auto status = Ip(ip_, {"netns", "add", hub_}); !status.ok()) return status;
  namespaces_.push_back(hub_);
  std::vector<std::vector<std::string>> commands = {
      {"-n", hub_, "link", "set", "lo", "up"},
      {"-n", hub_, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay",
       "0"},
      {"-n", hub_, "link", "set", "br0", "up"},
  };
  for (const auto& command : commands) {
    if (auto status = Ip(ip_, command); !status.ok()) return status;
  }
  for (int i = 0; i < num_hosts; ++i) {
    Host host;
    host.ns = absl::StrCat(prefix_, "h", i);
    host.hub_port = absl::StrCat("p", i);
    if (auto status = Ip(ip_, {"netns", "add", host.ns}); !status.ok()) return status;
    namespaces_.push_back(host.ns);
    hosts_.push_back(host);
    // The address needs the subnet, chosen below; the links first.
    for (const auto& command : std::vector<std::vector<std::string>>{
             {"-n", host.ns, "link", "set", "lo", "up"},
             {"-n", hub_, "link", "add", host.hub_port, "type", "veth", "peer", "name", "eth0",
              "netns", host.ns},
             {"-n", hub_, "link", "set", host.hub_port, "master", "br0"},
             {"-n", hub_, "link", "set", host.hub_port, "up"},
             {"-n", host.ns, "link", "set", "eth0", "up"},
         }) {
      if (auto status = Ip(ip_, command); !status.ok()) return status;
    }
  }

  // The subnet: the first 10.77.S.0/24 that no root-namespace route overlaps. Chosen and
  // claimed (the control link's address adds its route) under a lock, so concurrent test
  // processes pick different ones.
  SubnetLock lock;
  absl::Status routes_error;
  std::vector<Prefix> routes = RootRoutes(ip_, &routes_error);
  if (!routes_error.ok()) return routes_error;
  for (int s = 0; s < 256 && subnet_ < 0; ++s) {
    Prefix candidate{(10u << 24) | (uint32_t{kSubnetBase} << 16) | (uint32_t(s) << 8), 24};
    bool used = false;
    for (const Prefix& route : routes) used |= Overlaps(route, candidate);
    if (!used) subnet_ = s;
  }
  if (subnet_ < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "every 10.", kSubnetBase, ".S.0/24 overlaps a route of the root namespace"));
  }
  const std::string control_peer = "ctl";
  for (const auto& command : std::vector<std::vector<std::string>>{
           {"link", "add", control_link_, "type", "veth", "peer", "name", control_peer, "netns",
            hub_},
           {"-n", hub_, "link", "set", control_peer, "master", "br0"},
           {"-n", hub_, "link", "set", control_peer, "up"},
           {"addr", "add", control_address() + "/24", "dev", control_link_},
           {"link", "set", control_link_, "up"},
       }) {
    if (auto status = Ip(ip_, command); !status.ok()) return status;
  }
  for (int i = 0; i < num_hosts; ++i) {
    if (auto status = Ip(ip_, {"-n", hosts_[i].ns, "addr", "add", address(i) + "/24", "dev",
                               "eth0"});
        !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

VirtualNetwork::~VirtualNetwork() { Destroy(); }

void VirtualNetwork::Destroy() {
  // The control link first (it lives in the root namespace); deleting the hub would take it
  // along only once nothing holds the hub namespace.
  if (!control_link_.empty()) {
    for (const std::string& link : RootLinks(ip_)) {
      if (link != control_link_) continue;
      if (auto status = Ip(ip_, {"link", "del", control_link_}); !status.ok()) {
        std::fprintf(stderr, "netns: cleanup: %s\n", std::string(status.message()).c_str());
      }
    }
  }
  // Anything still running in a host would keep its namespace (and its traffic) alive.
  for (const std::string& ns : namespaces_) KillProcessesIn(ip_, ns);
  for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) {
    if (auto status = Ip(ip_, {"netns", "del", *it}); !status.ok()) {
      std::fprintf(stderr, "netns: cleanup: %s\n", std::string(status.message()).c_str());
    }
  }
  namespaces_.clear();
  hosts_.clear();
}

std::string VirtualNetwork::address(int host) const {
  return absl::StrCat("10.", kSubnetBase, ".", subnet_, ".", host + 1);
}

std::string VirtualNetwork::control_address() const {
  return absl::StrCat("10.", kSubnetBase, ".", subnet_, ".254");
}

std::string VirtualNetwork::ns(int host) const { return hosts_.at(host).ns; }

bool VirtualNetwork::partitioned(int host) const { return hosts_.at(host).partitioned; }

absl::Status VirtualNetwork::Partition(int host) {
  absl::Status status = Ip(ip_, {"-n", hub_, "link", "set", hosts_.at(host).hub_port, "down"});
  if (status.ok()) hosts_[host].partitioned = true;
  return status;
}

absl::Status VirtualNetwork::Heal(int host) {
  absl::Status status = Ip(ip_, {"-n", hub_, "link", "set", hosts_.at(host).hub_port, "up"});
  if (status.ok()) hosts_[host].partitioned = false;
  return status;
}

std::vector<std::string> VirtualNetwork::Wrap(int host, std::vector<std::string> argv) const {
  std::vector<std::string> wrapped = {ip_, "netns", "exec", ns(host)};
  wrapped.insert(wrapped.end(), std::make_move_iterator(argv.begin()),
                 std::make_move_iterator(argv.end()));
  return wrapped;
}

}  // namespace murmur::testing
