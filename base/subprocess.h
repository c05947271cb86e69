// Child processes for launchers (`murmur train`, the local cluster): start a program with its
// output in a log file, poll or wait for it, signal it. A Subprocess owns its child: destroying
// a running one sends SIGTERM, waits up to a grace period, then SIGKILLs, so a launcher that
// returns early leaves no process behind. Not thread-safe.
#ifndef MURMUR_BASE_SUBPROCESS_H_
#define MURMUR_BASE_SUBPROCESS_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace murmur {

class Subprocess {
 public:
  // Starts argv[0] (a path) with stdout and stderr appended to `log_path` ("" keeps the
  // parent's). The child gets its own process group so signals to the launcher's terminal do
  // not reach it twice.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const std::vector<std::string>& argv,
                                                           const std::string& log_path);
  ~Subprocess();

  pid_t pid() const { return pid_; }
  // The exit code once finished (128 + signal for a signalled child), without blocking.
  std::optional<int> Poll();
  // Blocks until the child exits; returns its exit code as Poll does.
  int Wait();
  void Signal(int signal);
  // SIGTERM, then SIGKILL after `grace`; returns the exit code.
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  std::optional<int> exit_code_;
};

// The directory holding the running executable (for finding sibling programs).
std::string ExecutableDir();

// Waits until `process` wrote the port it listens on to `path` (murmur's servers write their
// port file once they listen) and returns the port. UNAVAILABLE when the process exits first,
// CANCELLED when `*interrupted` (may be null) turns true, DEADLINE_EXCEEDED after `timeout`.
absl::StatusOr<int> WaitForPortFile(Subprocess& process, const std::string& path,
                                    absl::Duration timeout,
                                    const std::atomic<bool>* interrupted = nullptr);

}  // namespace murmur

#endif  // MURMUR_BASE_SUBPROCESS_H_
