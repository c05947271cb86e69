// Prometheus metrics of the job, read from Job::Status() at scrape time (a Collectable), so the
// numbers are exactly what `murmur status` shows and no second copy of the state exists.
//
// JobMetrics borrows the Job, which must outlive it; Collect() is thread-safe (Status() is).
#ifndef MURMUR_COORDINATOR_METRICS_H_
#define MURMUR_COORDINATOR_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/metrics_http_server.h"
#include "coordinator/job.h"

namespace murmur::coordinator {

class JobMetrics : public prometheus::Collectable {
 public:
  explicit JobMetrics(const Job* job) : job_(job) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Job* const job_;
};

// Serves GET /metrics on `bind_host:port` (port 0: pick one) through MetricsHttpServer. Owns
// the collectable and the HTTP server; stops serving when destroyed. Borrows the Job, which must
// outlive it. Thread-safe after Create (scrapes run on the HTTP server's thread).
class MetricsServer {
 public:
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Create(const Job* job,
                                                               const std::string& bind_host,
                                                               int port);
  int port() const { return http_->port(); }

 private:
  explicit MetricsServer(const Job* job) : metrics_(job) {}
  JobMetrics metrics_;
  std::unique_ptr<MetricsHttpServer> http_;  // destroyed first: it calls into metrics_
};

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_METRICS_H_
