#include "proto/job_state_names.h"

namespace murmur {

std::string StateName(v1::JobState state) {
  switch (state) {
    case v1::JOB_WAITING:
      return "waiting";
    case v1::JOB_RUNNING:
      return "running";
    case v1::JOB_FINISHED:
      return "finished";
    case v1::JOB_FAILED:
      return "failed";
    default:
      return "unspecified";
  }
}

std::string StateName(v1::WorkerState state) {
  switch (state) {
    case v1::WORKER_STANDBY:
      return "standby";
    case v1::WORKER_ACTIVE:
      return "active";
    case v1::WORKER_DRAINING:
      return "draining";
    case v1::WORKER_DEAD:
      return "dead";
    case v1::WORKER_LEFT:
      return "left";
    default:
      return "unspecified";
  }
}

}  // namespace murmur
