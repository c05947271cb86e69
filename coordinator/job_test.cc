// The job state machine without gRPC: registry, failure detection on a fake clock, generation
// formation (min/max/standby, settle periods), ranks and state sources, sample accounting,
// checkpoints and the journal.
#include "coordinator/job.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <future>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/test_util.h"
#include "coordinator/clock.h"

namespace murmur::coordinator {
namespace {

using data::PositionSet;

constexpr uint64_t kSamples = 100;

// A directory no earlier run used (outside Bazel TempDir() is a shared /tmp).
std::string FreshDir(const std::string& name) {
  return absl::StrCat(murmur::testing::TempDir(), "/", name, "-", getpid(), "-",
                      absl::ToUnixNanos(absl::Now()));
}

class JobTest : public ::testing::Test {
 protected:
  // batch 10 per worker, 1 epoch of 100 samples, 5 s heartbeat timeout.
  Job::Options MakeOptions() {
    Job::Options options;
    options.spec.set_corpus_path("/corpus");
    options.spec.set_vocab_path("/vocab.txt");
    options.spec.set_batch_per_worker(10);
    options.spec.set_gradient_accumulation(1);
    options.spec.set_epochs(1);
    options.spec.set_min_workers(1);
    options.spec.set_max_workers(64);
    options.spec.set_heartbeat_timeout_ms(5000);
    options.spec.set_collective_timeout_ms(10000);
    options.train_samples = kSamples;
    options.validation_samples = 25;
    options.clock = &clock_;
    options.join_settle = absl::ZeroDuration();
    return options;
  }

  void Start(Job::Options options) {
    auto job = Job::Create(std::move(options));
    ASSERT_TRUE(job.ok()) << job.status();
    job_ = *std::move(job);
  }

