// Prometheus metrics of the job, read from Job::Status() at scrape time (a Collectable), so the
// numbers are exactly what `murmur status` shows and no second copy of the state exists. The
// coordinator serves them with base/metrics_http_server.h.
//
// JobMetrics borrows the Job, which must outlive it; Collect() is thread-safe (Status() is).
#ifndef MURMUR_COORDINATOR_METRICS_H_
#define MURMUR_COORDINATOR_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <string>
#include <vector>

#include "coordinator/job.h"

namespace murmur::coordinator {

class JobMetrics : public prometheus::Collectable {
 public:
  explicit JobMetrics(const Job* job) : job_(job) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Job* const job_;
};

// The job's metrics in the Prometheus text format: what GET /metrics answers on the metrics
// port and on the dashboard's port.
std::string JobMetricsText(const Job& job);

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_METRICS_H_
