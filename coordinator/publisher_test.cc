#include "coordinator/publisher.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/file.h"
#include "base/test_util.h"
#include "coordinator/journal.h"
#include "coordinator/job_spec.h"

namespace murmur::coordinator {
namespace {

// A pusher that records what it was asked to send, and fails for targets listed in `down`.
class FakePusher final : public CheckpointPusher {
 public:
  struct Pushed {
    std::string checkpoint_dir, target, model;
  };
  absl::StatusOr<int64_t> Push(const std::string& checkpoint_dir, const std::string& target,
                               const std::string& model) override {
    absl::MutexLock lock(&mu_);
    if (down_.count(target) > 0) return absl::UnavailableError(target + " is down");
    pushed_.push_back({checkpoint_dir, target, model});
    return static_cast<int64_t>(pushed_.size());
  }
  void SetDown(const std::string& target, bool down) {
    absl::MutexLock lock(&mu_);
    if (down) {
      down_.insert(target);
    } else {
      down_.erase(target);
    }
  }
  std::vector<Pushed> pushed() {
    absl::MutexLock lock(&mu_);
    return pushed_;
  }

 private:
  absl::Mutex mu_;
  std::set<std::string> down_;
  std::vector<Pushed> pushed_;
};

Job::Options JournaledJobOptions(const std::string& dir) {
  Job::Options options;
  auto spec = ParseJobSpec(R"({"corpus_path": "/c", "vocab_path": "/v"})", dir);
  EXPECT_TRUE(spec.ok()) << spec.status();
  options.spec = *spec;
  options.train_samples = 10;
  options.journal_dir = dir;
  return options;
}

std::unique_ptr<Job> OpenJob(const std::string& dir) {
  auto job = Job::Create(JournaledJobOptions(dir));
  EXPECT_TRUE(job.ok()) << job.status();
  return job.ok() ? *std::move(job) : nullptr;
}

// A classification job whose journal holds checkpoints at `steps`, the last one marked best.
std::unique_ptr<Job> JobWithCheckpoints(const std::string& dir, const std::vector<int64_t>& steps) {
  const Job::Options options = JournaledJobOptions(dir);
  journal::State state;
  {
    auto fresh = Job::Create(options);
    EXPECT_TRUE(fresh.ok()) << fresh.status();
    state = (*fresh)->JournalState();
  }
  for (int64_t step : steps) {
    journal::Checkpoint* checkpoint = state.add_checkpoints();
    checkpoint->mutable_info()->set_path(absl::StrCat(dir, "/checkpoints/step-", step));
    checkpoint->mutable_info()->set_global_step(step);
    checkpoint->mutable_info()->set_best(step == steps.back());
    checkpoint->set_generation(1);
  }
  EXPECT_TRUE(WriteJournal(dir, state).ok());
  return OpenJob(dir);
}

TEST(PublisherTest, WasPublishedToMatchesTheWholeTarget) {
  v1::CheckpointInfo checkpoint;
  EXPECT_FALSE(WasPublishedTo(checkpoint, "127.0.0.1:5000"));
  v1::Publication* first = checkpoint.add_publications();
  first->set_target("127.0.0.1:5000");
  first->set_version(3);
  EXPECT_TRUE(WasPublishedTo(checkpoint, "127.0.0.1:5000"));
  // A target that is a prefix of another is a different replica.
  EXPECT_FALSE(WasPublishedTo(checkpoint, "127.0.0.1:500"));
  EXPECT_FALSE(WasPublishedTo(checkpoint, "10.0.0.1:5000"));
  v1::Publication* second = checkpoint.add_publications();
  second->set_target("serving-1:8500");
  second->set_version(7);
  EXPECT_TRUE(WasPublishedTo(checkpoint, "serving-1:8500"));
}

TEST(PublisherTest, RefusesToPublishAMaskedLmPretrainingJob) {
  Job::Options options;
  auto spec = ParseJobSpec(R"({"corpus_path": "/c", "vocab_path": "/v", "objective": "masked_lm"})",
                           "/journal");
  ASSERT_TRUE(spec.ok()) << spec.status();
  options.spec = *spec;
  options.train_samples = 10;
  auto job = Job::Create(options);
  ASSERT_TRUE(job.ok()) << job.status();
  Publisher publisher(job->get(), {.run_background = false}, std::make_unique<FakePusher>());
  // Refused before any network traffic: its checkpoints have no classification head.
  auto published = publisher.Publish("/some/checkpoint", "127.0.0.1:1", "");
  ASSERT_FALSE(published.ok());
  EXPECT_EQ(published.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(published.status().message().find("init_dir"), std::string::npos);
}

TEST(PublisherTest, PollingPushesTheBestCheckpointOnceToEachTargetAndRetriesFailedOnes) {
  const std::string dir = testing::TempDir() + "/publisher-poll";
  ASSERT_TRUE(MakeDirectories(dir).ok());
  std::unique_ptr<Job> job = JobWithCheckpoints(dir, {10, 20});
  ASSERT_NE(job, nullptr);
  auto pusher = std::make_unique<FakePusher>();
  FakePusher* fake = pusher.get();
  fake->SetDown("replica-b:8500", true);
  Publisher publisher(job.get(),
                      {.auto_targets = {"replica-a:8500", "replica-b:8500"},
                       .model_name = "sentiment",
                       .run_background = false},
                      std::move(pusher));

  publisher.PollOnce();
  ASSERT_EQ(fake->pushed().size(), 1u);
  EXPECT_EQ(fake->pushed()[0].checkpoint_dir, dir + "/checkpoints/step-20") << "the best one";
  EXPECT_EQ(fake->pushed()[0].target, "replica-a:8500");
  EXPECT_EQ(fake->pushed()[0].model, "sentiment");

  publisher.PollOnce();  // a is done; b is still down
  EXPECT_EQ(fake->pushed().size(), 1u);

  fake->SetDown("replica-b:8500", false);
  publisher.PollOnce();
  ASSERT_EQ(fake->pushed().size(), 2u);
  EXPECT_EQ(fake->pushed()[1].target, "replica-b:8500");
  publisher.PollOnce();  // both have it
  EXPECT_EQ(fake->pushed().size(), 2u);

  // What was sent is journaled with the checkpoint: a restarted coordinator does not send it
  // again.
  auto best = job->BestCheckpoint();
  ASSERT_TRUE(best.ok());
  EXPECT_TRUE(WasPublishedTo(*best, "replica-a:8500"));
  EXPECT_TRUE(WasPublishedTo(*best, "replica-b:8500"));
  job.reset();
  std::unique_ptr<Job> restarted = OpenJob(dir);
  ASSERT_NE(restarted, nullptr);
  auto after_restart = std::make_unique<FakePusher>();
  FakePusher* second = after_restart.get();
  Publisher republisher(restarted.get(),
                        {.auto_targets = {"replica-a:8500", "replica-b:8500"},
                         .run_background = false},
                        std::move(after_restart));
  republisher.PollOnce();
  EXPECT_TRUE(second->pushed().empty()) << "a restart sent the same checkpoint again";
}

}  // namespace
}  // namespace murmur::coordinator
