#include "model/model_io.h"

#include <functional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file.h"
#include "model/torch_status.h"

namespace murmur::model {
namespace {

constexpr char kEncoderPrefix[] = "distilbert.";

constexpr char kDiscriminatorHeadPrefix[] = "discriminator_predictions.";

// Tensors of DistilBertForMaskedLM's head, of DistilBertForReplacedTokenDetection's head and
// generator, and buffers some transformers versions saved.
bool IsIgnorable(const std::string& name) {
  for (const char* prefix : {"vocab_transform.", "vocab_layer_norm.", "vocab_projector.",
                             kDiscriminatorHeadPrefix, "generator."}) {
    if (absl::StartsWith(name, prefix)) return true;
  }
  return absl::EndsWith(name, "embeddings.position_ids");
}

bool IsHead(const std::string& name) {
  return absl::StartsWith(name, "pre_classifier.") || absl::StartsWith(name, "classifier.");
}

std::string Shape(c10::IntArrayRef sizes) {
  return absl::StrCat("[", absl::StrJoin(sizes.begin(), sizes.end(), ", "), "]");
}

}  // namespace

std::string LoadReport::ToString() const {
  std::string out = absl::StrCat("loaded ", source_architecture);
  if (head_initialized) absl::StrAppend(&out, "; classification head freshly initialised");
  if (!ignored.empty()) {
    absl::StrAppend(&out, "; ignored ", ignored.size(), " tensors: ", absl::StrJoin(ignored, ", "));
  }
  return out;
}

namespace {

// Copies every parameter of `module` from `file` (names with or without the "distilbert."
// prefix, per `prefixed`). A parameter absent from the file is an error unless
// `may_be_missing` says otherwise. Records the file names it used in `used`.
absl::Status CopyParameters(const SafetensorsFile& file, torch::nn::Module& module, bool prefixed,
                            const std::function<bool(const std::string&)>& may_be_missing,
                            std::set<std::string>* used) {
  const std::string& path = file.path();
  return TorchCall(absl::StrCat("loading ", path), [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    for (const auto& item : module.named_parameters(/*recurse=*/true)) {
      const std::string& name = item.key();
      torch::Tensor param = item.value();
      std::string file_name = name;
      if (!prefixed && absl::StartsWith(name, kEncoderPrefix)) {
        file_name = name.substr(sizeof(kEncoderPrefix) - 1);
      }
      const TensorView* view = file.Find(file_name);
      if (view == nullptr) {
        if (may_be_missing(name)) continue;
        return absl::NotFoundError(absl::StrCat(path, ": missing tensor '", file_name, "'"));
      }
      std::vector<int64_t> expected(param.sizes().begin(), param.sizes().end());
      if (view->shape != expected) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": tensor '", file_name, "' has shape ", Shape(view->shape),
            " but the model (config.json) expects ", Shape(param.sizes())));
      }
      if (view->dtype != DType::kF32 && view->dtype != DType::kBF16 &&
          view->dtype != DType::kF16 && view->dtype != DType::kF64) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", file_name,
                                                       "' has dtype ", DTypeName(view->dtype),
                                                       "; expected F32, BF16, F16 or F64"));
      }
      absl::StatusOr<at::ScalarType> type = ToScalarType(view->dtype);
      // The mapping is read-only; from_blob only wraps it for copy_, which reads.
      torch::Tensor source = torch::from_blob(const_cast<uint8_t*>(view->data), view->shape,
                                              torch::TensorOptions().dtype(*type));
      param.copy_(source);
      used->insert(file_name);
    }
    return absl::OkStatus();
  });
}

// Every tensor of `file` not in `used` must be `ignorable`; those go into `report`.
absl::Status CheckLeftovers(const SafetensorsFile& file, const std::set<std::string>& used,
                            const std::function<bool(const std::string&)>& ignorable,
                            LoadReport* report) {
  for (const TensorView& view : file.tensors()) {
    if (used.count(view.name)) continue;
    if (!ignorable(view.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.path(), ": unexpected tensor '", view.name, "'"));
    }
    report->ignored.push_back(view.name);
  }
  return absl::OkStatus();
}

bool HasPrefixedNames(const SafetensorsFile& file) {
  for (const TensorView& view : file.tensors()) {
    if (absl::StartsWith(view.name, kEncoderPrefix)) return true;
  }
  return false;
}

