// murmur predict --model DIR [--batch N] [--precision auto|fp32|bf16] [--threads N]: classifies
// each stdin line and prints one JSON object per line, {"label": "positive", "score": 0.97,
// "probabilities": [0.03, 0.97]}, probabilities in label-id order. Uses model::Classifier, the
// model serving runs, through ClassifyInLengthSortedBatches (serving's dynamic batcher does its
// own grouping).
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/flags.h"
#include "client/commands.h"
#include "model/classifier.h"
#include "model/precision.h"
#include "nlohmann/json.hpp"

namespace murmur::client {
namespace {

// Lines classified together: enough for sorting by length to pay, few enough that output
// streams while input is still arriving.
constexpr int kWindowBatches = 16;

std::string FormatPrediction(const model::Prediction& prediction) {
  std::string out = absl::StrFormat(R"({"label": %s, "score": %.6g, "probabilities": [)",
                                    nlohmann::json(prediction.label).dump(), prediction.score);
  for (size_t i = 0; i < prediction.probabilities.size(); ++i) {
    absl::StrAppendFormat(&out, "%s%.6g", i ? ", " : "", prediction.probabilities[i]);
  }
  out += "]}\n";
  return out;
}

}  // namespace

int PredictCommand(const CommandArgs& args) {
  FlagParser flags("murmur predict");
  std::string model_dir;
  int batch = 32;
  bool bf16 = false;
  std::string precision_flag = "auto";
  int threads = 0;
  flags.String("model", &model_dir, "checkpoint directory (Hugging Face layout)",
               /*required=*/true);
  flags.Int("batch", &batch, "texts per forward pass");
  flags.String("precision", &precision_flag,
               "auto (bf16 where the CPU has native bf16, fp32 elsewhere), fp32 or bf16 "
               "(probabilities move by ~1e-2)");
  flags.Bool("bf16", &bf16, "the same as --precision bf16");
  flags.Int("threads", &threads, "intra-op threads (0: one per core)");
  if (auto exit_code = flags.ParseOrExitCode(args)) return *exit_code;
  if (batch < 1 || threads < 0) {
    std::cerr << "murmur predict: --batch must be at least 1 and --threads at least 0\n";
    return 2;
  }
  auto precision =
      model::ChoosePrecision(bf16 ? "bf16" : precision_flag, model::CpuFeatures::Detect());
  if (!precision.ok()) {
    std::cerr << "murmur predict: " << precision.status().message() << "\n";
    return 2;
  }
  model::Classifier::Options options;
  options.bf16 = precision->precision == model::Precision::kBf16;
  options.num_threads =
      threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  absl::StatusOr<std::unique_ptr<model::Classifier>> classifier =
      model::Classifier::Create(model_dir, options);
  if (!classifier.ok()) {
    std::cerr << "murmur predict: " << classifier.status().message() << "\n";
    return 1;
  }
  std::ios::sync_with_stdio(false);
  std::vector<std::string> window;
  const size_t window_size = static_cast<size_t>(batch) * kWindowBatches;
  std::string line;
  bool more = true;
  while (more) {
    window.clear();
    while (window.size() < window_size && (more = static_cast<bool>(std::getline(std::cin, line)))) {
      window.push_back(line);
    }
    if (window.empty()) break;
    absl::StatusOr<std::vector<model::Prediction>> predictions =
        model::ClassifyInLengthSortedBatches(**classifier, window, batch);
    if (!predictions.ok()) {
      std::cerr << "murmur predict: " << predictions.status().message() << "\n";
      return 1;
    }
    std::string out;
    for (const model::Prediction& prediction : *predictions) out += FormatPrediction(prediction);
    std::cout.write(out.data(), static_cast<std::streamsize>(out.size()));
    std::cout.flush();
  }
  return std::cout.good() ? 0 : 1;
}

}  // namespace murmur::client
