// The elastic worker's generation loop without processes or sockets: workers are threads, the
// coordinator is the real Job state machine behind InProcessCoordinator (outages and restarts
// on demand), and each generation's group is a FakeCollectiveHub. The tiny preset on a small
// synthetic corpus keeps each job to seconds.
#include "worker/elastic_worker.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "base/file.h"
#include "base/test_util.h"
#include "coordinator/job.h"
#include "coordinator/job_spec.h"
#include "data/ingest.h"
#include "proto/job_conversions.h"
#include "text/tokenizer.h"
#include "worker/communicator.h"
#include "worker/fake_communicator.h"
#include "worker/in_process_coordinator.h"

namespace murmur::worker {
namespace {

class ElasticWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(testing::TempDir(), "/elastic_", counter_++, "_", getpid());
    ASSERT_TRUE(MakeDirectories(dir_ + "/corpus").ok());
    std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    for (int i = 5; i < 40; ++i) absl::StrAppend(&vocab, "w", i, "\n");
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/vocab.txt", vocab).ok());
    std::mt19937 rng(5);
    for (const char* name : {"negative.txt", "positive.txt"}) {
      std::string lines;
      for (int row = 0; row < 150; ++row) {
        const int length = 2 + static_cast<int>(rng() % 8);
        for (int k = 0; k < length; ++k) absl::StrAppend(&lines, k ? " " : "", "w", 8 + rng() % 30);
        if (name[0] == 'p') absl::StrAppend(&lines, " w7");
        lines += "\n";
      }
      ASSERT_TRUE(WriteFileAtomically(dir_ + "/corpus/" + name, lines).ok());
    }
  }

  void TearDown() override {
    // A failed test may leave a worker cut off or held: let everything run to its end.
    if (!release_.HasBeenNotified()) release_.Notify();
    for (auto& worker : workers_) worker.link->SetReachable(true);
    for (auto& worker : workers_) {
      if (worker.thread.joinable()) worker.thread.join();
    }
    stop_ticks_.Notify();
    if (ticker_.joinable()) ticker_.join();
  }

  // Starts the job (journal in dir_/journal) and the failure detector's tick thread.
  void StartJob(const std::string& extra_fields) {
    auto spec = coordinator::ParseJobSpec(
        absl::StrCat("{\"corpus_path\": \"", dir_, "/corpus\", \"vocab_path\": \"", dir_,
                     "/vocab.txt\", \"model_preset\": \"tiny\", \"batch_per_worker\": 8, "
                     "\"max_length\": 16, \"heartbeat_timeout_ms\": 1500, "
                     "\"collective_timeout_ms\": 3000, \"threads_per_worker\": 1, "
                     "\"skip_evaluation\": true, \"learning_rate\": 0.001",
                     extra_fields, "}"),
        dir_ + "/journal");
    ASSERT_TRUE(spec.ok()) << spec.status();
    spec_ = *spec;
    auto tokenizer = text::Tokenizer::FromVocabFile(spec_.vocab_path());
    ASSERT_TRUE(tokenizer.ok());
    auto report = data::Ingest(spec_.corpus_path(), **tokenizer, dir_ + "/journal-cache.bin",
                               IngestOptionsFor(spec_));
    ASSERT_TRUE(report.ok()) << report.status();
    train_samples_ = report->train_rows;
    OpenJob();
    ticker_ = std::thread([this] {
      while (!stop_ticks_.WaitForNotificationWithTimeout(absl::Milliseconds(50))) {
        absl::MutexLock lock(&job_mu_);
        if (job_ != nullptr) job_->Tick();
      }
    });
  }

  void OpenJob() {
    coordinator::Job::Options options;
    options.spec = spec_;
    options.train_samples = train_samples_;
    options.journal_dir = dir_ + "/journal";
    options.join_settle = absl::Milliseconds(300);
    auto job = coordinator::Job::Create(std::move(options));
    ASSERT_TRUE(job.ok()) << job.status();
    absl::MutexLock lock(&job_mu_);
    job_ = *std::move(job);
  }

  // A coordinator restart: the Job goes away for `outage` (every call fails UNAVAILABLE), then
  // a new one recovers from the journal.
  void RestartCoordinator(absl::Duration outage, const std::function<void()>& during = {}) {
    for (auto& worker : workers_) worker.link->SetReachable(false);
    {
      absl::MutexLock lock(&job_mu_);
      job_->Shutdown();
    }
    absl::SleepFor(absl::Milliseconds(200));  // calls in flight end
    std::unique_ptr<coordinator::Job> old;
    {
      absl::MutexLock lock(&job_mu_);
      old = std::move(job_);
    }
    absl::SleepFor(outage);
    if (during) during();
    old.reset();
    OpenJob();
    for (auto& worker : workers_) {
      worker.link->Replace(job_.get());
      worker.link->SetReachable(true);
    }
  }

