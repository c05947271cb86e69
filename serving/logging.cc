#include "serving/logging.h"

#include <cstdio>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace murmur::serving {

void LogLine(std::string_view message) {
  std::string line = "murmur-serve: " +
                     absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ ", absl::Now(), absl::UTCTimeZone());
  line.append(message.data(), message.size());
  line.push_back('\n');
  // One fwrite per line: stdio locks the stream, so lines from threads do not interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace murmur::serving
