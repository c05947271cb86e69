// model_bench: throughput of murmur's DistilBERT on this machine, against the machine's own
// matrix-multiply ceiling measured in the same run.
//
//   bazel run //model:model_bench -- [--threads N] [--iters N] [--quick] [--train-batch N]
//   (MURMUR_SHARED_DATA must point at ../shared/data; threads default to the core count)
//
// Inference: base preset, batches of real Sentiment140 tweets (tokenized with the real vocab,
// taken in random order, so each batch has real length variation), batch 1/8/32/64, fp32 and
// bf16 (Linear weights in bf16 + autocast), steady state (one untimed pass over the same
// batches first). Training: forward + backward + AdamW step, bf16 autocast with fp32 master
// weights and fp32, small and base presets, the trainer's single-pass AdamW (or --torch-adamw). FLOP counts are the
// useful ones (config.h ForwardFlops over the real tokens; backward = 2x forward); times are
// medians; the ceiling is the best torch::mm median seen during the run (class Ceiling).
//
// Where the time goes: MODEL_BENCH_BREAKDOWN=1 splits each training step (forward, backward,
// optimizer); MODEL_BENCH_PROFILE=trace.json records libtorch's per-op profile (chrome trace)
// of the bf16 batch-32 inference passes, untimed; MODEL_BENCH_TRAIN_PROFILE=trace.json that of
// the base preset's last bf16 training step (left out of the medians: the profiler slows it).
#include <algorithm>
#include <chrono>
#include <optional>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/flags.h"
#include "model/config.h"
#include "model/distilbert.h"
#include "worker/optimizer.h"
#include "text/tokenizer.h"

namespace murmur::model {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// The machine's matrix-multiply ceiling: the best GFLOP/s torch::mm reaches on large products
// (a square one and the model's FFN shapes). This machine is shared, so a single probe taken
// while something else runs underestimates it: Probe() runs before every measurement and the
// ceiling is the best median (of 3) seen in the whole run; fractions are computed against that at the end
// (conservative: a busy machine lowers the achieved numbers, never the ceiling).
class Ceiling {
 public:
  void Probe(int reps) {
    struct Shape {
      int64_t m, k, n;
    };
    for (torch::ScalarType type : {torch::kFloat, torch::kBFloat16}) {
      for (Shape s : {Shape{2048, 2048, 2048}, Shape{1024, 768, 3072}, Shape{1024, 3072, 768}}) {
        torch::Tensor a = torch::randn({s.m, s.k}).to(type), b = torch::randn({s.k, s.n}).to(type);
        torch::Tensor c = torch::mm(a, b);  // warm-up (and kernel generation)
        std::vector<double> times;
        for (int i = 0; i < reps; ++i) {
          auto start = Clock::now();
          c = torch::mm(a, b);
          times.push_back(Seconds(start));
        }
        double gflops = 2.0 * s.m * s.k * s.n / Median(times) / 1e9;
        double& best = type == torch::kBFloat16 ? bf16_ : fp32_;
        best = std::max(best, gflops);
      }
    }
  }
  double fp32() const { return fp32_; }
  double bf16() const { return bf16_; }
  double of(bool bf16) const { return bf16 ? bf16_ : fp32_; }

 private:
  double fp32_ = 0, bf16_ = 0;
};

struct Row {
  std::string text;  // everything but the fraction
  double gflops;
  bool bf16;
};

std::vector<std::vector<int32_t>> LoadTweets(const std::string& data, int limit) {
  auto tokenizer =
      text::Tokenizer::FromVocabFile(data + "/distilbert-base-uncased/vocab.txt");
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", std::string(tokenizer.status().message()).c_str());
    std::exit(1);
  }
  std::vector<std::string> texts;
  for (const char* file : {"negative.txt", "positive.txt"}) {
    auto contents = ReadFile(data + "/sentiment140_text_100k/" + file);
    if (!contents.ok()) {
      std::fprintf(stderr, "%s\n", std::string(contents.status().message()).c_str());
      std::exit(1);
    }
    for (absl::string_view line : absl::StrSplit(*contents, '\n', absl::SkipEmpty())) {
      texts.emplace_back(line);
    }
  }
  std::mt19937 rng(1234);
  std::shuffle(texts.begin(), texts.end(), rng);
  texts.resize(std::min<size_t>(texts.size(), limit));
  std::vector<std::vector<int32_t>> out;
  for (const std::string& text : texts) out.push_back((*tokenizer)->Encode(text, 128));
  return out;
}

// Useful forward FLOPs of a batch: linear layers over the real tokens, attention over each
// sequence's own length.
double BatchFlops(const DistilBertConfig& config, const std::vector<std::vector<int32_t>>& batch) {
  double tokens = 0, squares = 0;
  for (const auto& s : batch) {
    tokens += s.size();
    squares += static_cast<double>(s.size()) * s.size();
  }
  return ForwardFlops(config, tokens, squares / tokens);
}

