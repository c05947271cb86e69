#include "client/local_binaries.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/file.h"

namespace murmur::client {
namespace {

// Where a sibling program `package/name` may be, in order of preference.
std::vector<std::string> Candidates(const std::string& package, const std::string& name) {
  std::vector<std::string> out;
  if (const char* dir = std::getenv("MURMUR_BIN_DIR")) {
    out.push_back(absl::StrCat(dir, "/", name));
    out.push_back(absl::StrCat(dir, "/", package, "/", name));
  }
  const std::string exe_dir = ExecutableDir();
  // bazel-bin/client/murmur.runfiles/murmur/<package>/<name>
  out.push_back(absl::StrCat(exe_dir, "/murmur.runfiles/murmur/", package, "/", name));
  // Inside a runfiles tree already (bazel run / bazel test).
  if (const char* runfiles = std::getenv("RUNFILES_DIR")) {
    out.push_back(absl::StrCat(runfiles, "/murmur/", package, "/", name));
  }
  // bazel-bin/client/murmur -> bazel-bin/<package>/<name>
  out.push_back(absl::StrCat(exe_dir, "/../", package, "/", name));
  out.push_back(absl::StrCat(exe_dir, "/", name));
  return out;
}

absl::StatusOr<std::string> Find(const std::string& package, const std::string& name) {
  std::string tried;
  for (const std::string& candidate : Candidates(package, name)) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    absl::StrAppend(&tried, "\n  ", candidate);
  }
  return absl::NotFoundError(absl::StrCat(
      "cannot find ", name, " (build //", package, ":", name, " or set MURMUR_BIN_DIR); tried:",
      tried));
}

}  // namespace

absl::StatusOr<LocalBinaries> FindLocalBinaries() {
  LocalBinaries binaries;
  auto coordinator = Find("coordinator", "murmur-coordinator");
  if (!coordinator.ok()) return coordinator.status();
  auto worker = Find("worker", "murmur-worker");
  if (!worker.ok()) return worker.status();
  binaries.coordinator = *coordinator;
  binaries.worker = *worker;
  return binaries;
}

}  // namespace murmur::client
