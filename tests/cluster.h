// A training cluster of real processes on 127.0.0.1 for system tests: one murmur-coordinator
// and any number of murmur-worker processes, each with its own log under the test's scratch
// directory, plus the coordinator's operator API to watch the job. Killing, restarting and adding
// processes is what the tests do with it. Not thread-safe.
#ifndef MURMUR_TESTS_CLUSTER_H_
#define MURMUR_TESTS_CLUSTER_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

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

  // Starts (or restarts) the coordinator; on restart it reuses the port the workers know.
  absl::Status StartCoordinator();
  void KillCoordinator();  // SIGKILL
  absl::Status AddWorker(const std::string& name);
  void KillWorker(const std::string& name);  // SIGKILL
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
  std::unique_ptr<Subprocess> coordinator_;
  std::map<std::string, std::unique_ptr<Subprocess>> workers_;
  std::unique_ptr<v1::JobControl::Stub> control_;
};

}  // namespace murmur::testing

#endif  // MURMUR_TESTS_CLUSTER_H_
