#include "serving/dynamic_batcher.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "serving/fake_servable.h"

namespace murmur::serving {
namespace {

constexpr absl::Duration kDelay = absl::Milliseconds(5);

// A request of sequences of the given lengths; its outcome lands in *result.
std::shared_ptr<PendingRequest> MakeRequest(const std::vector<int>& lengths,
                                            absl::StatusOr<std::vector<model::Prediction>>* result,
                                            int* calls = nullptr) {
  auto request = std::make_shared<PendingRequest>();
  for (size_t i = 0; i < lengths.size(); ++i) {
    std::vector<int32_t> ids(lengths[i], 1000);
    ids[0] = 101 + static_cast<int32_t>(i);  // distinct per text, to check the order
    request->sequences.push_back(std::move(ids));
  }
  request->done = [result, calls](absl::StatusOr<std::vector<model::Prediction>> r) {
    *result = std::move(r);
    if (calls != nullptr) ++*calls;
  };
  return request;
}

DynamicBatcher::Options ManualOptions() {
  DynamicBatcher::Options options;
  options.start_threads = false;
  options.max_queue_delay = kDelay;
  options.max_batch_size = 4;
  options.max_tokens_per_batch = 1000;
  options.bucket_limits = {16, 32, 64};
  return options;
}

TEST(DynamicBatcherTest, WaitsForDelayUnlessBucketIsFull) {
  FakeServable servable;
  auto batcher = DynamicBatcher::Create(ManualOptions(), &servable).value();
  absl::StatusOr<std::vector<model::Prediction>> r1, r2;
  ASSERT_TRUE(batcher->Submit(MakeRequest({10, 10}, &r1)).ok());
  const absl::Time t0 = absl::Now();
  EXPECT_EQ(batcher->RunOnce(t0), 0) << "a half-full bucket must wait for the delay";
  ASSERT_TRUE(batcher->Submit(MakeRequest({12, 12, 12}, &r2)).ok());
  EXPECT_EQ(batcher->RunOnce(t0), 4) << "a full bucket goes at once";
  EXPECT_EQ(batcher->RunOnce(t0), 0);
  EXPECT_EQ(batcher->RunOnce(t0 + kDelay + absl::Seconds(1)), 1);
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(servable.batch_sizes(), (std::vector<int>{4, 1}));
}

TEST(DynamicBatcherTest, ResultsComeBackInInputOrderAcrossBatches) {
  FakeServable servable;
  auto batcher = DynamicBatcher::Create(ManualOptions(), &servable).value();
  absl::StatusOr<std::vector<model::Prediction>> result;
  int calls = 0;
  auto request = MakeRequest({60, 5, 30, 6, 61, 7, 8, 9, 10}, &result, &calls);
  std::vector<std::vector<int32_t>> sequences = request->sequences;
  ASSERT_TRUE(batcher->Submit(request).ok());
  batcher->Stop();  // flushes everything
  ASSERT_EQ(calls, 1);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->size(), sequences.size());
  for (size_t i = 0; i < sequences.size(); ++i) {
    EXPECT_EQ((*result)[i].probabilities, servable.Expected(sequences[i]).probabilities) << i;
  }
}

TEST(DynamicBatcherTest, BucketsByLengthAndTopsUpWithShorterTexts) {
  FakeServable servable;
  auto batcher = DynamicBatcher::Create(ManualOptions(), &servable).value();
  absl::StatusOr<std::vector<model::Prediction>> r;
  // Three long (bucket 64), two short (bucket 16).
  ASSERT_TRUE(batcher->Submit(MakeRequest({50, 10, 55, 11, 60}, &r)).ok());
  const absl::Time later = absl::Now() + absl::Seconds(1);
  // Both buckets are due with heads of the same age: the fuller (long) bucket goes first and
  // is topped up with one short text (batch size 4).
  EXPECT_EQ(batcher->RunOnce(later), 4);
  EXPECT_EQ(batcher->RunOnce(later), 1);
  EXPECT_EQ(servable.batch_sizes(), (std::vector<int>{4, 1}));
  EXPECT_EQ(servable.batch_max_lengths(), (std::vector<int>{60, 11}));
  ASSERT_TRUE(r.ok());
}

TEST(DynamicBatcherTest, LongTextsAreNotPaddedTogetherWithShortOnes) {
  DynamicBatcher::Options options = ManualOptions();
  options.max_batch_size = 8;
  FakeServable servable;
  auto batcher = DynamicBatcher::Create(options, &servable).value();
  absl::StatusOr<std::vector<model::Prediction>> r1, r2;
  // Short texts arrive first; a long one later must not drag them to 60 tokens.
  ASSERT_TRUE(batcher->Submit(MakeRequest({8, 9, 10, 11}, &r1)).ok());
  ASSERT_TRUE(batcher->Submit(MakeRequest({60}, &r2)).ok());
  const absl::Time later = absl::Now() + absl::Seconds(1);
  EXPECT_EQ(batcher->RunOnce(later), 4);
  EXPECT_EQ(servable.batch_max_lengths().front(), 11);
  EXPECT_EQ(batcher->RunOnce(later), 1);
}

TEST(DynamicBatcherTest, TokenBudgetLimitsBatch) {
  DynamicBatcher::Options options = ManualOptions();
  options.max_tokens_per_batch = 100;  // two texts of 50
  FakeServable servable;
  auto batcher = DynamicBatcher::Create(options, &servable).value();
  absl::StatusOr<std::vector<model::Prediction>> r;
  ASSERT_TRUE(batcher->Submit(MakeRequest({50, 50, 50}, &r)).ok());
  EXPECT_EQ(batcher->RunOnce(absl::Now()), 2) << "over the token budget counts as full";
  EXPECT_EQ(batcher->RunOnce(absl::Now() + absl::Seconds(1)), 1);
  ASSERT_TRUE(r.ok());
}

TEST(DynamicBatcherTest, SingleTextOverTokenBudgetStillRuns) {
  DynamicBatcher::Options options = ManualOptions();
  options.max_tokens_per_batch = 10;
  FakeServable servable;
  auto batcher = DynamicBatcher::Create(options, &servable).value();
  absl::StatusOr<std::vector<model::Prediction>> r;
  ASSERT_TRUE(batcher->Submit(MakeRequest({50}, &r)).ok());
  EXPECT_EQ(batcher->RunOnce(absl::Now()), 1);
  EXPECT_TRUE(r.ok());
}

TEST(DynamicBatcherTest, FullQueueRefusesAtOnceAndAdmittedRequestsSucceed) {
  DynamicBatcher::Options options = ManualOptions();
  options.max_queue_size = 5;
  FakeServable servable;
  auto batcher = DynamicBatcher::Create(options, &servable).value();
  absl::StatusOr<std::vector<model::Prediction>> r1, r2, r3;
  int calls3 = 0;
  ASSERT_TRUE(batcher->Submit(MakeRequest({5, 5, 5}, &r1)).ok());
  ASSERT_TRUE(batcher->Submit(MakeRequest({5, 5}, &r2)).ok());
  absl::Status refused = batcher->Submit(MakeRequest({5}, &r3, &calls3));
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_EQ(calls3, 0) << "a refused request's callback never runs";
  batcher->Stop();
  EXPECT_TRUE(r1.ok());
  EXPECT_TRUE(r2.ok());
}

TEST(DynamicBatcherTest, CancelledAndExpiredRequestsAreDroppedBeforeCompute) {
  FakeServable servable;
  auto batcher = DynamicBatcher::Create(ManualOptions(), &servable).value();
  absl::StatusOr<std::vector<model::Prediction>> cancelled, expired, live;
  auto c = MakeRequest({5, 5}, &cancelled);
  auto flag = std::make_shared<std::atomic<bool>>(false);
  c->cancelled = flag;
  auto e = MakeRequest({5}, &expired);
  e->deadline = absl::Now() + absl::Milliseconds(1);
  ASSERT_TRUE(batcher->Submit(c).ok());
  ASSERT_TRUE(batcher->Submit(e).ok());
  ASSERT_TRUE(batcher->Submit(MakeRequest({5}, &live)).ok());
  *flag = true;
  batcher->RunOnce(absl::Now() + absl::Seconds(1));
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(servable.batch_sizes(), (std::vector<int>{1})) << "only the live text ran";
}

// An empty request never gets here: ValidateTexts refuses it at the edge (validation_test,
// server_test).
TEST(DynamicBatcherTest, RefusesSubmitAfterStop) {
  FakeServable servable;
  auto batcher = DynamicBatcher::Create(ManualOptions(), &servable).value();
  absl::StatusOr<std::vector<model::Prediction>> r;
  batcher->Stop();
  EXPECT_EQ(batcher->Submit(MakeRequest({3}, &r)).code(), absl::StatusCode::kUnavailable);
}

TEST(DynamicBatcherTest, InvalidOptionsAreRejected) {
  FakeServable servable;
  DynamicBatcher::Options options;
  options.max_batch_size = 0;
  EXPECT_FALSE(DynamicBatcher::Create(options, &servable).ok());
  options = DynamicBatcher::Options();
  options.bucket_limits = {32, 16};
  EXPECT_FALSE(DynamicBatcher::Create(options, &servable).ok());
  EXPECT_FALSE(DynamicBatcher::Create(DynamicBatcher::Options(), nullptr).ok());
}

class CountingObserver : public DynamicBatcher::Observer {
 public:
  void OnQueueChange(int texts) override { depth += texts; }
  void OnBatch(int size, int padded_tokens, const std::vector<absl::Duration>& q) override {
    texts += size;
    tokens += padded_tokens;
    waits += static_cast<int>(q.size());
  }
  std::atomic<int> depth{0}, texts{0}, tokens{0}, waits{0};
};

TEST(DynamicBatcherTest, ThreadsServeManyConcurrentRequests) {
  DynamicBatcher::Options options;
  options.num_instances = 2;
  options.max_batch_size = 8;
  FakeServable servable;
  CountingObserver observer;
  auto batcher = DynamicBatcher::Create(options, &servable, &observer).value();
  constexpr int kClients = 8, kRequestsEach = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int j = 0; j < kRequestsEach; ++j) {
        absl::Notification done;
        auto request = std::make_shared<PendingRequest>();
        request->sequences = {std::vector<int32_t>(5 + (c * 7 + j) % 50, 7)};
        std::vector<int32_t> ids = request->sequences[0];
        request->done = [&](absl::StatusOr<std::vector<model::Prediction>> r) {
          if (r.ok() && r->size() == 1 &&
              (*r)[0].probabilities == servable.Expected(ids).probabilities) {
            ++ok;
          }
          done.Notify();
        };
        ASSERT_TRUE(batcher->Submit(request).ok());
        done.WaitForNotification();
      }
    });
  }
  for (auto& t : clients) t.join();
  batcher->Stop();
  EXPECT_EQ(ok.load(), kClients * kRequestsEach);
  EXPECT_EQ(observer.depth.load(), 0);
  EXPECT_EQ(observer.texts.load(), kClients * kRequestsEach);
  EXPECT_EQ(observer.waits.load(), kClients * kRequestsEach);
}

}  // namespace
}  // namespace murmur::serving
