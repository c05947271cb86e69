// The epoch ledger: which positions of which epoch applied optimizer steps have consumed. It is
// the coordinator's sample accounting ("every training sample exactly once per epoch, also
// across membership changes") and the source of every rendezvous plan (the unread remainder
// of the current epoch).
//
// Workers report each applied window (WindowReport); every member of a generation may report
// the same step, so a report of a step already recorded with the same positions is ignored, and
// steps arrive in order (a gap is refused, never accepted silently). A
// position consumed by two different reports is a real double consumption: it is counted in
// `duplicated` (which must stay 0) and not recorded twice. The ledger remembers the windows of
// the most recent steps, so it can take the snapshot a checkpoint of an earlier step needs and
// roll back to it when a job resumes from that checkpoint.
//
// Value type built on data::EpochProgress; not thread-safe (the Job's mutex guards it).
#ifndef MURMUR_COORDINATOR_LEDGER_H_
#define MURMUR_COORDINATOR_LEDGER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/journal.pb.h"
#include "data/sampler.h"
#include "google/protobuf/repeated_field.h"
#include "proto/coordinator.pb.h"
#include "proto/job_conversions.h"

namespace murmur::coordinator {

class EpochLedger {
 public:
  // How many recent steps' windows are kept. Duplicate reports arrive within a step or two of
  // the original, and checkpoints are reported right after their step.
  static constexpr int kRecentSteps = 256;

  EpochLedger(int32_t num_epochs, uint64_t num_samples);

  enum class Outcome {
    kRecorded,   // new positions recorded (possibly with some counted as duplicated)
    kDuplicate,  // a repeated report of a step already recorded: ignored
  };
  struct RecordResult {
    Outcome outcome = Outcome::kRecorded;
    uint64_t newly_consumed = 0;
    uint64_t duplicated = 0;
    bool completed_epoch = false;  // this report finished its epoch
  };
  // Records the window of `global_step` (steps completed after applying it) in `epoch`.
  // INVALID_ARGUMENT for an epoch outside [0, num_epochs), positions outside the epoch or an
  // empty window; FAILED_PRECONDITION for a step beyond max_step() + 1 (a gap: the reports of
  // the steps between are missing, and accepting it would lose their positions).
  absl::StatusOr<RecordResult> Record(int32_t epoch, int64_t global_step,
                                      const data::PositionSet& positions);

  // The lowest epoch not yet complete; num_epochs() when every epoch is complete.
  int32_t current_epoch() const;
  bool all_complete() const { return current_epoch() >= num_epochs_; }
  // The plan a generation formed now trains on: the current epoch and its unread positions.
  v1::EpochPlan Plan() const;
  // Highest global_step recorded (0 before any).
  int64_t max_step() const { return max_step_; }
  int32_t num_epochs() const { return num_epochs_; }
  uint64_t num_samples() const { return num_samples_; }
  // Samples still to train in this and later epochs.
  uint64_t remaining_samples() const;

  // Per-epoch counts for JobStatus, every epoch listed.
  std::vector<v1::EpochAccounting> Accounting() const;

  // The consumed positions as of `global_step`: windows of later steps are left out.
  // FAILED_PRECONDITION when a window after `global_step` is no longer remembered (the snapshot
  // would be wrong); checkpoints keep their snapshot, so resuming one never needs this.
  absl::StatusOr<std::vector<journal::EpochConsumed>> SnapshotAt(int64_t global_step) const;
  // Rolls the consumed positions back to `snapshot` (taken by SnapshotAt(step)); forgets
  // recorded windows after `step`, whose step numbers the resumed job will reuse. Duplicate
  // counts are kept (they are a history of errors, not of progress).
  absl::Status RestoreSnapshot(const std::vector<journal::EpochConsumed>& snapshot, int64_t step);

  journal::Ledger ToProto() const;
  static absl::StatusOr<EpochLedger> FromProto(int32_t num_epochs, uint64_t num_samples,
                                               const journal::Ledger& proto);

 private:
  struct Window {
    int64_t global_step;
    int32_t epoch;
    data::PositionSet positions;  // as reported
    data::PositionSet fresh;      // what this report consumed first
  };
  data::EpochProgress& Progress(int32_t epoch);

  int32_t num_epochs_;
  uint64_t num_samples_;
  std::map<int32_t, data::EpochProgress> epochs_;  // epochs with any consumption
  std::map<int32_t, int64_t> duplicated_;
  std::deque<Window> recent_;  // ascending by arrival
  int64_t max_step_ = 0;
  // The highest step whose window was dropped from recent_ (snapshots before it are inexact).
  int64_t forgotten_step_ = 0;
};

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_LEDGER_H_
