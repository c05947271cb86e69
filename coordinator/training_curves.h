// Where the coordinator sends a job's training curves as it records them: each applied step
// once (its loss, learning rate and the job's throughput then), and each evaluation. The sinks:
// the TensorBoard event files of the run directory (tensorboard/tensorboard_curves.h) and the
// dashboard's in-memory history (dashboard/step_history.h), both fed through a
// TrainingCurveFanOut; tests give a fake.
//
// The Job calls a sink with its lock held, in step order: implementations must be quick
// (buffered writes), must not call back into the Job, and need not be thread-safe.
#ifndef MURMUR_COORDINATOR_TRAINING_CURVES_H_
#define MURMUR_COORDINATOR_TRAINING_CURVES_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "proto/coordinator.pb.h"

namespace murmur::coordinator {

struct StepPoint {
  int64_t global_step = 0;
  double loss = 0;
  double learning_rate = 0;
  // The job's rate when the step was recorded (the members' reported rates added up).
  double samples_per_second = 0;
  double wall_time = 0;  // seconds since the Unix epoch
};

class TrainingCurveSink {
 public:
  virtual ~TrainingCurveSink() = default;
  virtual void RecordStep(const StepPoint& point) = 0;
  // `masked_lm`: the accuracy is of masked tokens (named so), and there are no classes.
  virtual void RecordEvaluation(const v1::EvaluationMetrics& metrics, double wall_time,
                                bool masked_lm) = 0;
};

// Passes every point to each of `sinks` (borrowed; they must outlive it), in order.
class TrainingCurveFanOut final : public TrainingCurveSink {
 public:
  explicit TrainingCurveFanOut(std::vector<TrainingCurveSink*> sinks) : sinks_(std::move(sinks)) {}
  void RecordStep(const StepPoint& point) override {
    for (TrainingCurveSink* sink : sinks_) sink->RecordStep(point);
  }
  void RecordEvaluation(const v1::EvaluationMetrics& metrics, double wall_time,
                        bool masked_lm) override {
    for (TrainingCurveSink* sink : sinks_) sink->RecordEvaluation(metrics, wall_time, masked_lm);
  }

 private:
  const std::vector<TrainingCurveSink*> sinks_;
};

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_TRAINING_CURVES_H_
