#include "serving/batcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace murmur::serving {
namespace {

// Whether a queued text must be dropped instead of computed, and why.
absl::Status DeadReason(const Job& job, absl::Time now) {
  if (job.cancelled != nullptr && job.cancelled->load(std::memory_order_relaxed)) {
    return absl::CancelledError("request cancelled by the client");
  }
  if (now >= job.deadline) {
    return absl::DeadlineExceededError("deadline passed while the request was queued");
  }
  return absl::OkStatus();
}

}  // namespace

bool Batcher::IsDead(const Job& job, absl::Time now) {
  return job.failed.load(std::memory_order_relaxed) || !DeadReason(job, now).ok();
}

absl::StatusOr<std::unique_ptr<Batcher>> Batcher::Create(BatcherOptions options,
                                                         const Servable* servable,
                                                         BatcherObserver* observer) {
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
  auto batcher = std::unique_ptr<Batcher>(new Batcher(std::move(options), servable, observer));
  if (batcher->options_.start_threads) {
    for (int i = 0; i < batcher->options_.num_instances; ++i) {
      batcher->instances_.emplace_back([b = batcher.get()] { b->InstanceLoop(); });
    }
  }
  return batcher;
}

Batcher::Batcher(BatcherOptions options, const Servable* servable, BatcherObserver* observer)
    : options_(std::move(options)),
      servable_(servable),
      observer_(observer),
      buckets_(options_.bucket_limits.size() + 1) {}

Batcher::~Batcher() { Stop(); }

int Batcher::BucketOf(int length) const {
  const auto& limits = options_.bucket_limits;
  return static_cast<int>(std::lower_bound(limits.begin(), limits.end(), length) - limits.begin());
}

int Batcher::queued() const {
  absl::MutexLock lock(&mu_);
  return queued_;
}

absl::Status Batcher::Submit(std::shared_ptr<Job> job) {
  const size_t n = job->sequences.size();
  if (n == 0) return absl::InvalidArgumentError("a request needs at least one text");
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("this model version is being unloaded");
    if (queued_ + n > static_cast<size_t>(options_.max_queue_size)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("queue full: ", queued_, " texts waiting, limit ", options_.max_queue_size,
                       "; retry later"));
    }
    {
      absl::MutexLock job_lock(&job->mu);
      job->results.assign(n, Prediction());
      job->remaining = n;
    }
    const absl::Time now = absl::Now();
    for (size_t i = 0; i < n; ++i) {
      const int length = static_cast<int>(job->sequences[i].size());
      buckets_[BucketOf(length)].push_back(Item{job, static_cast<int>(i), length, now});
    }
    queued_ += static_cast<int>(n);
  }
  if (observer_ != nullptr) observer_->OnQueueChange(static_cast<int>(n));
  // Every instance re-evaluates: one may take this bucket while another takes a different one.
  cv_.SignalAll();
  return absl::OkStatus();
}

void Batcher::DropDeadHeads(absl::Time now, std::vector<Item>* dropped) {
  for (auto& bucket : buckets_) {
    while (!bucket.empty() && IsDead(*bucket.front().job, now)) {
      dropped->push_back(std::move(bucket.front()));
      bucket.pop_front();
    }
  }
}

Batcher::Batch Batcher::TakeBatch(absl::Time now, bool flush, absl::Time* next_due) {
  Batch batch;
  *next_due = absl::InfiniteFuture();
  DropDeadHeads(now, &batch.dropped);

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
    for (const Item& item : bucket) {
      if (!fits(count, max_length, item.length)) {
        full = true;
        break;
      }
      ++count;
      max_length = std::max(max_length, item.length);
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
        Item& item = bucket.front();
        if (IsDead(*item.job, now)) {
          batch.dropped.push_back(std::move(item));
          bucket.pop_front();
          continue;
        }
        if (!fits(static_cast<int>(batch.items.size()), max_length, item.length)) break;
        max_length = std::max(max_length, item.length);
        batch.items.push_back(std::move(item));
        bucket.pop_front();
      }
      if (static_cast<int>(batch.items.size()) >= options_.max_batch_size) break;
    }
    // What stays behind may be due already; the caller loops.
    if (!buckets_[chosen].empty()) *next_due = now;
  }
  queued_ -= static_cast<int>(batch.items.size() + batch.dropped.size());
  return batch;
}

