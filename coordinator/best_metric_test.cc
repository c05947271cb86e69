#include "coordinator/best_metric.h"

#include <gtest/gtest.h>

namespace murmur::coordinator {
namespace {

v1::EvaluationMetrics Eval(double accuracy, double loss, double f1_negative, double f1_positive) {
  v1::EvaluationMetrics metrics;
  metrics.set_accuracy(accuracy);
  metrics.set_loss(loss);
  metrics.add_f1(f1_negative);
  metrics.add_f1(f1_positive);
  return metrics;
}

TEST(BestMetricTest, ParsesTheNamesTrainerUsersExpect) {
  EXPECT_EQ(*ParseBestMetric("accuracy", "classification"), BestMetric::kAccuracy);
  EXPECT_EQ(*ParseBestMetric("f1", "classification"), BestMetric::kF1);
  EXPECT_EQ(*ParseBestMetric("loss", "classification"), BestMetric::kLoss);
  EXPECT_EQ(*ParseBestMetric("masked_token_accuracy", "masked_lm"), BestMetric::kAccuracy);
  EXPECT_EQ(*ParseBestMetric("accuracy", "masked_lm"), BestMetric::kAccuracy);
  auto f1_for_mlm = ParseBestMetric("f1", "masked_lm");
  EXPECT_EQ(f1_for_mlm.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(f1_for_mlm.status().message().find("masked_lm"), std::string::npos);
  EXPECT_EQ(ParseBestMetric("auc", "classification").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BestMetricTest, ScoresAreHigherIsBetter) {
  const auto a = Eval(0.80, 0.45, 0.70, 0.90);
  const auto b = Eval(0.78, 0.40, 0.78, 0.78);
  EXPECT_GT(Score(a, BestMetric::kAccuracy), Score(b, BestMetric::kAccuracy));
  EXPECT_LT(Score(a, BestMetric::kLoss), Score(b, BestMetric::kLoss)) << "lower loss is better";
  EXPECT_DOUBLE_EQ(Score(a, BestMetric::kF1), 0.80);
  EXPECT_DOUBLE_EQ(Score(b, BestMetric::kF1), 0.78);
}

TEST(BestMetricTest, CountsEvaluationsSinceTheBestBeyondTheThreshold) {
  std::vector<v1::EvaluationMetrics> evaluations;
  EXPECT_EQ(EvaluationsWithoutImprovement(evaluations, BestMetric::kAccuracy, 0), 0);
  evaluations.push_back(Eval(0.70, 0.6, 0, 0));
  evaluations.push_back(Eval(0.75, 0.5, 0, 0));
  EXPECT_EQ(EvaluationsWithoutImprovement(evaluations, BestMetric::kAccuracy, 0), 0);
  evaluations.push_back(Eval(0.74, 0.55, 0, 0));
  evaluations.push_back(Eval(0.755, 0.56, 0, 0));
  EXPECT_EQ(EvaluationsWithoutImprovement(evaluations, BestMetric::kAccuracy, 0), 0);
  // 0.755 is not better than 0.75 by more than 0.01: two evaluations without improvement.
  EXPECT_EQ(EvaluationsWithoutImprovement(evaluations, BestMetric::kAccuracy, 0.01), 2);
  // By loss the best was the second one.
  EXPECT_EQ(EvaluationsWithoutImprovement(evaluations, BestMetric::kLoss, 0), 2);
}

}  // namespace
}  // namespace murmur::coordinator