  std::string Join(const std::string& name = "w") {
    v1::JoinRequest request;
    request.set_name(name);
    request.set_host("127.0.0.1");
    auto response = job_->Join(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->worker_id() : "";
  }

  // A Rendezvous call on its own thread (it blocks until the generation forms).
  std::future<absl::StatusOr<v1::RendezvousResponse>> RendezvousAsync(
      const std::string& id, int64_t last_generation, int64_t step,
      absl::Duration max_wait = absl::Seconds(60)) {
    return std::async(std::launch::async, [=] {
      v1::RendezvousRequest request;
      request.set_worker_id(id);
      request.set_last_generation(last_generation);
      request.set_global_step(step);
      // A worker with state trained it in the generation it last belonged to.
      request.set_state_generation(step >= 0 ? last_generation : 0);
      return job_->Rendezvous(request, max_wait);
    });
  }

  // Waits (real time, generously) until `id` is blocked in Rendezvous. The state machine's
  // decisions must not depend on thread timing, so tests sequence arrivals with this.
  void AwaitArrival(const std::string& id) {
    const absl::Time end = absl::Now() + absl::Seconds(30);
    while (absl::Now() < end) {
      for (const std::string& waiting : job_->WaitingWorkers()) {
        if (waiting == id) return;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    ADD_FAILURE() << id << " never arrived";
  }

  // a forms generation 1 alone (join_settle 0), then b wants in: generation 2 forms with a as
  // rank 0 (at `a_step`, its state's progress) and b as rank 1.
  void FormTwoWorkerGeneration(const std::string& a, const std::string& b, int64_t a_step = -1) {
    ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());
    auto rb = RendezvousAsync(b, 0, -1);
    AwaitArrival(b);
    ASSERT_TRUE(RendezvousAsync(a, 1, a_step).get().ok());
    ASSERT_TRUE(rb.get().ok());
  }

  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const std::string& id, int64_t generation,
                                                  int64_t step = 0) {
    v1::HeartbeatRequest request;
    request.set_worker_id(id);
    request.set_generation(generation);
    request.set_global_step(step);
    request.set_samples_per_second(100);
    return job_->Heartbeat(request);
  }

  absl::Status Report(const std::string& id, int64_t generation, int64_t step, int32_t epoch,
                      uint64_t begin, uint64_t end) {
    v1::WindowReport report;
    report.set_worker_id(id);
    report.set_generation(generation);
    report.set_global_step(step);
    report.set_epoch(epoch);
    report.set_loss(0.5);
    ToRanges(PositionSet::Range(begin, end), report.mutable_consumed());
    return job_->ReportWindow(report);
  }

  absl::Status ReportCheckpoint(const std::string& id, int64_t generation, const std::string& path,
                                int64_t step, double accuracy = -1) {
    v1::CheckpointReport report;
    report.set_worker_id(id);
    report.set_generation(generation);
    report.set_path(path);
    report.set_global_step(step);
    if (accuracy >= 0) {
      report.mutable_metrics()->set_accuracy(accuracy);
      report.mutable_metrics()->set_global_step(step);
    }
    return job_->ReportCheckpoint(report);
  }

  v1::WorkerState StateOf(const std::string& id) {
    const v1::JobStatus status = job_->Status();
    for (const v1::WorkerStatus& worker : status.workers()) {
      if (worker.worker_id() == id) return worker.state();
    }
    return v1::WORKER_STATE_UNSPECIFIED;
  }

  int CountEvents(const std::string& kind) {
    int count = 0;
    const journal::State state = job_->JournalState();
    for (const v1::JobEvent& event : state.events()) count += event.kind() == kind;
    return count;
  }

  FakeClock clock_;
  std::unique_ptr<Job> job_;
};

TEST_F(JobTest, SingleWorkerFormsFirstGenerationWithWholeEpoch) {
  Start(MakeOptions());
  const std::string a = Join();
  auto response = RendezvousAsync(a, 0, -1).get();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->generation(), 1);
  EXPECT_EQ(response->rank(), 0);
  EXPECT_EQ(response->world_size(), 1);
  EXPECT_EQ(response->state_source_rank(), -1);
  EXPECT_EQ(response->global_step(), 0);
  EXPECT_EQ(response->store_prefix(), "gen-1/");
  EXPECT_EQ(response->plan().epoch(), 0);
  EXPECT_EQ(ToPositionSet(response->plan().remaining()), PositionSet::Range(0, kSamples));
  EXPECT_TRUE(response->resume_checkpoint().empty());
  EXPECT_EQ(StateOf(a), v1::WORKER_ACTIVE);
  EXPECT_EQ(job_->Status().state(), v1::JOB_RUNNING);
}

TEST_F(JobTest, WorkersStartingTogetherFormOneGenerationAfterJoinSettle) {
  Job::Options options = MakeOptions();
  options.join_settle = absl::Seconds(1);
  Start(options);
  const std::string a = Join("a");
  const std::string b = Join("b");
  auto ra = RendezvousAsync(a, 0, -1);
  AwaitArrival(a);
  auto rb = RendezvousAsync(b, 0, -1);
  AwaitArrival(b);
  job_->Tick();  // settle period not over: nothing forms
  EXPECT_EQ(ra.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  clock_.Advance(absl::Seconds(1));
  job_->Tick();
  auto responses = std::vector<absl::StatusOr<v1::RendezvousResponse>>{ra.get(), rb.get()};
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(responses[i].ok()) << responses[i].status();
    EXPECT_EQ(responses[i]->generation(), 1);
    EXPECT_EQ(responses[i]->world_size(), 2);
    EXPECT_EQ(responses[i]->rank(), i);  // join order
  }
}

TEST_F(JobTest, BelowMinimumTheJobWaitsAndResumesWhenWorkersReturn) {
  Job::Options options = MakeOptions();
  options.spec.set_min_workers(2);
  Start(options);
  const std::string a = Join();
  auto alone = RendezvousAsync(a, 0, -1, absl::Milliseconds(200)).get();
  EXPECT_EQ(alone.status().code(), absl::StatusCode::kUnavailable) << alone.status();
  EXPECT_EQ(job_->Status().state(), v1::JOB_WAITING);
  EXPECT_EQ(CountEvents("paused"), 1);

  auto ra = RendezvousAsync(a, 0, -1);
  AwaitArrival(a);
  const std::string b = Join();
  auto rb = RendezvousAsync(b, 0, -1);
  ASSERT_TRUE(ra.get().ok());
  auto response = rb.get();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->world_size(), 2);
  EXPECT_EQ(job_->Status().state(), v1::JOB_RUNNING);
  EXPECT_EQ(CountEvents("resumed"), 1);
}

TEST_F(JobTest, WorkersBeyondMaxWaitAsStandbysAndReplaceTheDead) {
  Job::Options options = MakeOptions();
  options.spec.set_max_workers(2);
  Start(options);
  const std::string a = Join(), b = Join(), c = Join();
  ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());  // join_settle 0: forms alone  // join_settle 0: a forms generation 1 alone
  auto rb = RendezvousAsync(b, 0, -1);
  // b wants in: generation 2 is announced; a learns it from its heartbeat and regroups.
  AwaitArrival(b);
  // a trained and reported steps 1..3 (the ledger knows them, so a is a state source).
  for (int step = 1; step <= 3; ++step) {
    ASSERT_TRUE(Report(a, 1, step, 0, (step - 1) * 10, step * 10).ok());
  }
  auto heartbeat = Heartbeat(a, 1, 3);
  ASSERT_TRUE(heartbeat.ok());
  EXPECT_EQ(heartbeat->generation(), 2);
  auto ra2 = RendezvousAsync(a, 1, 3);
  auto gen2_a = ra2.get();
  auto gen2_b = rb.get();
  ASSERT_TRUE(gen2_a.ok() && gen2_b.ok());
  EXPECT_EQ(gen2_a->generation(), 2);
  EXPECT_EQ(gen2_a->rank(), 0);
  EXPECT_EQ(gen2_b->rank(), 1);
  EXPECT_EQ(gen2_a->state_source_rank(), 0);
  EXPECT_EQ(gen2_a->global_step(), 3);

