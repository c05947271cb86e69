// A private virtual network of Linux network namespaces for multi-host tests: `num_hosts` hosts,
// each a namespace of its own with loopback and one interface `eth0` (10.77.S.(i+1)/24), all
// plugged into a Linux bridge that lives in a hub namespace. Every namespace, address and link
// is created here and removed by the destructor, always.
//
// The only thing added to the root namespace (where the test process stays) is a control link:
// a veth pair from the root namespace (address 10.77.S.254/24) to the hub's bridge, so the test
// can reach the hosts (e.g. the coordinator's operator API). S is a /24 of 10.77.0.0/16 that no
// route of the root namespace covers, so nothing else's traffic is redirected. Partition()
// takes a host's bridge port down (its cable pulled): that host reaches nobody and nobody reaches
// it, while the control link stays up.
//
// Programs run on a host through Wrap(): `ip netns exec NS argv...`, which setns()es and execs
// in place, so the started process's pid is the program's and signals reach it.
//
// Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2's `ip`; Create() says why not
// (FAILED_PRECONDITION) so tests can GTEST_SKIP() with the reason. Outside Bazel's sandbox only
// (tag tests "no-sandbox"): `ip netns` bind-mounts under /run/netns. Not thread-safe.
#ifndef MURMUR_TESTS_NETNS_H_
#define MURMUR_TESTS_NETNS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace murmur::testing {

class VirtualNetwork {
 public:
  // Hosts 0 .. num_hosts-1 (1 <= num_hosts <= 200). Removes leftovers of earlier runs whose
  // process died (namespaces and control links named mm<pid>-..., mm<pid>c...) first.
  static absl::StatusOr<std::unique_ptr<VirtualNetwork>> Create(int num_hosts);
  // Deletes the control link and every namespace (killing whatever still runs in them).
  ~VirtualNetwork();
  VirtualNetwork(const VirtualNetwork&) = delete;
  VirtualNetwork& operator=(const VirtualNetwork&) = delete;

  int num_hosts() const { return static_cast<int>(hosts_.size()); }
  // IPv4 address of host `host`'s eth0, e.g. "10.77.3.1".
  std::string address(int host) const;
  // The test process's own address on the control link.
  std::string control_address() const;
  // Namespace name of host `host` (for `ip netns exec`).
  std::string ns(int host) const;
  std::string hub_ns() const { return hub_; }
  // The root-namespace end of the control link.
  const std::string& control_link() const { return control_link_; }
  // The iproute2 program in use.
  const std::string& ip() const { return ip_; }

  // Takes host `host`'s port on the bridge down (partitioned from every other host and from
  // the control link) / up again.
  absl::Status Partition(int host);
  absl::Status Heal(int host);
  bool partitioned(int host) const;

  // {ip, "netns", "exec", ns(host), argv...}.
  std::vector<std::string> Wrap(int host, std::vector<std::string> argv) const;

  // Names of namespaces that currently exist (`ip netns list`), for checks.
  static std::vector<std::string> ListNamespaces();

 private:
  struct Host {
    std::string ns;
    std::string hub_port;  // the veth end on the hub's bridge
    bool partitioned = false;
  };
  VirtualNetwork() = default;
  absl::Status Build(int num_hosts);
  void Destroy();

  std::string ip_;
  std::string prefix_;  // "mm<pid>-<n>-"
  std::string hub_;
  std::string control_link_;
  int subnet_ = -1;  // S in 10.77.S.0/24
  std::vector<Host> hosts_;
  std::vector<std::string> namespaces_;  // every namespace created, for cleanup
};

}  // namespace murmur::testing

#endif  // MURMUR_TESTS_NETNS_H_