  struct Running {
    InProcessCoordinator* link = nullptr;  // owned by the worker
    std::unique_ptr<ElasticWorker> worker;
    std::thread thread;
    absl::Status result;
    absl::Notification done;
  };

  Running& AddWorker(const std::string& name) {
    Running& running = workers_.emplace_back();
    auto link = std::make_unique<InProcessCoordinator>(job_.get());
    running.link = link.get();
    ElasticWorkerDependencies dependencies;
    dependencies.coordinator = std::move(link);
    dependencies.form_group = [this](const v1::RendezvousResponse& assignment) {
      if (assignment.generation() >= hold_from_generation_) {
        if (!held_once_.exchange(true)) held_.Notify();
        release_.WaitForNotification();
      }
      absl::MutexLock lock(&hubs_mu_);
      auto& hub = hubs_[assignment.generation()];
      if (hub == nullptr) {
        hub = std::make_unique<FakeCollectiveHub>(assignment.world_size(),
                                                  std::chrono::milliseconds(3000));
      }
      return absl::StatusOr<std::unique_ptr<Communicator>>(hub->Join(assignment.rank()));
    };
    ElasticWorkerOptions options;
    options.name = name;
    options.cache_dir = dir_ + "/cache-" + name;
    options.threads = 1;
    options.progress_seconds = 0;
    options.trace_dir = dir_ + "/trace";
    auto created = ElasticWorker::Create(options, std::move(dependencies));
    EXPECT_TRUE(created.ok()) << created.status();
    running.worker = *std::move(created);
    Running* self = &running;
    running.thread = std::thread([self] {
      self->result = self->worker->Run();
      self->done.Notify();
    });
    return running;
  }

  v1::JobStatus Status() {
    absl::MutexLock lock(&job_mu_);
    return job_->Status();
  }

  // Polls the job status until `done` holds; fails after `seconds`.
  v1::JobStatus WaitFor(const std::function<bool(const v1::JobStatus&)>& done, double seconds) {
    const absl::Time end = absl::Now() + absl::Seconds(seconds);
    v1::JobStatus status;
    while (absl::Now() < end) {
      status = Status();
      if (done(status)) return status;
      absl::SleepFor(absl::Milliseconds(20));
    }
    ADD_FAILURE() << "timed out: " << status.ShortDebugString();
    return status;
  }

  void ExpectFinishedExactlyOnce(const v1::JobStatus& status) {
    EXPECT_EQ(status.state(), v1::JOB_FINISHED) << status.ShortDebugString();
    ASSERT_EQ(status.accounting_size(), spec_.epochs());
    for (const auto& epoch : status.accounting()) {
      EXPECT_EQ(epoch.consumed(), epoch.samples()) << epoch.ShortDebugString();
      EXPECT_EQ(epoch.duplicated(), 0) << epoch.ShortDebugString();
    }
  }

  void WaitForWorkers() {
    for (auto& worker : workers_) {
      ASSERT_TRUE(worker.done.WaitForNotificationWithTimeout(absl::Seconds(120)))
          << "a worker did not finish";
      EXPECT_TRUE(worker.result.ok()) << worker.result;
    }
  }

  int CountEvents(const std::string& kind, const std::string& detail_part = "") {
    absl::MutexLock lock(&job_mu_);
    int count = 0;
    const coordinator::journal::State state = job_->JournalState();
    for (const v1::JobEvent& event : state.events()) {
      count += event.kind() == kind && event.detail().find(detail_part) != std::string::npos;
    }
    return count;
  }

  // The highest step any trace line announces (the steps the workers took).
  int64_t HighestTracedStep() {
    int64_t highest = 0;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/trace", error)) {
      std::ifstream in(entry.path());
      std::string line;
      while (std::getline(in, line)) {
        std::vector<std::string> parts = absl::StrSplit(line, ' ');
        if (parts.size() > 7) highest = std::max<int64_t>(highest, std::stoll(parts[7]));
      }
    }
    return highest;
  }

  static inline int counter_ = 0;
  std::string dir_;
  v1::JobSpec spec_;
  uint64_t train_samples_ = 0;
  absl::Mutex job_mu_;
  std::unique_ptr<coordinator::Job> job_;
  absl::Notification stop_ticks_;
  std::thread ticker_;
  // Groups of generations from this one on form only after release_ (a test's way to keep
  // the job from ending before the fault it stages is over); held_ says one is waiting.
  std::atomic<int64_t> hold_from_generation_{std::numeric_limits<int64_t>::max()};
  absl::Notification held_, release_;
  std::atomic<bool> held_once_{false};
  absl::Mutex hubs_mu_;
  std::map<int64_t, std::unique_ptr<FakeCollectiveHub>> hubs_;
  std::deque<Running> workers_;
};

