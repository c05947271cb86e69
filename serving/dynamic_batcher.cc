#include "serving/dynamic_batcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace murmur::serving {
namespace {

// Whether a queued text must be dropped instead of computed, and why.
absl::Status DeadReason(const PendingRequest& request, absl::Time now) {
  if (request.cancelled != nullptr && request.cancelled->load(std::memory_order_relaxed)) {
    return absl::CancelledError("request cancelled by the client");
  }
  if (now >= request.deadline) {
    return absl::DeadlineExceededError("deadline passed while the request was queued");
  }
  return absl::OkStatus();
}

}  // namespace

bool DynamicBatcher::IsDead(const PendingRequest& request, absl::Time now) {
  return request.failed.load(std::memory_order_relaxed) || !DeadReason(request, now).ok();
}

absl::StatusOr<std::unique_ptr<DynamicBatcher>> DynamicBatcher::Create(Options options,
                                                                       const Servable* servable,
                                                                       Observer* observer) {
  if (servable == nullptr) return absl::InvalidArgumentError("batcher: servable is required");
  if (options.max_batch_size < 1 || options.max_tokens_per_batch < 1 ||
      options.max_queue_size < 1 || options.num_instances < 1 ||
      options.max_queue_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "batcher: max_batch_size, max_tokens_per_batch, max_queue_size and num_instances must "
        "be at least 1 and max_queue_delay not negative");
  }
  if (!std::is_sorted(options.bucket_limits.begin(), options.bucket_limits.end())) {
    return absl::InvalidArgumentError("batcher: bucket_limits must be ascending");
  }
  auto batcher = std::unique_ptr<DynamicBatcher>(
      new DynamicBatcher(std::move(options), servable, observer));
  if (batcher->options_.start_threads) {
    for (int i = 0; i < batcher->options_.num_instances; ++i) {
      batcher->instances_.emplace_back([b = batcher.get()] { b->InstanceLoop(); });
    }
  }
  return batcher;
}

DynamicBatcher::DynamicBatcher(Options options, const Servable* servable, Observer* observer)
    : options_(std::move(options)),
      servable_(servable),
      observer_(observer),
      buckets_(options_.bucket_limits.size() + 1) {}

DynamicBatcher::~DynamicBatcher() { Stop(); }

int DynamicBatcher::BucketOf(int length) const {
  const auto& limits = options_.bucket_limits;
  return static_cast<int>(std::lower_bound(limits.begin(), limits.end(), length) - limits.begin());
}

int DynamicBatcher::queued() const {
  absl::MutexLock lock(&mu_);
  return queued_;
}

absl::Status DynamicBatcher::Submit(std::shared_ptr<PendingRequest> request) {
  const size_t n = request->sequences.size();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("this model version is being unloaded");
    if (queued_ + n > static_cast<size_t>(options_.max_queue_size)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("queue full: ", queued_, " texts waiting, limit ", options_.max_queue_size,
                       "; retry later"));
    }
    {
      absl::MutexLock request_lock(&request->mu);
      request->results.assign(n, model::Prediction());
      request->remaining = n;
    }
    const absl::Time now = absl::Now();
    for (size_t i = 0; i < n; ++i) {
      const int length = static_cast<int>(request->sequences[i].size());
      buckets_[BucketOf(length)].push_back(
          QueuedText{request, static_cast<int>(i), length, now});
    }
    queued_ += static_cast<int>(n);
  }
  if (observer_ != nullptr) observer_->OnQueueChange(static_cast<int>(n));
  // Every instance re-evaluates: one may take this bucket while another takes a different one.
  cv_.SignalAll();
  return absl::OkStatus();
}

void DynamicBatcher::DropDeadHeads(absl::Time now, std::vector<QueuedText>* dropped) {
  for (auto& bucket : buckets_) {
    while (!bucket.empty() && IsDead(*bucket.front().request, now)) {
      dropped->push_back(std::move(bucket.front()));
      bucket.pop_front();
    }
  }
}

DynamicBatcher::Dispatch DynamicBatcher::TakeDispatch(absl::Time now, bool flush,
                                                      absl::Time* next_due) {
  Dispatch dispatch;
  *next_due = absl::InfiniteFuture();
  DropDeadHeads(now, &dispatch.dropped);

  // How many texts from the front of `bucket` fit one batch, and whether more wait behind.
  auto fits = [this](int count, int max_length, int length) {
    return count == 0 || (count < options_.max_batch_size &&
                          (count + 1) * std::max(max_length, length) <=
                              options_.max_tokens_per_batch);
  };

  int chosen = -1, chosen_count = 0;
  absl::Time oldest = absl::InfiniteFuture();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const auto& bucket = buckets_[b];
    if (bucket.empty()) continue;
    int count = 0, max_length = 0;
    bool full = false;
    for (const QueuedText& text : bucket) {
      if (!fits(count, max_length, text.length)) {
        full = true;
        break;
      }
      ++count;
      max_length = std::max(max_length, text.length);
    }
    // Also full when not even one more text as long as these would fit the token budget.
    full = full || count == options_.max_batch_size ||
           (count + 1) * max_length > options_.max_tokens_per_batch;
    const absl::Time head = bucket.front().enqueued;
    const absl::Time due = head + options_.max_queue_delay;
    if (full || flush || now >= due) {
      // The oldest head first (fairness); on a tie the fuller bucket (bigger batches).
      if (head < oldest || (head == oldest && count > chosen_count)) {
        oldest = head;
        chosen = static_cast<int>(b);
        chosen_count = count;
      }
    } else {
      *next_due = std::min(*next_due, due);
    }
  }

  if (chosen >= 0) {
    int max_length = 0;
    // The chosen bucket first, then shorter texts from the smaller buckets: they pad to the
    // batch's longest text, so they ride along at no extra cost per token.
    for (int b = chosen; b >= 0; --b) {
      auto& bucket = buckets_[b];
      while (!bucket.empty()) {
        QueuedText& text = bucket.front();
        if (IsDead(*text.request, now)) {
          dispatch.dropped.push_back(std::move(text));
          bucket.pop_front();
          continue;
        }
        if (!fits(static_cast<int>(dispatch.batch.size()), max_length, text.length)) break;
        max_length = std::max(max_length, text.length);
        dispatch.batch.push_back(std::move(text));
        bucket.pop_front();
      }
      if (static_cast<int>(dispatch.batch.size()) >= options_.max_batch_size) break;
    }
    // What stays behind may be due already; the caller loops.
    if (!buckets_[chosen].empty()) *next_due = now;
  }
  queued_ -= static_cast<int>(dispatch.batch.size() + dispatch.dropped.size());
  return dispatch;
}

