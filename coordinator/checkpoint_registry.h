// The job's checkpoints: what workers reported (path, step, epoch, metrics, the generation that
// wrote it), each with the ledger's snapshot as of its step, so that resuming it restores the
// sample accounting exactly; which one is best; where each was published.
//
// Value type, like EpochLedger; not thread-safe (the Job's mutex guards it).
#ifndef MURMUR_COORDINATOR_CHECKPOINT_REGISTRY_H_
#define MURMUR_COORDINATOR_CHECKPOINT_REGISTRY_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/best_metric.h"
#include "coordinator/journal.pb.h"
#include "coordinator/ledger.h"
#include "proto/coordinator.pb.h"

namespace murmur::coordinator {

class CheckpointRegistry {
 public:
  // The best checkpoint is the one whose evaluation scores highest by `metric`.
  explicit CheckpointRegistry(BestMetric metric = BestMetric::kAccuracy) : metric_(metric) {}

  // Records a reported checkpoint (validated by the caller) with `ledger`'s snapshot at its
  // step. false for a repeated report of a known path (ignored). FAILED_PRECONDITION when the
  // ledger no longer knows the accounting of that step exactly (nothing recorded).
  absl::StatusOr<bool> Add(const v1::CheckpointReport& report, const EpochLedger& ledger);

  // The checkpoint of the highest step (the last reported among equals); null when none.
  const journal::Checkpoint* Latest() const;
  // The best one (the best score by the metric, the earliest among equals; the latest when none
  // has metrics). NOT_FOUND when there is none.
  absl::StatusOr<v1::CheckpointInfo> Best() const;
  // Whether a checkpoint at `step` or later exists (the final model has been written).
  bool HasStepAtLeast(int64_t step) const;
  // Retention: keeps the newest `keep` checkpoints (by step), the best, Latest(), and those in
  // `pinned`; removes the others and returns their paths. keep <= 0 keeps all.
  std::vector<std::string> Retain(int keep, const std::set<std::string>& pinned);
  // Appends the publication to the checkpoint's list; false for an unknown path.
  bool RecordPublished(const std::string& path, const v1::Publication& publication);

  const std::vector<journal::Checkpoint>& all() const { return checkpoints_; }
  void Restore(std::vector<journal::Checkpoint> checkpoints) {
    checkpoints_ = std::move(checkpoints);
    MarkBest();
  }

 private:
  void MarkBest();
  BestMetric metric_;
  std::vector<journal::Checkpoint> checkpoints_;  // in report order
};

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_CHECKPOINT_REGISTRY_H_