NamedTensors NamedParameters(const torch::nn::Module& module) {
  NamedTensors out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    out.emplace_back(item.key(), item.value());
  }
  return out;
}

}  // namespace

NamedTensors StateDict(const DistilBertForSequenceClassification& model) {
  return NamedParameters(*model);
}

NamedTensors StateDict(const DistilBertForMaskedLM& model) { return NamedParameters(*model); }

NamedTensors StateDict(const DistilBertForReplacedTokenDetection& model) {
  return NamedParameters(*model);
}

absl::StatusOr<LoadReport> LoadWeights(const SafetensorsFile& file,
                                       DistilBertForSequenceClassification& model) {
  LoadReport report;
  bool has_head = false, has_mlm = false, has_discriminator = false;
  for (const TensorView& view : file.tensors()) {
    has_head = has_head || IsHead(view.name);
    has_mlm = has_mlm || absl::StartsWith(view.name, "vocab_projector.");
    has_discriminator = has_discriminator || absl::StartsWith(view.name, kDiscriminatorHeadPrefix);
  }
  const bool prefixed = HasPrefixedNames(file);
  report.source_architecture = has_head            ? kSequenceClassificationArchitecture
                               : has_discriminator ? kReplacedTokenDetectionArchitecture
                               : has_mlm           ? kMaskedLmArchitecture
                               : prefixed          ? kMaskedLmArchitecture
                                                   : "DistilBertModel";
  std::set<std::string> used;
  absl::Status status = CopyParameters(
      file, *model, prefixed,
      [&](const std::string& name) { return IsHead(name) && !has_head; }, &used);
  if (!status.ok()) return status;
  if (!has_head) {
    TorchCall("initialising head", [&]() { model->ResetHead(); }).IgnoreError();
    report.head_initialized = true;
  }
  if (auto s = CheckLeftovers(file, used, IsIgnorable, &report); !s.ok()) return s;
  return report;
}

absl::StatusOr<LoadReport> LoadWeights(const SafetensorsFile& file,
                                       DistilBertForMaskedLM& model) {
  LoadReport report;
  report.source_architecture = "DistilBertForMaskedLM";
  std::set<std::string> used;
  absl::Status status = CopyParameters(
      file, *model, /*prefixed=*/true, [](const std::string&) { return false; }, &used);
  if (!status.ok()) return status;
  // transformers may save the tied projector weight too (it equals the word embeddings).
  auto ignorable = [](const std::string& name) {
    return name == "vocab_projector.weight" || absl::EndsWith(name, "embeddings.position_ids");
  };
  if (auto s = CheckLeftovers(file, used, ignorable, &report); !s.ok()) return s;
  return report;
}

absl::StatusOr<LoadReport> LoadWeights(const SafetensorsFile& file,
                                       DistilBertForReplacedTokenDetection& model) {
  LoadReport report;
  report.source_architecture = kReplacedTokenDetectionArchitecture;
  std::set<std::string> used;
  absl::Status status = CopyParameters(
      file, *model, /*prefixed=*/true, [](const std::string&) { return false; }, &used);
  if (!status.ok()) return status;
  auto ignorable = [](const std::string& name) {
    return name == "generator.vocab_projector.weight" ||
           absl::EndsWith(name, "embeddings.position_ids");
  };
  if (auto s = CheckLeftovers(file, used, ignorable, &report); !s.ok()) return s;
  return report;
}

absl::StatusOr<int64_t> CountVocabLines(const std::string& path) {
  absl::StatusOr<std::unique_ptr<MappedFile>> file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  std::string_view bytes = (*file)->view();
  int64_t lines = 0;
  for (char c : bytes) lines += (c == '\n');
  if (!bytes.empty() && bytes.back() != '\n') ++lines;
  return lines;
}

