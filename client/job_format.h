// Human-readable views of a job's status for the console (`murmur train`, `murmur status`).
#ifndef MURMUR_CLIENT_JOB_FORMAT_H_
#define MURMUR_CLIENT_JOB_FORMAT_H_

#include <string>

#include "proto/coordinator.pb.h"

namespace murmur::client {

// One line: state, epoch, step/total, loss, samples/s, workers, ETA.
std::string FormatProgress(const v1::JobStatus& status);

// Several lines: evaluations per epoch, accounting per epoch, best checkpoint.
std::string FormatFinalReport(const v1::JobStatus& status);

// The timed samples/s that rank 0 wrote into <out>/summary-<i>.json (the largest found; 0 when
// none).
double ReadSamplesPerSecond(const std::string& out, int workers);

}  // namespace murmur::client

#endif  // MURMUR_CLIENT_JOB_FORMAT_H_
