// "Exactly once, about the model": checks that the model a job ends with trained every sample of
// each completed epoch exactly once, whatever happened on the way (deaths, regroups, rollbacks,
// resumed checkpoints, coordinator restarts).
//
// The evidence is independent of the coordinator's ledger: every rank of every worker run with
// --trace-dir writes, before each optimizer step, the token-cache rows of its share
// (ElasticWorkerOptions::trace_dir). The journal's history says where each generation's state
// came from (a member's state produced by a parent generation, a checkpoint written in one, or
// initialisation). The check walks back from the final checkpoint: generation G contributed its
// steps (start of G, end], then its parent contributed the steps up to G's start, and so on down
// to initialisation. Steps of branches that were abandoned (trained, then rolled back) are not
// part of the walk. The rows of the walked steps, per epoch, must be distinct and, for every
// epoch the journal counts complete, exactly the training split (train_samples rows). Every rank
// of a walked generation must have traced every walked step (a share nobody recorded would be a
// hole in the evidence).
//
// Pure functions over files; thread-safe.
#ifndef MURMUR_TESTS_LINEAGE_CHECK_H_
#define MURMUR_TESTS_LINEAGE_CHECK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/journal.pb.h"

namespace murmur::testing {

// One trace line: rank `rank` of a `world`-rank generation took optimizer step `step` (steps
// completed after it) of `epoch` on `rows`.
struct TraceStep {
  int64_t generation = 0;
  int32_t rank = 0;
  int32_t world = 0;
  int64_t step = 0;
  int32_t epoch = 0;
  std::vector<uint32_t> rows;
};

struct LineageReport {
  int64_t final_step = 0;
  int64_t final_generation = 0;
  // Generations walked, newest first, and the steps they contributed.
  std::vector<int64_t> generations;
  int64_t steps = 0;
  // Rows trained per epoch by the final model.
  std::vector<int64_t> rows_per_epoch;
  std::string ToString() const;
};

// Every *.trace file in `dir`. INVALID_ARGUMENT for a malformed line (naming file and line).
absl::StatusOr<std::vector<TraceStep>> ReadTraces(const std::string& dir);

// The check on a journal and traces. FAILED_PRECONDITION saying what is wrong: a broken lineage,
// a missing or contradictory trace, a row trained twice or an epoch not trained completely.
absl::StatusOr<LineageReport> CheckLineage(const coordinator::journal::State& journal,
                                           const std::vector<TraceStep>& traces);

// Reads the journal in `journal_dir` (coordinator/journal.h) and the traces in `trace_dir`, then
// CheckLineage; logs the report.
absl::Status CheckExactlyOnce(const std::string& journal_dir, const std::string& trace_dir);

}  // namespace murmur::testing

#endif  // MURMUR_TESTS_LINEAGE_CHECK_H_
