// write_checkpoint --preset tiny|small|base --vocab vocab.txt --out DIR [--version N] [--seed S]
//
// Writes a randomly initialised DistilBertForSequenceClassification as a murmur checkpoint
// (Hugging Face layout + manifest). Serving's end-to-end test and benchmark need a real model
// directory of a given size; trained weights are not needed to measure serving, and the
// pretrained ones cannot be downloaded here.
#include <iostream>
#include <string>

#include <torch/torch.h>

#include "base/flags.h"
#include "model/config.h"
#include "model/distilbert.h"
#include "model/model_io.h"

int main(int argc, char** argv) {
  murmur::FlagParser flags("write_checkpoint");
  std::string preset = "tiny", vocab, out;
  int64_t version = 1, seed = 1;
  flags.String("preset", &preset, "tiny, small or base");
  flags.String("vocab", &vocab, "vocab.txt", /*required=*/true);
  flags.String("out", &out, "checkpoint directory to create", /*required=*/true);
  flags.Int("version", &version, "checkpoint version in the manifest");
  flags.Int("seed", &seed, "initialisation seed");
  flags.ParseOrExit(argc, argv);
  absl::StatusOr<int64_t> vocab_size = murmur::model::CountVocabLines(vocab);
  if (!vocab_size.ok()) {
    std::cerr << vocab_size.status() << "\n";
    return 1;
  }
  absl::StatusOr<murmur::model::DistilBertConfig> config =
      murmur::model::DistilBertConfig::Preset(preset, *vocab_size);
  if (!config.ok()) {
    std::cerr << config.status() << "\n";
    return 2;
  }
  torch::manual_seed(seed);
  murmur::model::DistilBertForSequenceClassification model(*config);
  model->eval();
  murmur::model::SaveOptions options;
  options.vocab_path = vocab;
  options.info.version = version;
  options.overwrite = true;
  absl::StatusOr<murmur::model::Manifest> manifest =
      murmur::model::SaveCheckpoint(out, model, options);
  if (!manifest.ok()) {
    std::cerr << manifest.status() << "\n";
    return 1;
  }
  std::cout << "wrote " << preset << " checkpoint " << out << "\n";
  return 0;
}
