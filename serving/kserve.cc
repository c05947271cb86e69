#include "serving/kserve.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace murmur::serving::kserve {
namespace {

// The texts of a ModelInfer request, checked against the model's signature.
absl::StatusOr<std::vector<std::string>> InputTexts(const inference::ModelInferRequest& request) {
  if (request.inputs_size() != 1 || request.inputs(0).name() != kInput) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected exactly one input named '", kInput, "', got ",
                     request.inputs_size(), " input(s)",
                     request.inputs_size() > 0 ? " starting with '" + request.inputs(0).name() + "'"
                                               : ""));
  }
  const auto& input = request.inputs(0);
  if (input.datatype() != "BYTES") {
    return absl::InvalidArgumentError(
        absl::StrCat("input 'text' must have datatype BYTES, got '", input.datatype(), "'"));
  }
  const bool shape_ok = input.shape_size() == 1 ||
                        (input.shape_size() == 2 && input.shape(1) == 1);
  if (!shape_ok || input.shape(0) < 0) {
    return absl::InvalidArgumentError("input 'text' must have shape [N] or [N, 1]");
  }
  std::vector<std::string> texts;
  if (request.raw_input_contents_size() > 0) {
    // The protocol: an input's data is in its contents or in raw_input_contents, never both.
    if (input.has_contents()) {
      return absl::InvalidArgumentError(
          "input 'text' carries both contents and raw_input_contents; send one of them");
    }
    if (request.raw_input_contents_size() != 1) {
      return absl::InvalidArgumentError("raw_input_contents must have one entry per input");
    }
    absl::StatusOr<std::vector<std::string>> decoded =
        DecodeRawBytesTensor(request.raw_input_contents(0));
    if (!decoded.ok()) return decoded.status();
    texts = std::move(*decoded);
  } else {
    texts.assign(input.contents().bytes_contents().begin(),
                 input.contents().bytes_contents().end());
  }
  if (static_cast<int64_t>(texts.size()) != input.shape(0)) {
    return absl::InvalidArgumentError(absl::StrCat("input 'text' has shape [", input.shape(0),
                                                   "] but holds ", texts.size(), " elements"));
  }
  return texts;
}

}  // namespace

absl::StatusOr<int64_t> ParseVersion(const std::string& text) {
  if (text.empty()) return 0;
  int64_t version = 0;
  if (!absl::SimpleAtoi(text, &version) || version <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model version must be a positive integer, got '", text, "'"));
  }
  return version;
}

absl::StatusOr<InferRequest> ParseInferRequest(const inference::ModelInferRequest& request) {
  InferRequest parsed;
  absl::StatusOr<int64_t> version = ParseVersion(request.model_version());
  if (!version.ok()) return version.status();
  parsed.want_probabilities = request.outputs_size() == 0;
  parsed.want_label = parsed.want_probabilities;
  for (const auto& output : request.outputs()) {
    if (output.name() == kProbabilities) {
      parsed.want_probabilities = true;
    } else if (output.name() == kLabel) {
      parsed.want_label = true;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown output '", output.name(), "' (the model has '", kProbabilities,
                       "' and '", kLabel, "')"));
    }
  }
  absl::StatusOr<std::vector<std::string>> texts = InputTexts(request);
  if (!texts.ok()) return texts.status();
  parsed.call.model = request.model_name();
  parsed.call.version = *version;
  parsed.call.texts = std::move(*texts);
  parsed.raw = request.raw_input_contents_size() > 0;
  return parsed;
}

void FillInferResponse(const InferRequest& request, const ClassifyOutcome& outcome,
                       inference::ModelInferResponse* response) {
  response->set_model_name(outcome.served->model());
  response->set_model_version(absl::StrCat(outcome.served->version()));
  const int64_t n = static_cast<int64_t>(outcome.predictions.size());
  const int64_t num_labels = static_cast<int64_t>(outcome.labels().size());
  if (request.want_probabilities) {
    auto* tensor = response->add_outputs();
    tensor->set_name(kProbabilities);
    tensor->set_datatype("FP32");
    tensor->add_shape(n);
    tensor->add_shape(num_labels);
    std::vector<float> values;
    values.reserve(n * num_labels);
    for (const model::Prediction& p : outcome.predictions) {
      for (int64_t j = 0; j < num_labels; ++j) {
        values.push_back(j < static_cast<int64_t>(p.probabilities.size()) ? p.probabilities[j]
                                                                         : 0.0f);
      }
    }
    if (request.raw) {
      // Little-endian hosts only (x86-64, arm64): the float bytes are already the wire order.
      response->add_raw_output_contents(reinterpret_cast<const char*>(values.data()),
                                        values.size() * sizeof(float));
    } else {
      tensor->mutable_contents()->mutable_fp32_contents()->Add(values.begin(), values.end());
    }
  }
  if (request.want_label) {
    auto* tensor = response->add_outputs();
    tensor->set_name(kLabel);
    tensor->set_datatype("BYTES");
    tensor->add_shape(n);
    std::vector<std::string> labels;
    for (const model::Prediction& p : outcome.predictions) labels.push_back(p.label);
    if (request.raw) {
      response->add_raw_output_contents(EncodeRawBytesTensor(labels));
    } else {
      for (std::string& label : labels) {
        tensor->mutable_contents()->add_bytes_contents(std::move(label));
      }
    }
  }
}

absl::Status FillModelMetadata(const ModelRepository& repository, const std::string& name,
                               int64_t version, inference::ModelMetadataResponse* response) {
  absl::StatusOr<std::shared_ptr<const ServedVersion>> served = repository.Get(name, version);
  if (!served.ok()) return served.status();
  response->set_name((*served)->model());
  for (int64_t v : repository.ReadyVersions((*served)->model())) {
    response->add_versions(absl::StrCat(v));
  }
  response->set_platform(kPlatform);
  auto* input = response->add_inputs();
  input->set_name(kInput);
  input->set_datatype("BYTES");
  input->add_shape(-1);
  auto* probabilities = response->add_outputs();
  probabilities->set_name(kProbabilities);
  probabilities->set_datatype("FP32");
  probabilities->add_shape(-1);
  probabilities->add_shape(static_cast<int64_t>((*served)->servable().labels().size()));
  auto* label = response->add_outputs();
  label->set_name(kLabel);
  label->set_datatype("BYTES");
  label->add_shape(-1);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> DecodeRawBytesTensor(const std::string& raw) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < raw.size()) {
    if (raw.size() - pos < 4) {
      return absl::InvalidArgumentError("raw BYTES tensor: truncated element length");
    }
    const auto* p = reinterpret_cast<const unsigned char*>(raw.data() + pos);
    const uint32_t length = p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t{p[3]} << 24);
    pos += 4;
    if (raw.size() - pos < length) {
      return absl::InvalidArgumentError("raw BYTES tensor: element longer than the data");
    }
    out.emplace_back(raw.data() + pos, length);
    pos += length;
  }
  return out;
}

std::string EncodeRawBytesTensor(const std::vector<std::string>& elements) {
  std::string out;
  for (const std::string& element : elements) {
    const uint32_t n = static_cast<uint32_t>(element.size());
    const char length[4] = {static_cast<char>(n), static_cast<char>(n >> 8),
                            static_cast<char>(n >> 16), static_cast<char>(n >> 24)};
    out.append(length, 4);
    out += element;
  }
  return out;
}

}  // namespace murmur::serving::kserve
