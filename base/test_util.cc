#include "base/test_util.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>

namespace murmur::testing {

std::string SharedDataPath(const std::string& relative) {
  const char* dir = std::getenv("MURMUR_SHARED_DATA");
  if (dir == nullptr || *dir == '\0') {
    ADD_FAILURE() << "MURMUR_SHARED_DATA is not set: run the suite with deploy/test.sh, or pass "
                     "--test_env=MURMUR_SHARED_DATA=/path/to/shared/data";
    return "/nonexistent/" + relative;
  }
  return std::string(dir) + "/" + relative;
}

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

int RunShell(const std::string& command) {
  int status = std::system(command.c_str());
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

}  // namespace murmur::testing