absl::StatusOr<LoadedModel> LoadModelDir(const std::string& dir, const LoadOptions& options) {
  LoadedModel loaded;
  std::string manifest_path = absl::StrCat(dir, "/", kManifestFile);
  if (PathExists(manifest_path)) {
    absl::StatusOr<Manifest> manifest =
        options.verify_manifest ? VerifyCheckpoint(dir) : ReadManifest(dir);
    if (!manifest.ok()) return manifest.status();
    loaded.manifest = std::move(*manifest);
  } else if (options.require_manifest) {
    return absl::NotFoundError(absl::StrCat(manifest_path, ": missing"));
  }
  std::string config_path = absl::StrCat(dir, "/", kConfigFile);
  absl::StatusOr<DistilBertConfig> config = DistilBertConfig::Load(config_path);
  if (!config.ok()) return config.status();
  loaded.config = *config;
  loaded.vocab_path = absl::StrCat(dir, "/", kVocabFile);
  absl::StatusOr<int64_t> vocab_size = CountVocabLines(loaded.vocab_path);
  if (!vocab_size.ok()) return vocab_size.status();
  if (*vocab_size != config->vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(config_path, ": vocab_size ",
                                                   config->vocab_size, " but ", loaded.vocab_path,
                                                   " has ", *vocab_size, " tokens"));
  }
  std::string weights_path = absl::StrCat(dir, "/", kWeightsFile);
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> weights = SafetensorsFile::Open(weights_path);
  if (!weights.ok()) return weights.status();
  absl::Status built = TorchCall("building model", [&]() {
    loaded.model = DistilBertForSequenceClassification(loaded.config);
    loaded.model->eval();
  });
  if (!built.ok()) return built;
  absl::StatusOr<LoadReport> report = LoadWeights(**weights, loaded.model);
  if (!report.ok()) return report.status();
  loaded.report = std::move(*report);
  return loaded;
}

namespace {

absl::StatusOr<Manifest> SaveModel(const std::string& dir, const DistilBertConfig& config,
                                   std::string_view architecture, const NamedTensors& state,
                                   const SaveOptions& options) {
  if (options.vocab_path.empty()) return absl::InvalidArgumentError("SaveOptions.vocab_path");
  absl::StatusOr<std::unique_ptr<CheckpointWriter>> writer =
      CheckpointWriter::Create({.dir = dir, .overwrite = options.overwrite});
  if (!writer.ok()) return writer.status();
  absl::StatusOr<int64_t> vocab_size = CountVocabLines(options.vocab_path);
  if (!vocab_size.ok()) return vocab_size.status();
  if (*vocab_size != config.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("model vocab_size ", config.vocab_size,
                                                   " but ", options.vocab_path, " has ",
                                                   *vocab_size, " tokens"));
  }
  if (absl::Status s = (*writer)->WriteFile(kConfigFile, config.ToJson(architecture)); !s.ok()) {
    return s;
  }
  if (absl::Status s = (*writer)->CopyFile(options.vocab_path, kVocabFile); !s.ok()) return s;
  absl::StatusOr<NamedTensors> fp32 = TorchCall("saving weights", [&]() {
    NamedTensors tensors = state;
    for (auto& [name, tensor] : tensors) tensor = tensor.detach().to(torch::kFloat);
    return tensors;
  });
  if (!fp32.ok()) return fp32.status();
  if (absl::Status s = SaveTensors((*writer)->staging_path(kWeightsFile), *fp32,
                                   {{"format", "pt"}});
      !s.ok()) {
    return s;
  }
  if (options.training_state != nullptr) {
    if (absl::Status s = SaveTrainingState((*writer)->staging_path(kTrainingStateFile),
                                           *options.training_state);
        !s.ok()) {
      return s;
    }
  }
  return (*writer)->Commit(options.info);
}

}  // namespace

absl::StatusOr<Manifest> SaveCheckpoint(const std::string& dir,
                                        const DistilBertForSequenceClassification& model,
                                        const SaveOptions& options) {
  return SaveModel(dir, model->config(), kSequenceClassificationArchitecture, StateDict(model),
                   options);
}

absl::StatusOr<Manifest> SaveCheckpoint(const std::string& dir,
                                        const DistilBertForMaskedLM& model,
                                        const SaveOptions& options) {
  return SaveModel(dir, model->config(), kMaskedLmArchitecture, StateDict(model), options);
}

absl::StatusOr<Manifest> SaveCheckpoint(const std::string& dir,
                                        const DistilBertForReplacedTokenDetection& model,
                                        const SaveOptions& options) {
  return SaveModel(dir, model->config(), kReplacedTokenDetectionArchitecture, StateDict(model),
                   options);
}

}  // namespace murmur::model
