// The job specification: parsing the operator's JSON, applying the defaults documented in
// proto/coordinator.proto, and validating. The coordinator hands the completed spec to every
// worker (JoinResponse.spec), so workers never apply defaults themselves.
//
// Defaults are applied only to fields ABSENT from the JSON: an explicit `"warmup_ratio": 0` or
// `"dropout": 0` stays 0 even though proto3 cannot tell 0 from unset. Programs that build a
// JobSpec message and write it as JSON must therefore print every field they mean
// (JsonPrintOptions::always_print_primitive_fields) or leave defaults to this file.
//
// Pure functions; thread-safe.
#ifndef MURMUR_COORDINATOR_JOB_SPEC_H_
#define MURMUR_COORDINATOR_JOB_SPEC_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/coordinator.pb.h"

namespace murmur::coordinator {

// Parses `json` (proto3 JSON mapping, lower_snake_case or lowerCamelCase names), applies the
// defaults to absent fields, and validates. `journal_dir` is where the default checkpoint_dir
// ("<journal_dir>/checkpoints") goes. INVALID_ARGUMENT naming the offending field (also for
// unknown fields and malformed JSON).
absl::StatusOr<v1::JobSpec> ParseJobSpec(const std::string& json, const std::string& journal_dir);

// ReadFile + ParseJobSpec; the error names the file.
absl::StatusOr<v1::JobSpec> LoadJobSpec(const std::string& path, const std::string& journal_dir);

// INVALID_ARGUMENT naming the first field out of range (defaults must already be applied).
absl::Status ValidateJobSpec(const v1::JobSpec& spec);

// The spec as pretty JSON with every field printed (for the journal, logs and `murmur status`).
std::string JobSpecToJson(const v1::JobSpec& spec);

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_JOB_SPEC_H_
