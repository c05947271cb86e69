#include "coordinator/ledger.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace murmur::coordinator {

EpochLedger::EpochLedger(int32_t num_epochs, uint64_t num_samples)
    : num_epochs_(num_epochs), num_samples_(num_samples) {}

data::EpochProgress& EpochLedger::Progress(int32_t epoch) {
  auto it = epochs_.find(epoch);
  if (it == epochs_.end()) {
    it = epochs_.emplace(epoch, data::EpochProgress(epoch, num_samples_)).first;
  }
  return it->second;
}

absl::StatusOr<EpochLedger::RecordResult> EpochLedger::Record(int32_t epoch, int64_t global_step,
                                                              const data::PositionSet& positions) {
  if (epoch < 0 || epoch >= num_epochs_) {
    return absl::InvalidArgumentError(
        absl::StrCat("epoch ", epoch, " outside the job's epochs [0, ", num_epochs_, ")"));
  }
  if (global_step <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("global_step must be > 0 (steps completed), got ", global_step));
  }
  if (positions.empty()) return absl::InvalidArgumentError("empty window");
  if (positions.ranges().back().end > num_samples_) {
    return absl::InvalidArgumentError(absl::StrCat("window ", positions.ToString(),
                                                   " reaches past the epoch's ", num_samples_,
                                                   " samples"));
  }
  if (global_step > max_step_ + 1) {
    // Steps are applied one after another: a report past the next one means the reports in
    // between were lost, and the ledger would silently miss their positions.
    return absl::FailedPreconditionError(absl::StrCat(
        "step ", global_step, " reported, but steps are recorded only up to ", max_step_,
        ": the reports in between are missing (deliver them first, in order)"));
  }
  RecordResult result;
  for (const Window& window : recent_) {
    if (window.global_step == global_step && window.epoch == epoch &&
        window.positions == positions) {
      result.outcome = Outcome::kDuplicate;
      return result;
    }
  }
  data::EpochProgress& progress = Progress(epoch);
  const data::PositionSet overlap = positions.Intersect(progress.consumed());
  // A report older than every remembered step whose positions are all consumed is a late
  // repeat of a report we no longer remember, not a second consumption.
  if (overlap == positions && recent_.size() == kRecentSteps &&
      global_step < recent_.front().global_step) {
    result.outcome = Outcome::kDuplicate;
    return result;
  }
  const data::PositionSet fresh = positions.Subtract(overlap);
  const bool was_complete = progress.complete();
  if (auto status = progress.MarkConsumed(fresh); !status.ok()) return status;
  duplicated_[epoch] += static_cast<int64_t>(overlap.size());
  result.newly_consumed = fresh.size();
  result.duplicated = overlap.size();
  result.completed_epoch = !was_complete && progress.complete();
  recent_.push_back({global_step, epoch, positions, fresh});
  while (recent_.size() > kRecentSteps) {
    forgotten_step_ = std::max(forgotten_step_, recent_.front().global_step);
    recent_.pop_front();
  }
  max_step_ = std::max(max_step_, global_step);
  return result;
}

int32_t EpochLedger::current_epoch() const {
  for (int32_t epoch = 0; epoch < num_epochs_; ++epoch) {
    auto it = epochs_.find(epoch);
    if (it == epochs_.end() || !it->second.complete()) return epoch;
  }
  return num_epochs_;
}

v1::EpochPlan EpochLedger::Plan() const {
  v1::EpochPlan plan;
  const int32_t epoch = current_epoch();
  plan.set_epoch(epoch);
  if (epoch >= num_epochs_) return plan;
  auto it = epochs_.find(epoch);
  const data::PositionSet unread =
      it == epochs_.end() ? data::PositionSet::Range(0, num_samples_) : it->second.Unread();
  ToRanges(unread, plan.mutable_remaining());
  return plan;
}

uint64_t EpochLedger::remaining_samples() const {
  uint64_t remaining = static_cast<uint64_t>(num_epochs_) * num_samples_;
  for (const auto& [epoch, progress] : epochs_) remaining -= progress.consumed().size();
  return remaining;
}

std::vector<v1::EpochAccounting> EpochLedger::Accounting() const {
  std::vector<v1::EpochAccounting> accounting;
  for (int32_t epoch = 0; epoch < num_epochs_; ++epoch) {
    v1::EpochAccounting& entry = accounting.emplace_back();
    entry.set_epoch(epoch);
    entry.set_samples(static_cast<int64_t>(num_samples_));
    auto it = epochs_.find(epoch);
    const uint64_t consumed = it == epochs_.end() ? 0 : it->second.consumed().size();
    entry.set_consumed(static_cast<int64_t>(consumed));
    auto dup = duplicated_.find(epoch);
    entry.set_duplicated(dup == duplicated_.end() ? 0 : dup->second);
    entry.set_complete(consumed == num_samples_);
  }
  return accounting;
}

