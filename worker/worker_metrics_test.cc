#include "worker/worker_metrics.h"

#include <gtest/gtest.h>

#include "base/test_util.h"

namespace murmur::worker {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(WorkerMetricsTest, RecordsStepsAndGenerations) {
  auto metrics = WorkerMetrics::Create("127.0.0.1", -1);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ((*metrics)->port(), -1);
  WorkerMetrics& m = **metrics;
  m.StartGeneration(1, 0, 1);
  m.RecordStep(/*step_seconds=*/0.5, /*allreduce_seconds=*/0.002, /*samples=*/8,
               /*loss=*/0.75, /*global_step=*/1);
  m.RecordStep(0.25, 0.02, 8, 0.5, 2);
  m.StartGeneration(3, 1, 2);
  const std::string text = m.Text();
  EXPECT_TRUE(Has(text, "murmur_worker_samples_per_second 32")) << text;
  EXPECT_TRUE(Has(text, "murmur_worker_loss 0.5"));
  EXPECT_TRUE(Has(text, "murmur_worker_global_step 2"));
  EXPECT_TRUE(Has(text, "murmur_worker_steps_total 2"));
  EXPECT_TRUE(Has(text, "murmur_worker_samples_total 16"));
  EXPECT_TRUE(Has(text, "murmur_worker_generation 3"));
  EXPECT_TRUE(Has(text, "murmur_worker_rank 1"));
  EXPECT_TRUE(Has(text, "murmur_worker_world_size 2"));
  EXPECT_TRUE(Has(text, "murmur_worker_regroups_total 1"));
  EXPECT_TRUE(Has(text, "murmur_worker_step_seconds_count 2"));
  EXPECT_TRUE(Has(text, "murmur_worker_step_seconds_sum 0.75"));
  EXPECT_TRUE(Has(text, R"(murmur_worker_step_seconds_bucket{le="0.25"} 1)"));
  EXPECT_TRUE(Has(text, "murmur_worker_allreduce_wait_seconds_count 2"));
  EXPECT_TRUE(Has(text, R"(murmur_worker_allreduce_wait_seconds_bucket{le="0.005"} 1)"));
}

TEST(WorkerMetricsTest, ServesMetricsOverHttp) {
  auto metrics = WorkerMetrics::Create("127.0.0.1", 0);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  ASSERT_GT((*metrics)->port(), 0);
  (*metrics)->RecordStep(1, 0, 8, 0.7, 5);
  const std::string scraped = testing::HttpGet((*metrics)->port(), "/metrics");
  EXPECT_NE(scraped.find("200 OK"), std::string::npos) << scraped;
  EXPECT_TRUE(Has(scraped, "murmur_worker_global_step 5")) << scraped;
}

}  // namespace
}  // namespace murmur::worker
