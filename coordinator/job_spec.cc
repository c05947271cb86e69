#include "coordinator/job_spec.h"

#include <set>
#include <string>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "coordinator/best_metric.h"
#include "proto/objectives.h"

namespace murmur::coordinator {
namespace {

// Names of the top-level keys present in the JSON object, mapped to proto field names.
absl::StatusOr<std::set<std::string>> PresentFields(const std::string& json) {
  nlohmann::json parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return absl::InvalidArgumentError("job spec: malformed JSON");
  if (!parsed.is_object()) return absl::InvalidArgumentError("job spec: expected a JSON object");
  const google::protobuf::Descriptor* descriptor = v1::JobSpec::descriptor();
  std::set<std::string> present;
  for (const auto& item : parsed.items()) {
    if (item.value().is_null()) continue;
    for (int i = 0; i < descriptor->field_count(); ++i) {
      const google::protobuf::FieldDescriptor* field = descriptor->field(i);
      if (field->name() == item.key() || field->json_name() == item.key()) {
        present.insert(field->name());
      }
    }
  }
  return present;
}

absl::Status FieldError(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat("job spec: ", field, " ", problem));
}

}  // namespace

absl::StatusOr<v1::JobSpec> ParseJobSpec(const std::string& json, const std::string& journal_dir) {
  auto present = PresentFields(json);
  if (!present.ok()) return present.status();
  v1::JobSpec spec;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto parsed = google::protobuf::util::JsonStringToMessage(json, &spec, options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("job spec: ", std::string(parsed.message().data(), parsed.message().size())));
  }
  auto absent = [&](const char* name) { return present->count(name) == 0; };
  if (absent("model_preset")) spec.set_model_preset("small");
  if (absent("learning_rate")) {
    // Pretrained base encoders want a small rate; small models from scratch a large one.
    const bool from_scratch = spec.init_dir().empty() && spec.model_preset() != "base";
    spec.set_learning_rate(from_scratch ? 1e-3 : 5e-5);
  }
  if (absent("warmup_ratio")) spec.set_warmup_ratio(0.06);
  if (absent("weight_decay")) spec.set_weight_decay(0.01);
  if (absent("batch_per_worker")) spec.set_batch_per_worker(32);
  if (absent("gradient_accumulation")) spec.set_gradient_accumulation(1);
  if (absent("epochs")) spec.set_epochs(1);
  if (absent("max_length")) spec.set_max_length(64);
  if (absent("seed")) spec.set_seed(42);
  if (absent("min_workers")) spec.set_min_workers(1);
  if (absent("max_workers")) spec.set_max_workers(64);
  if (absent("validation_fraction")) spec.set_validation_fraction(0.2);
  if (absent("checkpoint_dir")) spec.set_checkpoint_dir(journal_dir + "/checkpoints");
  if (absent("max_grad_norm")) spec.set_max_grad_norm(1.0);
  if (absent("heartbeat_timeout_ms")) spec.set_heartbeat_timeout_ms(5000);
  if (absent("collective_timeout_ms")) spec.set_collective_timeout_ms(10000);
  if (absent("coordinator_outage_ms")) spec.set_coordinator_outage_ms(120000);
  if (absent("backend")) spec.set_backend("gloo");
  if (absent("dropout")) spec.set_dropout(-1);
  if (absent("objective")) spec.set_objective("classification");
  if (absent("report_to")) spec.set_report_to("tensorboard");
  if (absent("best_metric")) spec.set_best_metric("accuracy");
  if (absent("max_restarts")) spec.set_max_restarts(3);
  if (absent("mask_probability") && IsPretrainingObjective(spec.objective())) {
    spec.set_mask_probability(0.15);
  }
  if (auto status = ValidateJobSpec(spec); !status.ok()) return status;
  return spec;
}

absl::StatusOr<v1::JobSpec> LoadJobSpec(const std::string& path, const std::string& journal_dir) {
  auto json = ReadFile(path);
  if (!json.ok()) return json.status();
  auto spec = ParseJobSpec(*json, journal_dir);
  if (!spec.ok()) {
    return absl::Status(spec.status().code(),
                        absl::StrCat(path, ": ", std::string(spec.status().message())));
  }
  return spec;
}

