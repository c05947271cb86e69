// train_step_bench: throughput of one training step of murmur's DistilBERT on this machine
// (forward + backward + the trainer's AdamW), against the machine's own matrix-multiply ceiling
// measured in the same run. The whole distributed job against PyTorch DDP is train_bench.sh.
//
//   bazel run -c opt //worker/bench:train_step_bench -- [--threads N] [--iters N] [--quick]
//       [--train-batch N] [--torch-adamw] [--pretrain-only] [--mask-probability P]
//   (MURMUR_SHARED_DATA must point at ../shared/data; threads default to the core count)
//
// The main job's masked-LM pretraining step first (--pretrain-only: only it), then small and base
// presets of the classifier, bf16 autocast with fp32 master weights and fp32, batches of real
// tweets, the trainer's single-pass AdamW (or --torch-adamw). FLOP counts are the useful ones
// (config.h ForwardFlops over the real tokens; backward = 2x forward); times are medians.
//
// Where the time goes: MODEL_BENCH_BREAKDOWN=1 splits each step (forward, backward,
// optimizer); MODEL_BENCH_TRAIN_PROFILE=trace.json records libtorch's per-op profile of the last
// bf16 step of the base preset, or of MODEL_BENCH_TRAIN_PROFILE_PRESET's ("small", or
// "masked_lm" for the pretraining step), left out of the medians: the profiler slows it.
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/flags.h"
#include "model/autocast.h"
#include "model/batch.h"
#include "model/bench_support.h"
#include "model/config.h"
#include "model/distilbert.h"
#include "worker/objective.h"
#include "worker/optimizer.h"