absl::StatusOr<std::vector<journal::EpochConsumed>> EpochLedger::SnapshotAt(
    int64_t global_step) const {
  if (global_step < forgotten_step_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the accounting as of step ", global_step, " is not known exactly any more (windows up "
        "to step ", forgotten_step_, " are no longer remembered one by one)"));
  }
  std::map<int32_t, data::PositionSet> later;
  for (const Window& window : recent_) {
    if (window.global_step > global_step) {
      later[window.epoch] = later[window.epoch].Union(window.fresh);
    }
  }
  std::vector<journal::EpochConsumed> snapshot;
  for (const auto& [epoch, progress] : epochs_) {
    data::PositionSet consumed = progress.consumed();
    if (auto it = later.find(epoch); it != later.end()) consumed = consumed.Subtract(it->second);
    if (consumed.empty()) continue;
    journal::EpochConsumed& entry = snapshot.emplace_back();
    entry.set_epoch(epoch);
    ToRanges(consumed, entry.mutable_consumed());
  }
  return snapshot;
}

absl::Status EpochLedger::RestoreSnapshot(const std::vector<journal::EpochConsumed>& snapshot,
                                          int64_t step) {
  std::map<int32_t, data::EpochProgress> restored;
  for (const journal::EpochConsumed& entry : snapshot) {
    if (entry.epoch() < 0 || entry.epoch() >= num_epochs_) {
      return absl::InvalidArgumentError(absl::StrCat("snapshot epoch ", entry.epoch(),
                                                     " outside [0, ", num_epochs_, ")"));
    }
    auto progress =
        data::EpochProgress::Restore(entry.epoch(), num_samples_, ToPositionSet(entry.consumed()));
    if (!progress.ok()) return progress.status();
    restored.emplace(entry.epoch(), *std::move(progress));
  }
  epochs_ = std::move(restored);
  recent_.erase(std::remove_if(recent_.begin(), recent_.end(),
                               [step](const Window& window) { return window.global_step > step; }),
                recent_.end());
  max_step_ = step;
  forgotten_step_ = std::min(forgotten_step_, step);
  return absl::OkStatus();
}

journal::Ledger EpochLedger::ToProto() const {
  journal::Ledger proto;
  for (int32_t epoch = 0; epoch < num_epochs_; ++epoch) {
    auto it = epochs_.find(epoch);
    auto dup = duplicated_.find(epoch);
    if (it == epochs_.end() && dup == duplicated_.end()) continue;
    journal::EpochConsumed* entry = proto.add_epochs();
    entry->set_epoch(epoch);
    if (it != epochs_.end()) ToRanges(it->second.consumed(), entry->mutable_consumed());
    if (dup != duplicated_.end()) entry->set_duplicated(dup->second);
  }
  for (const Window& window : recent_) {
    journal::RecordedWindow* entry = proto.add_recent();
    entry->set_global_step(window.global_step);
    entry->set_epoch(window.epoch);
    ToRanges(window.positions, entry->mutable_positions());
    ToRanges(window.fresh, entry->mutable_fresh());
  }
  proto.set_max_step(max_step_);
  proto.set_forgotten_step(forgotten_step_);
  return proto;
}

absl::StatusOr<EpochLedger> EpochLedger::FromProto(int32_t num_epochs, uint64_t num_samples,
                                                   const journal::Ledger& proto) {
  EpochLedger ledger(num_epochs, num_samples);
  for (const journal::EpochConsumed& entry : proto.epochs()) {
    if (entry.epoch() < 0 || entry.epoch() >= num_epochs) {
      return absl::DataLossError(absl::StrCat("journal: ledger epoch ", entry.epoch(),
                                              " outside [0, ", num_epochs, ")"));
    }
    auto progress =
        data::EpochProgress::Restore(entry.epoch(), num_samples, ToPositionSet(entry.consumed()));
    if (!progress.ok()) {
      return absl::DataLossError(absl::StrCat("journal: ", progress.status().message()));
    }
    ledger.epochs_.emplace(entry.epoch(), *std::move(progress));
    if (entry.duplicated() != 0) ledger.duplicated_[entry.epoch()] = entry.duplicated();
  }
  for (const journal::RecordedWindow& entry : proto.recent()) {
    ledger.recent_.push_back({entry.global_step(), entry.epoch(), ToPositionSet(entry.positions()),
                              ToPositionSet(entry.fresh())});
  }
  ledger.max_step_ = proto.max_step();
  ledger.forgotten_step_ = proto.forgotten_step();
  return ledger;
}

}  // namespace murmur::coordinator
