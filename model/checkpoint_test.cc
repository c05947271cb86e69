#include "model/checkpoint.h"

#include <cstdlib>
#include <string>

#include "base/file.h"
#include "base/test_util.h"
#include "gtest/gtest.h"

namespace murmur::model {
namespace {

std::string TempPath(const std::string& name) { return testing::TempDir() + "/" + name; }

TEST(CheckpointTest, CommitWritesManifestAndVerifies) {
  std::string dir = TempPath("ckpt/step-100");
  auto writer = CheckpointWriter::Create({.dir = dir});
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->WriteFile("config.json", "{}").ok());
  ASSERT_TRUE((*writer)->WriteFile("model.safetensors", "weights").ok());
  EXPECT_FALSE(PathExists(dir));  // nothing visible before Commit
  CheckpointInfo info;
  info.version = 3;
  info.step = 100;
  info.epoch = 1;
  info.metrics["eval_accuracy"] = 0.84;
  absl::StatusOr<Manifest> manifest = (*writer)->Commit(info);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_TRUE(PathExists(dir + "/" + kManifestFile));
  EXPECT_EQ(manifest->files.size(), 2u);
  EXPECT_EQ(manifest->files.at("model.safetensors").size, 7u);

  absl::StatusOr<Manifest> verified = VerifyCheckpoint(dir);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->info.version, 3);
  EXPECT_EQ(verified->info.step, 100);
  EXPECT_EQ(verified->info.epoch, 1);
  EXPECT_DOUBLE_EQ(verified->info.metrics.at("eval_accuracy"), 0.84);
  EXPECT_EQ(verified->created, manifest->created);
  EXPECT_EQ(verified->files.at("config.json").sha256, manifest->files.at("config.json").sha256);
  EXPECT_EQ(verified->created.size(), 24u);  // 2024-01-02T03:04:05.678Z
}

TEST(CheckpointTest, HashMismatchNamesFile) {
  std::string dir = TempPath("ckpt_bad");
  auto writer = CheckpointWriter::Create({.dir = dir});
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->WriteFile("model.safetensors", "weights").ok());
  ASSERT_TRUE((*writer)->Commit({}).ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/model.safetensors", "weightz").ok());
  absl::StatusOr<Manifest> verified = VerifyCheckpoint(dir);
  EXPECT_EQ(verified.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(verified.status().message().find("model.safetensors: sha256"), std::string::npos)
      << verified.status();
  ASSERT_TRUE(WriteFileAtomically(dir + "/model.safetensors", "short").ok());
  EXPECT_NE(VerifyCheckpoint(dir).status().message().find("size 5"), std::string::npos);
}

TEST(CheckpointTest, ExistingDirectoryNeedsOverwrite) {
  std::string dir = TempPath("ckpt_exists");
  {
    auto writer = CheckpointWriter::Create({.dir = dir});
    ASSERT_TRUE((*writer)->WriteFile("a", "1").ok());
    ASSERT_TRUE((*writer)->Commit({}).ok());
  }
  EXPECT_EQ(CheckpointWriter::Create({.dir = dir}).status().code(),
            absl::StatusCode::kAlreadyExists);
  auto writer = CheckpointWriter::Create({.dir = dir, .overwrite = true});
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->WriteFile("b", "2").ok());
  ASSERT_TRUE((*writer)->Commit({}).ok());
  EXPECT_FALSE(PathExists(dir + "/a"));
  EXPECT_TRUE(VerifyCheckpoint(dir).ok());
}

TEST(CheckpointTest, AbandonedWriterLeavesNothing) {
  std::string dir = TempPath("ckpt_abandoned");
  std::string staging;
  {
    auto writer = CheckpointWriter::Create({.dir = dir});
    ASSERT_TRUE((*writer)->WriteFile("a", "1").ok());
    staging = (*writer)->staging_path("");
    EXPECT_TRUE(PathExists(staging));
  }
  EXPECT_FALSE(PathExists(staging));
  EXPECT_FALSE(PathExists(dir));
}

}  // namespace
}  // namespace murmur::model
