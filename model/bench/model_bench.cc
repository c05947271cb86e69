// model_bench: inference throughput of murmur's DistilBERT on this machine, against the
// machine's own matrix-multiply ceiling measured in the same run. (Training steps:
// worker/bench/train_step_bench; ONNX Runtime side by side: inference_bench.sh, which runs this
// with --checkpoint and --peer-batches.)
//
//   bazel run -c opt //model/bench:model_bench -- [--threads N] [--iters N] [--quick]
//       [--checkpoint DIR --peer-batches FILE --probabilities FILE]
//   (MURMUR_SHARED_DATA must point at ../shared/data; threads default to the core count)
//
// Base preset (random weights, or --checkpoint's), batches of real Sentiment140 tweets
// (tokenized with the real vocab), fp32 and bf16 (Linear weights in bf16 + autocast), steady
// state (one untimed pass over the same batches first). Two ways to form the batches:
//   default          batch 1/8/32/64 of tweets in random order (each batch has real length
//                    variation: what a server's dynamic batcher sees);
//   --peer-batches   batch 1/8/32 of tweets sorted by length, the way a careful user of a
//                    padded runtime (ONNX Runtime) forms them; the batches are written to FILE
//                    so the peer times exactly these, and --probabilities gets fp32's class
//                    probabilities of the first 64 tweets of the batch-32 run for the
//                    cross-check.
// FLOP counts are the useful ones (config.h ForwardFlops over the real tokens); times are
// medians; the ceiling is the best torch::mm median seen during the run (bench_support.h).
//
// Where the time goes: MODEL_BENCH_PROFILE=trace.json records libtorch's per-op profile (chrome
// trace) of one case's passes, untimed: MODEL_BENCH_PROFILE_CASE="fp32 1" (default "bf16 32").
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/flags.h"
#include "model/autocast.h"
#include "model/batch.h"
#include "model/bench_support.h"
#include "model/config.h"
#include "model/distilbert.h"
#include "model/model_io.h"