  // c is a standby: no generation change, its poll ends UNAVAILABLE.
  auto standby = RendezvousAsync(c, 0, -1, absl::Milliseconds(200)).get();
  EXPECT_EQ(standby.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(standby.status().message().find("standby"), std::string::npos);
  EXPECT_EQ(StateOf(c), v1::WORKER_STANDBY);
  EXPECT_EQ(job_->announced_generation(), 2);

  ASSERT_TRUE(Report(b, 2, 4, 0, 30, 50).ok());
  ASSERT_TRUE(Report(b, 2, 5, 0, 50, 70).ok());
  // a dies: c takes its place; b keeps its relative order (rank 0 now).
  clock_.Advance(absl::Seconds(3));
  ASSERT_TRUE(Heartbeat(b, 2, 5).ok());
  ASSERT_TRUE(Heartbeat(c, 0).ok());
  clock_.Advance(absl::Seconds(3));
  job_->Tick();
  EXPECT_EQ(StateOf(a), v1::WORKER_DEAD);
  EXPECT_EQ(StateOf(b), v1::WORKER_ACTIVE);
  EXPECT_EQ(job_->announced_generation(), 3);
  auto rc = RendezvousAsync(c, 0, -1);
  auto rb3 = RendezvousAsync(b, 2, 5);
  auto gen3_b = rb3.get();
  auto gen3_c = rc.get();
  ASSERT_TRUE(gen3_b.ok() && gen3_c.ok()) << gen3_b.status() << gen3_c.status();
  EXPECT_EQ(gen3_b->generation(), 3);
  EXPECT_EQ(gen3_b->rank(), 0);
  EXPECT_EQ(gen3_c->rank(), 1);
  EXPECT_EQ(gen3_c->world_size(), 2);
  EXPECT_EQ(gen3_c->state_source_rank(), 0);
  EXPECT_EQ(gen3_c->global_step(), 5);
}

TEST_F(JobTest, MissedHeartbeatsKillOnlyTheSilentWorker) {
  Start(MakeOptions());
  const std::string a = Join(), b = Join();
  clock_.Advance(absl::Seconds(4));
  ASSERT_TRUE(Heartbeat(a, 0).ok());
  clock_.Advance(absl::Seconds(2));  // b: 6 s silent, a: 2 s
  job_->Tick();
  EXPECT_EQ(StateOf(a), v1::WORKER_STANDBY);
  EXPECT_EQ(StateOf(b), v1::WORKER_DEAD);
  EXPECT_EQ(CountEvents("worker_dead"), 1);
  auto late = Heartbeat(b, 0);
  // ABORTED: its membership is over; the retry that works is a new Join.
  EXPECT_EQ(late.status().code(), absl::StatusCode::kAborted);
  EXPECT_NE(late.status().message().find("Join again"), std::string::npos);
}

TEST_F(JobTest, WorkerBlockedInRendezvousIsAlive) {
  Job::Options options = MakeOptions();
  options.spec.set_min_workers(2);
  Start(options);
  const std::string a = Join();
  auto ra = RendezvousAsync(a, 0, -1, absl::Seconds(2));
  AwaitArrival(a);
  clock_.Advance(absl::Seconds(60));
  job_->Tick();
  EXPECT_EQ(StateOf(a), v1::WORKER_STANDBY);
  EXPECT_EQ(ra.get().status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(JobTest, EverySampleOnceAcrossAWorkerDeath) {
  Start(MakeOptions());
  const std::string a = Join(), b = Join();
  ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());  // join_settle 0: forms alone
  auto rb = RendezvousAsync(b, 0, -1);
  AwaitArrival(b);
  auto ra2 = RendezvousAsync(a, 1, 0);
  ASSERT_TRUE(ra2.get().ok());
  ASSERT_TRUE(rb.get().ok());
  // Generation 2, world 2, window 20: every member reports every step; duplicates ignored.
  for (int step = 1; step <= 2; ++step) {
    for (const std::string& id : {a, b}) {
      ASSERT_TRUE(Report(id, 2, step, 0, (step - 1) * 20, step * 20).ok());
    }
  }
  // b dies.
  clock_.Advance(absl::Seconds(3));
  ASSERT_TRUE(Heartbeat(a, 2, 2).ok());
  clock_.Advance(absl::Seconds(3));
  job_->Tick();
  ASSERT_EQ(StateOf(b), v1::WORKER_DEAD);
  auto survivor = RendezvousAsync(a, 2, 2).get();
  ASSERT_TRUE(survivor.ok()) << survivor.status();
  EXPECT_EQ(survivor->generation(), 3);
  EXPECT_EQ(survivor->world_size(), 1);
  EXPECT_EQ(survivor->global_step(), 2);
  EXPECT_EQ(ToPositionSet(survivor->plan().remaining()), PositionSet::Range(40, kSamples));
  // World 1, window 10: steps 3..8.
  for (int step = 3; step <= 8; ++step) {
    ASSERT_TRUE(Report(a, 3, step, 0, 40 + (step - 3) * 10, 40 + (step - 2) * 10).ok());
  }
  const v1::JobStatus status = job_->Status();
  ASSERT_EQ(status.accounting_size(), 1);
  EXPECT_EQ(status.accounting(0).consumed(), static_cast<int64_t>(kSamples));
  EXPECT_EQ(status.accounting(0).duplicated(), 0);
  EXPECT_TRUE(status.accounting(0).complete());
  // Every sample is trained, but the job waits for the final checkpoint.
  EXPECT_EQ(status.state(), v1::JOB_RUNNING);
  ASSERT_TRUE(ReportCheckpoint(a, 3, "/c/final", 8, 0.7).ok());
  EXPECT_EQ(job_->Status().state(), v1::JOB_FINISHED);
  auto heartbeat = Heartbeat(a, 3, 8);
  ASSERT_TRUE(heartbeat.ok());
  EXPECT_TRUE(heartbeat->job_finished());
  auto after = RendezvousAsync(a, 3, 8).get();
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->job_finished());
}

TEST_F(JobTest, DoubleConsumptionIsCountedNotHidden) {
  Start(MakeOptions());
  const std::string a = Join();
  ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());
  ASSERT_TRUE(Report(a, 1, 1, 0, 0, 10).ok());
  ASSERT_TRUE(Report(a, 1, 1, 0, 0, 10).ok());  // same step again: ignored
  ASSERT_TRUE(Report(a, 1, 2, 0, 5, 15).ok());  // a different step re-reading 5..10
  EXPECT_EQ(job_->Status().accounting(0).duplicated(), 5);
  EXPECT_EQ(job_->Status().accounting(0).consumed(), 15);
}

