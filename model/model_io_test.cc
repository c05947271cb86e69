#include "model/model_io.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/test_util.h"
#include "gtest/gtest.h"
#include "model/checkpoint.h"
#include "model/tensor_io.h"

namespace murmur::model {
namespace {

constexpr int kVocabSize = 50;

template <typename Pred>
void EraseIf(NamedTensors& tensors, Pred pred) {
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(), pred), tensors.end());
}

std::string TempPath(const std::string& name) { return testing::TempDir() + "/" + name; }

std::string WriteVocab(int size) {
  std::string text = "[PAD]\n[unused0]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (int i = 6; i < size; ++i) absl::StrAppend(&text, "word", i, "\n");
  std::string path = TempPath(absl::StrCat("vocab", size, ".txt"));
  EXPECT_TRUE(WriteFileAtomically(path, text).ok());
  return path;
}

DistilBertForSequenceClassification TinyModel(uint64_t seed = 1) {
  torch::manual_seed(seed);
  return DistilBertForSequenceClassification(*DistilBertConfig::Preset("tiny", kVocabSize));
}

std::string SaveTiny(const std::string& name) {
  std::string dir = TempPath(name);
  SaveOptions options;
  options.vocab_path = WriteVocab(kVocabSize);
  options.overwrite = true;
  EXPECT_TRUE(SaveCheckpoint(dir, TinyModel(), options).ok());
  return dir;
}

// Rewrites dir/model.safetensors from the tiny model's state dict after `edit`.
template <typename Edit>
std::string WriteEditedWeights(const std::string& name, Edit edit) {
  std::string dir = SaveTiny(name);
  NamedTensors tensors = StateDict(TinyModel());
  edit(tensors);
  EXPECT_TRUE(SaveTensors(dir + "/model.safetensors", tensors, {{"format", "pt"}}).ok());
  ::unlink((dir + "/" + kManifestFile).c_str());  // a Hugging Face directory has none
  return dir;
}

std::string LoadError(const std::string& dir) {
  absl::StatusOr<LoadedModel> loaded = LoadModelDir(dir);
  EXPECT_FALSE(loaded.ok()) << dir;
  return loaded.ok() ? "" : std::string(loaded.status().message());
}

TEST(ModelIoTest, SaveLoadRoundTripIsExact) {
  DistilBertForSequenceClassification model = TinyModel(3);
  TrainingState state;
  state.tensors.emplace_back("optimizer.exp_avg.0", torch::randn({3, 4}));
  state.tensors.emplace_back("rng.cpu", torch::randint(0, 255, {16}, torch::kByte));
  state.json = R"({"scheduler_step": 12, "sampler_cursor": 345})";
  SaveOptions options;
  options.vocab_path = WriteVocab(kVocabSize);
  options.info.version = 2;
  options.info.step = 12;
  options.info.epoch = 1;
  options.info.metrics["eval_accuracy"] = 0.5;
  options.training_state = &state;
  std::string dir = TempPath("round_trip");
  absl::StatusOr<Manifest> manifest = SaveCheckpoint(dir, model, options);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->files.size(), 4u);  // config, vocab, weights, training state

  absl::StatusOr<LoadedModel> loaded = LoadModelDir(dir, {.require_manifest = true});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->report.source_architecture, "DistilBertForSequenceClassification");
  EXPECT_FALSE(loaded->report.head_initialized);
  EXPECT_TRUE(loaded->report.ignored.empty());
  ASSERT_TRUE(loaded->manifest.has_value());
  EXPECT_EQ(loaded->manifest->info.step, 12);
  NamedTensors before = StateDict(model), after = StateDict(loaded->model);
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].first, after[i].first);
    EXPECT_TRUE(torch::equal(before[i].second, after[i].second)) << before[i].first;
  }

  absl::StatusOr<TrainingState> state_back = LoadTrainingState(dir + "/" + kTrainingStateFile);
  ASSERT_TRUE(state_back.ok()) << state_back.status();
  EXPECT_EQ(state_back->json, state.json);
  ASSERT_EQ(state_back->tensors.size(), 2u);
  EXPECT_EQ(state_back->tensors[0].first, "optimizer.exp_avg.0");
  EXPECT_TRUE(torch::equal(state_back->tensors[0].second, state.tensors[0].second));
  EXPECT_TRUE(torch::equal(state_back->tensors[1].second, state.tensors[1].second));
}

