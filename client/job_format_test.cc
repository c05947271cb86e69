#include "client/job_format.h"

#include <gtest/gtest.h>

namespace murmur::client {
namespace {

TEST(JobFormatTest, FinalReportNamesClassifierAndMaskedLmMetrics) {
  v1::JobStatus status;
  v1::EvaluationMetrics* classification = status.add_evaluations();
  classification->set_epoch(0);
  classification->set_global_step(100);
  classification->set_accuracy(0.8);
  classification->set_loss(0.45);
  for (double v : {0.7, 0.9}) classification->add_precision(v);
  for (double v : {0.75, 0.85}) classification->add_recall(v);
  for (double v : {0.72, 0.87}) classification->add_f1(v);
  classification->set_examples(1000);
  v1::EvaluationMetrics* masked_lm = status.add_evaluations();
  masked_lm->set_epoch(1);
  masked_lm->set_global_step(200);
  masked_lm->set_accuracy(0.3229);
  masked_lm->set_loss(4.5741);
  masked_lm->set_examples(19798);
  v1::CheckpointInfo* best = status.add_checkpoints();
  best->set_path("/run/checkpoints/step-200");
  best->set_global_step(200);
  best->set_best(true);

  const std::string report = FormatFinalReport(status);
  EXPECT_NE(report.find("epoch 0 (step 100): validation accuracy 0.8000, loss 0.4500, precision "
                        "0.700/0.900, recall 0.750/0.850, f1 0.720/0.870 on 1000 examples\n"),
            std::string::npos)
      << report;
  // No classes: the accuracy is of masked tokens, and no precision/recall/f1 columns of zeros.
  EXPECT_NE(report.find("epoch 1 (step 200): masked-token accuracy 0.3229, loss 4.5741 on 19798 "
                        "texts\n"),
            std::string::npos)
      << report;
  // Scripts read the best checkpoint from this line (worker/bench/quality_bench.sh).
  EXPECT_NE(report.find("best checkpoint: /run/checkpoints/step-200 (step 200), by accuracy\n"),
            std::string::npos)
      << report;
  EXPECT_EQ(report.find("stopped early"), std::string::npos) << report;
  status.set_stopped_early(true);
  status.set_best_metric("loss");
  status.set_evaluations_without_improvement(3);
  EXPECT_NE(FormatFinalReport(status).find("stopped early: 3 evaluations without improving loss"),
            std::string::npos);
}

}  // namespace
}  // namespace murmur::client