TEST_F(JobTest, BadRequestsGetClearErrors) {
  Start(MakeOptions());
  const std::string a = Join();
  EXPECT_EQ(Heartbeat("w-999", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Report("w-999", 1, 1, 0, 0, 10).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(job_->DrainWorker("w-999").code(), absl::StatusCode::kNotFound);
  v1::LeaveRequest leave;
  leave.set_worker_id("w-999");
  EXPECT_EQ(job_->Leave(leave).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());
  EXPECT_EQ(Report(a, 0, 1, 0, 0, 10).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Report(a, 7, 1, 0, 0, 10).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Report(a, 1, 1, 3, 0, 10).code(), absl::StatusCode::kInvalidArgument);  // epoch
  EXPECT_EQ(Report(a, 1, 1, 0, 95, 105).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Heartbeat(a, 9).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(job_->SetWorkerLimits(5, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(job_->SetWorkerLimits(-1, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReportCheckpoint(a, 1, "", 1).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(JobTest, StaleGenerationIsRejectedAfterARegroupWithoutTheWorker) {
  Job::Options options = MakeOptions();
  options.rendezvous_settle = absl::Seconds(20);
  Start(options);
  const std::string a = Join(), b = Join();
  ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());  // join_settle 0: forms alone
  auto rb = RendezvousAsync(b, 0, -1);
  AwaitArrival(b);
  ASSERT_TRUE(RendezvousAsync(a, 1, 0).get().ok());
  ASSERT_TRUE(rb.get().ok());  // generation 2: a, b
  // c joins; a and c rendezvous for generation 3, b keeps heartbeating but never comes.
  const std::string c = Join();
  auto rc = RendezvousAsync(c, 0, -1);
  AwaitArrival(c);
  auto ra3 = RendezvousAsync(a, 2, 4);
  AwaitArrival(a);
  ASSERT_TRUE(Heartbeat(b, 2, 4).ok());  // during the pending generation: fine
  clock_.Advance(absl::Seconds(4));
  ASSERT_TRUE(Heartbeat(b, 2, 4).ok());
  clock_.Advance(absl::Seconds(4));
  ASSERT_TRUE(Heartbeat(b, 2, 4).ok());
  clock_.Advance(absl::Seconds(4));
  ASSERT_TRUE(Heartbeat(b, 2, 4).ok());
  clock_.Advance(absl::Seconds(4));
  ASSERT_TRUE(Heartbeat(b, 2, 4).ok());
  clock_.Advance(absl::Seconds(4));  // 20 s since the announcement
  ASSERT_TRUE(Heartbeat(b, 2, 4).ok());
  job_->Tick();
  auto gen3 = ra3.get();
  ASSERT_TRUE(gen3.ok()) << gen3.status();
  EXPECT_EQ(gen3->generation(), 3);
  EXPECT_EQ(gen3->world_size(), 2);
  ASSERT_TRUE(rc.get().ok());
  EXPECT_EQ(StateOf(b), v1::WORKER_STANDBY);
  auto stale = Heartbeat(b, 2, 4);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.status().message().find("current generation 3"), std::string::npos);
  EXPECT_EQ(Report(b, 2, 5, 0, 0, 10).code(), absl::StatusCode::kFailedPrecondition);
  // b comes back through Rendezvous: generation 4 with all three, b last.
  auto rb4 = RendezvousAsync(b, 2, 4);
  AwaitArrival(b);
  auto ra4 = RendezvousAsync(a, 3, 4);
  auto rc4 = RendezvousAsync(c, 3, 4);
  auto gen4 = rb4.get();
  ASSERT_TRUE(gen4.ok()) << gen4.status();
  EXPECT_EQ(gen4->generation(), 4);
  EXPECT_EQ(gen4->rank(), 2);
  EXPECT_EQ(ra4.get()->rank(), 0);
  EXPECT_EQ(rc4.get()->rank(), 1);
}

TEST_F(JobTest, AMemberWhoseCollectiveFailedForcesARegroup) {
  Start(MakeOptions());
  const std::string a = Join();
  ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());
  for (int step = 1; step <= 7; ++step) {
    ASSERT_TRUE(Report(a, 1, step, 0, (step - 1) * 10, step * 10).ok());
  }
  auto again = RendezvousAsync(a, 1, 7).get();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->generation(), 2);
  EXPECT_EQ(again->state_source_rank(), 0);
  EXPECT_EQ(again->global_step(), 7);
}

TEST_F(JobTest, DrainedWorkerIsToldAndTheOthersRegroup) {
  Start(MakeOptions());
  const std::string a = Join(), b = Join();
  FormTwoWorkerGeneration(a, b, /*a_step=*/0);
  ASSERT_TRUE(job_->DrainWorker(a).ok());
  auto heartbeat = Heartbeat(a, 2, 3);
  ASSERT_TRUE(heartbeat.ok());
  EXPECT_TRUE(heartbeat->drain());
  EXPECT_EQ(heartbeat->generation(), 3);
  EXPECT_EQ(StateOf(a), v1::WORKER_DRAINING);
  EXPECT_EQ(RendezvousAsync(a, 2, 3).get().status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto survivor = RendezvousAsync(b, 2, 3).get();
  ASSERT_TRUE(survivor.ok());
  EXPECT_EQ(survivor->world_size(), 1);
  EXPECT_EQ(survivor->rank(), 0);
  v1::LeaveRequest leave;
  leave.set_worker_id(a);
  leave.set_reason("drained");
  ASSERT_TRUE(job_->Leave(leave).ok());
  EXPECT_EQ(StateOf(a), v1::WORKER_LEFT);
  EXPECT_EQ(Heartbeat(a, 2).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(job_->announced_generation(), 3);  // leaving as a non-member changes nothing
}

TEST_F(JobTest, AWorkerThatGivesUpFailsTheJobAndTheFailureIsJournaled) {
  Job::Options options = MakeOptions();
  options.journal_dir = FreshDir("journal_failed");
  Start(options);
  const std::string a = Join(), b = Join();
  FormTwoWorkerGeneration(a, b, /*a_step=*/0);
  ASSERT_TRUE(Report(a, 2, 1, 0, 0, 20).ok());
  // A worker that merely leaves (drained, done) fails nothing.
  v1::LeaveRequest leave;
  leave.set_worker_id(b);
  leave.set_reason("drained");
  ASSERT_TRUE(job_->Leave(leave).ok());
  EXPECT_EQ(job_->Status().state(), v1::JOB_RUNNING);
  leave.set_worker_id(a);
  leave.set_reason("training failed 4 times in a row at step 1 (max_restarts 3): disk full");
  leave.set_training_failed(true);
  ASSERT_TRUE(job_->Leave(leave).ok());
  const v1::JobStatus status = job_->Status();
  EXPECT_EQ(status.state(), v1::JOB_FAILED);
  EXPECT_NE(status.message().find("gave up at step 1"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("disk full"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find(a), std::string::npos) << status.message();
  EXPECT_EQ(CountEvents("failed"), 1);
  EXPECT_EQ(CountEvents("finished"), 0);
  // Workers still in the job hear that it is over, and why.
  const std::string c = Join();
  auto late = RendezvousAsync(c, 0, -1).get();
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_TRUE(late->job_finished());
  EXPECT_NE(late->job_failure().find("disk full"), std::string::npos);
  // A restarted coordinator does not take the job up again.
  job_.reset();
  Start(options);
  EXPECT_EQ(job_->Status().state(), v1::JOB_FAILED);
  EXPECT_EQ(job_->Status().message(), status.message());
  auto after_restart = RendezvousAsync(Join(), 0, -1).get();
  ASSERT_TRUE(after_restart.ok());
  EXPECT_EQ(after_restart->job_failure(), late->job_failure());
}

TEST_F(JobTest, RaisingMaxLetsAStandbyIn) {
  Job::Options options = MakeOptions();
  options.spec.set_max_workers(1);
  Start(options);
  const std::string a = Join(), b = Join();
  ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());
  auto rb = RendezvousAsync(b, 0, -1);
  AwaitArrival(b);
  EXPECT_EQ(job_->announced_generation(), 1);
  auto status = job_->SetWorkerLimits(0, 2);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->max_workers(), 2);
  EXPECT_EQ(status->min_workers(), 1);
  EXPECT_EQ(job_->announced_generation(), 2);
  ASSERT_TRUE(RendezvousAsync(a, 1, 2).get().ok());
  auto gen2 = rb.get();
  ASSERT_TRUE(gen2.ok());
  EXPECT_EQ(gen2->world_size(), 2);
  EXPECT_EQ(gen2->rank(), 1);
  // Lowering max drops the highest rank back to standby.
  ASSERT_TRUE(job_->SetWorkerLimits(0, 1).ok());
  auto ra3 = RendezvousAsync(a, 2, 3);
  auto gen3 = ra3.get();
  ASSERT_TRUE(gen3.ok());
  EXPECT_EQ(gen3->world_size(), 1);
  EXPECT_EQ(StateOf(b), v1::WORKER_STANDBY);
}

TEST_F(JobTest, AllWorkersLostResumesFromTheLatestCheckpointWithItsAccounting) {
  Start(MakeOptions());
  const std::string a = Join();
  ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());
  ASSERT_TRUE(Report(a, 1, 1, 0, 0, 10).ok());
  ASSERT_TRUE(Report(a, 1, 2, 0, 10, 20).ok());
  ASSERT_TRUE(ReportCheckpoint(a, 1, "/ckpt/step-2", 2, 0.7).ok());
  ASSERT_TRUE(Report(a, 1, 3, 0, 20, 30).ok());
  clock_.Advance(absl::Seconds(6));
  job_->Tick();
  ASSERT_EQ(StateOf(a), v1::WORKER_DEAD);
  const std::string b = Join();
  auto response = RendezvousAsync(b, 0, -1).get();
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->state_source_rank(), -1);
  EXPECT_EQ(response->resume_checkpoint(), "/ckpt/step-2");
  EXPECT_EQ(response->global_step(), 2);
  // Step 3's window was applied to a model that is gone: it is unread again.
  EXPECT_EQ(ToPositionSet(response->plan().remaining()), PositionSet::Range(20, kSamples));
  EXPECT_EQ(job_->Status().accounting(0).consumed(), 20);
  ASSERT_TRUE(Report(b, 2, 3, 0, 20, 30).ok());
  EXPECT_EQ(job_->Status().accounting(0).duplicated(), 0);
  // The journal names the lineage: generation 2 descends from the checkpoint generation 1 wrote.
  const journal::State state = job_->JournalState();
  ASSERT_EQ(state.history_size(), 2);
  EXPECT_EQ(state.history(0).origin(), "initialisation");
  EXPECT_EQ(state.history(1).origin(), "checkpoint");
  EXPECT_EQ(state.history(1).parent_generation(), 1);
  EXPECT_EQ(state.history(1).global_step(), 2);
  EXPECT_EQ(state.checkpoints(0).generation(), 1);
}

TEST_F(JobTest, ResumingACheckpointRestoresItsAccountingExactlyLongAfterItsStep) {
  Job::Options options = MakeOptions();
  options.spec.set_batch_per_worker(1);
  options.train_samples = 400;
  Start(options);
  const std::string a = Join();
  ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());
  for (int step = 1; step <= 300; ++step) {
    ASSERT_TRUE(Report(a, 1, step, 0, step - 1, step).ok());
    if (step == 10) {
      ASSERT_TRUE(ReportCheckpoint(a, 1, "/ckpt/step-10", 10).ok());
    }
  }
  clock_.Advance(absl::Seconds(6));
  job_->Tick();
  ASSERT_EQ(StateOf(a), v1::WORKER_DEAD);
  // A fresh process has no state (-1): the job resumes the checkpoint, 290 steps and more than
  // the ledger's remembered windows later, with exactly the accounting of step 10.
  const std::string b = Join();
  auto response = RendezvousAsync(b, 0, -1).get();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->resume_checkpoint(), "/ckpt/step-10");
  EXPECT_EQ(response->global_step(), 10);
  EXPECT_EQ(ToPositionSet(response->plan().remaining()), PositionSet::Range(10, 400));
  EXPECT_EQ(job_->Status().accounting(0).consumed(), 10);
  EXPECT_EQ(job_->Status().global_step(), 10);
}

TEST_F(JobTest, AMemberAheadOfTheLedgerIsNotAStateSource) {
  Start(MakeOptions());
  const std::string a = Join();
  ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());
  ASSERT_TRUE(Report(a, 1, 1, 0, 0, 10).ok());
  ASSERT_TRUE(Report(a, 1, 2, 0, 10, 20).ok());
  ASSERT_TRUE(ReportCheckpoint(a, 1, "/ckpt/step-2", 2).ok());
  // a applied steps 3 and 4 but their reports never arrived: its model cannot be matched with
  // the accounting, so the job goes back to the checkpoint and trains 20..40 again.
  auto response = RendezvousAsync(a, 1, 4).get();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->state_source_rank(), -1);
  EXPECT_EQ(response->resume_checkpoint(), "/ckpt/step-2");
  EXPECT_EQ(response->global_step(), 2);
  EXPECT_EQ(ToPositionSet(response->plan().remaining()), PositionSet::Range(20, kSamples));
  // A report past the next step is refused, never accepted with a gap.
  EXPECT_EQ(Report(a, 2, 5, 0, 40, 50).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(JobTest, SurvivorsAreToldToAbortCollectivesWithADeadMember) {
  Start(MakeOptions());
  const std::string a = Join(), b = Join();
  FormTwoWorkerGeneration(a, b);
  ASSERT_TRUE(Report(a, 2, 1, 0, 0, 20).ok());
  auto before = Heartbeat(a, 2, 1);
  ASSERT_TRUE(before.ok());
  EXPECT_FALSE(before->abort_collectives());  // a slow step is not a death
  clock_.Advance(absl::Seconds(4));
  ASSERT_TRUE(Heartbeat(a, 2, 1).ok());
  clock_.Advance(absl::Seconds(2));  // b: 6 s silent
  job_->Tick();
  ASSERT_EQ(StateOf(b), v1::WORKER_DEAD);
  auto told = Heartbeat(a, 2, 1);
  ASSERT_TRUE(told.ok());
  EXPECT_TRUE(told->abort_collectives());
  EXPECT_EQ(told->generation(), 3);
  auto regrouped = RendezvousAsync(a, 2, 1).get();
  ASSERT_TRUE(regrouped.ok()) << regrouped.status();
  EXPECT_EQ(regrouped->generation(), 3);
  EXPECT_EQ(regrouped->state_source_rank(), 0);
  auto after = Heartbeat(a, 3, 1);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->abort_collectives());
  // Lineage: generation 3 took a's state, which generation 2 produced.
  const journal::State state = job_->JournalState();
  ASSERT_EQ(state.history_size(), 3);
  EXPECT_EQ(state.history(2).origin(), "member");
  EXPECT_EQ(state.history(2).parent_generation(), 2);
  EXPECT_EQ(state.history(2).global_step(), 1);
}

TEST_F(JobTest, StateSourceBehindTheLedgerGivesUnappliedWindowsBack) {
  Start(MakeOptions());
  const std::string a = Join();
  ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());
  ASSERT_TRUE(Report(a, 1, 1, 0, 0, 10).ok());
  ASSERT_TRUE(Report(a, 1, 2, 0, 10, 20).ok());
  auto response = RendezvousAsync(a, 1, 1).get();  // its state has only step 1
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->global_step(), 1);
  EXPECT_EQ(ToPositionSet(response->plan().remaining()), PositionSet::Range(10, kSamples));
}

