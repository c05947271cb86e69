// Operational log lines of murmur's programs on stderr: "<program>: <UTC time> <message>", e.g.
// "murmur-worker: 2026-12-01T23:12:23.415Z [worker w1] joined as w-3". Abseil's logging is not
// in Debian 12's libabsl. The lines are lifecycle and progress events (a version loaded, a
// generation formed, a training progress line a second), so one locked write each is cheap;
// the time stamp is what lets a reader line up the logs of several processes after a fault.
//
// Thread-safe: each line is one fwrite, which stdio locks, so lines from threads never
// interleave. SetLogProgram is meant for main, before other threads log.
#ifndef MURMUR_BASE_LOGGING_H_
#define MURMUR_BASE_LOGGING_H_

#include "absl/strings/string_view.h"

#include "absl/strings/str_format.h"

namespace murmur {

// The program name that starts every line (default "murmur").
void SetLogProgram(absl::string_view program);

// Writes one line (a trailing newline is added).
void LogLine(absl::string_view message);

// printf-style, checked at compile time by absl::StrFormat.
template <typename... Args>
void Logf(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogLine(absl::StrFormat(format, args...));
}

}  // namespace murmur

#endif  // MURMUR_BASE_LOGGING_H_
