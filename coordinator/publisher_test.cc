#include "coordinator/publisher.h"

#include <gtest/gtest.h>

#include "coordinator/job_spec.h"

namespace murmur::coordinator {
namespace {

TEST(PublisherTest, WasPublishedToMatchesTheWholeTarget) {
  v1::CheckpointInfo checkpoint;
  EXPECT_FALSE(WasPublishedTo(checkpoint, "127.0.0.1:5000"));
  checkpoint.add_published("127.0.0.1:5000 -> 3");
  EXPECT_TRUE(WasPublishedTo(checkpoint, "127.0.0.1:5000"));
  // A target that is a prefix of another is a different replica.
  EXPECT_FALSE(WasPublishedTo(checkpoint, "127.0.0.1:500"));
  EXPECT_FALSE(WasPublishedTo(checkpoint, "10.0.0.1:5000"));
  checkpoint.add_published("serving-1:8500 -> 7");
  EXPECT_TRUE(WasPublishedTo(checkpoint, "serving-1:8500"));
}

TEST(PublisherTest, RefusesToPublishAMaskedLmPretrainingJob) {
  Job::Options options;
  auto spec = ParseJobSpec(R"({"corpus_path": "/c", "vocab_path": "/v", "objective": "masked_lm"})",
                           "/journal");
  ASSERT_TRUE(spec.ok()) << spec.status();
  options.spec = *spec;
  options.train_samples = 10;
  auto job = Job::Create(options);
  ASSERT_TRUE(job.ok()) << job.status();
  Publisher publisher(job->get(), {.run_background = false});
  // Refused before any network traffic: its checkpoints have no classification head.
  auto published = publisher.Publish("/some/checkpoint", "127.0.0.1:1", "");
  ASSERT_FALSE(published.ok());
  EXPECT_EQ(published.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(published.status().message().find("init_dir"), std::string::npos);
}

}  // namespace
}  // namespace murmur::coordinator