TEST_F(JobTest, CheckpointsTrackBestAndEvaluations) {
  Start(MakeOptions());
  const std::string a = Join();
  ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());
  ASSERT_TRUE(ReportCheckpoint(a, 1, "/c/1", 1, 0.6).ok());
  ASSERT_TRUE(ReportCheckpoint(a, 1, "/c/2", 2, 0.8).ok());
  ASSERT_TRUE(ReportCheckpoint(a, 1, "/c/3", 3, 0.7).ok());
  ASSERT_TRUE(ReportCheckpoint(a, 1, "/c/3", 3, 0.7).ok());  // a second rank's report
  const v1::JobStatus status = job_->Status();
  ASSERT_EQ(status.checkpoints_size(), 3);
  EXPECT_FALSE(status.checkpoints(0).best());
  EXPECT_TRUE(status.checkpoints(1).best());
  EXPECT_EQ(status.evaluations_size(), 3);
  auto best = job_->BestCheckpoint();
  ASSERT_TRUE(best.ok());
  EXPECT_EQ(best->path(), "/c/2");
}

// A training curve that stops improving by validation loss: the best checkpoint is the lowest
// loss (not the highest accuracy), and after `early_stopping_patience` evaluations without
// improvement the job finishes early, journaled, with the workers told at their next heartbeat.
TEST_F(JobTest, BestMetricLossAndEarlyStopping) {
  Job::Options options = MakeOptions();
  options.spec.set_best_metric("loss");
  options.spec.set_early_stopping_patience(2);
  options.spec.set_early_stopping_threshold(0.001);
  Start(options);
  const std::string a = Join();
  ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());
  auto evaluate = [&](int64_t step, double loss, double accuracy) {
    v1::CheckpointReport report;
    report.set_worker_id(a);
    report.set_generation(1);
    report.set_path(absl::StrCat("/c/", step));
    report.set_global_step(step);
    report.mutable_metrics()->set_global_step(step);
    report.mutable_metrics()->set_loss(loss);
    report.mutable_metrics()->set_accuracy(accuracy);
    return job_->ReportCheckpoint(report);
  };
  ASSERT_TRUE(evaluate(1, 0.60, 0.70).ok());
  ASSERT_TRUE(evaluate(2, 0.50, 0.72).ok());
  ASSERT_TRUE(evaluate(3, 0.4995, 0.80).ok());  // better accuracy; loss within the threshold
  v1::JobStatus status = job_->Status();
  EXPECT_EQ(status.state(), v1::JOB_RUNNING);
  EXPECT_EQ(status.best_metric(), "loss");
  EXPECT_EQ(status.evaluations_without_improvement(), 1);
  EXPECT_EQ(job_->BestCheckpoint()->path(), "/c/3") << "lowest loss, the threshold aside";
  ASSERT_TRUE(evaluate(4, 0.55, 0.81).ok());
  status = job_->Status();
  EXPECT_EQ(status.state(), v1::JOB_FINISHED);
  EXPECT_TRUE(status.stopped_early());
  EXPECT_EQ(status.evaluations_without_improvement(), 2);
  EXPECT_EQ(job_->BestCheckpoint()->path(), "/c/3");
  EXPECT_NE(status.message().find("stopped early"), std::string::npos) << status.message();
  EXPECT_EQ(CountEvents("finished"), 1);
  auto told = Heartbeat(a, 1, 4);
  ASSERT_TRUE(told.ok());
  EXPECT_TRUE(told->job_finished());
  const journal::State journal = job_->JournalState();
  EXPECT_TRUE(journal.finished());
  EXPECT_TRUE(journal.stopped_early());
}

