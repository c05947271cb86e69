// Finding and starting murmur's own programs from a launcher (`murmur train`, the local
// cluster): the coordinator, worker and serving binaries next to the running `murmur` (Bazel
// runfiles or bazel-bin siblings, or $MURMUR_BIN_DIR), and waiting for a server's port file.
#ifndef MURMUR_CLIENT_LOCAL_BINARIES_H_
#define MURMUR_CLIENT_LOCAL_BINARIES_H_

#include <atomic>
#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "base/subprocess.h"

namespace murmur::client {

struct LocalBinaries {
  std::string coordinator;
  std::string worker;
};

// NOT_FOUND naming the places looked at when a binary is missing.
absl::StatusOr<LocalBinaries> FindLocalBinaries();

// `path` made absolute against the current directory (children may run elsewhere).
std::string AbsolutePath(const std::string& path);

// Waits until `path` holds the port a local server listens on (it writes the file once
// listening) and returns "127.0.0.1:<port>";
// fails early when `process` exits or `*interrupted` turns true.
absl::StatusOr<std::string> WaitForPortFile(const std::string& path, Subprocess* process,
                                            std::chrono::seconds timeout,
                                            const std::atomic<bool>* interrupted);

}  // namespace murmur::client

#endif  // MURMUR_CLIENT_LOCAL_BINARIES_H_
