// Which checkpoint is best and when to stop early, as Hugging Face Trainer users set them
// (metric_for_best_model / greater_is_better, EarlyStoppingCallback's patience and threshold):
// from the job spec's best_metric, early_stopping_patience and early_stopping_threshold.
//
// Pure functions over evaluations; thread-safe.
#ifndef MURMUR_COORDINATOR_BEST_METRIC_H_
#define MURMUR_COORDINATOR_BEST_METRIC_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/coordinator.pb.h"

namespace murmur::coordinator {

enum class BestMetric {
  kAccuracy,  // of the labels; of the masked tokens for a masked-LM job
  kF1,        // macro F1 (the classes' mean); classification only
  kLoss,      // validation loss: lower is better
};

// "accuracy", "f1", "loss", and for a masked_lm job "masked_token_accuracy" (its accuracy).
// INVALID_ARGUMENT ("must be ...") otherwise, or for f1 on a masked-LM job (it has no classes).
absl::StatusOr<BestMetric> ParseBestMetric(const std::string& name, const std::string& objective);

// The metric's value, oriented so that higher is better (the loss negated).
double Score(const v1::EvaluationMetrics& metrics, BestMetric metric);

// Evaluations, in the order given, since the best one by more than `threshold` (Trainer's
// early_stopping_threshold): 0 when the last one is the best so far; the patience compares
// against this.
int EvaluationsWithoutImprovement(const std::vector<v1::EvaluationMetrics>& evaluations,
                                  BestMetric metric, double threshold);

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_BEST_METRIC_H_
