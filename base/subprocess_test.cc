#include "base/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <thread>

#include "base/file.h"
#include "base/test_util.h"

namespace murmur {
namespace {

TEST(SubprocessTest, RunsWithLogAndExitCode) {
  std::string log = testing::TempDir() + "/child.log";
  auto child = Subprocess::Start({"/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"}, log);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ((*child)->Wait(), 3);
  auto contents = ReadFile(log);
  ASSERT_TRUE(contents.ok());
  EXPECT_NE(contents->find("hello"), std::string::npos);
  EXPECT_NE(contents->find("oops"), std::string::npos);
}

TEST(SubprocessTest, StopEscalatesToKill) {
  // The child ignores SIGTERM: Stop must still end it.
  std::string ready = testing::TempDir() + "/trap-ready";
  auto child =
      Subprocess::Start({"/bin/sh", "-c", "trap '' TERM; touch " + ready + "; sleep 60"}, "");
  ASSERT_TRUE(child.ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!PathExists(ready) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(PathExists(ready)) << "the child never started";
  EXPECT_FALSE((*child)->Poll().has_value());
  int code = (*child)->Stop(std::chrono::milliseconds(300));
  EXPECT_EQ(code, 128 + SIGKILL);
}

TEST(SubprocessTest, MissingProgramIsNotFound) {
  EXPECT_EQ(Subprocess::Start({"/nonexistent/program"}, "").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(SubprocessTest, DestructorLeavesNoChild) {
  pid_t pid;
  {
    auto child = Subprocess::Start({"/bin/sleep", "60"}, "");
    ASSERT_TRUE(child.ok());
    pid = (*child)->pid();
  }
  EXPECT_NE(::kill(pid, 0), 0);  // gone (and reaped)
}

TEST(WaitForPortFileTest, ReadsThePortOnceWritten) {
  const std::string path = testing::TempDir() + "/port-written";
  std::remove(path.c_str());
  auto child = Subprocess::Start(
      {"/bin/sh", "-c", "sleep 0.2; printf 123 > " + path + ".tmp; mv " + path + ".tmp " + path +
                            "; sleep 30"},
      "");
  ASSERT_TRUE(child.ok());
  auto port = WaitForPortFile(**child, path, absl::Seconds(30));
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(*port, 123);
}

TEST(WaitForPortFileTest, ProcessExitingFirstIsUnavailable) {
  auto child = Subprocess::Start({"/bin/sh", "-c", "exit 4"}, "");
  ASSERT_TRUE(child.ok());
  auto port = WaitForPortFile(**child, testing::TempDir() + "/never", absl::Seconds(30));
  EXPECT_EQ(port.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(port.status().message().find("code 4"), std::string::npos) << port.status();
}

TEST(WaitForPortFileTest, TimeoutAndInterruption) {
  auto child = Subprocess::Start({"/bin/sh", "-c", "sleep 30"}, "");
  ASSERT_TRUE(child.ok());
  const std::string path = testing::TempDir() + "/never";
  EXPECT_EQ(WaitForPortFile(**child, path, absl::Milliseconds(200)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  std::atomic<bool> interrupted{true};
  EXPECT_EQ(WaitForPortFile(**child, path, absl::Seconds(30), &interrupted).status().code(),
            absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace murmur
