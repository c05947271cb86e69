// Finding and starting murmur's own programs from a launcher (`murmur train`, the local
// cluster): the coordinator, worker and serving binaries next to the running `murmur` (Bazel
// runfiles or bazel-bin siblings, or $MURMUR_BIN_DIR). Waiting for their port files is
// base/subprocess.h's WaitForPortFile.
#ifndef MURMUR_CLIENT_LOCAL_BINARIES_H_
#define MURMUR_CLIENT_LOCAL_BINARIES_H_

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

}  // namespace murmur::client

#endif  // MURMUR_CLIENT_LOCAL_BINARIES_H_
