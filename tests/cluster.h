// A training cluster of real processes on 127.0.0.1 for system tests: one murmur-coordinator
// and any number of murmur-worker processes, optionally a murmur-serve replica, each with its
// own log under the test's scratch directory, plus the coordinator's operator API to watch the
// job. Killing, restarting and adding processes is what the tests do with it. With
// EnableMetrics() every process started afterwards serves Prometheus /metrics on a free port.
//
// On a VirtualNetwork (UseNetwork()): the coordinator runs on host 0 listening on 0.0.0.0, each
// worker on the host AddWorker() names, with `--host <its address>` (Gloo binds there, so the
// all-reduce goes over the hosts' interfaces, not loopback) and `--coordinator <host 0>:<port>`;
// the test's operator client reaches host 0 over the network's control link.
// Not thread-safe.
#ifndef MURMUR_TESTS_CLUSTER_H_
#define MURMUR_TESTS_CLUSTER_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/subprocess.h"
#include "proto/coordinator.grpc.pb.h"
#include "tests/netns.h"

namespace murmur::testing {

// Writes a corpus directory (negative.txt, positive.txt) with the first `per_class` real tweets
// of each class from ../shared/data; returns its path.
std::string WriteTweetCorpus(const std::string& dir, int per_class);

// Every epoch of a finished job's accounting complete: each sample consumed exactly once.
void ExpectExactlyOncePerEpoch(const v1::JobStatus& status, int epochs);

class Cluster {
 public:
  // `spec_json` is the job spec without corpus/vocab (filled in from `corpus_dir` and the real
  // vocabulary).
  Cluster(std::string name, const std::string& corpus_dir, const std::string& spec_fields);
  ~Cluster();

  // Processes started from now on get `--metrics-port 0`; MetricsPort() finds their ports.
  void EnableMetrics() { metrics_ = true; }
  // Runs the coordinator on host 0 of `network` and every worker on a host of it (see above).
  // Call before StartCoordinator; `network` must outlive the Cluster (declare it first).
  void UseNetwork(VirtualNetwork* network) { network_ = network; }
  VirtualNetwork* network() const { return network_; }
  // Workers started from now on get `--trace-dir trace_dir()` (a record of the rows each step
  // trained, for tests/lineage_check.h).
  absl::Status EnableTrace();
  bool trace_enabled() const { return trace_; }
  std::string trace_dir() const { return dir_ + "/trace"; }

  // Starts (or restarts) the coordinator; on restart it reuses the port the workers know.
  // `extra_flags` go to its command line (e.g. {"--publish-to", serving_address()}).
  absl::Status StartCoordinator(const std::vector<std::string>& extra_flags = {});
  void KillCoordinator();  // SIGKILL
  // SIGKILL, `down_seconds` without a coordinator, then StartCoordinator with the flags of the
  // last start: the same port, journal dir and spec.
  absl::Status RestartCoordinator(double down_seconds);
  // On a network: host `host` (required, >= 1 by convention: host 0 is the coordinator's).
  // Without one, `host` must be -1. `extra_flags` go to the worker's command line. A name used
  // before starts a new process under it (the old one, if still running, is stopped first).
  absl::Status AddWorker(const std::string& name, int host = -1,
                         const std::vector<std::string>& extra_flags = {});
  // Starts murmur-serve on a free port with an empty model repository (models arrive by push)
  // and waits until it listens.
  absl::Status StartServing();
  // host:port of the serving replica.
  const std::string& serving_address() const { return serving_address_; }
  // The /metrics port that `process` ("coordinator", "serving" or a worker's name) logged,
  // waiting for the line up to `timeout_seconds`.
  absl::StatusOr<int> MetricsPort(const std::string& process, double timeout_seconds = 60);
  void KillWorker(const std::string& name);  // SIGKILL
  void SignalWorker(const std::string& name, int signal);
  // Exit code of a worker once it finished.
  std::optional<int> WorkerExit(const std::string& name);
  // Names of every worker started / of those whose process still runs.
  std::vector<std::string> WorkerNames() const;
  std::vector<std::string> RunningWorkers();
  // The network host a worker runs on (-1 without a network).
  int WorkerHost(const std::string& name) const;
  // Cuts the worker's host off the network / reconnects it (network only).
  absl::Status PartitionWorker(const std::string& name);
  absl::Status HealWorker(const std::string& name);
  // The highest "global_step" in the workers' --summary files (rank 0 writes its file whenever a
  // generation ends and at the end of the job); NOT_FOUND when there is none.
  absl::StatusOr<int64_t> SummaryGlobalStep() const;

  absl::StatusOr<v1::JobStatus> Status();
  // Polls Status() until `done` holds or `timeout_seconds` pass.
  absl::StatusOr<v1::JobStatus> WaitFor(const std::function<bool(const v1::JobStatus&)>& done,
                                        double timeout_seconds);
  absl::Status Drain(const std::string& worker_id);
  // Waits until every worker process has exited, then returns the job status (which then
  // includes everything the workers reported on their way out, such as the final checkpoint).
  absl::StatusOr<v1::JobStatus> WaitForWorkersToExit(double timeout_seconds);
  std::vector<v1::JobEvent> Events();

  const std::string& dir() const { return dir_; }
  const std::string& address() const { return address_; }
  // The tail of every log, for failure messages.
  std::string Logs() const;

 private:
  std::string dir_;
  std::string spec_path_;
  std::string address_;
  int port_ = 0;
  bool metrics_ = false;
  bool trace_ = false;
  VirtualNetwork* network_ = nullptr;
  std::vector<std::string> coordinator_flags_;
  std::map<std::string, int> worker_hosts_;
  std::unique_ptr<Subprocess> coordinator_;
  std::map<std::string, std::unique_ptr<Subprocess>> workers_;
  std::unique_ptr<Subprocess> serving_;
  std::string serving_address_;
  std::unique_ptr<v1::JobControl::Stub> control_;
};

}  // namespace murmur::testing

#endif  // MURMUR_TESTS_CLUSTER_H_
