#include "client/job_format.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file.h"
#include "proto/job_state_names.h"

namespace murmur::client {

std::string FormatProgress(const v1::JobStatus& status) {
  int active = 0;
  for (const auto& worker : status.workers()) active += worker.state() == v1::WORKER_ACTIVE;
  return absl::StrFormat(
      "[%s] generation %d, %d workers, epoch %d, step %d/%d, loss %.4f, %.1f samples/s, eta %.0f s",
      StateName(status.state()), status.generation(), active, status.epoch(),
      status.global_step(),
      status.total_steps(), status.loss(), status.samples_per_second(), status.eta_seconds());
}

std::string FormatFinalReport(const v1::JobStatus& status) {
  std::string out;
  for (const auto& eval : status.evaluations()) {
    if (eval.precision_size() == 0) {  // pretraining: no classes
      absl::StrAppendFormat(&out, "epoch %d (step %d): masked-token accuracy %.4f, ", eval.epoch(),
                            eval.global_step(), eval.accuracy());
      if (eval.detection_accuracy() > 0) {
        absl::StrAppendFormat(&out, "replaced-token detection accuracy %.4f, ",
                              eval.detection_accuracy());
      }
      absl::StrAppendFormat(&out, "loss %.4f on %d texts\n", eval.loss(), eval.examples());
      continue;
    }
    absl::StrAppendFormat(&out,
                          "epoch %d (step %d): validation accuracy %.4f, loss %.4f, "
                          "precision %s, recall %s, f1 %s on %d examples\n",
                          eval.epoch(), eval.global_step(), eval.accuracy(), eval.loss(),
                          absl::StrFormat("%.3f/%.3f", eval.precision_size() > 0 ? eval.precision(0) : 0,
                                          eval.precision_size() > 1 ? eval.precision(1) : 0),
                          absl::StrFormat("%.3f/%.3f", eval.recall_size() > 0 ? eval.recall(0) : 0,
                                          eval.recall_size() > 1 ? eval.recall(1) : 0),
                          absl::StrFormat("%.3f/%.3f", eval.f1_size() > 0 ? eval.f1(0) : 0,
                                          eval.f1_size() > 1 ? eval.f1(1) : 0),
                          eval.examples());
  }
  for (const auto& epoch : status.accounting()) {
    absl::StrAppendFormat(&out, "epoch %d accounting: %d of %d samples consumed, %d twice%s\n",
                          epoch.epoch(), epoch.consumed(), epoch.samples(), epoch.duplicated(),
                          epoch.complete() ? " (complete)" : "");
  }
  for (const auto& checkpoint : status.checkpoints()) {
    if (checkpoint.best()) {
      // Scripts read this line (deploy/run_local.sh): keep its form.
      absl::StrAppendFormat(&out, "best checkpoint: %s (step %d), by %s\n", checkpoint.path(),
                            checkpoint.global_step(),
                            status.best_metric().empty() ? "accuracy" : status.best_metric());
    }
  }
  if (status.stopped_early()) {
    absl::StrAppendFormat(&out, "stopped early: %d evaluations without improving %s\n",
                          status.evaluations_without_improvement(), status.best_metric());
  }
  return out;
}

double ReadSamplesPerSecond(const std::string& out, int workers) {
  double best = 0;
  for (int i = 0; i < workers; ++i) {
    auto contents = ReadFile(absl::StrCat(out, "/summary-", i, ".json"));
    if (!contents.ok()) continue;
    nlohmann::json json = nlohmann::json::parse(*contents, nullptr, /*allow_exceptions=*/false);
    if (json.is_object() && json.contains("samples_per_s")) {
      best = std::max(best, json["samples_per_s"].get<double>());
    }
  }
  return best;
}

}  // namespace murmur::client
