#include "worker/worker_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace murmur::worker {
namespace {

prometheus::Gauge* AddGauge(prometheus::Registry& registry, const std::string& name,
                            const std::string& help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Counter* AddCounter(prometheus::Registry& registry, const std::string& name,
                                const std::string& help) {
  return &prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Histogram* AddHistogram(prometheus::Registry& registry, const std::string& name,
                                    const std::string& help,
                                    prometheus::Histogram::BucketBoundaries buckets) {
  return &prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add(
      {}, std::move(buckets));
}

}  // namespace

WorkerMetrics::WorkerMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::Registry& r = *registry_;
  samples_per_second_ = AddGauge(r, "murmur_worker_samples_per_second",
                                 "This rank's training samples/s over the last step");
  // Steps take from ~10 ms (tiny preset) to tens of seconds (base preset on CPU).
  step_seconds_ = AddHistogram(r, "murmur_worker_step_seconds",
                               "Wall time of an optimizer step, batch assembly included",
                               {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
  allreduce_seconds_ =
      AddHistogram(r, "murmur_worker_allreduce_wait_seconds",
                   "Time a step waited for the gradient all-reduce after backward",
                   {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5});
  loss_ = AddGauge(r, "murmur_worker_loss", "Global mean training loss of the last step");
  global_step_ = AddGauge(r, "murmur_worker_global_step", "Optimizer steps of the job so far");
  generation_ = AddGauge(r, "murmur_worker_generation", "Membership generation being trained");
  rank_ = AddGauge(r, "murmur_worker_rank", "This worker's rank in its generation");
  world_size_ = AddGauge(r, "murmur_worker_world_size", "Ranks in this worker's generation");
  steps_ = AddCounter(r, "murmur_worker_steps_total", "Optimizer steps this process took");
  samples_ = AddCounter(r, "murmur_worker_samples_total", "Samples this process trained on");
  regroups_ = AddCounter(r, "murmur_worker_regroups_total",
                         "Generations entered after the first (membership change or failure)");
}

WorkerMetrics::~WorkerMetrics() = default;

absl::StatusOr<std::unique_ptr<WorkerMetrics>> WorkerMetrics::Create(const std::string& host,
                                                                     int port) {
  std::unique_ptr<WorkerMetrics> metrics(new WorkerMetrics());
  if (port < 0) return metrics;
  const WorkerMetrics* self = metrics.get();
  auto http = StartMetricsHttpServer(host, port, [self] { return self->Text(); });
  if (!http.ok()) return http.status();
  metrics->http_ = *std::move(http);
  return metrics;
}

int WorkerMetrics::port() const { return http_ != nullptr ? http_->port() : -1; }

void WorkerMetrics::StartGeneration(int64_t generation, int rank, int world_size) {
  if (entered_generation_.exchange(true)) regroups_->Increment();
  generation_->Set(static_cast<double>(generation));
  rank_->Set(rank);
  world_size_->Set(world_size);
}

void WorkerMetrics::RecordStep(double step_seconds, double allreduce_seconds, int64_t samples,
                               double loss, int64_t global_step) {
  step_seconds_->Observe(step_seconds);
  allreduce_seconds_->Observe(allreduce_seconds);
  if (step_seconds > 0) samples_per_second_->Set(static_cast<double>(samples) / step_seconds);
  loss_->Set(loss);
  global_step_->Set(static_cast<double>(global_step));
  steps_->Increment();
  samples_->Increment(static_cast<double>(samples));
}

std::string WorkerMetrics::Text() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace murmur::worker
