#include "coordinator/checkpoint_janitor.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/test_util.h"
#include "coordinator/job_spec.h"

namespace murmur::coordinator {
namespace {

namespace fs = std::filesystem;

std::string MakeCheckpoint(const std::string& dir) {
  EXPECT_TRUE(MakeDirectories(dir).ok());
  EXPECT_TRUE(WriteFileAtomically(dir + "/model.safetensors", "weights").ok());
  EXPECT_TRUE(WriteFileAtomically(dir + "/MANIFEST", "sha256").ok());
  return dir;
}

TEST(DeleteCheckpointDirectoryTest, DeletesOnlyDirectChildrenOfTheRoot) {
  const std::string root = testing::TempDir() + "/janitor-root/checkpoints";
  fs::remove_all(root);
  const std::string step = MakeCheckpoint(root + "/step-10");
  EXPECT_TRUE(DeleteCheckpointDirectory(root, step).ok());
  EXPECT_FALSE(fs::exists(step));
  EXPECT_TRUE(DeleteCheckpointDirectory(root, step).ok()) << "already gone is done";

  // A crash after the rename: the .deleting leftover goes.
  const std::string half = MakeCheckpoint(root + "/step-20.deleting");
  EXPECT_TRUE(DeleteCheckpointDirectory(root, root + "/step-20").ok());
  EXPECT_FALSE(fs::exists(half));

  const std::string outside = MakeCheckpoint(testing::TempDir() + "/janitor-root/elsewhere");
  for (const std::string& path :
       {outside, root, root + "/..", root + "/step-30/../../elsewhere", std::string("/")}) {
    EXPECT_EQ(DeleteCheckpointDirectory(root, path).code(), absl::StatusCode::kFailedPrecondition)
        << path;
  }
  EXPECT_TRUE(fs::exists(outside + "/model.safetensors"));
}

// keep_checkpoints 1 on a journaled job: reports make the older checkpoints pending deletions
// (journaled), the janitor removes their directories and the pending list empties; a pending
// deletion in the journal is finished by a janitor after a restart.
TEST(CheckpointJanitorTest, RetentionDeletesDirectoriesAndSurvivesARestart) {
  const std::string dir = testing::TempDir() + "/janitor-job";
  fs::remove_all(dir);
  auto spec = ParseJobSpec(
      R"({"corpus_path": "/c", "vocab_path": "/v", "keep_checkpoints": 1, "min_workers": 1})",
      dir);
  ASSERT_TRUE(spec.ok()) << spec.status();
  Job::Options options;
  options.spec = *spec;
  options.train_samples = 100;
  options.journal_dir = dir;
  options.join_settle = absl::ZeroDuration();
  const std::string root = spec->checkpoint_dir();
  auto job = Job::Create(options);
  ASSERT_TRUE(job.ok()) << job.status();
  v1::JoinRequest join;
  join.set_name("w");
  auto joined = (*job)->Join(join);
  ASSERT_TRUE(joined.ok());
  v1::RendezvousRequest rendezvous;
  rendezvous.set_worker_id(joined->worker_id());
  rendezvous.set_global_step(-1);
  ASSERT_TRUE((*job)->Rendezvous(rendezvous, absl::Seconds(30)).ok());
  auto report = [&](int64_t step, double accuracy) {
    v1::CheckpointReport checkpoint;
    checkpoint.set_worker_id(joined->worker_id());
    checkpoint.set_generation(1);
    checkpoint.set_path(MakeCheckpoint(absl::StrCat(root, "/step-", step)));
    checkpoint.set_global_step(step);
    checkpoint.mutable_metrics()->set_accuracy(accuracy);
    checkpoint.mutable_metrics()->set_global_step(step);
    return (*job)->ReportCheckpoint(checkpoint);
  };
  ASSERT_TRUE(report(1, 0.9).ok());  // the best
  ASSERT_TRUE(report(1, 0.9).ok());  // a second rank's report changes nothing
  ASSERT_TRUE(report(2, 0.5).ok());
  EXPECT_TRUE((*job)->PendingDeletions().empty()) << "the best and the newest";
  ASSERT_TRUE(report(3, 0.6).ok());
  EXPECT_EQ((*job)->PendingDeletions(), std::vector<std::string>{root + "/step-2"});
  EXPECT_EQ((*job)->JournalState().pending_deletions_size(), 1);
  (*job)->Shutdown();
  job->reset();

  // Restarted before the janitor ran: the journal still holds the pending deletion.
  auto restarted = Job::Create(options);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  EXPECT_EQ((*restarted)->PendingDeletions(), std::vector<std::string>{root + "/step-2"});
  CheckpointJanitor janitor(restarted->get(), root);
  janitor.RunOnce();
  EXPECT_FALSE(fs::exists(root + "/step-2"));
  EXPECT_TRUE(fs::exists(root + "/step-1/model.safetensors"));
  EXPECT_TRUE(fs::exists(root + "/step-3/model.safetensors"));
  EXPECT_TRUE((*restarted)->PendingDeletions().empty());
  EXPECT_EQ((*restarted)->JournalState().pending_deletions_size(), 0);
  std::vector<std::string> listed;
  const v1::JobStatus status = (*restarted)->Status();
  for (const auto& checkpoint : status.checkpoints()) {
    listed.push_back(checkpoint.path());
  }
  EXPECT_EQ(listed, (std::vector<std::string>{root + "/step-1", root + "/step-3"}));
}

}  // namespace
}  // namespace murmur::coordinator
