#include "coordinator/best_metric.h"

#include "absl/strings/str_cat.h"
#include "proto/objectives.h"

namespace murmur::coordinator {

absl::StatusOr<BestMetric> ParseBestMetric(const std::string& name, const std::string& objective) {
  const bool pretraining = IsPretrainingObjective(objective);
  if (name == "accuracy" || (pretraining && name == "masked_token_accuracy")) {
    return BestMetric::kAccuracy;
  }
  if (name == "loss") return BestMetric::kLoss;
  if (name == "f1" && !pretraining) return BestMetric::kF1;
  return absl::InvalidArgumentError(absl::StrCat(
      "must be ",
      pretraining
          ? absl::StrCat("masked_token_accuracy (or accuracy) or loss for a ", objective, " job")
          : "accuracy, f1 or loss",
      ", got '", name, "'"));
}

double Score(const v1::EvaluationMetrics& metrics, BestMetric metric) {
  switch (metric) {
    case BestMetric::kAccuracy:
      return metrics.accuracy();
    case BestMetric::kLoss:
      return -metrics.loss();
    case BestMetric::kF1: {
      if (metrics.f1_size() == 0) return 0;
      double sum = 0;
      for (double f1 : metrics.f1()) sum += f1;
      return sum / metrics.f1_size();
    }
  }
  return 0;
}

int EvaluationsWithoutImprovement(const std::vector<v1::EvaluationMetrics>& evaluations,
                                  BestMetric metric, double threshold) {
  int since_best = 0;
  bool have_best = false;
  double best = 0;
  for (const v1::EvaluationMetrics& metrics : evaluations) {
    const double score = Score(metrics, metric);
    if (!have_best || score > best + threshold) {
      have_best = true;
      best = score;
      since_best = 0;
    } else {
      ++since_best;
    }
  }
  return since_best;
}

}  // namespace murmur::coordinator
