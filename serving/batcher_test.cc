#include "serving/batcher.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "serving/fake_servable.h"

namespace murmur::serving {
namespace {

constexpr absl::Duration kDelay = absl::Milliseconds(5);

// A job of sequences of the given lengths; its outcome lands in *result.
std::shared_ptr<Job> MakeJob(const std::vector<int>& lengths,
                             absl::StatusOr<std::vector<Prediction>>* result,
                             int* calls = nullptr) {
  auto job = std::make_shared<Job>();
  for (size_t i = 0; i < lengths.size(); ++i) {
    std::vector<int32_t> ids(lengths[i], 1000);
    ids[0] = 101 + static_cast<int32_t>(i);  // distinct per text, to check the order
    job->sequences.push_back(std::move(ids));
  }
  job->done = [result, calls](absl::StatusOr<std::vector<Prediction>> r) {
    *result = std::move(r);
    if (calls != nullptr) ++*calls;
  };
  return job;
}

BatcherOptions ManualOptions() {
  BatcherOptions options;
  options.start_threads = false;
  options.max_queue_delay = kDelay;
  options.max_batch_size = 4;
  options.max_tokens_per_batch = 1000;
  options.bucket_limits = {16, 32, 64};
  return options;
}

TEST(BatcherTest, WaitsForDelayUnlessBucketIsFull) {
  FakeServable servable;
  auto batcher = Batcher::Create(ManualOptions(), &servable).value();
  absl::StatusOr<std::vector<Prediction>> r1, r2;
  ASSERT_TRUE(batcher->Submit(MakeJob({10, 10}, &r1)).ok());
  const absl::Time t0 = absl::Now();
  EXPECT_EQ(batcher->RunOnce(t0), 0) << "a half-full bucket must wait for the delay";
  ASSERT_TRUE(batcher->Submit(MakeJob({12, 12, 12}, &r2)).ok());
  EXPECT_EQ(batcher->RunOnce(t0), 4) << "a full bucket goes at once";
  EXPECT_EQ(batcher->RunOnce(t0), 0);
  EXPECT_EQ(batcher->RunOnce(t0 + kDelay + absl::Seconds(1)), 1);
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(servable.batch_sizes(), (std::vector<int>{4, 1}));
}

TEST(BatcherTest, ResultsComeBackInInputOrderAcrossBatches) {
  FakeServable servable;
  auto batcher = Batcher::Create(ManualOptions(), &servable).value();
  absl::StatusOr<std::vector<Prediction>> result;
  int calls = 0;
  auto job = MakeJob({60, 5, 30, 6, 61, 7, 8, 9, 10}, &result, &calls);
  std::vector<std::vector<int32_t>> sequences = job->sequences;
  ASSERT_TRUE(batcher->Submit(job).ok());
  batcher->Stop();  // flushes everything
  ASSERT_EQ(calls, 1);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->size(), sequences.size());
  for (size_t i = 0; i < sequences.size(); ++i) {
    EXPECT_EQ((*result)[i].probabilities, servable.Expected(sequences[i]).probabilities) << i;
  }
}

TEST(BatcherTest, BucketsByLengthAndTopsUpWithShorterTexts) {
  FakeServable servable;
  auto batcher = Batcher::Create(ManualOptions(), &servable).value();
  absl::StatusOr<std::vector<Prediction>> r;
  // Three long (bucket 64), two short (bucket 16).
  ASSERT_TRUE(batcher->Submit(MakeJob({50, 10, 55, 11, 60}, &r)).ok());
  const absl::Time later = absl::Now() + absl::Seconds(1);
  // Both buckets are due with heads of the same age: the fuller (long) bucket goes first and
  // is topped up with one short text (batch size 4).
  EXPECT_EQ(batcher->RunOnce(later), 4);
  EXPECT_EQ(batcher->RunOnce(later), 1);
  EXPECT_EQ(servable.batch_sizes(), (std::vector<int>{4, 1}));
  EXPECT_EQ(servable.batch_max_lengths(), (std::vector<int>{60, 11}));
  ASSERT_TRUE(r.ok());
}

TEST(BatcherTest, LongTextsAreNotPaddedTogetherWithShortOnes) {
  BatcherOptions options = ManualOptions();
  options.max_batch_size = 8;
  FakeServable servable;
  auto batcher = Batcher::Create(options, &servable).value();
  absl::StatusOr<std::vector<Prediction>> r1, r2;
  // Short texts arrive first; a long one later must not drag them to 60 tokens.
  ASSERT_TRUE(batcher->Submit(MakeJob({8, 9, 10, 11}, &r1)).ok());
  ASSERT_TRUE(batcher->Submit(MakeJob({60}, &r2)).ok());
  const absl::Time later = absl::Now() + absl::Seconds(1);
  EXPECT_EQ(batcher->RunOnce(later), 4);
  EXPECT_EQ(servable.batch_max_lengths().front(), 11);
  EXPECT_EQ(batcher->RunOnce(later), 1);
}

TEST(BatcherTest, TokenBudgetLimitsBatch) {
  BatcherOptions options = ManualOptions();
  options.max_tokens_per_batch = 100;  // two texts of 50
  FakeServable servable;
  auto batcher = Batcher::Create(options, &servable).value();
  absl::StatusOr<std::vector<Prediction>> r;
  ASSERT_TRUE(batcher->Submit(MakeJob({50, 50, 50}, &r)).ok());
  EXPECT_EQ(batcher->RunOnce(absl::Now()), 2) << "over the token budget counts as full";
  EXPECT_EQ(batcher->RunOnce(absl::Now() + absl::Seconds(1)), 1);
  ASSERT_TRUE(r.ok());
}

TEST(BatcherTest, SingleTextOverTokenBudgetStillRuns) {
  BatcherOptions options = ManualOptions();
  options.max_tokens_per_batch = 10;
  FakeServable servable;
  auto batcher = Batcher::Create(options, &servable).value();
  absl::StatusOr<std::vector<Prediction>> r;
  ASSERT_TRUE(batcher->Submit(MakeJob({50}, &r)).ok());
  EXPECT_EQ(batcher->RunOnce(absl::Now()), 1);
  EXPECT_TRUE(r.ok());
}

TEST(BatcherTest, FullQueueRefusesAtOnceAndAdmittedJobsSucceed) {
  BatcherOptions options = ManualOptions();
  options.max_queue_size = 5;
  FakeServable servable;
  auto batcher = Batcher::Create(options, &servable).value();
  absl::StatusOr<std::vector<Prediction>> r1, r2, r3;
  int calls3 = 0;
  ASSERT_TRUE(batcher->Submit(MakeJob({5, 5, 5}, &r1)).ok());
  ASSERT_TRUE(batcher->Submit(MakeJob({5, 5}, &r2)).ok());
  absl::Status refused = batcher->Submit(MakeJob({5}, &r3, &calls3));
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_EQ(calls3, 0) << "a refused job's callback never runs";
  batcher->Stop();
  EXPECT_TRUE(r1.ok());
  EXPECT_TRUE(r2.ok());
}

TEST(BatcherTest, CancelledAndExpiredJobsAreDroppedBeforeCompute) {
  FakeServable servable;
  auto batcher = Batcher::Create(ManualOptions(), &servable).value();
  absl::StatusOr<std::vector<Prediction>> cancelled, expired, live;
  auto c = MakeJob({5, 5}, &cancelled);
  auto flag = std::make_shared<std::atomic<bool>>(false);
  c->cancelled = flag;
  auto e = MakeJob({5}, &expired);
  e->deadline = absl::Now() + absl::Milliseconds(1);
  ASSERT_TRUE(batcher->Submit(c).ok());
  ASSERT_TRUE(batcher->Submit(e).ok());
  ASSERT_TRUE(batcher->Submit(MakeJob({5}, &live)).ok());
  *flag = true;
  batcher->RunOnce(absl::Now() + absl::Seconds(1));
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(servable.batch_sizes(), (std::vector<int>{1})) << "only the live text ran";
}

TEST(BatcherTest, RejectsEmptyJobAndSubmitAfterStop) {
  FakeServable servable;
  auto batcher = Batcher::Create(ManualOptions(), &servable).value();
  absl::StatusOr<std::vector<Prediction>> r;
  EXPECT_EQ(batcher->Submit(MakeJob({}, &r)).code(), absl::StatusCode::kInvalidArgument);
  batcher->Stop();
  EXPECT_EQ(batcher->Submit(MakeJob({3}, &r)).code(), absl::StatusCode::kUnavailable);
}

TEST(BatcherTest, InvalidOptionsAreRejected) {
  FakeServable servable;
  BatcherOptions options;
  options.max_batch_size = 0;
  EXPECT_FALSE(Batcher::Create(options, &servable).ok());
  options = BatcherOptions();
  options.bucket_limits = {32, 16};
  EXPECT_FALSE(Batcher::Create(options, &servable).ok());
  EXPECT_FALSE(Batcher::Create(BatcherOptions(), nullptr).ok());
}

class CountingObserver : public BatcherObserver {
 public:
  void OnQueueChange(int texts) override { depth += texts; }
  void OnBatch(int size, int padded_tokens, const std::vector<absl::Duration>& q) override {
    texts += size;
    tokens += padded_tokens;
    waits += static_cast<int>(q.size());
  }
  std::atomic<int> depth{0}, texts{0}, tokens{0}, waits{0};
};

TEST(BatcherTest, ThreadsServeManyConcurrentJobs) {
  BatcherOptions options;
  options.num_instances = 2;
  options.max_batch_size = 8;
  FakeServable servable;
  CountingObserver observer;
  auto batcher = Batcher::Create(options, &servable, &observer).value();
  constexpr int kClients = 8, kJobsEach = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int j = 0; j < kJobsEach; ++j) {
        absl::Notification done;
        auto job = std::make_shared<Job>();
        job->sequences = {std::vector<int32_t>(5 + (c * 7 + j) % 50, 7)};
        std::vector<int32_t> ids = job->sequences[0];
        job->done = [&](absl::StatusOr<std::vector<Prediction>> r) {
          if (r.ok() && r->size() == 1 &&
              (*r)[0].probabilities == servable.Expected(ids).probabilities) {
            ++ok;
          }
          done.Notify();
        };
        ASSERT_TRUE(batcher->Submit(job).ok());
        done.WaitForNotification();
      }
    });
  }
  for (auto& t : clients) t.join();
  batcher->Stop();
  EXPECT_EQ(ok.load(), kClients * kJobsEach);
  EXPECT_EQ(observer.depth.load(), 0);
  EXPECT_EQ(observer.texts.load(), kClients * kJobsEach);
  EXPECT_EQ(observer.waits.load(), kClients * kJobsEach);
}

}  // namespace
}  // namespace murmur::serving
