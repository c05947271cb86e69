#include "model/bench_support.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/random.h"
#include "text/tokenizer.h"

namespace murmur::model {

double SecondsSince(BenchClock::time_point start) {
  return std::chrono::duration<double>(BenchClock::now() - start).count();
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

BenchFlags::BenchFlags()
    : threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))) {
  const char* env = std::getenv("MURMUR_SHARED_DATA");
  data = env != nullptr ? env : "../shared/data";
}

void BenchFlags::AddTo(FlagParser& flags) {
  flags.Int("threads", &threads, "intra-op threads");
  flags.Int("iters", &iters, "timed iterations per measurement");
  flags.Bool("quick", &quick, "fewer iterations");
  flags.String("data", &data, "shared data directory ($MURMUR_SHARED_DATA when set)");
}

void BenchFlags::Apply(const std::string& program) {
  if (quick) iters = 5;
  torch::set_num_threads(threads);
  std::printf("%s: %d intra-op threads, %d iterations, medians\n", program.c_str(), threads,
              iters);
}

void Ceiling::Probe(int reps) {
  struct Shape {
    int64_t m, k, n;
  };
  for (torch::ScalarType type : {torch::kFloat, torch::kBFloat16}) {
    for (Shape s : {Shape{2048, 2048, 2048}, Shape{1024, 768, 3072}, Shape{1024, 3072, 768}}) {
      torch::Tensor a = torch::randn({s.m, s.k}).to(type), b = torch::randn({s.k, s.n}).to(type);
      torch::Tensor c = torch::mm(a, b);  // warm-up (and kernel generation)
      std::vector<double> times;
      for (int i = 0; i < reps; ++i) {
        auto start = BenchClock::now();
        c = torch::mm(a, b);
        times.push_back(SecondsSince(start));
      }
      double gflops = 2.0 * s.m * s.k * s.n / Median(times) / 1e9;
      double& best = type == torch::kBFloat16 ? bf16_ : fp32_;
      best = std::max(best, gflops);
    }
  }
}

void PrintCeilingFractions(const Ceiling& ceiling, const std::vector<BenchRow>& rows) {
  std::printf("\nmatmul ceiling (best torch::mm seen in this run): fp32 %.1f GFLOP/s, bf16 %.1f "
              "GFLOP/s\n", ceiling.fp32(), ceiling.bf16());
  for (const BenchRow& row : rows) {
    std::printf("  %s = %3.0f%% of %s ceiling\n", row.text.c_str(),
                100 * row.gflops / ceiling.of(row.bf16), row.bf16 ? "bf16" : "fp32");
  }
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3) {
    std::printf("load average at the end: %.2f %.2f %.2f (other processes share these cores)\n",
                load[0], load[1], load[2]);
  }
}

std::vector<std::vector<int32_t>> LoadBenchTweets(const std::string& data, int limit) {
  auto tokenizer = text::Tokenizer::FromVocabFile(data + "/distilbert-base-uncased/vocab.txt");
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
  // Fisher-Yates with base/random.h: the same order on every machine and build.
  Rng rng(1234);
  for (size_t i = texts.size(); i > 1; --i) std::swap(texts[i - 1], texts[rng.Uniform(i)]);
  texts.resize(std::min<size_t>(texts.size(), limit));
  std::vector<std::vector<int32_t>> out;
  for (const std::string& text : texts) out.push_back((*tokenizer)->Encode(text, 128));
  return out;
}

double BatchFlops(const DistilBertConfig& config, const std::vector<std::vector<int32_t>>& batch) {
  double tokens = 0, squares = 0;
  for (const auto& s : batch) {
    tokens += s.size();
    squares += static_cast<double>(s.size()) * s.size();
  }
  return ForwardFlops(config, tokens, squares / tokens);
}

}  // namespace murmur::model
