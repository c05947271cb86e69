#include "coordinator/ledger.h"

#include <gtest/gtest.h>

namespace murmur::coordinator {
namespace {

using data::PositionSet;

TEST(EpochLedgerTest, PlanIsTheUnreadRemainderOfTheCurrentEpoch) {
  EpochLedger ledger(/*num_epochs=*/2, /*num_samples=*/100);
  EXPECT_EQ(ledger.Plan().epoch(), 0);
  EXPECT_EQ(ToPositionSet(ledger.Plan().remaining()), PositionSet::Range(0, 100));
  ASSERT_TRUE(ledger.Record(0, 1, PositionSet::Range(0, 10)).ok());
  ASSERT_TRUE(ledger.Record(0, 2, PositionSet::Range(10, 20)).ok());
  EXPECT_EQ(ToPositionSet(ledger.Plan().remaining()), PositionSet::Range(20, 100));
  EXPECT_EQ(ledger.max_step(), 2);
  EXPECT_EQ(ledger.remaining_samples(), 180u);
}

TEST(EpochLedgerTest, EpochCompletesAndNextEpochStartsWhole) {
  EpochLedger ledger(2, 10);
  auto first = ledger.Record(0, 1, PositionSet::Range(0, 6));
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->completed_epoch);
  auto second = ledger.Record(0, 2, PositionSet::Range(6, 10));
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->completed_epoch);
  EXPECT_EQ(ledger.current_epoch(), 1);
  EXPECT_EQ(ToPositionSet(ledger.Plan().remaining()), PositionSet::Range(0, 10));
  ASSERT_TRUE(ledger.Record(1, 3, PositionSet::Range(0, 10)).ok());
  EXPECT_TRUE(ledger.all_complete());
  EXPECT_EQ(ledger.Plan().epoch(), 2);
  EXPECT_TRUE(ledger.Plan().remaining().empty());
}

TEST(EpochLedgerTest, RepeatedReportOfTheSameStepIsIgnored) {
  EpochLedger ledger(1, 100);
  ASSERT_TRUE(ledger.Record(0, 1, PositionSet::Range(0, 10)).ok());
  auto again = ledger.Record(0, 1, PositionSet::Range(0, 10));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, EpochLedger::Outcome::kDuplicate);
  EXPECT_EQ(ledger.Accounting()[0].consumed(), 10);
  EXPECT_EQ(ledger.Accounting()[0].duplicated(), 0);
}

TEST(EpochLedgerTest, GenuineDoubleConsumptionIsCounted) {
  EpochLedger ledger(1, 100);
  ASSERT_TRUE(ledger.Record(0, 1, PositionSet::Range(0, 10)).ok());
  auto overlap = ledger.Record(0, 2, PositionSet::Range(5, 15));
  ASSERT_TRUE(overlap.ok());
  EXPECT_EQ(overlap->outcome, EpochLedger::Outcome::kRecorded);
  EXPECT_EQ(overlap->duplicated, 5u);
  EXPECT_EQ(overlap->newly_consumed, 5u);
  const v1::EpochAccounting accounting = ledger.Accounting()[0];
  EXPECT_EQ(accounting.consumed(), 15);
  EXPECT_EQ(accounting.duplicated(), 5);
}