TEST_F(ElasticWorkerTest, TrainingGoesOnThroughACoordinatorRestart) {
  StartJob(", \"epochs\": 2");
  AddWorker("a");
  AddWorker("b");
  const v1::JobStatus before =
      WaitFor([](const v1::JobStatus& s) { return s.global_step() >= 3; }, 60);
  ASSERT_EQ(before.generation(), 1);
  const int64_t traced_before = HighestTracedStep();
  int64_t traced_during = 0;
  // Away longer than the heartbeat timeout.
  RestartCoordinator(absl::Seconds(3), [&] { traced_during = HighestTracedStep(); });
  // No step waited on the coordinator: the workers trained on while it was away.
  EXPECT_GT(traced_during, traced_before + 2);
  const v1::JobStatus done = WaitFor([](const v1::JobStatus& s) { return s.state() == v1::JOB_FINISHED; },
                                     120);
  WaitForWorkers();
  ExpectFinishedExactlyOnce(done);
  EXPECT_EQ(CountEvents("worker_dead"), 0);
  EXPECT_EQ(CountEvents("restarted"), 1);
  // The buffered reports arrived: nothing regrouped (one generation formed, the first), no
  // step was lost or replayed.
  EXPECT_EQ(CountEvents("generation", "formed"), 1);
  EXPECT_EQ(done.global_step(), HighestTracedStep());
}

TEST_F(ElasticWorkerTest, AnOutageLongerThanTheLimitStopsTrainingUntilTheCoordinatorIsBack) {
  StartJob(", \"epochs\": 40, \"coordinator_outage_ms\": 1000");
  AddWorker("a");
  AddWorker("b");
  WaitFor([](const v1::JobStatus& s) { return s.global_step() >= 3; }, 60);
  int64_t early = 0, late = 0;
  RestartCoordinator(absl::Seconds(4), [&] {
    early = HighestTracedStep();
    absl::SleepFor(absl::Seconds(1));
    late = HighestTracedStep();
  });
  // Past the limit the group stopped at a step boundary (both ranks agreed on it): no step in
  // the outage's last second.
  EXPECT_GT(early, 3);
  EXPECT_EQ(late, early);
  // Back: the workers deliver what they trained, regroup and finish the job.
  const v1::JobStatus done = WaitFor([](const v1::JobStatus& s) { return s.state() == v1::JOB_FINISHED; },
                                     120);
  WaitForWorkers();
  ExpectFinishedExactlyOnce(done);
  EXPECT_EQ(CountEvents("worker_dead"), 0);
  EXPECT_EQ(done.global_step(), HighestTracedStep());
}

