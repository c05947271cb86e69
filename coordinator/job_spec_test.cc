#include "coordinator/job_spec.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

#include <string>

namespace murmur::coordinator {
namespace {

constexpr char kMinimal[] = R"({"corpus_path": "/c", "vocab_path": "/v"})";

std::string WithField(const std::string& field) {
  return std::string(R"({"corpus_path": "/c", "vocab_path": "/v", )") + field + "}";
}

TEST(JobSpecTest, AppliesDocumentedDefaults) {
  auto spec = ParseJobSpec(kMinimal, "/journal");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->model_preset(), "small");
  EXPECT_DOUBLE_EQ(spec->learning_rate(), 1e-3);  // small, from scratch
  EXPECT_DOUBLE_EQ(spec->warmup_ratio(), 0.06);
  EXPECT_DOUBLE_EQ(spec->weight_decay(), 0.01);
  EXPECT_EQ(spec->batch_per_worker(), 32);
  EXPECT_EQ(spec->gradient_accumulation(), 1);
  EXPECT_EQ(spec->epochs(), 1);
  EXPECT_EQ(spec->max_steps(), 0);
  EXPECT_EQ(spec->max_length(), 64);
  EXPECT_EQ(spec->seed(), 42u);
  EXPECT_EQ(spec->min_workers(), 1);
  EXPECT_EQ(spec->max_workers(), 64);
  EXPECT_DOUBLE_EQ(spec->validation_fraction(), 0.2);
  EXPECT_EQ(spec->checkpoint_dir(), "/journal/checkpoints");
  EXPECT_DOUBLE_EQ(spec->max_grad_norm(), 1.0);
  EXPECT_EQ(spec->heartbeat_timeout_ms(), 5000);
  EXPECT_EQ(spec->collective_timeout_ms(), 10000);
  EXPECT_EQ(spec->backend(), "gloo");
  EXPECT_DOUBLE_EQ(spec->dropout(), -1);
  EXPECT_FALSE(spec->skip_evaluation());
  EXPECT_EQ(spec->objective(), "classification");
  EXPECT_EQ(spec->max_restarts(), 3);
  EXPECT_EQ(spec->mask_probability(), 0);  // classification masks nothing
}

TEST(JobSpecTest, PretrainingMasksFifteenPercentUnlessTold) {
  for (const char* objective : {"masked_lm", "replaced_token_detection"}) {
    auto spec = ParseJobSpec(WithField(absl::StrCat(R"("objective": ")", objective, R"(")")), "/j");
    ASSERT_TRUE(spec.ok()) << objective << ": " << spec.status();
    EXPECT_DOUBLE_EQ(spec->mask_probability(), 0.15) << objective;
  }
  auto told = ParseJobSpec(WithField(R"("objective": "masked_lm", "mask_probability": 0.4)"), "/j");
  ASSERT_TRUE(told.ok()) << told.status();
  EXPECT_DOUBLE_EQ(told->mask_probability(), 0.4);
}

TEST(JobSpecTest, PretrainedOrBaseGetsSmallLearningRate) {
  auto base = ParseJobSpec(WithField(R"("model_preset": "base")"), "/j");
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_DOUBLE_EQ(base->learning_rate(), 5e-5);
  auto init = ParseJobSpec(WithField(R"("init_dir": "/pretrained")"), "/j");
  ASSERT_TRUE(init.ok()) << init.status();
  EXPECT_DOUBLE_EQ(init->learning_rate(), 5e-5);
}

TEST(JobSpecTest, ExplicitZeroIsKeptNotDefaulted) {
  auto spec = ParseJobSpec(
      WithField(R"("dropout": 0, "warmup_ratio": 0, "max_grad_norm": 0, "seed": 0, )"
                R"("max_restarts": 0)"),
      "/j");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->dropout(), 0);
  EXPECT_EQ(spec->warmup_ratio(), 0);
  EXPECT_EQ(spec->max_grad_norm(), 0);
  EXPECT_EQ(spec->seed(), 0u);
  EXPECT_EQ(spec->max_restarts(), 0);
}

