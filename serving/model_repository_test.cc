#include "serving/model_repository.h"

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/test_util.h"
#include "gtest/gtest.h"
#include "serving/fake_servable.h"

namespace murmur::serving {
namespace {

class ModelRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = absl::StrCat(testing::TempDir(), "/repo_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
  }

  std::unique_ptr<ModelRepository> Make(int keep_versions = 1) {
    ModelRepository::Options options;
    options.root = root_;
    options.poll = false;
    options.keep_versions = keep_versions;
    options.manager.batcher.max_queue_delay = absl::ZeroDuration();
    return ModelRepository::Create(options, &loader_).value();
  }

  std::string Dir(int64_t version, const std::string& model = "sentiment") {
    return absl::StrCat(root_, "/", model, "/", version);
  }

  // The version that answers a request for the latest.
  int64_t Serving(ModelRepository& repo) {
    auto served = repo.Get("", 0);
    return served.ok() ? (*served)->version() : 0;
  }

  std::string root_;
  FakeServableLoader loader_;
};

TEST_F(ModelRepositoryTest, PollLoadsLatestAndSwapsToNewer) {
  auto repo = Make();
  EXPECT_EQ(repo->Get("", 0).status().code(), absl::StatusCode::kNotFound);
  FakeServableLoader::WriteVersion(Dir(1), 0.0f);
  ASSERT_TRUE(repo->Poll().ok());
  EXPECT_EQ(Serving(*repo), 1);
  EXPECT_TRUE(repo->AllModelsReady());

  // A request in flight holds version 1 across the swap.
  std::shared_ptr<const ServedVersion> held = repo->Get("", 0).value();
  FakeServableLoader::WriteVersion(Dir(2), 0.1f);
  std::thread poller([&] { ASSERT_TRUE(repo->Poll().ok()); });
  // Version 2 takes traffic as soon as it is ready, while 1 waits for its request.
  EXPECT_TRUE(testing::WaitUntil([&] { return Serving(*repo) == 2; }))
      << "version 2 never took traffic while version 1 was held";
  EXPECT_EQ(held->version(), 1);
  EXPECT_TRUE(held->batcher().options().max_batch_size > 0);  // still alive and usable
  held.reset();
  poller.join();
  EXPECT_EQ(repo->ReadyVersions("sentiment"), (std::vector<int64_t>{2}));
}

TEST_F(ModelRepositoryTest, IgnoresNonVersionDirectories) {
  auto repo = Make();
  FakeServableLoader::WriteVersion(Dir(3), 0.0f);
  FakeServableLoader::WriteVersion(root_ + "/sentiment/.tmp", 0.0f);
  FakeServableLoader::WriteVersion(root_ + "/sentiment/7.old", 0.0f);
  FakeServableLoader::WriteVersion(root_ + "/sentiment/0", 0.0f);
  ASSERT_TRUE(repo->Poll().ok());
  EXPECT_EQ(repo->ReadyVersions("sentiment"), (std::vector<int64_t>{3}));
  EXPECT_EQ(loader_.loads(), 1);
}

TEST_F(ModelRepositoryTest, CorruptVersionIsRejectedAndOldKeepsServing) {
  auto repo = Make();
  FakeServableLoader::WriteVersion(Dir(1), 0.0f);
  ASSERT_TRUE(repo->Poll().ok());
  ASSERT_TRUE(MakeDirectories(Dir(2)).ok());
  ASSERT_TRUE(WriteFileAtomically(Dir(2) + "/fake_model.txt", "garbage").ok());
  absl::Status status = repo->Poll();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_EQ(Serving(*repo), 1);
  std::vector<VersionStatus> list = repo->List("sentiment");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1].state, VersionState::kFailed);
  EXPECT_NE(list[1].reason.find("not a fake model"), std::string::npos);
  // Not retried on every poll.
  const int loads = loader_.loads();
  ASSERT_TRUE(repo->Poll().ok());
  EXPECT_EQ(loader_.loads(), loads);
}

TEST_F(ModelRepositoryTest, KeepsLatestNVersions) {
  auto repo = Make(/*keep_versions=*/2);
  for (int v = 1; v <= 3; ++v) FakeServableLoader::WriteVersion(Dir(v), 0.0f);
  ASSERT_TRUE(repo->Poll().ok());
  EXPECT_EQ(repo->ReadyVersions("sentiment"), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(repo->Get("", 2).ok());
  EXPECT_EQ(repo->Get("", 1).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelRepositoryTest, PinsOverridePolicy) {
  auto repo = Make();
  FakeServableLoader::WriteVersion(Dir(1), 0.0f);
  FakeServableLoader::WriteVersion(Dir(2), 0.0f);
  ASSERT_TRUE(repo->Poll().ok());
  EXPECT_EQ(repo->ReadyVersions("sentiment"), (std::vector<int64_t>{2}));
  ASSERT_TRUE(repo->Load("", 1).ok());
  EXPECT_EQ(repo->ReadyVersions("sentiment"), (std::vector<int64_t>{1, 2}));
  absl::StatusOr<VersionStatus> unloaded = repo->Unload("", 2);
  ASSERT_TRUE(unloaded.ok()) << unloaded.status();
  EXPECT_EQ(unloaded->state, VersionState::kOnDisk);
  ASSERT_TRUE(repo->Poll().ok());
  EXPECT_EQ(repo->ReadyVersions("sentiment"), (std::vector<int64_t>{1}));
  EXPECT_EQ(repo->Load("", 9).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelRepositoryTest, VersionRemovedFromDiskIsUnloaded) {
  auto repo = Make();
  FakeServableLoader::WriteVersion(Dir(1), 0.0f);
  FakeServableLoader::WriteVersion(Dir(2), 0.0f);
  ASSERT_TRUE(repo->Poll().ok());
  std::filesystem::remove_all(Dir(2));
  ASSERT_TRUE(repo->Poll().ok());
  EXPECT_EQ(repo->ReadyVersions("sentiment"), (std::vector<int64_t>{1}));
}

TEST_F(ModelRepositoryTest, BackgroundPollingPicksUpNewVersions) {
  ModelRepository::Options options;
  options.root = root_;
  options.poll_interval = absl::Milliseconds(10);
  auto repo = ModelRepository::Create(options, &loader_).value();
  repo->Start();
  FakeServableLoader::WriteVersion(Dir(1), 0.0f);
  EXPECT_TRUE(testing::WaitUntil([&] { return Serving(*repo) == 1; }))
      << "the poller never loaded version 1";
  FakeServableLoader::WriteVersion(Dir(2), 0.0f);
  EXPECT_TRUE(testing::WaitUntil([&] { return Serving(*repo) == 2; }))
      << "the poller never moved to version 2";
  repo->Stop();
  // Stopped: a new version stays unseen.
  FakeServableLoader::WriteVersion(Dir(3), 0.0f);
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(Serving(*repo), 2);
}

}  // namespace
}  // namespace murmur::serving