TEST_F(JobTest, ARankDoneBeforeTheFinalCheckpointWaitsInsteadOfRegrouping) {
  Start(MakeOptions());
  const std::string a = Join(), b = Join();
  FormTwoWorkerGeneration(a, b);
  for (int step = 1; step <= 5; ++step) {
    ASSERT_TRUE(Report(b, 2, step, 0, (step - 1) * 20, step * 20).ok());
  }
  // b trained the last window and asks for what is next while a still writes the checkpoint.
  auto waiting = RendezvousAsync(b, 2, 5);
  AwaitArrival(b);
  EXPECT_EQ(job_->announced_generation(), 2);  // no regroup for the job's last moment
  ASSERT_TRUE(ReportCheckpoint(a, 2, "/ckpt/final", 5).ok());
  auto finished = waiting.get();
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_TRUE(finished->job_finished());
  EXPECT_EQ(job_->announced_generation(), 2);
}

TEST_F(JobTest, RankZeroWhoseFinalCheckpointFailedRegroups) {
  Start(MakeOptions());
  const std::string a = Join(), b = Join();
  FormTwoWorkerGeneration(a, b);
  for (int step = 1; step <= 5; ++step) {
    ASSERT_TRUE(Report(b, 2, step, 0, (step - 1) * 20, step * 20).ok());
  }
  auto waiting = RendezvousAsync(b, 2, 5);
  AwaitArrival(b);
  EXPECT_EQ(job_->announced_generation(), 2);
  // a (rank 0) asks for a new generation without the final checkpoint: it could not write it.
  auto retry = RendezvousAsync(a, 2, 5);
  auto again = waiting.get();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->job_finished());
  EXPECT_EQ(again->generation(), 3);
  ASSERT_TRUE(retry.get().ok());
  EXPECT_EQ(job_->Status().state(), v1::JOB_RUNNING);
}

