// A training cluster of real processes on 127.0.0.1 for system tests: one murmur-coordinator
// and any number of murmur-worker processes, optionally a murmur-serve replica, each with its
// own log under the test's scratch directory, plus the coordinator's operator API to watch the
// job. Killing, restarting and adding processes is what the tests do with it. With
// EnableMetrics() every process started afterwards serves Prometheus /metrics on a free port.
// Not thread-safe.
#ifndef MURMUR_TESTS_CLUSTER_H_
#define MURMUR_TESTS_CLUSTER_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/subprocess.h"
#include "proto/coordinator.grpc.pb.h"

namespace murmur::testing {

// Writes a corpus directory (negative.txt, positive.txt) with the first `per_class` real tweets
// of each class from ../shared/data; returns its path.
std::string WriteTweetCorpus(const std::string& dir, int per_class);

class Cluster {
 public:
  // `spec_json` is the job spec without corpus/vocab (filled in from `corpus_dir` and the real
  // vocabulary).
  Cluster(std::string name, const std::string& corpus_dir, const std::string& spec_fields);
  ~Cluster();

  // Processes started from now on get `--metrics-port 0`; MetricsPort() finds their ports.
  void EnableMetrics() { metrics_ = true; }

  // Starts (or restarts) the coordinator; on restart it reuses the port the workers know.
  // `extra_flags` go to its command line (e.g. {"--publish-to", serving_address()}).
  absl::Status StartCoordinator(const std::vector<std::string>& extra_flags = {});
  void KillCoordinator();  // SIGKILL
  absl::Status AddWorker(const std::string& name);
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
  std::unique_ptr<Subprocess> coordinator_;
  std::map<std::string, std::unique_ptr<Subprocess>> workers_;
  std::unique_ptr<Subprocess> serving_;
  std::string serving_address_;
  std::unique_ptr<v1::JobControl::Stub> control_;
};

}  // namespace murmur::testing

#endif  // MURMUR_TESTS_CLUSTER_H_