TEST(ModelIoTest, MaskedLmCheckpointLoadsEncoderAndReportsIgnoredTensors) {
  DistilBertForSequenceClassification source = TinyModel(5);
  std::string dir = WriteEditedWeights("masked_lm", [&](NamedTensors& tensors) {
    tensors = StateDict(source);
    EraseIf(tensors, [](const auto& t) {
      return t.first.rfind("pre_classifier", 0) == 0 || t.first.rfind("classifier", 0) == 0;
    });
    tensors.emplace_back("vocab_transform.weight", torch::randn({32, 32}));
    tensors.emplace_back("vocab_transform.bias", torch::randn({32}));
    tensors.emplace_back("vocab_layer_norm.weight", torch::randn({32}));
    tensors.emplace_back("vocab_layer_norm.bias", torch::randn({32}));
    tensors.emplace_back("vocab_projector.weight", torch::randn({kVocabSize, 32}));
    tensors.emplace_back("vocab_projector.bias", torch::randn({kVocabSize}));
  });
  absl::StatusOr<LoadedModel> loaded = LoadModelDir(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->report.source_architecture, "DistilBertForMaskedLM");
  EXPECT_TRUE(loaded->report.head_initialized);
  EXPECT_EQ(loaded->report.ignored.size(), 6u);
  EXPECT_NE(loaded->report.ToString().find("vocab_projector.weight"), std::string::npos);
  EXPECT_TRUE(torch::equal(
      loaded->model->distilbert->transformer->layer[1]->as<TransformerBlock>()->ffn->lin2->weight,
      source->distilbert->transformer->layer[1]->as<TransformerBlock>()->ffn->lin2->weight));
  EXPECT_FALSE(loaded->manifest.has_value());
}

TEST(ModelIoTest, MaskedLmRoundTripAndFineTuningStartsFromItsEncoder) {
  torch::manual_seed(11);
  DistilBertForMaskedLM pretrained(*DistilBertConfig::Preset("tiny", kVocabSize));
  {
    torch::NoGradGuard no_grad;
    pretrained->vocab_projector->bias.normal_();
  }
  SaveOptions options;
  options.vocab_path = WriteVocab(kVocabSize);
  options.overwrite = true;
  std::string dir = TempPath("masked_lm_round_trip");
  ASSERT_TRUE(SaveCheckpoint(dir, pretrained, options).ok());
  absl::StatusOr<std::string> config = ReadFile(dir + "/config.json");
  ASSERT_TRUE(config.ok());
  EXPECT_NE(config->find("\"DistilBertForMaskedLM\""), std::string::npos);

  // Resuming pretraining: every tensor comes back exactly.
  torch::manual_seed(12);
  DistilBertForMaskedLM resumed(*DistilBertConfig::Preset("tiny", kVocabSize));
  auto file = SafetensorsFile::Open(dir + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  absl::StatusOr<LoadReport> report = LoadWeights(**file, resumed);
  ASSERT_TRUE(report.ok()) << report.status();
  NamedTensors expected = StateDict(pretrained), actual = StateDict(resumed);
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(torch::equal(actual[i].second, expected[i].second)) << expected[i].first;
  }

  // Fine-tuning: the classifier takes the encoder and gets a fresh head.
  absl::StatusOr<LoadedModel> classifier = LoadModelDir(dir);
  ASSERT_TRUE(classifier.ok()) << classifier.status();
  EXPECT_EQ(classifier->report.source_architecture, "DistilBertForMaskedLM");
  EXPECT_TRUE(classifier->report.head_initialized);
  EXPECT_EQ(classifier->report.ignored.size(), 5u);  // transform, layer norm: 2 each; bias
  EXPECT_TRUE(torch::equal(classifier->model->distilbert->embeddings->word_embeddings->weight,
                           pretrained->distilbert->embeddings->word_embeddings->weight));

  // A classifier checkpoint lacks the masked-LM head: resuming pretraining from it fails.
  std::string classifier_dir = SaveTiny("classifier_for_mlm");
  auto classifier_file = SafetensorsFile::Open(classifier_dir + "/model.safetensors");
  ASSERT_TRUE(classifier_file.ok());
  absl::StatusOr<LoadReport> wrong = LoadWeights(**classifier_file, resumed);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("vocab_transform.weight"), std::string::npos)
      << wrong.status();
}

