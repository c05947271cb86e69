// Operational log lines of murmur-serve on stderr ("murmur-serve: <time> <message>"). Abseil's
// logging is not in Debian 12's libabsl; this is all the serving tier needs: lifecycle events
// (version loaded, rejected with reason, unloaded) are rare, so one locked write each is cheap.
// Thread-safe.
#ifndef MURMUR_SERVING_LOGGING_H_
#define MURMUR_SERVING_LOGGING_H_

#include <string_view>

namespace murmur::serving {

void LogLine(std::string_view message);

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_LOGGING_H_