TEST_F(ElasticWorkerTest, AWorkerDeclaredDeadJoinsAgainWithItsStateDiscarded) {
  StartJob(", \"epochs\": 40");  // outlasts b's death detection
  AddWorker("a");
  Running& b = AddWorker("b");
  WaitFor([](const v1::JobStatus& s) {
    int active = 0;
    for (const auto& w : s.workers()) active += w.state() == v1::WORKER_ACTIVE;
    return active == 2 && s.global_step() >= 3;
  }, 60);
  hold_from_generation_ = 2;     // the survivor must not finish the job before b is back
  b.link->SetReachable(false);  // b is partitioned off the coordinator
  WaitFor([](const v1::JobStatus& s) {
    for (const auto& w : s.workers()) {
      if (w.name() == "b" && w.state() == v1::WORKER_DEAD) return true;
    }
    return false;
  }, 30);
  // The survivor regroups alone after the detector's timeout, not after a collective timeout
  // on top (its heartbeat said abort_collectives).
  ASSERT_TRUE(held_.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(Status().generation(), 2);
  b.link->SetReachable(true);
  WaitFor([this](const v1::JobStatus&) { return CountEvents("worker_joined") == 3; }, 60);
  release_.Notify();
  const v1::JobStatus rejoined = WaitFor([](const v1::JobStatus& s) {
    int b_active = 0;
    for (const auto& w : s.workers()) b_active += w.name() == "b" && w.state() == v1::WORKER_ACTIVE;
    return b_active == 1;
  }, 60);
  int b_identities = 0;
  for (const auto& w : rejoined.workers()) b_identities += w.name() == "b";
  EXPECT_EQ(b_identities, 2);  // a new worker id: the old one is dead for good
  const v1::JobStatus done = WaitFor([](const v1::JobStatus& s) { return s.state() == v1::JOB_FINISHED; },
                                     120);
  WaitForWorkers();
  ExpectFinishedExactlyOnce(done);
  EXPECT_EQ(CountEvents("worker_joined"), 3);
}

TEST_F(ElasticWorkerTest, AFreshWorkerResumesTheLatestCheckpoint) {
  StartJob(", \"epochs\": 2, \"checkpoint_every_steps\": 5");
  Running& a = AddWorker("a");
  WaitFor([](const v1::JobStatus& s) { return s.checkpoints_size() >= 1 && s.global_step() > 6; },
          60);
  a.worker->RequestStop();  // leaves: nobody holds the model any more
  ASSERT_TRUE(a.done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  EXPECT_TRUE(a.result.ok()) << a.result;
  AddWorker("b");
  const v1::JobStatus done = WaitFor([](const v1::JobStatus& s) { return s.state() == v1::JOB_FINISHED; },
                                     120);
  WaitForWorkers();
  ExpectFinishedExactlyOnce(done);
  EXPECT_EQ(CountEvents("generation", "resuming from checkpoint"), 1);
  absl::MutexLock lock(&job_mu_);
  const coordinator::journal::State state = job_->JournalState();
  ASSERT_GE(state.history_size(), 2);
  EXPECT_EQ(state.history(state.history_size() - 1).origin(), "checkpoint");
}

// A deterministic error of a worker's own (here: the checkpoint directory cannot be made, as on
// a full or read-only volume) fails every generation at the same step. Regrouping forever would
// hide it: the worker gives up after max_restarts failures in a row without progress and the job
// fails with the error. Periodic checkpoints fail too, but training advances between them, so
// they restart the count: the job gives up only at the final checkpoint, which never gets past
// its step.
TEST_F(ElasticWorkerTest, AnErrorThatRepeatsWithoutProgressFailsTheJobAfterMaxRestarts) {
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/not-a-directory", "a file").ok());
  StartJob(absl::StrCat(", \"epochs\": 1, \"max_restarts\": 1, \"checkpoint_every_steps\": 5, ",
                        "\"checkpoint_dir\": \"", dir_, "/not-a-directory/checkpoints\""));
  Running& a = AddWorker("a");
  Running& b = AddWorker("b");
  const v1::JobStatus failed =
      WaitFor([](const v1::JobStatus& s) { return s.state() == v1::JOB_FAILED; }, 120);
  ASSERT_EQ(failed.state(), v1::JOB_FAILED);
  for (Running* worker : {&a, &b}) {
    ASSERT_TRUE(worker->done.WaitForNotificationWithTimeout(absl::Seconds(60)));
    EXPECT_FALSE(worker->result.ok());
  }
  // Two ranks of 8 samples a step; the final checkpoint's step.
  const int64_t final_step = (static_cast<int64_t>(train_samples_) + 15) / 16;
  ASSERT_GT(final_step, 10);
  // Rank 0 writes the checkpoints: it is the one that gave up, at the final step, after one
  // restart there; the other stopped because the job failed.
  const bool a_gave_up = a.result.code() != absl::StatusCode::kAborted;
  const absl::Status& gave_up = a_gave_up ? a.result : b.result;
  const absl::Status& stopped = a_gave_up ? b.result : a.result;
  EXPECT_NE(gave_up.message().find(absl::StrCat("training failed 2 times in a row at step ",
                                                final_step, " (max_restarts 1)")),
            std::string::npos)
      << gave_up;
  EXPECT_NE(gave_up.message().find("not-a-directory"), std::string::npos) << gave_up;
  EXPECT_EQ(stopped.code(), absl::StatusCode::kAborted) << stopped;
  EXPECT_NE(stopped.message().find("the job failed"), std::string::npos) << stopped;
  EXPECT_NE(failed.message().find(absl::StrCat("gave up at step ", final_step)),
            std::string::npos)
      << failed.message();
  EXPECT_EQ(CountEvents("failed"), 1);
  EXPECT_EQ(failed.checkpoints_size(), 0);
  // The failures lost no accounting: the epoch was trained exactly once.
  ASSERT_EQ(failed.accounting_size(), 1);
  EXPECT_EQ(failed.accounting(0).consumed(), failed.accounting(0).samples());
  EXPECT_EQ(failed.accounting(0).duplicated(), 0);
  EXPECT_EQ(failed.global_step(), final_step);
}

}  // namespace
}  // namespace murmur::worker
