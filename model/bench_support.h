// What murmur's model benchmarks share (model/model_bench for inference,
// worker/bench/train_step_bench for training steps): the machine's matrix-multiply ceiling
// measured in the same run, real tweets to feed the model, useful FLOP counts, medians.
// Benchmarks only (not linked into murmur's programs). Not thread-safe.
#ifndef MURMUR_MODEL_BENCH_SUPPORT_H_
#define MURMUR_MODEL_BENCH_SUPPORT_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/flags.h"
#include "model/config.h"

namespace murmur::model {

using BenchClock = std::chrono::steady_clock;

double SecondsSince(BenchClock::time_point start);

// The flags every model benchmark takes (--threads, --iters, --quick, --data), registered on
// a parser by AddTo; Apply then sets libtorch's threads and prints the run's header line.
struct BenchFlags {
  int threads = 0;  // default: the core count
  int iters = 20;
  bool quick = false;  // 5 iterations
  std::string data;    // default: $MURMUR_SHARED_DATA, else ../shared/data

  BenchFlags();
  void AddTo(FlagParser& flags);
  void Apply(const std::string& program);
};
double Median(std::vector<double> values);

// The machine's matrix-multiply ceiling: the best GFLOP/s torch::mm reaches on large products
// (a square one and the model's FFN shapes). These machines are shared, so a single probe taken
// while something else runs underestimates it: Probe() runs before every measurement and the
// ceiling is the best median (of `reps`) seen in the whole run; fractions are computed against
// that at the end (conservative: a busy machine lowers the achieved numbers, never the
// ceiling).
class Ceiling {
 public:
  void Probe(int reps);
  double fp32() const { return fp32_; }
  double bf16() const { return bf16_; }
  double of(bool bf16) const { return bf16 ? bf16_ : fp32_; }

 private:
  double fp32_ = 0, bf16_ = 0;
};

// One measurement line, and its GFLOP/s for the fraction of the ceiling printed at the end.
struct BenchRow {
  std::string text;
  double gflops;
  bool bf16;
};

// Prints the ceiling and each row's fraction of it, then the load average (other processes
// share these cores).
void PrintCeilingFractions(const Ceiling& ceiling, const std::vector<BenchRow>& rows);

// Up to `limit` Sentiment140 tweets of `data` (../shared/data) in a fixed random order,
// tokenized with the real vocabulary (at most 128 ids). Exits with a message when the data is
// missing.
std::vector<std::vector<int32_t>> LoadBenchTweets(const std::string& data, int limit);

// Useful forward FLOPs of a batch: linear layers over the real tokens, attention over each
// sequence's own length.
double BatchFlops(const DistilBertConfig& config, const std::vector<std::vector<int32_t>>& batch);

}  // namespace murmur::model

#endif  // MURMUR_MODEL_BENCH_SUPPORT_H_
