// The checkpoint registry (snapshots, best, latest, publications) and the journal codec.
#include "coordinator/checkpoint_registry.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/test_util.h"
#include "coordinator/journal.h"

namespace murmur::coordinator {
namespace {

using data::PositionSet;

v1::CheckpointReport Report(const std::string& path, int64_t step, double accuracy = -1) {
  v1::CheckpointReport report;
  report.set_path(path);
  report.set_global_step(step);
  report.set_generation(3);
  if (accuracy >= 0) report.mutable_metrics()->set_accuracy(accuracy);
  return report;
}

TEST(CheckpointRegistryTest, KeepsTheAccountingOfItsStepAndPicksBestAndLatest) {
  EpochLedger ledger(1, 100);
  ASSERT_TRUE(ledger.Record(0, 1, PositionSet::Range(0, 10)).ok());
  ASSERT_TRUE(ledger.Record(0, 2, PositionSet::Range(10, 20)).ok());
  CheckpointRegistry registry;
  EXPECT_EQ(registry.Best().status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry.Latest(), nullptr);
  // Reported after step 2 was recorded, for step 1: the snapshot leaves step 2 out.
  ASSERT_TRUE(*registry.Add(Report("/c/1", 1, 0.8), ledger));
  ASSERT_TRUE(*registry.Add(Report("/c/2", 2, 0.7), ledger));
  EXPECT_FALSE(*registry.Add(Report("/c/2", 2, 0.9), ledger));  // repeated: ignored
  ASSERT_EQ(registry.all().size(), 2u);
  EXPECT_EQ(ToPositionSet(registry.all()[0].progress(0).consumed()), PositionSet::Range(0, 10));
  EXPECT_EQ(ToPositionSet(registry.all()[1].progress(0).consumed()), PositionSet::Range(0, 20));
  EXPECT_EQ(registry.all()[0].generation(), 3);
  EXPECT_EQ(registry.Best()->path(), "/c/1");
  EXPECT_EQ(registry.Latest()->info().path(), "/c/2");
  EXPECT_TRUE(registry.HasStepAtLeast(2));
  EXPECT_FALSE(registry.HasStepAtLeast(3));
  v1::Publication publication;
  publication.set_target("host:1");
  publication.set_version(4);
  EXPECT_TRUE(registry.RecordPublished("/c/1", publication));
  EXPECT_FALSE(registry.RecordPublished("/nope", publication));
  ASSERT_EQ(registry.Best()->publications_size(), 1);
  EXPECT_EQ(registry.Best()->publications(0).target(), "host:1");
  EXPECT_EQ(registry.Best()->publications(0).version(), 4);
}

TEST(CheckpointRegistryTest, RefusesACheckpointWhoseAccountingIsNoLongerKnown) {
  const int steps = EpochLedger::kRecentSteps + 5;
  EpochLedger ledger(1, steps);
  for (int step = 1; step <= steps; ++step) {
    ASSERT_TRUE(ledger.Record(0, step, PositionSet::Range(step - 1, step)).ok());
  }
  CheckpointRegistry registry;
  EXPECT_EQ(registry.Add(Report("/c/1", 1), ledger).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(registry.all().empty());
}

TEST(CheckpointRegistryTest, RetentionKeepsTheNewestTheBestAndThePinned) {
  EpochLedger ledger(1, 100);
  for (int step = 1; step <= 6; ++step) {
    ASSERT_TRUE(ledger.Record(0, step, PositionSet::Range(10 * (step - 1), 10 * step)).ok());
  }
  CheckpointRegistry registry;
  const double accuracy[] = {0.5, 0.9, 0.6, 0.7, 0.65, 0.66};  // step 2 is the best
  for (int step = 1; step <= 6; ++step) {
    ASSERT_TRUE(*registry.Add(Report(absl::StrCat("/c/", step), step, accuracy[step - 1]),
                              ledger));
  }
  EXPECT_TRUE(registry.Retain(0, {}).empty()) << "0 keeps all";
  EXPECT_EQ(registry.Retain(2, {"/c/3"}), (std::vector<std::string>{"/c/1", "/c/4"}));
  std::vector<std::string> kept;
  for (const auto& checkpoint : registry.all()) kept.push_back(checkpoint.info().path());
  EXPECT_EQ(kept, (std::vector<std::string>{"/c/2", "/c/3", "/c/5", "/c/6"}));
  EXPECT_EQ(registry.Best()->path(), "/c/2");
  EXPECT_EQ(registry.Latest()->info().path(), "/c/6");
  // Unpinned, 3 goes at the next pass.
  EXPECT_EQ(registry.Retain(2, {}), (std::vector<std::string>{"/c/3"}));
  // Two checkpoints of the newest step: Latest() is the one reported last, and it stays even
  // when `keep` counts only one of them.
  ASSERT_TRUE(*registry.Add(Report("/c/6b", 6, 0.1), ledger));
  EXPECT_EQ(registry.Latest()->info().path(), "/c/6b");
  EXPECT_EQ(registry.Retain(1, {}), (std::vector<std::string>{"/c/5"}));
  std::vector<std::string> after;
  for (const auto& checkpoint : registry.all()) after.push_back(checkpoint.info().path());
  EXPECT_EQ(after, (std::vector<std::string>{"/c/2", "/c/6", "/c/6b"}));
}

TEST(JournalTest, RoundTripAndClearErrors) {
  const std::string dir = absl::StrCat(testing::TempDir(), "/journal-", getpid());
  ASSERT_TRUE(MakeDirectories(dir).ok());
  EXPECT_FALSE(JournalExists(dir));
  journal::State state;
  state.set_train_samples(7);
  state.add_history()->set_origin("initialisation");
  ASSERT_TRUE(WriteJournal(dir, state).ok());
  auto read = ReadJournal(dir);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->version(), kJournalVersion);
  EXPECT_EQ(read->train_samples(), 7);
  EXPECT_EQ(read->history(0).origin(), "initialisation");

  ASSERT_TRUE(WriteFileAtomically(JournalPath(dir), "{\"version\": 99}").ok());
  EXPECT_EQ(ReadJournal(dir).status().code(), absl::StatusCode::kFailedPrecondition);
  // An older journal, with a field this version no longer has: "another version", not "corrupt".
  ASSERT_TRUE(WriteFileAtomically(
                  JournalPath(dir),
                  R"({"version": 1, "checkpoints": [{"info": {"published": ["h:1 -> 2"]}}]})")
                  .ok());
  auto old = ReadJournal(dir);
  EXPECT_EQ(old.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(old.status().message().find("journal version 1"), std::string::npos) << old.status();
  ASSERT_TRUE(WriteFileAtomically(JournalPath(dir), "{not json").ok());
  EXPECT_EQ(ReadJournal(dir).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace murmur::coordinator
