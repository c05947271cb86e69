#include "base/logging.h"

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace murmur {
namespace {

std::string& Program() {
  static auto* program = new std::string("murmur");
  return *program;
}

}  // namespace

void SetLogProgram(absl::string_view program) { Program() = std::string(program.data(), program.size()); }

void LogLine(absl::string_view message) {
  std::string line = absl::StrCat(
      Program(), ": ", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ ", absl::Now(), absl::UTCTimeZone()));
  line.append(message.data(), message.size());
  if (line.empty() || line.back() != '\n') line.push_back('\n');
  // One fwrite per line: stdio locks the stream, so lines from threads do not interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace murmur
