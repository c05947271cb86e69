#include "tests/lineage_check.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/journal.h"

namespace murmur::testing {
namespace {

namespace journal = coordinator::journal;

absl::StatusOr<TraceStep> ParseLine(const std::string& line) {
  std::istringstream in(line);
  std::string g, r, w, s, e, rows;
  TraceStep step;
  in >> g >> step.generation >> r >> step.rank >> w >> step.world >> s >> step.step >> e >>
      step.epoch >> rows;
  if (!in || g != "g" || r != "r" || w != "w" || s != "s" || e != "e" || rows != "rows") {
    return absl::InvalidArgumentError("not a trace line");
  }
  uint32_t row;
  while (in >> row) step.rows.push_back(row);
  if (!in.eof()) return absl::InvalidArgumentError("malformed row");
  return step;
}

// Positions consumed per epoch according to the journal's ledger.
std::map<int32_t, int64_t> ConsumedPerEpoch(const journal::State& state) {
  std::map<int32_t, int64_t> consumed;
  for (const journal::EpochConsumed& epoch : state.ledger().epochs()) {
    for (const v1::PositionRange& range : epoch.consumed()) {
      consumed[epoch.epoch()] += range.end() - range.begin();
    }
  }
  return consumed;
}

}  // namespace

std::string LineageReport::ToString() const {
  return absl::StrCat("final model: step ", final_step, " of generation ", final_generation,
                      "; lineage ", absl::StrJoin(generations, " <- "), "; ", steps,
                      " steps; rows per epoch ", absl::StrJoin(rows_per_epoch, ", "));
}

absl::StatusOr<std::vector<TraceStep>> ReadTraces(const std::string& dir) {
  std::vector<TraceStep> traces;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.path().extension() != ".trace") continue;
    std::ifstream in(entry.path());
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      if (line.empty()) continue;
      auto step = ParseLine(line);
      if (!step.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(entry.path().string(), ":", number, ": ", step.status().message()));
      }
      traces.push_back(*std::move(step));
    }
  }
  if (error) {
    return absl::NotFoundError(absl::StrCat("cannot list ", dir, ": ", error.message()));
  }
  return traces;
}

absl::StatusOr<LineageReport> CheckLineage(const journal::State& state,
                                           const std::vector<TraceStep>& traces) {
  // The final model: the checkpoint of the highest step (the last reported among equals).
  const journal::Checkpoint* final_checkpoint = nullptr;
  for (const journal::Checkpoint& checkpoint : state.checkpoints()) {
    if (final_checkpoint == nullptr ||
        checkpoint.info().global_step() >= final_checkpoint->info().global_step()) {
      final_checkpoint = &checkpoint;
    }
  }
  if (final_checkpoint == nullptr) return absl::FailedPreconditionError("no checkpoint");
  std::map<int64_t, const journal::Generation*> generations;
  for (const journal::Generation& generation : state.history()) {
    generations[generation.generation()] = &generation;
  }
  // (generation, step) -> rank -> its trace line.
  std::map<std::pair<int64_t, int64_t>, std::map<int32_t, const TraceStep*>> by_step;
  for (const TraceStep& step : traces) {
    auto& ranks = by_step[{step.generation, step.step}];
    auto [it, inserted] = ranks.emplace(step.rank, &step);
    if (!inserted && it->second->rows != step.rows) {
      return absl::FailedPreconditionError(absl::StrCat(
          "generation ", step.generation, " step ", step.step, " rank ", step.rank,
          " traced twice with different rows"));
    }
  }

  LineageReport report;
  report.final_step = final_checkpoint->info().global_step();
  report.final_generation = final_checkpoint->generation();
  std::map<int32_t, std::vector<uint32_t>> rows_by_epoch;
  int64_t generation_id = report.final_generation;
  int64_t end = report.final_step;
  while (true) {
    auto found = generations.find(generation_id);
    if (found == generations.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("generation ", generation_id, " is not in the journal's history"));
    }
    const journal::Generation& generation = *found->second;
    const int64_t start = generation.global_step();
    if (end < start) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the lineage needs generation ", generation_id, " at step ", end, ", but it started at ",
          start));
    }
    report.generations.push_back(generation_id);
    const int world = generation.members_size();
    for (int64_t step = start + 1; step <= end; ++step) {
      auto ranks = by_step.find({generation_id, step});
      const size_t traced = ranks == by_step.end() ? 0 : ranks->second.size();
      if (traced != static_cast<size_t>(world)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "generation ", generation_id, " step ", step, ": ", traced, " of ", world,
            " ranks traced it"));
      }
      for (const auto& [rank, line] : ranks->second) {
        if (line->world != world) {
          return absl::FailedPreconditionError(absl::StrCat(
              "generation ", generation_id, " step ", step, " rank ", rank, " traced world ",
              line->world, ", the journal says ", world));
        }
        auto& rows = rows_by_epoch[line->epoch];
        rows.insert(rows.end(), line->rows.begin(), line->rows.end());
      }
      ++report.steps;
    }
    if (generation.origin() == "initialisation") {
      if (start != 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "generation ", generation_id, " started from initialisation at step ", start));
      }
      break;
    }
    if (generation.origin() != "member" && generation.origin() != "checkpoint") {
      return absl::FailedPreconditionError(absl::StrCat(
          "generation ", generation_id, " has no recorded origin ('", generation.origin(), "')"));
    }
    generation_id = generation.parent_generation();
    end = start;
  }

  const std::map<int32_t, int64_t> consumed = ConsumedPerEpoch(state);
  const int64_t samples = state.train_samples();
  for (int32_t epoch = 0; epoch < state.spec().epochs(); ++epoch) {
    std::vector<uint32_t>& rows = rows_by_epoch[epoch];
    std::sort(rows.begin(), rows.end());
    auto repeated = std::adjacent_find(rows.begin(), rows.end());
    if (repeated != rows.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "epoch ", epoch, ": the final model trained row ", *repeated, " more than once"));
    }
    auto it = consumed.find(epoch);
    const bool complete = it != consumed.end() && it->second == samples;
    if (complete && static_cast<int64_t>(rows.size()) != samples) {
      return absl::FailedPreconditionError(absl::StrCat(
          "epoch ", epoch, " is complete in the ledger, but the final model trained ",
          rows.size(), " of its ", samples, " samples"));
    }
    report.rows_per_epoch.push_back(static_cast<int64_t>(rows.size()));
  }
  return report;
}

absl::Status CheckExactlyOnce(const std::string& journal_dir, const std::string& trace_dir) {
  auto state = coordinator::ReadJournal(journal_dir);
  if (!state.ok()) return state.status();
  auto traces = ReadTraces(trace_dir);
  if (!traces.ok()) return traces.status();
  auto report = CheckLineage(*state, *traces);
  if (!report.ok()) return report.status();
  std::fprintf(stderr, "lineage check: %s\n", report->ToString().c_str());
  return absl::OkStatus();
}

}  // namespace murmur::testing