TEST(EpochLedgerTest, RejectsBadWindows) {
  EpochLedger ledger(1, 100);
  EXPECT_EQ(ledger.Record(1, 1, PositionSet::Range(0, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger.Record(0, 1, PositionSet::Range(90, 101)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger.Record(0, 1, PositionSet()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger.Record(0, 0, PositionSet::Range(0, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger.Accounting()[0].consumed(), 0);
}

TEST(EpochLedgerTest, SnapshotAtEarlierStepAndRollback) {
  EpochLedger ledger(2, 20);
  ASSERT_TRUE(ledger.Record(0, 1, PositionSet::Range(0, 10)).ok());
  ASSERT_TRUE(ledger.Record(0, 2, PositionSet::Range(10, 20)).ok());
  ASSERT_TRUE(ledger.Record(1, 3, PositionSet::Range(0, 10)).ok());
  auto at_two = *ledger.SnapshotAt(2);
  ASSERT_EQ(at_two.size(), 1u);
  EXPECT_EQ(at_two[0].epoch(), 0);
  EXPECT_EQ(ToPositionSet(at_two[0].consumed()), PositionSet::Range(0, 20));
  auto at_one = *ledger.SnapshotAt(1);
  ASSERT_EQ(at_one.size(), 1u);
  EXPECT_EQ(ToPositionSet(at_one[0].consumed()), PositionSet::Range(0, 10));

  ASSERT_TRUE(ledger.RestoreSnapshot(at_one, 1).ok());
  EXPECT_EQ(ledger.current_epoch(), 0);
  EXPECT_EQ(ToPositionSet(ledger.Plan().remaining()), PositionSet::Range(10, 20));
  EXPECT_EQ(ledger.max_step(), 1);
  // Step 2 is trained again after the rollback: not a duplicate report, not a double consumption.
  auto again = ledger.Record(0, 2, PositionSet::Range(10, 20));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, EpochLedger::Outcome::kRecorded);
  EXPECT_EQ(ledger.Accounting()[0].duplicated(), 0);
}

TEST(EpochLedgerTest, RefusesAGapInTheSteps) {
  EpochLedger ledger(1, 100);
  ASSERT_TRUE(ledger.Record(0, 1, PositionSet::Range(0, 10)).ok());
  // Step 2's report was lost: step 3 must not be accepted, or positions 10..20 would count as
  // never consumed while the model trained them.
  auto gap = ledger.Record(0, 3, PositionSet::Range(20, 30));
  EXPECT_EQ(gap.status().code(), absl::StatusCode::kFailedPrecondition) << gap.status();
  EXPECT_EQ(ledger.max_step(), 1);
  EXPECT_EQ(ledger.Accounting()[0].consumed(), 10);
  ASSERT_TRUE(ledger.Record(0, 2, PositionSet::Range(10, 20)).ok());
  ASSERT_TRUE(ledger.Record(0, 3, PositionSet::Range(20, 30)).ok());
  EXPECT_EQ(ledger.max_step(), 3);
}

TEST(EpochLedgerTest, SnapshotBeforeTheRememberedStepsIsRefused) {
  const int steps = EpochLedger::kRecentSteps + 10;
  EpochLedger ledger(1, steps);
  for (int step = 1; step <= steps; ++step) {
    ASSERT_TRUE(ledger.Record(0, step, PositionSet::Range(step - 1, step)).ok());
  }
  // Steps 1..10 were forgotten one by one: a snapshot at step 5 cannot be exact.
  EXPECT_EQ(ledger.SnapshotAt(5).status().code(), absl::StatusCode::kFailedPrecondition);
  auto recent = ledger.SnapshotAt(steps - 1);
  ASSERT_TRUE(recent.ok()) << recent.status();
  EXPECT_EQ(ToPositionSet((*recent)[0].consumed()), PositionSet::Range(0, steps - 1));
  // The limit survives the journal.
  auto restored = EpochLedger::FromProto(1, steps, ledger.ToProto());
  ASSERT_TRUE(restored.ok());
  EXPECT_FALSE(restored->SnapshotAt(5).ok());
}

TEST(EpochLedgerTest, ProtoRoundTrip) {
  EpochLedger ledger(3, 50);
  ASSERT_TRUE(ledger.Record(0, 1, PositionSet::Range(0, 50)).ok());
  ASSERT_TRUE(ledger.Record(1, 2, PositionSet::Range(0, 7)).ok());
  ASSERT_TRUE(ledger.Record(1, 3, PositionSet::Range(3, 9)).ok());  // 4 duplicated
  auto restored = EpochLedger::FromProto(3, 50, ledger.ToProto());
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->ToProto().SerializeAsString(), ledger.ToProto().SerializeAsString());
  EXPECT_EQ(restored->Accounting()[1].duplicated(), 4);
  EXPECT_EQ(restored->Accounting()[1].consumed(), 9);
  EXPECT_EQ(restored->max_step(), 3);
  // The restored ledger still recognises a repeated report.
  auto again = restored->Record(1, 3, PositionSet::Range(3, 9));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, EpochLedger::Outcome::kDuplicate);
}

}  // namespace
}  // namespace murmur::coordinator
