#include "serving/version_upload.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/sha256.h"
#include "base/test_util.h"
#include "gtest/gtest.h"
#include "serving/fake_servable.h"

namespace murmur::serving {
namespace {

// Pushes into a repository of FakeServable versions, polled by hand.
class VersionUploadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = absl::StrCat(testing::TempDir(), "/upload_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    ModelRepository::Options options;
    options.root = root_;
    options.poll = false;
    repo_ = ModelRepository::Create(options, &loader_).value();
  }

  std::string Dir(int64_t version) { return absl::StrCat(root_, "/sentiment/", version); }

  absl::StatusOr<std::unique_ptr<VersionUpload>> Begin(const std::string& model, int64_t version,
                                                       std::vector<UploadFile> files) {
    return VersionUpload::Begin(repo_.get(), model, version, std::move(files));
  }

  // The version that answers a request for the latest (0: none).
  int64_t Serving() {
    auto served = repo_->Get("", 0);
    return served.ok() ? (*served)->version() : 0;
  }

  std::string root_;
  FakeServableLoader loader_;
  std::unique_ptr<ModelRepository> repo_;
};

UploadFile Declare(const std::string& name, const std::string& contents) {
  return UploadFile{name, contents.size(), Sha256Hex(contents)};
}

TEST_F(VersionUploadTest, CommitsAndServes) {
  FakeServableLoader::WriteVersion(Dir(1), 0.0f);
  ASSERT_TRUE(repo_->Poll().ok());
  const std::string model = "0.25", extra = "";
  auto upload =
      Begin("", 0, {Declare("fake_model.txt", model), Declare("empty.txt", extra)}).value();
  ASSERT_TRUE(upload->Write("fake_model.txt", 0, model.substr(0, 2)).ok());
  ASSERT_TRUE(upload->Write("fake_model.txt", 2, model.substr(2)).ok());
  absl::StatusOr<VersionStatus> status = upload->Commit();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->version, 2);
  EXPECT_EQ(status->state, VersionState::kReady);
  EXPECT_EQ(Serving(), 2);
  EXPECT_TRUE(PathExists(Dir(2) + "/empty.txt"));
}

TEST_F(VersionUploadTest, WrongHashIsRejected) {
  FakeServableLoader::WriteVersion(Dir(1), 0.0f);
  ASSERT_TRUE(repo_->Poll().ok());
  auto upload = Begin("", 0, {Declare("fake_model.txt", "0.25")}).value();
  ASSERT_TRUE(upload->Write("fake_model.txt", 0, "0.75").ok());  // same size, other bytes
  absl::StatusOr<VersionStatus> status = upload->Commit();
  EXPECT_EQ(status.status().code(), absl::StatusCode::kDataLoss) << status.status();
  EXPECT_NE(status.status().message().find("sha256 mismatch"), absl::string_view::npos);
  upload.reset();
  EXPECT_EQ(Serving(), 1);
  EXPECT_EQ(repo_->List("sentiment").size(), 1u) << "nothing left behind";
}

TEST_F(VersionUploadTest, VersionThatDoesNotLoadIsRemoved) {
  FakeServableLoader::WriteVersion(Dir(1), 0.0f);
  ASSERT_TRUE(repo_->Poll().ok());
  auto upload = Begin("", 5, {Declare("fake_model.txt", "junk")}).value();
  ASSERT_TRUE(upload->Write("fake_model.txt", 0, "junk").ok());
  absl::StatusOr<VersionStatus> status = upload->Commit();
  EXPECT_EQ(status.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(PathExists(Dir(5)));
  EXPECT_EQ(Serving(), 1);
}

TEST_F(VersionUploadTest, RejectsBadDeclarationsAndChunks) {
  EXPECT_EQ(Begin("", 0, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Begin("", 0, {Declare("../x", "a")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Begin("../m", 0, {Declare("x", "a")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  FakeServableLoader::WriteVersion(Dir(4), 0.0f);
  EXPECT_EQ(Begin("", 4, {Declare("x", "a")}).status().code(), absl::StatusCode::kAlreadyExists);
  auto upload = Begin("", 0, {Declare("a", "12"), Declare("b", "3")}).value();
  EXPECT_EQ(upload->Write("b", 0, "3").code(), absl::StatusCode::kInvalidArgument)
      << "b before a is complete";
  EXPECT_EQ(upload->Write("a", 1, "2").code(), absl::StatusCode::kInvalidArgument) << "gap";
  EXPECT_EQ(upload->Write("a", 0, "123").code(), absl::StatusCode::kInvalidArgument) << "too long";
  ASSERT_TRUE(upload->Write("a", 0, "1").ok());
  EXPECT_EQ(upload->Commit().status().code(), absl::StatusCode::kDataLoss) << "incomplete";
}

}  // namespace
}  // namespace murmur::serving
