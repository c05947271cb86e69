#include "serving/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/ascii.h"

namespace murmur::serving {

std::string StatusCodeName(absl::StatusCode code) {
  // absl's names are "INVALID_ARGUMENT"-style already except for OK's spelling.
  return code == absl::StatusCode::kOk ? "OK" : absl::StatusCodeToString(code);
}

ServingMetrics::ServingMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("murmur_requests_total")
                   .Help("RPCs finished, by method and gRPC status code")
                   .Register(*registry_);
  latency_ = &prometheus::BuildHistogram()
                  .Name("murmur_request_latency_seconds")
                  .Help("RPC latency from arrival to response, by method")
                  .Register(*registry_);
  model_version_ = &prometheus::BuildGauge()
                        .Name("murmur_model_version")
                        .Help("Version a model answers with when none is requested (0: none)")
                        .Register(*registry_);
  queue_time_ = &prometheus::BuildHistogram()
                     .Name("murmur_queue_time_seconds")
                     .Help("Time a text waited in the batcher's queue")
                     .Register(*registry_)
                     .Add({}, prometheus::Histogram::BucketBoundaries{
                                  0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2,
                                  0.5, 1, 2, 5});
  batch_size_ = &prometheus::BuildHistogram()
                     .Name("murmur_batch_size")
                     .Help("Texts per forward pass")
                     .Register(*registry_)
                     .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64,
                                                                      128, 256});
  batch_tokens_ = &prometheus::BuildHistogram()
                       .Name("murmur_batch_padded_tokens")
                       .Help("Padded tokens (texts x longest) per forward pass")
                       .Register(*registry_)
                       .Add({}, prometheus::Histogram::BucketBoundaries{
                                    64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384});
  texts_ = &prometheus::BuildCounter()
                .Name("murmur_texts_classified_total")
                .Help("Texts run through the model")
                .Register(*registry_)
                .Add({});
  queue_depth_ = &prometheus::BuildGauge()
                      .Name("murmur_queue_depth")
                      .Help("Texts waiting in the batchers' queues")
                      .Register(*registry_)
                      .Add({});
}

ServingMetrics::~ServingMetrics() = default;

void ServingMetrics::RecordRequest(std::string_view method, absl::StatusCode code,
                                   absl::Duration latency) {
  prometheus::Counter* counter;
  prometheus::Histogram* histogram;
  {
    absl::MutexLock lock(&mu_);
    auto key = std::make_pair(std::string(method), static_cast<int>(code));
    auto& c = request_counters_[key];
    if (c == nullptr) {
      c = &requests_->Add({{"method", key.first}, {"code", StatusCodeName(code)}});
    }
    counter = c;
    auto it = latency_by_method_.find(method);
    if (it == latency_by_method_.end()) {
      prometheus::Histogram* h = &latency_->Add(
          {{"method", std::string(method)}},
          prometheus::Histogram::BucketBoundaries{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                                                  0.2, 0.5, 1, 2, 5, 10});
      it = latency_by_method_.emplace(std::string(method), h).first;
    }
    histogram = it->second;
  }
  counter->Increment();
  histogram->Observe(absl::ToDoubleSeconds(latency));
}

void ServingMetrics::SetModelVersion(const std::string& model, int64_t version) {
  model_version_->Add({{"model", model}}).Set(static_cast<double>(version));
}

void ServingMetrics::OnQueueChange(int texts) { queue_depth_->Increment(texts); }

void ServingMetrics::OnBatch(int size, int padded_tokens,
                             const std::vector<absl::Duration>& queue_times) {
  batch_size_->Observe(size);
  batch_tokens_->Observe(padded_tokens);
  texts_->Increment(size);
  for (absl::Duration wait : queue_times) queue_time_->Observe(absl::ToDoubleSeconds(wait));
}

std::string ServingMetrics::Text() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace murmur::serving