TEST(JobSpecTest, AcceptsBothCollectiveBackends) {
  for (const char* backend : {"gloo", "nccl"}) {
    auto spec = ParseJobSpec(WithField(absl::StrCat(R"("backend": ")", backend, R"(")")), "/j");
    ASSERT_TRUE(spec.ok()) << backend << ": " << spec.status();
    EXPECT_EQ(spec->backend(), backend);
  }
}

TEST(JobSpecTest, AcceptsCamelCaseNames) {
  auto spec = ParseJobSpec(R"({"corpusPath": "/c", "vocabPath": "/v", "batchPerWorker": 8})", "/j");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->batch_per_worker(), 8);
}

struct BadSpec {
  std::string json;
  std::string expected_in_message;
};

class BadJobSpecTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(BadJobSpecTest, IsInvalidArgumentNamingTheField) {
  auto spec = ParseJobSpec(GetParam().json, "/j");
  ASSERT_FALSE(spec.ok()) << GetParam().json;
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find(GetParam().expected_in_message), std::string::npos)
      << spec.status();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadJobSpecTest,
    ::testing::Values(BadSpec{R"({"vocab_path": "/v"})", "corpus_path"},
                      BadSpec{R"({"corpus_path": "/c"})", "vocab_path"},
                      BadSpec{WithField(R"("batch_per_worker": 0)"), "batch_per_worker"},
                      BadSpec{WithField(R"("batch_per_worker": -4)"), "batch_per_worker"},
                      BadSpec{WithField(R"("gradient_accumulation": 0)"), "gradient_accumulation"},
                      BadSpec{WithField(R"("epochs": 0)"), "epochs"},
                      BadSpec{WithField(R"("min_workers": 3, "max_workers": 2)"), "max_workers"},
                      BadSpec{WithField(R"("min_workers": 0)"), "min_workers"},
                      BadSpec{WithField(R"("model_preset": "huge")"), "model_preset"},
                      BadSpec{WithField(R"("backend": "mpi")"), "backend"},
                      BadSpec{WithField(R"("validation_fraction": 0)"), "validation_fraction"},
                      BadSpec{WithField(R"("validation_fraction": 1.5)"), "validation_fraction"},
                      BadSpec{WithField(R"("warmup_ratio": 1)"), "warmup_ratio"},
                      BadSpec{WithField(R"("max_length": 1)"), "max_length"},
                      BadSpec{WithField(R"("heartbeat_timeout_ms": 0)"), "heartbeat_timeout_ms"},
                      BadSpec{WithField(R"("learning_rate": -1)"), "learning_rate"},
                      BadSpec{WithField(R"("dropout": 1)"), "dropout"},
                      BadSpec{WithField(R"("token_dropout": -0.1)"), "token_dropout"},
                      BadSpec{WithField(R"("max_restarts": -1)"), "max_restarts"},
                      BadSpec{WithField(R"("objective": "masked_lm", "mask_probability": 1)"),
                              "mask_probability"},
                      BadSpec{WithField(R"("objective": "masked_lm", "mask_probability": 0)"),
                              "mask_probability"},
                      BadSpec{WithField(R"("mask_probability": 0.2)"), "pretraining objectives only"},
                      BadSpec{WithField(R"("bogus_field": 1)"), "bogus_field"},
                      BadSpec{WithField(R"("objective": "mlm")"), "objective"},
                      BadSpec{WithField(R"("objective": "masked_lm", "token_dropout": 0.1)"),
                              "classification only"},
                      BadSpec{WithField(R"("label_smoothing": 1)"), "label_smoothing"},
                      BadSpec{WithField(R"("max_eval_samples": -1)"), "max_eval_samples"},
                      BadSpec{WithField(R"("objective": "masked_lm", "label_smoothing": 0.1)"),
                              "classification only"},
                      BadSpec{WithField(R"("epochs": "many")"), "epochs"},
                      BadSpec{"{not json", "malformed JSON"},
                      BadSpec{"[1, 2]", "JSON object"}));

}  // namespace
}  // namespace murmur::coordinator
