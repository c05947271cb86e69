// model_bench: inference throughput of murmur's DistilBERT on this machine, against the
// machine's own matrix-multiply ceiling measured in the same run. (Training steps:
// worker/bench/train_step_bench.)
//
//   bazel run -c opt //model:model_bench -- [--threads N] [--iters N] [--quick]
//   (MURMUR_SHARED_DATA must point at ../shared/data; threads default to the core count)
//
// Base preset, batches of real Sentiment140 tweets (tokenized with the real vocab, taken in
// random order, so each batch has real length variation), batch 1/8/32/64, fp32 and bf16 (Linear
// weights in bf16 + autocast), steady state (one untimed pass over the same batches first).
// FLOP counts are the useful ones (config.h ForwardFlops over the real tokens); times are
// medians; the ceiling is the best torch::mm median seen during the run (bench_support.h).
//
// Where the time goes: MODEL_BENCH_PROFILE=trace.json records libtorch's per-op profile (chrome
// trace) of the bf16 batch-32 passes, untimed.
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

namespace murmur::model {
namespace {

void Inference(const std::vector<std::vector<int32_t>>& tweets, Ceiling& ceiling, int iters,
               std::vector<BenchRow>* rows) {
  torch::manual_seed(0);
  DistilBertConfig config = *DistilBertConfig::Preset("base", 30522);
  DistilBertForSequenceClassification model(config);
  model->eval();
  for (bool bf16 : {false, true}) {
    if (bf16) model->SetLinearDtype(torch::kBFloat16);
    for (int batch_size : {1, 8, 32, 64}) {
      ceiling.Probe(3);
      size_t next = 0;
      auto take = [&]() {
        std::vector<std::vector<int32_t>> batch;
        for (int i = 0; i < batch_size; ++i) batch.push_back(tweets[next++ % tweets.size()]);
        return batch;
      };
      c10::InferenceMode guard;
      std::optional<AutocastBf16> autocast;
      if (bf16) autocast.emplace();
      const int runs = batch_size == 1 ? 4 * iters : iters;
      std::vector<std::vector<std::vector<int32_t>>> batches;
      for (int i = 0; i < runs; ++i) batches.push_back(take());
      // Steady state, as in a long-running server: one untimed pass over the same batches
      // first, so oneDNN has compiled its kernels for these (rounded) shapes.
      for (const auto& batch : batches) model->forward(*Batch::FromSequences(batch, 512));
      if (bf16 && batch_size == 32 && std::getenv("MODEL_BENCH_PROFILE")) {
        torch::autograd::profiler::RecordProfile profile(std::getenv("MODEL_BENCH_PROFILE"));
        for (const auto& batch : batches) model->forward(*Batch::FromSequences(batch, 512));
      }
      std::vector<double> times, rates;
      double tokens = 0;
      for (const auto& batch : batches) {
        for (const auto& s : batch) tokens += s.size();
        auto start = BenchClock::now();
        model->forward(*Batch::FromSequences(batch, 512));
        double t = SecondsSince(start);
        times.push_back(t);
        rates.push_back(BatchFlops(config, batch) / t / 1e9);
      }
      char text[256];
      std::snprintf(text, sizeof(text),
                    "infer base %-4s batch %3d: %8.1f tweets/s  median %7.2f ms  %5.1f tok/seq  "
                    "%7.1f GFLOP/s",
                    bf16 ? "bf16" : "fp32", batch_size, batch_size / Median(times),
                    1e3 * Median(times), tokens / (runs * batch_size), Median(rates));
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
  flags.ParseOrExit(argc, argv);
  bench.Apply("model_bench");
  const int iters = bench.iters;
  std::vector<std::vector<int32_t>> tweets = LoadBenchTweets(bench.data, 20000);
  double mean = 0;
  for (const auto& t : tweets) mean += t.size();
  std::printf("tweets: %zu, mean %.1f tokens\n", tweets.size(), mean / tweets.size());
  Ceiling ceiling;
  ceiling.Probe(iters);
  std::vector<BenchRow> rows;
  std::printf("inference (forward only, packed batches, steady state):\n");
  Inference(tweets, ceiling, iters, &rows);
  PrintCeilingFractions(ceiling, rows);
  return 0;
}

}  // namespace
}  // namespace murmur::model

int main(int argc, char** argv) { return murmur::model::Main(argc, argv); }
