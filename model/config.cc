#include "model/config.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "nlohmann/json.hpp"

namespace murmur::model {
namespace {

using Json = nlohmann::json;

absl::Status ConfigError(std::string_view source, std::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(source), ": ", std::string(message)));
}

// Reads `key` into `out` when present; a value of the wrong JSON type is an error naming the key.
template <typename T>
absl::Status ReadField(const Json& json, const char* key, std::string_view source, T* out) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) return absl::OkStatus();
  bool ok;
  if constexpr (std::is_same_v<T, bool>) {
    ok = it->is_boolean();
  } else if constexpr (std::is_integral_v<T>) {
    ok = it->is_number_integer();
  } else if constexpr (std::is_floating_point_v<T>) {
    ok = it->is_number();
  } else {
    ok = it->is_string();
  }
  if (!ok) {
    return ConfigError(source, absl::StrCat("field '", key, "' has the wrong type (",
                                            it->type_name(), ")"));
  }
  *out = it->get<T>();
  return absl::OkStatus();
}

}  // namespace

absl::Status DistilBertConfig::Validate() const {
  auto positive = [](int64_t v) { return v > 0; };
  if (!positive(vocab_size) || !positive(max_position_embeddings) || !positive(n_layers) ||
      !positive(n_heads) || !positive(dim) || !positive(hidden_dim)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config: sizes must be positive (vocab_size ", vocab_size, ", max_position_embeddings ",
        max_position_embeddings, ", n_layers ", n_layers, ", n_heads ", n_heads, ", dim ", dim,
        ", hidden_dim ", hidden_dim, ")"));
  }
  if (dim % n_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: dim ", dim, " is not divisible by n_heads ", n_heads));
  }
  if (activation != "gelu" && activation != "relu") {
    return absl::InvalidArgumentError(
        absl::StrCat("config: activation '", activation, "' is not supported (gelu, relu)"));
  }
  for (double p : {dropout, attention_dropout, seq_classif_dropout, qa_dropout}) {
    if (!(p >= 0.0 && p < 1.0)) {
      return absl::InvalidArgumentError(absl::StrCat("config: dropout ", p, " not in [0, 1)"));
    }
  }
  if (id2label.empty()) return absl::InvalidArgumentError("config: id2label is empty");
  if (pad_token_id < 0 || pad_token_id >= vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("config: pad_token_id ", pad_token_id,
                                                   " outside the vocabulary of ", vocab_size));
  }
  return absl::OkStatus();
}

absl::StatusOr<DistilBertConfig> DistilBertConfig::FromJson(std::string_view text,
                                                            std::string_view source) {
  Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return ConfigError(source, "not a JSON object");
  }
  DistilBertConfig config;
  if (auto it = json.find("model_type"); it != json.end() && *it != "distilbert") {
    return ConfigError(source, absl::StrCat("model_type is ", it->dump(), ", not \"distilbert\""));
  }
  absl::Status status;
  auto read = [&](const char* key, auto* out) {
    if (status.ok()) status = ReadField(json, key, source, out);
  };
  read("vocab_size", &config.vocab_size);
  read("max_position_embeddings", &config.max_position_embeddings);
  read("sinusoidal_pos_embds", &config.sinusoidal_pos_embds);
  read("n_layers", &config.n_layers);
  read("n_heads", &config.n_heads);
  read("dim", &config.dim);
  read("hidden_dim", &config.hidden_dim);
  read("dropout", &config.dropout);
  read("attention_dropout", &config.attention_dropout);
  read("activation", &config.activation);
  read("initializer_range", &config.initializer_range);
  read("qa_dropout", &config.qa_dropout);
  read("seq_classif_dropout", &config.seq_classif_dropout);
  read("pad_token_id", &config.pad_token_id);
  if (!status.ok()) return status;
  if (auto it = json.find("architectures"); it != json.end() && it->is_array()) {
    for (const Json& name : *it) {
      if (name.is_string()) config.architectures.push_back(name.get<std::string>());
    }
  }
  // id2label is {"0": "negative", "1": "positive"} in Hugging Face's files. A masked-LM config
  // has the default {"0": "LABEL_0", "1": "LABEL_1"} or none: murmur's labels then apply.
  if (auto it = json.find("id2label"); it != json.end() && !it->is_null()) {
    if (!it->is_object() || it->empty()) return ConfigError(source, "id2label is not an object");
    std::vector<std::string> labels(it->size());
    for (const auto& [key, value] : it->items()) {
      size_t consumed = 0;
      long id = -1;
      try {
        id = std::stol(key, &consumed);
      } catch (const std::exception&) {
      }
      if (consumed != key.size() || id < 0 || id >= static_cast<long>(labels.size()) ||
          !value.is_string() || !labels[id].empty()) {
        return ConfigError(source, absl::StrCat("id2label entry \"", key,
                                                "\" is not a label id 0..n-1 with a name"));
      }
      labels[id] = value.get<std::string>();
    }
    bool generic = true;
    for (size_t i = 0; i < labels.size(); ++i) {
      generic = generic && labels[i] == absl::StrCat("LABEL_", i);
    }
    if (!generic || labels.size() != DefaultLabels().size()) config.id2label = labels;
  }
  if (absl::Status valid = config.Validate(); !valid.ok()) {
    return ConfigError(source, std::string(valid.message()));
  }
  return config;
}

