// Prometheus metrics of murmur-serve (prometheus-cpp): requests by method and code, request
// latency, queue time, batch size and padded tokens, texts classified, current model version,
// queue depth. Text() renders the registry in the exposition format; the server's metrics port
// (base/metrics_http_server.h) serves it.
//
// Thread-safety: all methods are thread-safe. Counters for (method, code) pairs are created on
// first use under a lock and cached, so the request path takes one short lock.
#ifndef MURMUR_SERVING_METRICS_H_
#define MURMUR_SERVING_METRICS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "serving/dynamic_batcher.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace murmur::serving {

class ServingMetrics : public DynamicBatcher::Observer {
 public:
  ServingMetrics();
  ~ServingMetrics() override;

  // One finished RPC.
  void RecordRequest(std::string_view method, absl::StatusCode code, absl::Duration latency);
  // The version a model now answers with (0: none ready).
  void SetModelVersion(const std::string& model, int64_t version);

  void OnQueueChange(int texts) override;
  void OnBatch(int size, int padded_tokens,
               const std::vector<absl::Duration>& queue_times) override;

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // The exposition text a scrape would return.
  std::string Text() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Family<prometheus::Gauge>* model_version_;
  prometheus::Histogram* queue_time_;
  prometheus::Histogram* batch_size_;
  prometheus::Histogram* batch_tokens_;
  prometheus::Counter* texts_;
  prometheus::Gauge* queue_depth_;

  absl::Mutex mu_;
  std::map<std::pair<std::string, int>, prometheus::Counter*> request_counters_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, prometheus::Histogram*, std::less<>> latency_by_method_
      ABSL_GUARDED_BY(mu_);
};

// "OK", "INVALID_ARGUMENT", ... (gRPC's spelling, as in grpc-status dashboards).
std::string StatusCodeName(absl::StatusCode code);

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_METRICS_H_
