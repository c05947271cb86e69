// Where the coordinator sends a job's training curves as it records them: each applied step
// once (its loss, learning rate and the job's throughput then), and each evaluation. The
// TensorBoard event files of the run directory are the real sink (tensorboard/
// tensorboard_curves.h); tests give a fake.
//
// The Job calls a sink with its lock held, in step order: implementations must be quick
// (buffered writes), must not call back into the Job, and need not be thread-safe.
#ifndef MURMUR_COORDINATOR_TRAINING_CURVES_H_
#define MURMUR_COORDINATOR_TRAINING_CURVES_H_

#include <cstdint>

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

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_TRAINING_CURVES_H_