void DynamicBatcher::Complete(const QueuedText& text, const model::Prediction* prediction,
                              const absl::Status& error) {
  PendingRequest& request = *text.request;
  std::function<void(absl::StatusOr<std::vector<model::Prediction>>)> done;
  absl::StatusOr<std::vector<model::Prediction>> result;
  {
    absl::MutexLock lock(&request.mu);
    if (!error.ok()) {
      if (request.error.ok()) request.error = error;
      request.failed.store(true, std::memory_order_relaxed);
    } else if (prediction != nullptr) {
      request.results[text.index] = *prediction;
    }
    if (--request.remaining > 0) return;
    if (request.error.ok()) {
      result = std::move(request.results);
    } else {
      result = request.error;
    }
    done = std::move(request.done);
  }
  if (done) done(std::move(result));
}

void DynamicBatcher::Run(Dispatch dispatch, absl::Time now) {
  const int taken = static_cast<int>(dispatch.batch.size() + dispatch.dropped.size());
  if (observer_ != nullptr && taken > 0) observer_->OnQueueChange(-taken);
  for (const QueuedText& text : dispatch.dropped) {
    // A text of an already failed request carries no new error: the request's first one stands.
    Complete(text, nullptr, DeadReason(*text.request, now));
  }
  if (dispatch.batch.empty()) return;

  std::vector<std::vector<int32_t>> sequences;
  sequences.reserve(dispatch.batch.size());
  int max_length = 0;
  std::vector<absl::Duration> queue_times;
  queue_times.reserve(dispatch.batch.size());
  for (const QueuedText& text : dispatch.batch) {
    sequences.push_back(text.request->sequences[text.index]);
    max_length = std::max(max_length, text.length);
    queue_times.push_back(now - text.enqueued);
  }
  absl::StatusOr<std::vector<model::Prediction>> predictions = servable_->Classify(sequences);
  if (predictions.ok() && predictions->size() != sequences.size()) {
    predictions = absl::InternalError(absl::StrCat("model returned ", predictions->size(),
                                                   " predictions for ", sequences.size(),
                                                   " texts"));
  }
  if (observer_ != nullptr) {
    observer_->OnBatch(static_cast<int>(sequences.size()),
                       static_cast<int>(sequences.size()) * max_length, queue_times);
  }
  for (size_t i = 0; i < dispatch.batch.size(); ++i) {
    if (predictions.ok()) {
      Complete(dispatch.batch[i], &(*predictions)[i], absl::OkStatus());
    } else {
      Complete(dispatch.batch[i], nullptr, predictions.status());
    }
  }
}

void DynamicBatcher::InstanceLoop() {
  while (true) {
    Dispatch dispatch;
    absl::Time now;
    {
      absl::MutexLock lock(&mu_);
      while (true) {
        now = absl::Now();
        absl::Time next_due;
        dispatch = TakeDispatch(now, stopping_, &next_due);
        if (!dispatch.batch.empty() || !dispatch.dropped.empty()) break;
        if (stopping_ && queued_ == 0) return;
        if (next_due == absl::InfiniteFuture()) {
          cv_.Wait(&mu_);
        } else {
          cv_.WaitWithDeadline(&mu_, next_due);
        }
      }
    }
    Run(std::move(dispatch), now);
  }
}

int DynamicBatcher::RunOnce(absl::Time now) {
  Dispatch dispatch;
  {
    absl::MutexLock lock(&mu_);
    absl::Time next_due;
    dispatch = TakeDispatch(now, stopping_, &next_due);
  }
  const int n = static_cast<int>(dispatch.batch.size() + dispatch.dropped.size());
  Run(std::move(dispatch), now);
  return n;
}

void DynamicBatcher::Stop() {
  absl::MutexLock stop_lock(&stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.SignalAll();
  for (std::thread& instance : instances_) instance.join();
  instances_.clear();
  // Manual mode (or threads that are gone): drain here.
  while (RunOnce(absl::Now()) > 0) {
  }
}

}  // namespace murmur::serving
