#include "coordinator/checkpoint_registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace murmur::coordinator {

absl::StatusOr<bool> CheckpointRegistry::Add(const v1::CheckpointReport& report,
                                             const EpochLedger& ledger) {
  for (const journal::Checkpoint& checkpoint : checkpoints_) {
    if (checkpoint.info().path() == report.path()) return false;
  }
  auto snapshot = ledger.SnapshotAt(report.global_step());
  if (!snapshot.ok()) return snapshot.status();  // it could never be resumed with its accounting
  journal::Checkpoint& checkpoint = checkpoints_.emplace_back();
  v1::CheckpointInfo* info = checkpoint.mutable_info();
  info->set_path(report.path());
  info->set_global_step(report.global_step());
  info->set_epoch(report.epoch());
  if (report.has_metrics()) *info->mutable_metrics() = report.metrics();
  checkpoint.set_generation(report.generation());
  for (const journal::EpochConsumed& entry : *snapshot) *checkpoint.add_progress() = entry;
  MarkBest();
  return true;
}

const journal::Checkpoint* CheckpointRegistry::Latest() const {
  const journal::Checkpoint* latest = nullptr;
  for (const journal::Checkpoint& checkpoint : checkpoints_) {
    if (latest == nullptr || checkpoint.info().global_step() >= latest->info().global_step()) {
      latest = &checkpoint;
    }
  }
  return latest;
}

absl::StatusOr<v1::CheckpointInfo> CheckpointRegistry::Best() const {
  for (const journal::Checkpoint& checkpoint : checkpoints_) {
    if (checkpoint.info().best()) return checkpoint.info();
  }
  const journal::Checkpoint* latest = Latest();
  if (latest == nullptr) return absl::NotFoundError("no checkpoint has been reported yet");
  return latest->info();
}

std::vector<std::string> CheckpointRegistry::Retain(int keep, const std::set<std::string>& pinned) {
  std::vector<std::string> removed;
  if (keep <= 0) return removed;
  std::vector<const journal::Checkpoint*> by_step;
  for (const journal::Checkpoint& checkpoint : checkpoints_) by_step.push_back(&checkpoint);
  std::stable_sort(by_step.begin(), by_step.end(), [](const auto* a, const auto* b) {
    return a->info().global_step() > b->info().global_step();
  });
  std::set<std::string> kept = pinned;
  for (int i = 0; i < keep && i < static_cast<int>(by_step.size()); ++i) {
    kept.insert(by_step[i]->info().path());
  }
  if (auto best = Best(); best.ok()) kept.insert(best->path());
  // The newest as Latest() defines it (the last reported among equal steps): the lineage's.
  if (const journal::Checkpoint* latest = Latest()) kept.insert(latest->info().path());
  std::vector<journal::Checkpoint> remaining;
  for (journal::Checkpoint& checkpoint : checkpoints_) {
    if (kept.count(checkpoint.info().path()) > 0) {
      remaining.push_back(std::move(checkpoint));
    } else {
      removed.push_back(checkpoint.info().path());
    }
  }
  checkpoints_ = std::move(remaining);
  return removed;
}

bool CheckpointRegistry::HasStepAtLeast(int64_t step) const {
  for (const journal::Checkpoint& checkpoint : checkpoints_) {
    if (checkpoint.info().global_step() >= step) return true;
  }
  return false;
}

bool CheckpointRegistry::RecordPublished(const std::string& path,
                                         const v1::Publication& publication) {
  bool found = false;
  for (journal::Checkpoint& record : checkpoints_) {
    if (record.info().path() == path) {
      *record.mutable_info()->add_publications() = publication;
      found = true;
    }
  }
  return found;
}

void CheckpointRegistry::MarkBest() {
  int best = -1;
  for (int i = 0; i < static_cast<int>(checkpoints_.size()); ++i) {
    const v1::CheckpointInfo& info = checkpoints_[i].info();
    if (!info.has_metrics()) continue;
    if (best < 0 ||
        Score(info.metrics(), metric_) > Score(checkpoints_[best].info().metrics(), metric_)) {
      best = i;
    }
  }
  for (int i = 0; i < static_cast<int>(checkpoints_.size()); ++i) {
    checkpoints_[i].mutable_info()->set_best(i == best);
  }
}

}  // namespace murmur::coordinator
