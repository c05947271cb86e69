// The job's training curves as TensorBoard scalars (Hugging Face Trainer's report_to=
// "tensorboard"): train/loss, train/learning_rate and train/samples_per_second per step;
// eval/loss, eval/accuracy (eval/masked_token_accuracy for masked-LM pretraining) and, for the
// classifier, eval/{precision,recall,f1}_{negative,positive} per evaluation.
//
// Owns its EventFileWriter. Flushes after every evaluation and at most once a second otherwise,
// so a person watching TensorBoard during the job sees the curves move. Not thread-safe (the
// Job serializes calls; see training_curves.h).
#ifndef MURMUR_COORDINATOR_TENSORBOARD_TENSORBOARD_CURVES_H_
#define MURMUR_COORDINATOR_TENSORBOARD_TENSORBOARD_CURVES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/tensorboard/event_file.h"
#include "coordinator/training_curves.h"

namespace murmur::tensorboard {

class TensorBoardCurves final : public coordinator::TrainingCurveSink {
 public:
  // A new events file in `dir`.
  static absl::StatusOr<std::unique_ptr<TensorBoardCurves>> Create(const std::string& dir);

  void RecordStep(const coordinator::StepPoint& point) override;
  void RecordEvaluation(const v1::EvaluationMetrics& metrics, double wall_time,
                        bool masked_lm) override;
  const std::string& path() const { return writer_->path(); }

 private:
  explicit TensorBoardCurves(std::unique_ptr<EventFileWriter> writer)
      : writer_(std::move(writer)) {}
  void Add(const std::string& tag, int64_t step, double value, double wall_time);
  void Flush(double wall_time);

  std::unique_ptr<EventFileWriter> writer_;
  double last_flush_ = 0;
  bool failed_ = false;  // a write failed: said once, then the curves stop (training does not)
};

// The step points (train/loss, train/learning_rate, train/samples_per_second) of the events
// files in `dir`, by step: what an earlier process of this coordinator wrote, so the
// dashboard's curves survive a restart. A file that cannot be read (a coordinator killed in the
// middle of a record leaves one) is skipped with a log line.
std::vector<coordinator::StepPoint> ReadStepCurves(const std::string& dir);

}  // namespace murmur::tensorboard

#endif  // MURMUR_COORDINATOR_TENSORBOARD_TENSORBOARD_CURVES_H_
