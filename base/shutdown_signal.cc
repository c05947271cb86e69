#include "base/shutdown_signal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace murmur {
namespace {

int pipe_fds[2] = {-1, -1};

void OnSignal(int signal) {
  const int saved = errno;  // a handler must leave errno as it found it
  const uint8_t byte = static_cast<uint8_t>(signal);
  [[maybe_unused]] ssize_t written = write(pipe_fds[1], &byte, 1);
  errno = saved;
}

void WriteByte(uint8_t byte) {
  if (pipe_fds[1] < 0) return;
  while (write(pipe_fds[1], &byte, 1) < 0 && errno == EINTR) {
  }
}

}  // namespace

absl::Status InstallShutdownSignalHandler() {
  if (pipe_fds[0] >= 0) return absl::OkStatus();
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("shutdown signal pipe: ", strerror(errno)));
  }
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int signal : {SIGTERM, SIGINT}) {
    if (sigaction(signal, &action, nullptr) != 0) {
      return absl::InternalError(absl::StrCat("sigaction ", signal, ": ", strerror(errno)));
    }
  }
  return absl::OkStatus();
}

int WaitForShutdownSignal() {
  if (pipe_fds[0] < 0) return 0;
  uint8_t byte = 0;
  while (true) {
    const ssize_t got = read(pipe_fds[0], &byte, 1);
    if (got == 1) return byte;
    if (got < 0 && errno == EINTR) continue;
    return 0;
  }
}

void WakeShutdownWaiter() { WriteByte(0); }

}  // namespace murmur