namespace murmur::model {
namespace {

using Sequences = std::vector<std::vector<int32_t>>;

// The batches of one batch size.
struct Run {
  int batch_size = 0;
  std::vector<Sequences> batches;
};

// `count` batches of `batch_size` tweets, consecutive from `*next` in the tweets' (random)
// order; `sorted`: those tweets sorted by length first, then cut into batches.
Run MakeRun(const Sequences& tweets, int batch_size, int count, bool sorted, size_t* next) {
  Sequences taken;
  for (int i = 0; i < batch_size * count; ++i) taken.push_back(tweets[(*next)++ % tweets.size()]);
  if (sorted) {
    std::stable_sort(taken.begin(), taken.end(),
                     [](const auto& a, const auto& b) { return a.size() < b.size(); });
  }
  Run run{batch_size, {}};
  for (int i = 0; i < count; ++i) {
    run.batches.emplace_back(taken.begin() + i * batch_size, taken.begin() + (i + 1) * batch_size);
  }
  return run;
}

void Inference(DistilBertForSequenceClassification& model, const DistilBertConfig& config,
               const std::vector<Run>& runs, Ceiling& ceiling, std::vector<BenchRow>* rows,
               std::vector<std::vector<float>>* probabilities) {
  model->eval();
  for (bool bf16 : {false, true}) {
    if (bf16) model->SetLinearDtype(torch::kBFloat16);
    for (const Run& run : runs) {
      ceiling.Probe(3);
      c10::InferenceMode guard;
      std::optional<AutocastBf16> autocast;
      if (bf16) autocast.emplace();
      // Steady state, as in a long-running server: one untimed pass over the same batches
      // first, so oneDNN has compiled its kernels for these (rounded) shapes.
      for (const auto& batch : run.batches) model->forward(*Batch::FromSequences(batch, 512));
      const char* profile_case = std::getenv("MODEL_BENCH_PROFILE_CASE");
      const std::string this_case = absl::StrCat(bf16 ? "bf16" : "fp32", " ", run.batch_size);
      if (std::getenv("MODEL_BENCH_PROFILE") &&
          this_case == (profile_case != nullptr ? profile_case : "bf16 32")) {
        torch::autograd::profiler::RecordProfile profile(std::getenv("MODEL_BENCH_PROFILE"));
        for (const auto& batch : run.batches) model->forward(*Batch::FromSequences(batch, 512));
      }
      std::vector<double> times, rates;
      double tokens = 0;
      for (const auto& batch : run.batches) {
        for (const auto& s : batch) tokens += s.size();
        auto start = BenchClock::now();
        torch::Tensor logits = model->forward(*Batch::FromSequences(batch, 512));
        double t = SecondsSince(start);
        times.push_back(t);
        rates.push_back(BatchFlops(config, batch) / t / 1e9);
        if (!bf16 && run.batch_size == 32 && probabilities->size() < 64) {
          torch::Tensor p = torch::softmax(logits, 1).contiguous();
          for (int64_t row = 0; row < p.size(0) && probabilities->size() < 64; ++row) {
            probabilities->emplace_back(p[row].data_ptr<float>(),
                                        p[row].data_ptr<float>() + p.size(1));
          }
        }
      }
      char text[256];
      std::snprintf(text, sizeof(text),
                    "infer base %-4s batch %3d: %8.1f tweets/s  median %7.2f ms  %5.1f tok/seq  "
                    "%7.1f GFLOP/s",
                    bf16 ? "bf16" : "fp32", run.batch_size, run.batch_size / Median(times),
                    1e3 * Median(times), tokens / (run.batches.size() * run.batch_size),
                    Median(rates));
      std::printf("  %s\n", text);
      std::fflush(stdout);
      rows->push_back({text, Median(rates), bf16});
    }
  }
  ceiling.Probe(3);  // here: outside the autocast scope
}

int Main(int argc, char** argv) {
  FlagParser flags("model_bench");
  BenchFlags bench;
  bench.AddTo(flags);
  std::string checkpoint, peer_batches, probabilities_path;
  flags.String("checkpoint", &checkpoint, "model directory to load (default: random weights)");
  flags.String("peer-batches", &peer_batches,
               "time length-sorted batches of 1/8/32 and write them here (JSON) for a peer");
  flags.String("probabilities", &probabilities_path,
               "with --peer-batches: write fp32's probabilities of the first 64 tweets here");
  flags.ParseOrExit(argc, argv);
  bench.Apply("model_bench");
  const int iters = bench.iters;
  const Sequences tweets = LoadBenchTweets(bench.data, 20000);
  double mean = 0;
  for (const auto& t : tweets) mean += t.size();
  std::printf("tweets: %zu, mean %.1f tokens\n", tweets.size(), mean / tweets.size());

  DistilBertConfig config;
  DistilBertForSequenceClassification model{nullptr};
  if (checkpoint.empty()) {
    torch::manual_seed(0);
    config = *DistilBertConfig::Preset("base", 30522);
    model = DistilBertForSequenceClassification(config);
  } else {
    auto loaded = LoadModelDir(checkpoint);
    if (!loaded.ok()) {
      std::fprintf(stderr, "model_bench: %s\n", loaded.status().ToString().c_str());
      return 1;
    }
    config = loaded->config;
    model = loaded->model;
  }

  const bool peer = !peer_batches.empty();
  std::vector<Run> runs;
  size_t next = 0;
  for (int batch_size : peer ? std::vector<int>{1, 8, 32} : std::vector<int>{1, 8, 32, 64}) {
    runs.push_back(MakeRun(tweets, batch_size, batch_size == 1 ? 4 * iters : iters, peer, &next));
  }
  if (peer) {
    nlohmann::json plan = {{"probabilities_batch_size", 32}, {"probabilities_count", 64}};
    for (const Run& run : runs)
      plan["runs"].push_back({{"batch_size", run.batch_size}, {"batches", run.batches}});
    if (auto written = WriteFileAtomically(peer_batches, plan.dump()); !written.ok()) {
      std::fprintf(stderr, "model_bench: %s\n", written.ToString().c_str());
      return 1;
    }
  }

  Ceiling ceiling;
  ceiling.Probe(iters);
  std::vector<BenchRow> rows;
  std::vector<std::vector<float>> probabilities;
  std::printf("inference (forward only, packed batches of tweets %s, steady state):\n",
              peer ? "sorted by length" : "in random order");
  Inference(model, config, runs, ceiling, &rows, &probabilities);
  PrintCeilingFractions(ceiling, rows);
  if (!probabilities_path.empty()) {
    if (auto written =
            WriteFileAtomically(probabilities_path, nlohmann::json(probabilities).dump());
        !written.ok()) {
      std::fprintf(stderr, "model_bench: %s\n", written.ToString().c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace murmur::model

int main(int argc, char** argv) { return murmur::model::Main(argc, argv); }