TEST_F(JobTest, MaxStepsFinishesTheJob) {
  Job::Options options = MakeOptions();
  options.spec.set_max_steps(2);
  Start(options);
  const std::string a = Join();
  ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());
  EXPECT_EQ(job_->Status().total_steps(), 2);
  ASSERT_TRUE(Report(a, 1, 1, 0, 0, 10).ok());
  EXPECT_EQ(job_->Status().state(), v1::JOB_RUNNING);
  ASSERT_TRUE(Report(a, 1, 2, 0, 10, 20).ok());
  EXPECT_EQ(job_->Status().state(), v1::JOB_RUNNING);  // until the final checkpoint arrives
  ASSERT_TRUE(ReportCheckpoint(a, 1, "/c/step-1", 1).ok());
  EXPECT_EQ(job_->Status().state(), v1::JOB_RUNNING);  // an earlier step's checkpoint does not count
  ASSERT_TRUE(ReportCheckpoint(a, 1, "/c/step-2", 2).ok());
  EXPECT_EQ(job_->Status().state(), v1::JOB_FINISHED);
  EXPECT_EQ(CountEvents("finished"), 1);
}

TEST_F(JobTest, EventsReplayAndWait) {
  Start(MakeOptions());
  Join();
  Join();
  int64_t next = 0;
  auto events = job_->WaitForEvents(0, absl::ZeroDuration(), &next);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind(), "worker_joined");
  EXPECT_EQ(next, 2);
  auto later = std::async(std::launch::async, [&] {
    int64_t n = 0;
    return job_->WaitForEvents(2, absl::Seconds(30), &n);
  });
  Join();
  auto third = later.get();
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].kind(), "worker_joined");
}

