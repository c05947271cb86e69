#include "coordinator/dashboard/step_history.h"

#include <algorithm>

namespace murmur::coordinator {

StepHistory::StepHistory(size_t capacity) : capacity_(std::max<size_t>(2, capacity)) {}

void StepHistory::RecordStep(const StepPoint& point) {
  absl::MutexLock lock(&mu_);
  if (offered_++ % stride_ != 0) return;
  points_.push_back(point);
  if (points_.size() <= capacity_) return;
  // Full: keep every other point (the first, the third, ...) and halve the rate
  // from now on.
  size_t kept = 0;
  for (size_t i = 0; i < points_.size(); i += 2) points_[kept++] = points_[i];
  points_.resize(kept);
  stride_ *= 2;
  offered_ = 1;  // the point just recorded was dropped or kept: the next one is
                 // a stride away
}

std::vector<StepPoint> StepHistory::Points() const {
  absl::MutexLock lock(&mu_);
  return points_;
}

int64_t StepHistory::stride() const {
  absl::MutexLock lock(&mu_);
  return stride_;
}

}  // namespace murmur::coordinator