absl::Status ValidateJobSpec(const v1::JobSpec& spec) {
  if (spec.corpus_path().empty()) return FieldError("corpus_path", "is required");
  if (spec.vocab_path().empty()) return FieldError("vocab_path", "is required");
  static const std::set<std::string> kPresets = {"tiny", "small", "base"};
  if (kPresets.count(spec.model_preset()) == 0) {
    return FieldError("model_preset",
                      absl::StrCat("must be tiny, small or base, got '", spec.model_preset(), "'"));
  }
  if (!(spec.learning_rate() > 0)) return FieldError("learning_rate", "must be > 0");
  if (!(spec.warmup_ratio() >= 0 && spec.warmup_ratio() < 1)) {
    return FieldError("warmup_ratio", "must be in [0, 1)");
  }
  if (!(spec.weight_decay() >= 0)) return FieldError("weight_decay", "must be >= 0");
  if (spec.batch_per_worker() <= 0) {
    return FieldError("batch_per_worker", absl::StrCat("must be > 0, got ", spec.batch_per_worker()));
  }
  if (spec.gradient_accumulation() <= 0) {
    return FieldError("gradient_accumulation",
                      absl::StrCat("must be > 0, got ", spec.gradient_accumulation()));
  }
  if (spec.epochs() <= 0) return FieldError("epochs", absl::StrCat("must be > 0, got ", spec.epochs()));
  if (spec.max_steps() < 0) return FieldError("max_steps", "must be >= 0");
  if (spec.max_length() < 2 || spec.max_length() > 512) {
    return FieldError("max_length", absl::StrCat("must be in [2, 512], got ", spec.max_length()));
  }
  if (spec.min_workers() < 1) {
    return FieldError("min_workers", absl::StrCat("must be >= 1, got ", spec.min_workers()));
  }
  if (spec.max_workers() < spec.min_workers()) {
    return FieldError("max_workers", absl::StrCat("(", spec.max_workers(),
                                                  ") must be >= min_workers (",
                                                  spec.min_workers(), ")"));
  }
  if (!(spec.validation_fraction() > 0 && spec.validation_fraction() < 1)) {
    return FieldError("validation_fraction",
                      absl::StrCat("must be in (0, 1), got ", spec.validation_fraction()));
  }
  if (spec.checkpoint_dir().empty()) return FieldError("checkpoint_dir", "must not be empty");
  if (spec.checkpoint_every_steps() < 0) return FieldError("checkpoint_every_steps", "must be >= 0");
  if (!(spec.max_grad_norm() >= 0)) return FieldError("max_grad_norm", "must be >= 0");
  if (spec.heartbeat_timeout_ms() <= 0) return FieldError("heartbeat_timeout_ms", "must be > 0");
  if (spec.collective_timeout_ms() <= 0) return FieldError("collective_timeout_ms", "must be > 0");
  if (spec.coordinator_outage_ms() <= 0) return FieldError("coordinator_outage_ms", "must be > 0");
  if (spec.backend() != "gloo" && spec.backend() != "nccl") {
    return FieldError("backend",
                      absl::StrCat("must be gloo (CPU) or nccl (GPU), got '", spec.backend(), "'"));
  }
  if (!(spec.dropout() < 1)) return FieldError("dropout", "must be < 1 (negative: the preset's)");
  if (!(spec.token_dropout() >= 0 && spec.token_dropout() < 1)) {
    return FieldError("token_dropout", "must be in [0, 1)");
  }
  if (spec.threads_per_worker() < 0) return FieldError("threads_per_worker", "must be >= 0");
  if (auto metric = ParseBestMetric(spec.best_metric(), spec.objective()); !metric.ok()) {
    return FieldError("best_metric", std::string(metric.status().message()));
  }
  if (spec.early_stopping_patience() < 0) {
    return FieldError("early_stopping_patience", "must be >= 0 (0: no early stopping)");
  }
  if (spec.max_restarts() < 0) return FieldError("max_restarts", "must be >= 0");
  if (spec.keep_checkpoints() < 0) {
    return FieldError("keep_checkpoints", "must be >= 0 (0: keep all)");
  }
  if (spec.early_stopping_threshold() < 0) {
    return FieldError("early_stopping_threshold", "must be >= 0");
  }
  if (spec.report_to() != "tensorboard" && spec.report_to() != "none") {
    return FieldError("report_to", absl::StrCat("must be tensorboard or none, got '",
                                                spec.report_to(), "'"));
  }
  if (!IsKnownObjective(spec.objective())) {
    return FieldError("objective",
                      absl::StrCat("must be ", kObjectiveNames, ", got '", spec.objective(), "'"));
  }
  if (IsPretrainingObjective(spec.objective()) && spec.token_dropout() > 0) {
    return FieldError("token_dropout", absl::StrCat("applies to classification only (",
                                                    spec.objective(), " masks tokens itself)"));
  }
  if (spec.max_eval_samples() < 0) {
    return FieldError("max_eval_samples", "must be >= 0 (0: the whole validation split)");
  }
  if (!(spec.label_smoothing() >= 0 && spec.label_smoothing() < 1)) {
    return FieldError("label_smoothing", "must be in [0, 1)");
  }
  if (IsPretrainingObjective(spec.objective()) && spec.label_smoothing() > 0) {
    return FieldError("label_smoothing", absl::StrCat("applies to classification only, not ",
                                                      spec.objective()));
  }
  if (IsPretrainingObjective(spec.objective())) {
    if (!(spec.mask_probability() > 0 && spec.mask_probability() < 1)) {
      return FieldError("mask_probability", "must be in (0, 1)");
    }
  } else if (spec.mask_probability() != 0) {
    return FieldError("mask_probability",
                      absl::StrCat("applies to pretraining objectives only, not ", spec.objective()));
  }
  return absl::OkStatus();
}

std::string JobSpecToJson(const v1::JobSpec& spec) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(spec, &json, options);
  return json;
}

}  // namespace murmur::coordinator
