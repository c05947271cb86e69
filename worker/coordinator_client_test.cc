// The worker's report buffer and retry policy against the real Job state machine in this process
// (InProcessCoordinator), with outages switched on and off.
#include "worker/coordinator_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "coordinator/job.h"
#include "worker/in_process_coordinator.h"

namespace murmur::worker {
namespace {

constexpr uint64_t kSamples = 100;

class ReportBufferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    coordinator::Job::Options options;
    options.spec.set_corpus_path("/corpus");
    options.spec.set_vocab_path("/vocab.txt");
    options.spec.set_batch_per_worker(10);
    options.spec.set_gradient_accumulation(1);
    options.spec.set_epochs(1);
    options.spec.set_min_workers(1);
    options.spec.set_max_workers(4);
    options.spec.set_heartbeat_timeout_ms(5000);
    options.spec.set_collective_timeout_ms(10000);
    options.train_samples = kSamples;
    options.join_settle = absl::ZeroDuration();
    auto job = coordinator::Job::Create(std::move(options));
    ASSERT_TRUE(job.ok()) << job.status();
    job_ = *std::move(job);
    coordinator_ = std::make_unique<InProcessCoordinator>(job_.get());
    v1::JoinRequest join;
    join.set_name("w");
    auto joined = coordinator_->Join(join);
    ASSERT_TRUE(joined.ok()) << joined.status();
    worker_id_ = joined->worker_id();
    v1::RendezvousRequest rendezvous;
    rendezvous.set_worker_id(worker_id_);
    rendezvous.set_global_step(-1);
    auto formed = coordinator_->Rendezvous(rendezvous, absl::Seconds(10));
    ASSERT_TRUE(formed.ok()) << formed.status();
    generation_ = formed->generation();
  }

  v1::WindowReport Window(int64_t step) {
    v1::WindowReport report;
    report.set_worker_id(worker_id_);
    report.set_generation(generation_);
    report.set_epoch(0);
    report.set_global_step(step);
    v1::PositionRange* range = report.add_consumed();
    range->set_begin((step - 1) * 10);
    range->set_end(step * 10);
    return report;
  }

  RetryPolicy FastRetry() {
    RetryPolicy policy;
    policy.initial_backoff = absl::Milliseconds(5);
    policy.max_backoff = absl::Milliseconds(20);
    return policy;
  }

  std::unique_ptr<coordinator::Job> job_;
  std::unique_ptr<InProcessCoordinator> coordinator_;
  std::string worker_id_;
  int64_t generation_ = 0;
};

TEST_F(ReportBufferTest, ReportsWaitThroughAnOutageAndArriveInOrder) {
  ReportBuffer buffer(coordinator_.get(), FastRetry());
  coordinator_->SetReachable(false);
  for (int64_t step = 1; step <= 5; ++step) buffer.Add(Window(step));  // never blocks
  auto early = buffer.Flush(absl::Now() + absl::Milliseconds(200));
  EXPECT_EQ(early.code(), absl::StatusCode::kDeadlineExceeded) << early;
  EXPECT_EQ(buffer.pending(), 5u);
  EXPECT_EQ(job_->Status().global_step(), 0);

  coordinator_->SetReachable(true);
  ASSERT_TRUE(buffer.Flush(absl::Now() + absl::Seconds(30)).ok());
  EXPECT_EQ(buffer.pending(), 0u);
  EXPECT_EQ(buffer.delivered(), 5);
  const v1::JobStatus status = job_->Status();
  // In order: the ledger refuses gaps, so 5 recorded steps mean 1..5 arrived one after another.
  EXPECT_EQ(status.global_step(), 5);
  EXPECT_EQ(status.accounting(0).consumed(), 50);
  EXPECT_EQ(status.accounting(0).duplicated(), 0);
}

TEST_F(ReportBufferTest, ABacklogIsDeliveredInBatches) {
  ReportBuffer buffer(coordinator_.get(), FastRetry());
  coordinator_->SetReachable(false);
  for (int64_t step = 1; step <= 10; ++step) buffer.Add(Window(step));
  absl::SleepFor(absl::Milliseconds(50));
  const int64_t calls_before = coordinator_->calls();
  coordinator_->SetReachable(true);
  ASSERT_TRUE(buffer.Flush(absl::Now() + absl::Seconds(30)).ok());
  EXPECT_EQ(buffer.delivered(), 10);
  EXPECT_EQ(job_->Status().global_step(), 10);
  // One call (one journal write) for the backlog, not one per step.
  EXPECT_LE(coordinator_->calls() - calls_before, 2);
}

TEST_F(ReportBufferTest, ARepeatedDeliveryIsHarmless) {
  ReportBuffer buffer(coordinator_.get(), FastRetry());
  buffer.Add(Window(1));
  buffer.Add(Window(1));  // as when an answer is lost and the report is sent again
  buffer.Add(Window(2));
  ASSERT_TRUE(buffer.Flush(absl::Now() + absl::Seconds(30)).ok());
  EXPECT_EQ(buffer.delivered(), 3);
  EXPECT_EQ(job_->Status().global_step(), 2);
  EXPECT_EQ(job_->Status().accounting(0).consumed(), 20);
  EXPECT_EQ(job_->Status().accounting(0).duplicated(), 0);
}

TEST_F(ReportBufferTest, ARefusedReportIsReportedAndNotRetried) {
  absl::Mutex mu;
  std::vector<absl::Status> refused;
  ReportBuffer buffer(coordinator_.get(), FastRetry(), [&](const absl::Status& status) {
    absl::MutexLock lock(&mu);
    refused.push_back(status);
  });
  buffer.Add(Window(3));  // a gap: steps 1 and 2 were never reported
  buffer.Add(Window(1));
  ASSERT_TRUE(buffer.Flush(absl::Now() + absl::Seconds(30)).ok());
  absl::MutexLock lock(&mu);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].code(), absl::StatusCode::kFailedPrecondition) << refused[0];
  EXPECT_EQ(buffer.delivered(), 1);
  EXPECT_EQ(job_->Status().global_step(), 1);
}

TEST(RetryPolicyTest, RetriesOnlyWhatMaySucceedAndStopsAtTheDeadline) {
  RetryPolicy policy;
  policy.initial_backoff = absl::Milliseconds(1);
  policy.max_backoff = absl::Milliseconds(4);
  int calls = 0;
  absl::Status status = policy.Run(
      [&] {
        return ++calls < 3 ? absl::UnavailableError("down") : absl::NotFoundError("answer");
      },
      absl::Now() + absl::Seconds(30));
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);

  calls = 0;
  const absl::Time start = absl::Now();
  status = policy.Run([&] { ++calls; return absl::DeadlineExceededError("slow"); },
                      start + absl::Milliseconds(100));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GT(calls, 2);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));

  std::atomic<bool> stop{false};
  calls = 0;
  status = policy.Run(
      [&] {
        if (++calls == 2) stop = true;
        return absl::UnavailableError("down");
      },
      absl::InfiniteFuture(), [&] { return stop.load(); });
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace murmur::worker
