// Prometheus metrics of one training worker (prometheus-cpp core), served on the worker's own
// /metrics port (base/metrics_http_server.h) when one is configured:
//   murmur_worker_samples_per_second      gauge      this rank's samples / wall time of the step
//   murmur_worker_step_seconds            histogram  wall time of an optimizer step
//   murmur_worker_allreduce_wait_seconds  histogram  waiting for the gradient all-reduce after
//                                                    backward (StepResult::sync_seconds)
//   murmur_worker_loss                    gauge      global mean loss of the last step
//   murmur_worker_global_step             gauge      optimizer steps of the job so far
//   murmur_worker_generation              gauge      membership generation being trained
//   murmur_worker_rank                    gauge      this worker's rank in it
//   murmur_worker_world_size              gauge      ranks in it
//   murmur_worker_steps_total             counter    steps this process took
//   murmur_worker_samples_total           counter    samples this process trained on
//   murmur_worker_regroups_total          counter    generations entered after the first (a
//                                                    membership change or a failed collective)
// The coordinator's murmur_coordinator_* metrics hold the job-wide view; these are per process,
// so a slow or stalled rank stands out.
//
// Owns its registry and HTTP server. Thread-safety: all methods are thread-safe (the training
// loop updates, the HTTP thread renders; prometheus-cpp metrics are atomic).
#ifndef MURMUR_WORKER_WORKER_METRICS_H_
#define MURMUR_WORKER_WORKER_METRICS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "base/metrics_http_server.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace murmur::worker {

class WorkerMetrics {
 public:
  // Serves /metrics on host:port (0: a free one); port -1 keeps the metrics unserved (they are
  // still recorded, so the training loop needs no special case).
  static absl::StatusOr<std::unique_ptr<WorkerMetrics>> Create(const std::string& host,
                                                               int port);
  ~WorkerMetrics();
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  // The port serving /metrics; -1 when not served.
  int port() const;

  // Entering a membership generation.
  void StartGeneration(int64_t generation, int rank, int world_size);
  // One optimizer step: its wall time, the part spent waiting for the all-reduce, this rank's
  // samples, the global loss and the global step after it.
  void RecordStep(double step_seconds, double allreduce_seconds, int64_t samples, double loss,
                  int64_t global_step);

  // The exposition text a scrape returns.
  std::string Text() const;

 private:
  WorkerMetrics();

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge* samples_per_second_;
  prometheus::Histogram* step_seconds_;
  prometheus::Histogram* allreduce_seconds_;
  prometheus::Gauge* loss_;
  prometheus::Gauge* global_step_;
  prometheus::Gauge* generation_;
  prometheus::Gauge* rank_;
  prometheus::Gauge* world_size_;
  prometheus::Counter* steps_;
  prometheus::Counter* samples_;
  prometheus::Counter* regroups_;
  std::atomic<bool> entered_generation_{false};
  std::unique_ptr<HttpServer> http_;  // declared last: destroyed before what it renders
};

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_WORKER_METRICS_H_