TEST_F(JobTest, JournalRoundTripResumesWithoutRegrouping) {
  Job::Options options = MakeOptions();
  options.spec.set_epochs(2);
  options.journal_dir = FreshDir("journal_round_trip");
  Start(options);
  const std::string a = Join(), b = Join();
  FormTwoWorkerGeneration(a, b, /*a_step=*/0);
  ASSERT_TRUE(Report(a, 2, 1, 0, 0, 20).ok());
  ASSERT_TRUE(Report(b, 2, 2, 0, 20, 45).ok());
  ASSERT_TRUE(ReportCheckpoint(a, 2, "/c/2", 2, 0.75).ok());
  job_->RecordPublished("/c/2", "127.0.0.1:9000", 4);
  ASSERT_TRUE(job_->SetWorkerLimits(1, 5).ok());
  const journal::State before = job_->JournalState();
  job_.reset();

  Start(options);
  journal::State after = job_->JournalState();
  ASSERT_EQ(after.events_size(), before.events_size() + 1);
  EXPECT_EQ(after.events(after.events_size() - 1).kind(), "restarted");
  after.mutable_events()->RemoveLast();
  EXPECT_EQ(after.DebugString(), before.DebugString());
  // Running workers carry on in generation 2: no regroup, no lost progress.
  clock_.Advance(absl::Seconds(4));
  auto heartbeat = Heartbeat(a, 2, 2);
  ASSERT_TRUE(heartbeat.ok()) << heartbeat.status();
  EXPECT_EQ(heartbeat->generation(), 2);
  ASSERT_TRUE(Heartbeat(b, 2, 2).ok());
  job_->Tick();
  EXPECT_EQ(StateOf(a), v1::WORKER_ACTIVE);
  EXPECT_EQ(job_->announced_generation(), 2);
  ASSERT_TRUE(Report(a, 2, 3, 0, 45, 65).ok());
  EXPECT_EQ(job_->Status().accounting(0).consumed(), 65);
  EXPECT_EQ(job_->Status().checkpoints_size(), 1);
  // What was published survives (the publisher reads it to avoid pushing it again).
  ASSERT_EQ(job_->Status().checkpoints(0).publications_size(), 1);
  EXPECT_EQ(job_->Status().checkpoints(0).publications(0).target(), "127.0.0.1:9000");
  EXPECT_EQ(job_->Status().checkpoints(0).publications(0).version(), 4);
  EXPECT_EQ(job_->Status().max_workers(), 5);
  // A third worker gets a fresh id.
  EXPECT_EQ(Join(), "w-3");
}

TEST_F(JobTest, RestartGraceCoversTheWorkersReconnect) {
  Job::Options options = MakeOptions();
  options.journal_dir = FreshDir("journal_restart_grace");
  options.restart_grace = absl::Seconds(5);
  Start(options);
  const std::string a = Join();
  ASSERT_TRUE(RendezvousAsync(a, 0, -1).get().ok());
  job_.reset();
  clock_.Advance(absl::Seconds(20));  // the coordinator was away 20 s
  Start(options);
  // heartbeat timeout (5 s) + grace (5 s): a worker that reconnects within that lives on.
  clock_.Advance(absl::Seconds(9));
  job_->Tick();
  EXPECT_EQ(StateOf(a), v1::WORKER_ACTIVE);
  ASSERT_TRUE(Heartbeat(a, 1).ok());
  clock_.Advance(absl::Seconds(4));
  job_->Tick();
  EXPECT_EQ(StateOf(a), v1::WORKER_ACTIVE);
  // One that never comes back is declared dead once both have passed.
  clock_.Advance(absl::Seconds(2));
  job_->Tick();
  EXPECT_EQ(StateOf(a), v1::WORKER_DEAD);
}

TEST_F(JobTest, JournalOfAnotherSpecIsRefused) {
  Job::Options options = MakeOptions();
  options.journal_dir = FreshDir("journal_other_spec");
  Start(options);
  job_.reset();
  options.spec.set_batch_per_worker(11);
  auto other = Job::Create(options);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  options.spec.set_batch_per_worker(10);
  options.train_samples = 99;
  EXPECT_EQ(Job::Create(options).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace murmur::coordinator
