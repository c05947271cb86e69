#include "coordinator/metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/job_state_names.h"

namespace murmur::coordinator {
namespace {

prometheus::MetricFamily Gauge(const std::string& name, const std::string& help) {
  prometheus::MetricFamily family;
  family.name = "murmur_coordinator_" + name;
  family.help = help;
  family.type = prometheus::MetricType::Gauge;
  return family;
}

void Add(prometheus::MetricFamily* family, double value,
         std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric& metric = family->metric.emplace_back();
  metric.label = std::move(labels);
  metric.gauge.value = value;
}

}  // namespace

std::vector<prometheus::MetricFamily> JobMetrics::Collect() const {
  const v1::JobStatus status = job_->Status();
  std::vector<prometheus::MetricFamily> families;
  auto single = [&](const std::string& name, const std::string& help, double value) {
    families.push_back(Gauge(name, help));
    Add(&families.back(), value);
  };
  single("generation", "Newest membership generation announced", status.generation());
  single("global_step", "Optimizer steps recorded", status.global_step());
  single("total_steps", "Estimated optimizer steps of the whole job", status.total_steps());
  single("epoch", "Current epoch", status.epoch());
  single("samples_per_second", "Training samples/s summed over active workers",
         status.samples_per_second());
  single("loss", "Training loss of the last reported step", status.loss());
  single("eta_seconds", "Estimated seconds to the end of the job", status.eta_seconds());
  single("min_workers", "The job pauses below this many workers", status.min_workers());
  single("max_workers", "Workers beyond this many are standbys", status.max_workers());

  families.push_back(Gauge("state", "1 for the job's current state"));
  for (v1::JobState state :
       {v1::JOB_WAITING, v1::JOB_RUNNING, v1::JOB_FINISHED, v1::JOB_FAILED}) {
    Add(&families.back(), status.state() == state ? 1 : 0, {{"state", StateName(state)}});
  }
  std::map<std::string, int> by_state;
  for (v1::WorkerState state : {v1::WORKER_STANDBY, v1::WORKER_ACTIVE, v1::WORKER_DRAINING,
                                v1::WORKER_DEAD, v1::WORKER_LEFT}) {
    by_state[StateName(state)] = 0;
  }
  for (const v1::WorkerStatus& worker : status.workers()) ++by_state[StateName(worker.state())];
  families.push_back(Gauge("workers", "Workers by state"));
  for (const auto& [state, count] : by_state) {
    Add(&families.back(), count, {{"state", state}});
  }
  families.push_back(Gauge("epoch_consumed_samples", "Positions consumed per epoch"));
  prometheus::MetricFamily duplicated =
      Gauge("epoch_duplicated_samples", "Positions consumed twice per epoch (must be 0)");
  for (const v1::EpochAccounting& epoch : status.accounting()) {
    Add(&families.back(), epoch.consumed(), {{"epoch", absl::StrCat(epoch.epoch())}});
    Add(&duplicated, epoch.duplicated(), {{"epoch", absl::StrCat(epoch.epoch())}});
  }
  families.push_back(std::move(duplicated));
  return families;
}

std::string JobMetricsText(const Job& job) {
  return prometheus::TextSerializer().Serialize(JobMetrics(&job).Collect());
}

}  // namespace murmur::coordinator