void Inference(const std::vector<std::vector<int32_t>>& tweets, Ceiling& ceiling, int iters,
               std::vector<Row>* rows) {
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
        auto start = Clock::now();
        model->forward(*Batch::FromSequences(batch, 512));
        double t = Seconds(start);
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

void Training(const std::vector<std::vector<int32_t>>& tweets, const std::string& preset,
              int batch_size, bool bf16, int iters, bool torch_adamw, Ceiling& ceiling,
              std::vector<Row>* rows) {
  ceiling.Probe(3);
  torch::manual_seed(0);
  DistilBertConfig config = *DistilBertConfig::Preset(preset, 30522);
  DistilBertForSequenceClassification model(config);
  model->train();
  std::vector<torch::Tensor> params;
  worker::NamedTensors named;
  for (const auto& item : model->named_parameters()) {
    if (item.value().requires_grad()) {
      params.push_back(item.value());
      named.emplace_back(item.key(), item.value());
    }
  }
  // The trainer's optimizer (worker/optimizer.h): single-pass AdamW, HF Trainer's decay rule.
  worker::AdamW fused(named, worker::AdamWOptions());
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
    const char* profile_path = std::getenv("MODEL_BENCH_TRAIN_PROFILE");
    if (profile_path && bf16 && preset == "base" && i == iters + 1) profile.emplace(profile_path);
    auto start = Clock::now();
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
    double t_forward = Seconds(start);
    loss.backward();
    double t_backward = Seconds(start);
    if (torch_adamw) {
      reference.step();
    } else {
      fused.Step(5e-5);
    }
    double t = Seconds(start);
    if (std::getenv("MODEL_BENCH_BREAKDOWN")) {
      std::fprintf(stderr, "    step: forward %.1f ms, backward %.1f ms, optimizer %.1f ms\n",
                   1e3 * t_forward, 1e3 * (t_backward - t_forward), 1e3 * (t - t_backward));
    }
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

int Main(int argc, char** argv) {
  FlagParser flags("model_bench");
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int iters = 20;
  bool quick = false;
  bool skip_inference = false, skip_training = false, torch_adamw = false;
  int train_batch = 32;
  const char* env = std::getenv("MURMUR_SHARED_DATA");
  std::string data = env ? env : "../shared/data";
  flags.Int("threads", &threads, "intra-op threads");
  flags.Int("iters", &iters, "timed iterations per measurement");
  flags.Bool("quick", &quick, "fewer iterations");
  flags.Bool("skip-inference", &skip_inference, "training only");
  flags.Bool("skip-training", &skip_training, "inference only");
  flags.Bool("torch-adamw", &torch_adamw, "train with torch::optim::AdamW instead of the trainer's AdamW");
  flags.Int("train-batch", &train_batch, "training batch size");
  flags.String("data", &data, "shared data directory (default $MURMUR_SHARED_DATA)");
  absl::Status status = flags.Parse(std::vector<std::string>(argv + 1, argv + argc));
  if (flags.help_requested()) {
    std::printf("%s", flags.Usage().c_str());
    return 0;
  }
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
    return 2;
  }
  if (quick) iters = 5;
  torch::set_num_threads(threads);
  std::printf("model_bench: %d intra-op threads, %d iterations, medians\n", threads, iters);
  std::vector<std::vector<int32_t>> tweets = LoadTweets(data, 20000);
  double mean = 0;
  for (const auto& t : tweets) mean += t.size();
  std::printf("tweets: %zu, mean %.1f tokens\n", tweets.size(), mean / tweets.size());
  Ceiling ceiling;
  ceiling.Probe(iters);
  std::vector<Row> rows;
  if (!skip_inference) {
    std::printf("inference (forward only, packed batches, steady state):\n");
    Inference(tweets, ceiling, iters, &rows);
  }
  if (!skip_training) {
    std::printf("training (forward + backward + AdamW; bf16 = autocast, fp32 master weights):\n");
    for (const char* preset : {"small", "base"}) {
      for (bool use_bf16 : {true, false}) {
        Training(tweets, preset, train_batch, use_bf16,
                 std::string(preset) == "base" ? std::max(3, iters / 2) : iters, torch_adamw,
                 ceiling, &rows);
      }
    }
  }
  std::printf("\nmatmul ceiling (best torch::mm seen in this run): fp32 %.1f GFLOP/s, bf16 %.1f "
              "GFLOP/s\n", ceiling.fp32(), ceiling.bf16());
  for (const Row& row : rows) {
    std::printf("  %s = %3.0f%% of %s ceiling\n", row.text.c_str(),
                100 * row.gflops / ceiling.of(row.bf16), row.bf16 ? "bf16" : "fp32");
  }
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3) {
    std::printf("load average at the end: %.2f %.2f %.2f (other processes share these cores)\n",
                load[0], load[1], load[2]);
  }
  return 0;
}

}  // namespace
}  // namespace murmur::model

int main(int argc, char** argv) { return murmur::model::Main(argc, argv); }