absl::StatusOr<DistilBertConfig> DistilBertConfig::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return FromJson(*text, path);
}

std::string DistilBertConfig::ToJson(std::string_view architecture) const {
  Json json;
  json["model_type"] = "distilbert";
  json["architectures"] = {std::string(architecture)};
  json["vocab_size"] = vocab_size;
  json["max_position_embeddings"] = max_position_embeddings;
  json["sinusoidal_pos_embds"] = sinusoidal_pos_embds;
  json["n_layers"] = n_layers;
  json["n_heads"] = n_heads;
  json["dim"] = dim;
  json["hidden_dim"] = hidden_dim;
  json["dropout"] = dropout;
  json["attention_dropout"] = attention_dropout;
  json["activation"] = activation;
  json["initializer_range"] = initializer_range;
  json["qa_dropout"] = qa_dropout;
  json["seq_classif_dropout"] = seq_classif_dropout;
  json["pad_token_id"] = pad_token_id;
  json["tie_weights_"] = true;
  json["torch_dtype"] = "float32";
  Json id2label = Json::object(), label2id = Json::object();
  for (size_t i = 0; i < this->id2label.size(); ++i) {
    id2label[std::to_string(i)] = this->id2label[i];
    label2id[this->id2label[i]] = i;
  }
  json["id2label"] = id2label;
  json["label2id"] = label2id;
  return json.dump(2) + "\n";
}

absl::Status DistilBertConfig::Save(const std::string& path) const {
  return WriteFileAtomically(path, ToJson());
}

absl::StatusOr<DistilBertConfig> DistilBertConfig::Preset(std::string_view name,
                                                          int64_t vocab_size) {
  DistilBertConfig config;
  config.vocab_size = vocab_size;
  if (name == "base") {
    // The defaults are distilbert-base-uncased.
  } else if (name == "small") {
    config.n_layers = 2;
    config.dim = 256;
    config.n_heads = 4;
    config.hidden_dim = 1024;
  } else if (name == "tiny") {
    config.n_layers = 2;
    config.dim = 32;
    config.n_heads = 2;
    config.hidden_dim = 64;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown model preset '", std::string(name),
                                                   "' (base, small, tiny)"));
  }
  if (absl::Status status = config.Validate(); !status.ok()) return status;
  return config;
}

int64_t CountParameters(const DistilBertConfig& c) {
  int64_t embeddings = (c.vocab_size + c.max_position_embeddings) * c.dim + 2 * c.dim;
  int64_t attention = 4 * (c.dim * c.dim + c.dim);
  int64_t ffn = 2 * c.dim * c.hidden_dim + c.hidden_dim + c.dim;
  int64_t layer = attention + ffn + 4 * c.dim;  // plus two LayerNorms
  int64_t head = c.dim * c.dim + c.dim + c.dim * c.num_labels() + c.num_labels();
  return embeddings + c.n_layers * layer + head;
}

double ForwardFlops(const DistilBertConfig& c, double tokens, double attention_len) {
  double d = static_cast<double>(c.dim), h = static_cast<double>(c.hidden_dim);
  // Per token and layer: q, k, v, out projections; two FFN matrices; scores and context.
  double per_token_layer = 4 * d * d + 2 * d * h + 2 * attention_len * d;
  return 2.0 * tokens * per_token_layer * static_cast<double>(c.n_layers);
}

}  // namespace murmur::model
