#include "base/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>

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
  while (!PathExists(ready)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
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

}  // namespace
}  // namespace murmur