void Batcher::Complete(const Item& item, const Prediction* prediction,
                       const absl::Status& error) {
  Job& job = *item.job;
  std::function<void(absl::StatusOr<std::vector<Prediction>>)> done;
  absl::StatusOr<std::vector<Prediction>> result;
  {
    absl::MutexLock lock(&job.mu);
    if (!error.ok()) {
      if (job.error.ok()) job.error = error;
      job.failed.store(true, std::memory_order_relaxed);
    } else if (prediction != nullptr) {
      job.results[item.index] = *prediction;
    }
    if (--job.remaining > 0) return;
    if (job.error.ok()) {
      result = std::move(job.results);
    } else {
      result = job.error;
    }
    done = std::move(job.done);
  }
  if (done) done(std::move(result));
}

void Batcher::Run(Batch batch, absl::Time now) {
  const int taken = static_cast<int>(batch.items.size() + batch.dropped.size());
  if (observer_ != nullptr && taken > 0) observer_->OnQueueChange(-taken);
  for (const Item& item : batch.dropped) {
    // A text of an already failed job carries no new error: the job's first one stands.
    Complete(item, nullptr, DeadReason(*item.job, now));
  }
  if (batch.items.empty()) return;

  std::vector<std::vector<int32_t>> sequences;
  sequences.reserve(batch.items.size());
  int max_length = 0;
  std::vector<absl::Duration> queue_times;
  queue_times.reserve(batch.items.size());
  for (const Item& item : batch.items) {
    sequences.push_back(item.job->sequences[item.index]);
    max_length = std::max(max_length, item.length);
    queue_times.push_back(now - item.enqueued);
  }
  absl::StatusOr<std::vector<Prediction>> predictions = servable_->Classify(sequences);
  if (predictions.ok() && predictions->size() != sequences.size()) {
    predictions = absl::InternalError(absl::StrCat("model returned ", predictions->size(),
                                                   " predictions for ", sequences.size(),
                                                   " texts"));
  }
  if (observer_ != nullptr) {
    observer_->OnBatch(static_cast<int>(sequences.size()),
                       static_cast<int>(sequences.size()) * max_length, queue_times);
  }
  for (size_t i = 0; i < batch.items.size(); ++i) {
    if (predictions.ok()) {
      Complete(batch.items[i], &(*predictions)[i], absl::OkStatus());
    } else {
      Complete(batch.items[i], nullptr, predictions.status());
    }
  }
}

void Batcher::InstanceLoop() {
  while (true) {
    Batch batch;
    absl::Time now;
    {
      absl::MutexLock lock(&mu_);
      while (true) {
        now = absl::Now();
        absl::Time next_due;
        batch = TakeBatch(now, stopping_, &next_due);
        if (!batch.items.empty() || !batch.dropped.empty()) break;
        if (stopping_ && queued_ == 0) return;
        if (next_due == absl::InfiniteFuture()) {
          cv_.Wait(&mu_);
        } else {
          cv_.WaitWithDeadline(&mu_, next_due);
        }
      }
    }
    Run(std::move(batch), now);
  }
}

int Batcher::RunOnce(absl::Time now) {
  Batch batch;
  {
    absl::MutexLock lock(&mu_);
    absl::Time next_due;
    batch = TakeBatch(now, stopping_, &next_due);
  }
  const int n = static_cast<int>(batch.items.size() + batch.dropped.size());
  Run(std::move(batch), now);
  return n;
}

void Batcher::Stop() {
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
