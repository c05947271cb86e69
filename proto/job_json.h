// The JSON form of the coordinator's operator-facing messages (JobStatus, JobEvent): protobuf's
// JSON mapping with the .proto field names, every field present (zeros included, so a reader need
// not know the defaults) and enums by name ("JOB_RUNNING"). One text for `murmur status --json` and
// the dashboard's /api/v1/status.
#ifndef MURMUR_PROTO_JOB_JSON_H_
#define MURMUR_PROTO_JOB_JSON_H_

#include <string>

#include "google/protobuf/message.h"

namespace murmur {

// `pretty`: indented, for people; otherwise one line.
std::string OperatorJson(const google::protobuf::Message& message, bool pretty = false);

}  // namespace murmur

#endif  // MURMUR_PROTO_JOB_JSON_H_
