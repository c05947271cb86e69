// The per-step curve points the dashboard plots (loss, learning rate, the job's samples/s), kept in
// memory: a TrainingCurveSink beside the TensorBoard files. Bounded: once `capacity` points are
// held, every other one is dropped and from then on only every second step is kept (then every
// fourth, ...), so a job of a million steps keeps the shape of its curves in a few thousand points,
// and the page fetches them whole.
//
// Owns its points. Thread-safe: the Job records under its own lock while HTTP handlers read.
#ifndef MURMUR_COORDINATOR_DASHBOARD_STEP_HISTORY_H_
#define MURMUR_COORDINATOR_DASHBOARD_STEP_HISTORY_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/training_curves.h"

namespace murmur::coordinator {

class StepHistory final : public TrainingCurveSink {
 public:
  // At least 2 points are kept.
  explicit StepHistory(size_t capacity = 2048);

  void RecordStep(const StepPoint& point) override;
  // Evaluations are part of the job's status; nothing to keep here.
  void RecordEvaluation(const v1::EvaluationMetrics&, double, bool) override {}

  // The points kept, in step order.
  std::vector<StepPoint> Points() const;
  // Only every stride()-th step is recorded now.
  int64_t stride() const;

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::vector<StepPoint> points_ ABSL_GUARDED_BY(mu_);
  int64_t stride_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t offered_ ABSL_GUARDED_BY(mu_) = 0;  // steps offered since the stride last changed
};

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_DASHBOARD_STEP_HISTORY_H_