namespace murmur::worker {
namespace {

using model::AutocastBf16;
using model::Batch;
using model::BatchFlops;
using model::BenchClock;
using model::BenchRow;
using model::Ceiling;
using model::DistilBertConfig;
using model::DistilBertForSequenceClassification;
using model::Median;
using model::SecondsSince;

// The trace file MODEL_BENCH_TRAIN_PROFILE names when MODEL_BENCH_TRAIN_PROFILE_PRESET (default
// "base") asks for the step called `name`; nullptr otherwise.
const char* ProfilePathFor(const std::string& name) {
  const char* path = std::getenv("MODEL_BENCH_TRAIN_PROFILE");
  const char* wanted = std::getenv("MODEL_BENCH_TRAIN_PROFILE_PRESET");
  return path != nullptr && name == (wanted != nullptr ? wanted : "base") ? path : nullptr;
}

// MODEL_BENCH_BREAKDOWN's line: a step's seconds at the end of forward, backward and the update.
void PrintBreakdown(double forward_end, double backward_end, double step_end) {
  if (!std::getenv("MODEL_BENCH_BREAKDOWN")) return;
  std::fprintf(stderr, "    step: forward %.1f ms, backward %.1f ms, optimizer %.1f ms\n",
               1e3 * forward_end, 1e3 * (backward_end - forward_end),
               1e3 * (step_end - backward_end));
}

void Training(const std::vector<std::vector<int32_t>>& tweets, const std::string& preset,
              int batch_size, bool bf16, int iters, bool torch_adamw, Ceiling& ceiling,
              std::vector<BenchRow>* rows) {
  ceiling.Probe(3);
  torch::manual_seed(0);
  DistilBertConfig config = *DistilBertConfig::Preset(preset, 30522);
  DistilBertForSequenceClassification model(config);
  model->train();
  std::vector<torch::Tensor> params;
  NamedTensors named;
  for (const auto& item : model->named_parameters()) {
    if (item.value().requires_grad()) {
      params.push_back(item.value());
      named.emplace_back(item.key(), item.value());
    }
  }
  // The trainer's optimizer (worker/optimizer.h): single-pass AdamW, HF Trainer's decay rule.
  AdamW fused(named, AdamWOptions());
  torch::optim::AdamW reference(params, torch::optim::AdamWOptions(5e-5).weight_decay(0.01));
  size_t next = 0;
  std::vector<double> times, rates;
  for (int i = 0; i < iters + 2; ++i) {
    std::vector<std::vector<int32_t>> batch;
    std::vector<int64_t> label_values;
    for (int j = 0; j < batch_size; ++j, ++next) {
      batch.push_back(tweets[next % tweets.size()]);
      label_values.push_back(static_cast<int64_t>(next % 2));
    }
    torch::Tensor labels = torch::tensor(label_values, torch::kLong);
    std::optional<torch::autograd::profiler::RecordProfile> profile;
    if (const char* path = ProfilePathFor(preset); path != nullptr && bf16 && i == iters + 1) {
      profile.emplace(path);
    }
    auto start = BenchClock::now();
    Batch packed = *Batch::FromSequences(batch, 512);
    if (torch_adamw) {
      reference.zero_grad();
    } else {
      for (torch::Tensor& p : params) p.mutable_grad() = torch::Tensor();
    }
    torch::Tensor loss;
    if (bf16) {
      AutocastBf16 autocast;
      loss = torch::cross_entropy_loss(model->forward(packed), labels);
    } else {
      loss = torch::cross_entropy_loss(model->forward(packed), labels);
    }
    double t_forward = SecondsSince(start);
    loss.backward();
    double t_backward = SecondsSince(start);
    if (torch_adamw) {
      reference.step();
    } else {
      fused.Step(5e-5);
    }
    double t = SecondsSince(start);
    PrintBreakdown(t_forward, t_backward, t);
    if (i < 2 || profile) continue;  // warm-up, or slowed down by the profiler
    times.push_back(t);
    rates.push_back(3 * BatchFlops(config, batch) / t / 1e9);
  }
  char text[256];
  std::snprintf(text, sizeof(text),
                "train %-5s %-4s batch %3d: %8.1f samples/s  median %7.1f ms  %7.1f GFLOP/s%s",
                preset.c_str(), bf16 ? "bf16" : "fp32", batch_size, batch_size / Median(times),
                1e3 * Median(times), Median(rates), torch_adamw ? " (torch AdamW)" : "");
  std::printf("  %s\n", text);
  std::fflush(stdout);
  rows->push_back({text, Median(rates), bf16});
  ceiling.Probe(3);
}

// The main job's pretraining step: the masked-LM objective (worker/objective.h, as the trainer
// runs it) at `mask_probability`, bf16 autocast, a 16,000-token vocabulary (the main job's
// corpus-trained size; the bench tweets' ids are folded into it, keeping their lengths) and the
// trainer's AdamW over every parameter (the tied embedding's gradient is dense).
void Pretraining(const std::vector<std::vector<int32_t>>& tweets, int batch_size,
                 double mask_probability, int iters, Ceiling& ceiling,
                 std::vector<BenchRow>* rows) {
  constexpr int64_t kVocabSize = 16000;
  constexpr int32_t kMaskTokenId = 103;  // [MASK] in the bench tweets' vocabulary
  ceiling.Probe(3);
  torch::manual_seed(0);
  ObjectiveOptions options;
  options.kind = ObjectiveKind::kMaskedLm;
  options.preset = "small";
  options.vocab_size = kVocabSize;
  options.bf16 = true;
  options.mask_token_id = kMaskTokenId;
  options.mask_probability = mask_probability;
  std::unique_ptr<Objective> objective = *Objective::Create(options);
  objective->module().train();
  NamedTensors named;
  for (const auto& item : objective->module().named_parameters()) {
    named.emplace_back(item.key(), item.value());
  }
  AdamW optimizer(named, AdamWOptions());
  size_t next = 0;
  std::vector<double> times, rates;
  for (int i = 0; i < iters + 2; ++i) {
    std::vector<std::vector<int32_t>> batch;
    std::vector<uint64_t> seeds;
    for (int j = 0; j < batch_size; ++j, ++next) {
      std::vector<int32_t> ids = tweets[next % tweets.size()];
      for (int32_t& id : ids) id %= kVocabSize;
      batch.push_back(std::move(ids));
      seeds.push_back(next);
    }
    std::optional<torch::autograd::profiler::RecordProfile> profile;
    if (const char* path = ProfilePathFor("masked_lm"); path != nullptr && i == iters + 1) {
      profile.emplace(path);
    }
    auto start = BenchClock::now();
    for (auto& [name, p] : named) p.mutable_grad() = torch::Tensor();
    Objective::Loss loss = objective->ComputeLoss(batch, {}, seeds);
    double t_forward = SecondsSince(start);
    (loss.sum / static_cast<double>(batch_size)).backward();
    double t_backward = SecondsSince(start);
    optimizer.Step(1e-4);
    double t = SecondsSince(start);
    PrintBreakdown(t_forward, t_backward, t);
    if (i < 2 || profile) continue;
    times.push_back(t);
    // The encoder's FLOPs; the masked-LM head's ([masked rows, dim] x [dim, vocab]) on top.
    const double head = 2.0 * static_cast<double>(loss.terms) * objective->config().dim *
                        (objective->config().dim + kVocabSize);
    rates.push_back(3 * (BatchFlops(objective->config(), batch) + head) / t / 1e9);
  }
  char text[256];
  std::snprintf(text, sizeof(text),
                "pretrain small bf16 batch %3d mask %.2f: %8.1f samples/s  median %7.1f ms  "
                "%7.1f GFLOP/s",
                batch_size, mask_probability, batch_size / Median(times), 1e3 * Median(times),
                Median(rates));
  std::printf("  %s\n", text);
  std::fflush(stdout);
  rows->push_back({text, Median(rates), true});
  ceiling.Probe(3);
}

int Main(int argc, char** argv) {
  FlagParser flags("train_step_bench");
  model::BenchFlags bench;
  bench.AddTo(flags);
  bool torch_adamw = false;
  int train_batch = 32;
  flags.Bool("torch-adamw", &torch_adamw,
             "train with torch::optim::AdamW instead of the trainer's AdamW");
  flags.Int("train-batch", &train_batch, "training batch size");
  bool pretrain_only = false;
  double mask_probability = 0.15;
  flags.Bool("pretrain-only", &pretrain_only,
             "only the main job's masked-LM pretraining step (small preset, bf16)");
  flags.Double("mask-probability", &mask_probability, "masked-LM: the fraction of tokens chosen");
  flags.ParseOrExit(argc, argv);
  bench.Apply("train_step_bench");
  const int iters = bench.iters;
  std::vector<std::vector<int32_t>> tweets = model::LoadBenchTweets(bench.data, 20000);
  Ceiling ceiling;
  ceiling.Probe(iters);
  std::vector<BenchRow> rows;
  std::printf("training (forward + backward + AdamW; bf16 = autocast, fp32 master weights):\n");
  Pretraining(tweets, train_batch, mask_probability, iters, ceiling, &rows);
  for (const char* preset : {"small", "base"}) {
    if (pretrain_only) break;
    for (bool use_bf16 : {true, false}) {
      Training(tweets, preset, train_batch, use_bf16,
               std::string(preset) == "base" ? std::max(3, iters / 2) : iters, torch_adamw,
               ceiling, &rows);
    }
  }
  model::PrintCeilingFractions(ceiling, rows);
  return 0;
}

}  // namespace
}  // namespace murmur::worker

int main(int argc, char** argv) { return murmur::worker::Main(argc, argv); }