TEST(ModelIoTest, ReplacedTokenDetectionRoundTripAndFineTuningStartsFromItsDiscriminator) {
  torch::manual_seed(13);
  const DistilBertConfig config = *DistilBertConfig::Preset("tiny", kVocabSize);
  DistilBertForReplacedTokenDetection pretrained(config);
  const DistilBertConfig generator =
      DistilBertForReplacedTokenDetectionImpl::GeneratorConfig(config);
  EXPECT_EQ(pretrained->generator->config().dim, generator.dim);
  EXPECT_LT(generator.dim, config.dim);
  EXPECT_EQ(generator.dim % generator.n_heads, 0);
  SaveOptions options;
  options.vocab_path = WriteVocab(kVocabSize);
  options.overwrite = true;
  std::string dir = TempPath("replaced_token_round_trip");
  ASSERT_TRUE(SaveCheckpoint(dir, pretrained, options).ok());
  absl::StatusOr<std::string> json = ReadFile(dir + "/config.json");
  ASSERT_TRUE(json.ok());
  EXPECT_NE(json->find("\"DistilBertForReplacedTokenDetection\""), std::string::npos);

  // Resuming pretraining: every tensor, the generator's included, comes back exactly.
  torch::manual_seed(14);
  DistilBertForReplacedTokenDetection resumed(config);
  auto file = SafetensorsFile::Open(dir + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  absl::StatusOr<LoadReport> report = LoadWeights(**file, resumed);
  ASSERT_TRUE(report.ok()) << report.status();
  NamedTensors expected = StateDict(pretrained), actual = StateDict(resumed);
  ASSERT_EQ(actual.size(), expected.size());
  int generator_tensors = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(torch::equal(actual[i].second, expected[i].second)) << expected[i].first;
    generator_tensors += expected[i].first.rfind("generator.", 0) == 0;
  }
  EXPECT_GT(generator_tensors, 10);

  // Fine-tuning: the classifier takes the discriminator's encoder and gets a fresh head.
  absl::StatusOr<LoadedModel> classifier = LoadModelDir(dir);
  ASSERT_TRUE(classifier.ok()) << classifier.status();
  EXPECT_EQ(classifier->report.source_architecture, "DistilBertForReplacedTokenDetection");
  EXPECT_TRUE(classifier->report.head_initialized);
  EXPECT_EQ(classifier->report.ignored.size(), static_cast<size_t>(generator_tensors + 4));
  EXPECT_TRUE(torch::equal(classifier->model->distilbert->embeddings->word_embeddings->weight,
                           pretrained->distilbert->embeddings->word_embeddings->weight));
  for (const auto& [name, tensor] : expected) {
    EXPECT_EQ(name.find("generator.embeddings."), std::string::npos)
        << name << ": the generator reads the discriminator's embeddings";
  }

  // A masked-LM checkpoint has no discriminator: resuming this objective from it fails.
  DistilBertForMaskedLM masked_lm(config);
  std::string masked_lm_dir = TempPath("masked_lm_for_replaced_token");
  ASSERT_TRUE(SaveCheckpoint(masked_lm_dir, masked_lm, options).ok());
  auto masked_lm_file = SafetensorsFile::Open(masked_lm_dir + "/model.safetensors");
  ASSERT_TRUE(masked_lm_file.ok());
  absl::StatusOr<LoadReport> wrong = LoadWeights(**masked_lm_file, resumed);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("discriminator_predictions"), std::string::npos)
      << wrong.status();
}

TEST(ModelIoTest, BareDistilBertModelLoads) {
  std::string dir = WriteEditedWeights("bare", [](NamedTensors& tensors) {
    EraseIf(tensors, [](const auto& t) { return t.first.rfind("distilbert.", 0) != 0; });
    for (auto& t : tensors) t.first = t.first.substr(11);
  });
  absl::StatusOr<LoadedModel> loaded = LoadModelDir(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->report.source_architecture, "DistilBertModel");
  EXPECT_TRUE(loaded->report.head_initialized);
}

TEST(ModelIoTest, MissingTensor) {
  std::string dir = WriteEditedWeights("missing", [](NamedTensors& tensors) {
    EraseIf(tensors, [](const auto& t) {
      return t.first == "distilbert.transformer.layer.1.attention.k_lin.bias";
    });
  });
  std::string error = LoadError(dir);
  EXPECT_NE(error.find(dir + "/model.safetensors: missing tensor "
                             "'distilbert.transformer.layer.1.attention.k_lin.bias'"),
            std::string::npos)
      << error;
}

TEST(ModelIoTest, UnexpectedTensor) {
  std::string dir = WriteEditedWeights("unexpected", [](NamedTensors& tensors) {
    tensors.emplace_back("distilbert.extra.weight", torch::zeros({2}));
  });
  std::string error = LoadError(dir);
  EXPECT_NE(error.find("model.safetensors: unexpected tensor 'distilbert.extra.weight'"),
            std::string::npos)
      << error;
}

TEST(ModelIoTest, ShapeMismatch) {
  std::string dir = WriteEditedWeights("shape", [](NamedTensors& tensors) {
    for (auto& t : tensors) {
      if (t.first == "distilbert.transformer.layer.0.ffn.lin1.weight")
        t.second = torch::zeros({65, 32});
    }
  });
  std::string error = LoadError(dir);
  EXPECT_NE(error.find("tensor 'distilbert.transformer.layer.0.ffn.lin1.weight' has shape "
                       "[65, 32] but the model (config.json) expects [64, 32]"),
            std::string::npos)
      << error;
}

