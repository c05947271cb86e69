// A running coordinator: loads the job spec, ingests the corpus (to learn the split sizes the
// epoch plans range over), restores or starts the Job, and serves WorkerCoordination and
// JobControl over gRPC, with the failure-detection loop ticking in the background.
//
// Owns the Job, the store, the services, the gRPC server, the metrics and dashboard HTTP
// servers and the loop thread. Thread-safe;
// Shutdown() may be called from any thread (e.g. a signal-watching one), and the destructor
// shuts down. Tests create it on port 0 and may turn the loop off to tick by hand.
#ifndef MURMUR_COORDINATOR_SERVER_H_
#define MURMUR_COORDINATOR_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/http_server.h"
#include "coordinator/clock.h"
#include "coordinator/dashboard/dashboard.h"
#include "coordinator/dashboard/step_history.h"
#include "coordinator/job.h"
#include "coordinator/kv_store.h"
#include "coordinator/metrics.h"
#include "coordinator/service.h"

namespace murmur::coordinator {

class CoordinatorServer {
 public:
  struct Options {
    // The job spec JSON (job_spec.h). Required.
    std::string spec_path;
    // Journal, token cache (cache/) and, by default, checkpoints (checkpoints/). Required.
    std::string journal_dir;
    // Address to listen on. Default "0.0.0.0" (workers on other hosts must reach it).
    std::string bind_host = "0.0.0.0";
    // 0: pick a free port (see port()). Default 0.
    int port = 0;
    // Prometheus /metrics on this port (0: pick one; -1: off). Default -1.
    int metrics_port = -1;
    // The dashboard (dashboard/dashboard.h) on this port (0: pick one; -1: off); the port
    // bound is also written to journal_dir/http_port, before journal_dir/port. Default -1.
    int http_port = -1;
    // Default: the real clock.
    const Clock* clock = nullptr;
    // Tick the Job (failure detection, settle periods) every tick_interval. Default on, 100 ms.
    bool run_background_loop = true;
    absl::Duration tick_interval = absl::Milliseconds(100);
    // Overrides of the Job's defaults (job.h).
    std::optional<absl::Duration> join_settle;
    std::optional<absl::Duration> rendezvous_settle;
    std::optional<absl::Duration> rendezvous_poll;
    // Bearer token for the serving tier's repository API when publishing. Default none.
    std::string serving_token;
    // Serving replicas that receive every new best checkpoint automatically. Default none.
    std::vector<std::string> publish_targets;
    // Ingest threads (0: all cores). Default 0.
    int ingest_threads = 0;
  };

  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Create(Options options);
  ~CoordinatorServer();
  CoordinatorServer(const CoordinatorServer&) = delete;
  CoordinatorServer& operator=(const CoordinatorServer&) = delete;

  // The port actually bound.
  int port() const { return port_; }
  // The metrics port actually bound (0 when metrics are off).
  int metrics_port() const { return metrics_http_ != nullptr ? metrics_http_->port() : 0; }
  // The dashboard's port (0 when it is off).
  int http_port() const { return dashboard_ != nullptr ? dashboard_->port() : 0; }
  Job* job() { return job_.get(); }
  // The run directory of the job's TensorBoard event files; "" when the spec's report_to is
  // "none".
  std::string tensorboard_dir() const {
    return tensorboard_curves_ != nullptr ? options_.journal_dir + "/tensorboard" : "";
  }
  KeyValueStore* store() { return &store_; }

  // Ends waits, stops the loop and the server. Idempotent.
  void Shutdown();
  // Blocks until Shutdown() has completed.
  void Wait();

 private:
  explicit CoordinatorServer(Options options) : options_(std::move(options)) {}
  void Loop();

  const Options options_;
  KeyValueStore store_;
  // Declared before the Job, which writes to them until it is destroyed.
  std::unique_ptr<TrainingCurveSink> tensorboard_curves_;
  StepHistory step_history_;
  std::unique_ptr<TrainingCurveFanOut> curves_;
  std::unique_ptr<Job> job_;
  std::unique_ptr<WorkerCoordinationService> worker_service_;
  std::unique_ptr<Publisher> publisher_;
  std::unique_ptr<JobControlService> control_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> metrics_http_;
  std::unique_ptr<Dashboard> dashboard_;
  int port_ = 0;
  std::thread loop_;
  absl::Notification stop_loop_;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
  absl::Notification done_;
};

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_SERVER_H_
