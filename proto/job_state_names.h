// The lowercase words operators read for the job's and the workers' states ("running",
// "active", ...): in `murmur status`, Prometheus labels and logs. The wire and the journal carry
// the enums (coordinator.proto JobState, WorkerState); this is the one place they become words.
// Pure functions; thread-safe.
#ifndef MURMUR_PROTO_JOB_STATE_NAMES_H_
#define MURMUR_PROTO_JOB_STATE_NAMES_H_

#include <string>

#include "proto/coordinator.pb.h"

namespace murmur {

// "waiting", "running", "finished"; "unspecified" for 0 or an unknown value.
std::string StateName(v1::JobState state);
// "standby", "active", "draining", "dead", "left"; "unspecified" for 0 or an unknown value.
std::string StateName(v1::WorkerState state);

}  // namespace murmur

#endif  // MURMUR_PROTO_JOB_STATE_NAMES_H_