TEST(ModelIoTest, DtypeMismatch) {
  std::string dir = WriteEditedWeights("dtype", [](NamedTensors& tensors) {
    for (auto& t : tensors) {
      if (t.first == "classifier.bias") t.second = torch::zeros({2}, torch::kLong);
    }
  });
  std::string error = LoadError(dir);
  EXPECT_NE(error.find("tensor 'classifier.bias' has dtype I64"), std::string::npos) << error;
}

TEST(ModelIoTest, HalfPrecisionWeightsAreConverted) {
  std::string dir = WriteEditedWeights("bf16", [](NamedTensors& tensors) {
    for (auto& t : tensors) t.second = t.second.to(torch::kBFloat16);
  });
  absl::StatusOr<LoadedModel> loaded = LoadModelDir(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(torch::equal(loaded->model->classifier->weight,
                           TinyModel()->classifier->weight.to(torch::kBFloat16).to(torch::kFloat)));
}

TEST(ModelIoTest, TruncatedWeights) {
  std::string dir = WriteEditedWeights("truncated", [](NamedTensors&) {});
  std::string path = dir + "/model.safetensors";
  std::string bytes = *ReadFile(path);
  ASSERT_TRUE(WriteFileAtomically(path, bytes.substr(0, bytes.size() - 100)).ok());
  std::string error = LoadError(dir);
  EXPECT_NE(error.find(path + ": tensor '"), std::string::npos) << error;
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
}

TEST(ModelIoTest, HeaderOffsetsOutsideFile) {
  std::string dir = WriteEditedWeights("offsets", [](NamedTensors&) {});
  std::string path = dir + "/model.safetensors";
  std::string bytes = *ReadFile(path);
  // Point classifier.bias's data far beyond the end, keeping the header length.
  size_t at = bytes.find("\"classifier.bias\"");
  ASSERT_NE(at, std::string::npos);
  size_t offsets = bytes.find("\"data_offsets\":[", at) + 16;
  size_t end = bytes.find(']', offsets);
  // Same width as the original "begin,end", so the header length stays right.
  std::string nines((end - offsets - 1) / 2, '9');
  std::string replacement = nines + "," + nines;
  replacement.resize(end - offsets, ' ');
  bytes.replace(offsets, end - offsets, replacement);
  ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
  std::string error = LoadError(dir);
  EXPECT_NE(error.find("tensor 'classifier.bias'"), std::string::npos) << error;
  EXPECT_NE(error.find("outside the data"), std::string::npos) << error;
}

TEST(ModelIoTest, HeaderLargerThanFile) {
  std::string dir = WriteEditedWeights("header", [](NamedTensors&) {});
  std::string path = dir + "/model.safetensors";
  std::string bytes = *ReadFile(path);
  bytes[5] = 1;  // header length += 2^40
  ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
  std::string error = LoadError(dir);
  EXPECT_NE(error.find(path + ": header length"), std::string::npos) << error;
  EXPECT_NE(error.find("larger than the file"), std::string::npos) << error;
}

TEST(ModelIoTest, ConfigAndVocabDisagree) {
  std::string dir = SaveTiny("vocab_mismatch");
  ASSERT_TRUE(WriteFileAtomically(dir + "/vocab.txt", *ReadFile(WriteVocab(40))).ok());
  std::string error = LoadError(dir);
  // The manifest catches the edited file first; without it the sizes disagree.
  EXPECT_NE(error.find("vocab.txt"), std::string::npos) << error;
  ::unlink((dir + "/" + kManifestFile).c_str());
  error = LoadError(dir);
  EXPECT_NE(error.find("config.json: vocab_size 50 but " + dir + "/vocab.txt has 40 tokens"),
            std::string::npos)
      << error;
}

TEST(ModelIoTest, EmbeddingDisagreesWithConfig) {
  std::string dir = WriteEditedWeights("embedding", [](NamedTensors& tensors) {
    tensors[0].second = torch::zeros({60, 32});
  });
  std::string error = LoadError(dir);
  EXPECT_NE(error.find("'distilbert.embeddings.word_embeddings.weight' has shape [60, 32]"),
            std::string::npos)
      << error;
}

TEST(ModelIoTest, ManifestHashMismatch) {
  std::string dir = SaveTiny("hash_mismatch");
  std::string path = dir + "/model.safetensors";
  std::string bytes = *ReadFile(path);
  bytes[bytes.size() - 1] ^= 1;
  ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
  absl::StatusOr<LoadedModel> loaded = LoadModelDir(dir);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(loaded.status().message().find(path + ": sha256"), std::string::npos)
      << loaded.status();
  EXPECT_TRUE(LoadModelDir(dir, {.verify_manifest = false}).ok());
}

}  // namespace
}  // namespace murmur::model
