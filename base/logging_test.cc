#include "base/logging.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <string>
#include <unistd.h>

#include "absl/strings/match.h"
#include "base/file.h"
#include "base/test_util.h"

namespace murmur {
namespace {

// Captures what LogLine writes by pointing stderr's descriptor at a file.
std::string CaptureStderr(const std::function<void()>& log) {
  const std::string path = testing::TempDir() + "/stderr.txt";
  std::fflush(stderr);
  const int saved = dup(STDERR_FILENO);
  FILE* file = std::fopen(path.c_str(), "w");
  dup2(fileno(file), STDERR_FILENO);
  log();
  std::fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::fclose(file);
  auto contents = ReadFile(path);
  return contents.ok() ? *contents : "";
}

TEST(LoggingTest, LinesCarryProgramAndUtcTime) {
  SetLogProgram("murmur-test");
  const std::string out = CaptureStderr([] {
    Logf("[worker %s] step %d", "w1", 7);
    LogLine("ends with its own newline\n");
  });
  // "murmur-test: 2026-12-01T23:12:23.415Z [worker w1] step 7\n..."
  ASSERT_TRUE(absl::StartsWith(out, "murmur-test: ")) << out;
  EXPECT_EQ(out.substr(13 + 4, 1), "-") << out;
  EXPECT_EQ(out.substr(13 + 10, 1), "T") << out;
  EXPECT_EQ(out.substr(13 + 23, 2), "Z ") << out;
  EXPECT_TRUE(absl::StrContains(out, "Z [worker w1] step 7\nmurmur-test: ")) << out;
  EXPECT_TRUE(absl::EndsWith(out, "ends with its own newline\n")) << out;
  EXPECT_FALSE(absl::StrContains(out, "\n\n")) << out;
}

}  // namespace
}  // namespace murmur
