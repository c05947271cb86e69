// The dynamic batcher in front of one model version (after Triton's dynamic_batch_scheduler and
// TF Serving's shared batch scheduler): requests' texts wait in a bounded queue, grouped into
// length buckets, and model instances take batches of up to `max_batch_size` texts and
// `max_tokens_per_batch` padded tokens. A bucket is dispatched when it fills or when its oldest
// text has waited `max_queue_delay`; a dispatch then tops the batch up with shorter texts from
// smaller buckets, which pad to the same length for free. Sorting by length this way keeps the
// padding (wasted compute) small for a servable that pads its batches: tweets are 23 tokens on
// average but up to 230. murmur's classifier pads nothing (rows are packed, attention runs per
// sequence), so the default is one bucket: more buckets only split the queue into smaller
// batches, which run less efficiently (serving/bench/run_bench.sh measures the throughput at 64
// single-tweet clients). This is the only place the serving path groups texts by length: the
// servable runs each batch as given.
//
// A PendingRequest is one request's texts. Its texts may run in different batches; `done` is
// called once, after the last one, with the predictions in input order, or with the first
// error. Texts whose request was cancelled, has failed, or whose deadline passed are dropped
// before compute.
//
// Thread-safety: Submit, Stop and RunOnce may be called from any thread. Ownership: the
// DynamicBatcher borrows `servable` and `observer`, which must outlive it; pending requests are
// shared between the caller and the queue.
#ifndef MURMUR_SERVING_DYNAMIC_BATCHER_H_
#define MURMUR_SERVING_DYNAMIC_BATCHER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "serving/servable.h"

namespace murmur::serving {

// One request's texts, already tokenized, waiting in a DynamicBatcher for its predictions.
struct PendingRequest {
  // At least one: requests are validated at the edge (ValidateTexts) before they get here.
  std::vector<std::vector<int32_t>> sequences;
  // Texts not computed by then are dropped and the request fails with DEADLINE_EXCEEDED.
  absl::Time deadline = absl::InfiniteFuture();
  // Set (by the RPC layer, which owns it) when the client cancels; the request then fails with
  // CANCELLED. May be null.
  std::shared_ptr<const std::atomic<bool>> cancelled;
  // Called exactly once (from a batcher thread, or from Stop/RunOnce's caller) unless Submit
  // refused the request. Must not call back into the batcher's Stop.
  std::function<void(absl::StatusOr<std::vector<model::Prediction>>)> done;

 private:
  friend class DynamicBatcher;
  absl::Mutex mu;
  std::vector<model::Prediction> results ABSL_GUARDED_BY(mu);
  absl::Status error ABSL_GUARDED_BY(mu);
  size_t remaining ABSL_GUARDED_BY(mu) = 0;
  std::atomic<bool> failed{false};
};

class DynamicBatcher {
 public:
  struct Options {
    // Texts per forward pass. Default 32.
    int max_batch_size = 32;
    // How long the oldest text of a bucket waits for the bucket to fill. Default 5 ms.
    absl::Duration max_queue_delay = absl::Milliseconds(5);
    // Padded tokens (texts x longest sequence) per forward pass; bounds memory and latency of a
    // batch of long texts. A single text always fits. Default 4096.
    int max_tokens_per_batch = 4096;
    // Texts waiting at most; a request that would exceed it is refused with RESOURCE_EXHAUSTED
    // at once. Default 2048.
    int max_queue_size = 2048;
    // Model instances: threads that run batches concurrently on the shared (thread-safe)
    // servable. Default 1.
    int num_instances = 1;
    // Upper bounds (in tokens, ascending) of the length buckets; longer sequences share a last
    // bucket. Default none: one bucket (see above).
    std::vector<int> bucket_limits;
    // Start the instance threads. false: nothing runs until the caller calls RunOnce (tests).
    // Default true.
    bool start_threads = true;
  };

  // Receives the batcher's measurements (implemented by ServingMetrics). Called from batcher
  // threads and Submit callers; implementations must be thread-safe.
  class Observer {
   public:
    virtual ~Observer() = default;
    // `texts` texts entered (positive) or left (negative) the queue.
    virtual void OnQueueChange(int texts) = 0;
    // A batch of `size` texts padded to `padded_tokens` in all ran; `queue_times` is how long
    // each text waited.
    virtual void OnBatch(int size, int padded_tokens,
                         const std::vector<absl::Duration>& queue_times) = 0;
  };

  static absl::StatusOr<std::unique_ptr<DynamicBatcher>> Create(Options options,
                                                                const Servable* servable,
                                                                Observer* observer = nullptr);
  // Stops (draining the queue) if Stop was not called.
  ~DynamicBatcher();
  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // Queues the request's texts (it must have at least one, see PendingRequest::sequences).
  // RESOURCE_EXHAUSTED if the queue cannot take them all, UNAVAILABLE after Stop. On error
  // `done` is not called.
  absl::Status Submit(std::shared_ptr<PendingRequest> request);

  // Refuses new requests, runs everything already queued (without waiting for buckets to fill)
  // and joins the instance threads. Idempotent.
  void Stop();

  // Manual mode (start_threads = false): forms at most one batch as if the time were `now` and
  // runs it on the calling thread. Returns the number of texts computed or dropped (0: nothing
  // was due).
  int RunOnce(absl::Time now);

  int queued() const;
  const Options& options() const { return options_; }

 private:
  // One text of a pending request, in its length bucket.
  struct QueuedText {
    std::shared_ptr<PendingRequest> request;
    int index = 0;  // into request->sequences
    int length = 0;
    absl::Time enqueued;
  };
  // What one dispatch takes off the queue.
  struct Dispatch {
    std::vector<QueuedText> batch;    // to compute, as one forward pass
    std::vector<QueuedText> dropped;  // cancelled / expired / failed: complete without compute
  };

  DynamicBatcher(Options options, const Servable* servable, Observer* observer);
  // Whether a queued text must be dropped instead of computed.
  static bool IsDead(const PendingRequest& request, absl::Time now);
  int BucketOf(int length) const;
  // Moves texts that must not run from the bucket heads to `dropped`.
  void DropDeadHeads(absl::Time now, std::vector<QueuedText>* dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The dispatch due at `now`, if any; with `flush` every non-empty bucket is due.
  // `next_due` is set to when the earliest bucket becomes due (InfiniteFuture when empty).
  Dispatch TakeDispatch(absl::Time now, bool flush, absl::Time* next_due)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Computes the batch (outside the lock) and completes its texts' requests.
  void Run(Dispatch dispatch, absl::Time now);
  void InstanceLoop();
  static void Complete(const QueuedText& text, const model::Prediction* prediction,
                       const absl::Status& error);

  const Options options_;
  const Servable* const servable_;
  Observer* const observer_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;  // signalled on Submit and Stop
  std::vector<std::deque<QueuedText>> buckets_ ABSL_GUARDED_BY(mu_);
  int queued_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> instances_;
  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_DYNAMIC_BATCHER_H_
