#include "coordinator/tensorboard/tensorboard_curves.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "base/logging.h"

namespace murmur::tensorboard {
namespace {

constexpr const char* kClassNames[] = {"negative", "positive"};

// The per-step curves' tags: what RecordStep writes and ReadStepCurves reads back.
constexpr char kTrainLoss[] = "train/loss";
constexpr char kTrainLearningRate[] = "train/learning_rate";
constexpr char kTrainSamplesPerSecond[] = "train/samples_per_second";

}  // namespace

absl::StatusOr<std::unique_ptr<TensorBoardCurves>> TensorBoardCurves::Create(
    const std::string& dir) {
  auto writer = EventFileWriter::Create(dir);
  if (!writer.ok()) return writer.status();
  return std::unique_ptr<TensorBoardCurves>(new TensorBoardCurves(*std::move(writer)));
}

void TensorBoardCurves::Add(const std::string& tag, int64_t step, double value,
                            double wall_time) {
  if (failed_) return;
  if (auto added = writer_->AddScalar(tag, step, value, wall_time); !added.ok()) {
    failed_ = true;
    Logf("TensorBoard curves stop: %s", added.message());
  }
}

void TensorBoardCurves::Flush(double wall_time) {
  if (failed_) return;
  last_flush_ = wall_time;
  if (auto flushed = writer_->Flush(); !flushed.ok()) {
    failed_ = true;
    Logf("TensorBoard curves stop: %s", flushed.message());
  }
}

void TensorBoardCurves::RecordStep(const coordinator::StepPoint& point) {
  Add(kTrainLoss, point.global_step, point.loss, point.wall_time);
  if (point.learning_rate > 0) {
    Add(kTrainLearningRate, point.global_step, point.learning_rate, point.wall_time);
  }
  if (point.samples_per_second > 0) {
    Add(kTrainSamplesPerSecond, point.global_step, point.samples_per_second,
        point.wall_time);
  }
  if (point.wall_time - last_flush_ >= 1.0) Flush(point.wall_time);
}

void TensorBoardCurves::RecordEvaluation(const v1::EvaluationMetrics& metrics, double wall_time,
                                         bool masked_lm) {
  const int64_t step = metrics.global_step();
  Add("eval/loss", step, metrics.loss(), wall_time);
  Add(masked_lm ? "eval/masked_token_accuracy" : "eval/accuracy", step, metrics.accuracy(),
      wall_time);
  for (int c = 0; c < 2; ++c) {
    const std::string name = kClassNames[c];
    if (c < metrics.precision_size()) {
      Add("eval/precision_" + name, step, metrics.precision(c), wall_time);
    }
    if (c < metrics.recall_size()) Add("eval/recall_" + name, step, metrics.recall(c), wall_time);
    if (c < metrics.f1_size()) Add("eval/f1_" + name, step, metrics.f1(c), wall_time);
  }
  Flush(wall_time);
}

std::vector<coordinator::StepPoint> ReadStepCurves(const std::string& dir) {
  std::map<int64_t, coordinator::StepPoint> by_step;
  for (const std::string& file : EventFiles(dir)) {
    auto events = ReadEventFile(file);
    if (!events.ok()) {
      Logf("TensorBoard curves: skipping %s: %s", file, events.status().message());
      continue;
    }
    for (const Event& event : *events) {
      for (const auto& value : event.summary().value()) {
        double coordinator::StepPoint::*field =
            value.tag() == kTrainLoss               ? &coordinator::StepPoint::loss
            : value.tag() == kTrainLearningRate     ? &coordinator::StepPoint::learning_rate
            : value.tag() == kTrainSamplesPerSecond ? &coordinator::StepPoint::samples_per_second
                                                    : nullptr;
        if (field == nullptr) continue;
        coordinator::StepPoint& point = by_step[event.step()];
        point.global_step = event.step();
        point.wall_time = event.wall_time();
        point.*field = value.simple_value();
      }
    }
  }
  std::vector<coordinator::StepPoint> points;
  points.reserve(by_step.size());
  for (const auto& [step, point] : by_step) points.push_back(point);
  return points;
}

}  // namespace murmur::tensorboard
