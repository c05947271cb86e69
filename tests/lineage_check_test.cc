// The lineage check on hand-made journals and traces: a lineage with a rollback (the abandoned
// branch must not count), and each kind of violation it must catch.
#include "tests/lineage_check.h"

#include <gtest/gtest.h>

#include <numeric>

namespace murmur::testing {
namespace {

namespace journal = coordinator::journal;

// One epoch of 16 samples (rows 0..15), 4 rows a step:
//  generation 1: world 2 (2 rows a rank), from initialisation, traced steps 1..4;
//  generation 2: world 1, from a member whose state generation 1 produced at step 3, so step 4
//  of generation 1 was abandoned, and generation 2 trains its rows (12..15) again as its step 4;
//  the final checkpoint is generation 2's step 4.
class LineageCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_.mutable_spec()->set_epochs(1);
    state_.set_train_samples(16);
    journal::Generation* first = state_.add_history();
    first->set_generation(1);
    first->add_members("w-1");
    first->add_members("w-2");
    first->set_global_step(0);
    first->set_origin("initialisation");
    journal::Generation* second = state_.add_history();
    second->set_generation(2);
    second->add_members("w-1");
    second->set_global_step(3);
    second->set_origin("member");
    second->set_parent_generation(1);
    journal::Checkpoint* checkpoint = state_.add_checkpoints();
    checkpoint->mutable_info()->set_global_step(4);
    checkpoint->set_generation(2);
    journal::EpochConsumed* consumed = state_.mutable_ledger()->add_epochs();
    v1::PositionRange* range = consumed->add_consumed();
    range->set_begin(0);
    range->set_end(16);
    // Generation 1: steps 1..3 kept, step 4 abandoned (its rows come again in generation 2).
    uint32_t row = 0;
    for (int64_t step = 1; step <= 4; ++step) {
      const uint32_t base = step <= 3 ? row : 12;
      traces_.push_back({1, 0, 2, step, 0, {base, base + 1}});
      traces_.push_back({1, 1, 2, step, 0, {base + 2, base + 3}});
      if (step <= 3) row += 4;
    }
    traces_.push_back({2, 0, 1, 4, 0, {12, 13, 14, 15}});
  }

  journal::State state_;
  std::vector<TraceStep> traces_;
};

TEST_F(LineageCheckTest, AcceptsALineageWithARollback) {
  auto report = CheckLineage(state_, traces_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->final_step, 4);
  EXPECT_EQ(report->generations, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(report->steps, 4);
  EXPECT_EQ(report->rows_per_epoch, (std::vector<int64_t>{16}));
}

TEST_F(LineageCheckTest, CatchesARowTrainedTwice) {
  traces_.back().rows = {12, 13, 14, 0};  // row 0 again, row 15 never
  auto report = CheckLineage(state_, traces_);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(report.status().message().find("more than once"), std::string::npos)
      << report.status();
}

TEST_F(LineageCheckTest, CatchesAnEpochTheModelDidNotTrainCompletely) {
  // The checkpoint was resumed from initialisation instead: steps 1..3 are not the model's.
  state_.mutable_history(1)->set_origin("initialisation");
  state_.mutable_history(1)->set_global_step(0);
  state_.mutable_history(1)->set_parent_generation(0);
  traces_.push_back({2, 0, 1, 1, 0, {0, 1, 2, 3}});
  traces_.push_back({2, 0, 1, 2, 0, {4, 5, 6, 7}});
  traces_.push_back({2, 0, 1, 3, 0, {8, 9, 10, 11}});
  EXPECT_TRUE(CheckLineage(state_, traces_).ok());
  traces_.pop_back();  // step 3 of generation 2 untraced: a hole in the evidence
  auto report = CheckLineage(state_, traces_);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(report.status().message().find("0 of 1 ranks"), std::string::npos) << report.status();
}

TEST_F(LineageCheckTest, CatchesAMissingRankAndABrokenLineage) {
  std::vector<TraceStep> missing = traces_;
  missing.erase(missing.begin() + 1);  // rank 1's share of generation 1 step 1
  auto report = CheckLineage(state_, missing);
  EXPECT_NE(report.status().message().find("1 of 2 ranks"), std::string::npos) << report.status();

  state_.mutable_history(1)->set_parent_generation(7);
  report = CheckLineage(state_, traces_);
  EXPECT_NE(report.status().message().find("generation 7 is not in"), std::string::npos)
      << report.status();
}

TEST_F(LineageCheckTest, CatchesACompleteEpochWithRowsMissing) {
  state_.set_train_samples(16);
  traces_.back().rows = {12, 13, 14};
  auto report = CheckLineage(state_, traces_);
  EXPECT_NE(report.status().message().find("trained 15 of its 16"), std::string::npos)
      << report.status();
}

}  // namespace
}  // namespace murmur::testing
