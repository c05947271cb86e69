// Test helpers shared by the trainer's CPU tests (trainer_test.cc) and its GPU tests
// (trainer_gpu_test.cc): a learnable synthetic token cache, a multi-rank training loop over any
// communicator, and weight comparisons across devices.
#ifndef MURMUR_WORKER_TRAINER_TESTING_H_
#define MURMUR_WORKER_TRAINER_TESTING_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/file.h"
#include "base/test_util.h"
#include "data/token_cache.h"
#include "model/checkpoint.h"
#include "worker/communicator.h"
#include "worker/trainer.h"

namespace murmur::worker {

// A synthetic corpus whose label is learnable: label 1 iff the text contains token 7. With
// `counting`, each text is a run of consecutive ids instead (a masked token is predictable
// from its neighbours), for masked-LM pretraining.
struct Fixture {
  explicit Fixture(bool counting = false) {
    dir = testing::TempDir() + "/trainer_" + std::to_string(counter++);
    EXPECT_TRUE(MakeDirectories(dir).ok());
    vocab_path = dir + "/vocab.txt";
    std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    for (int i = 5; i < 40; ++i) vocab += "w" + std::to_string(i) + "\n";
    EXPECT_TRUE(WriteFileAtomically(vocab_path, vocab).ok());
    std::mt19937 rng(3);
    std::vector<std::vector<int32_t>> ids;
    std::vector<uint8_t> labels, validation;
    for (int row = 0; row < 200; ++row) {
      std::vector<int32_t> sequence = {2};
      int length = 2 + static_cast<int>(rng() % 12);
      bool positive = row % 2 == 0;
      const int32_t start = 8 + static_cast<int32_t>(rng() % (30 - length));
      for (int k = 0; k < length; ++k) {
        sequence.push_back(counting ? start + k : 8 + static_cast<int32_t>(rng() % 30));
      }
      if (positive && !counting) sequence[1 + rng() % length] = 7;
      sequence.push_back(3);
      ids.push_back(sequence);
      labels.push_back(positive ? 1 : 0);
      validation.push_back(row % 5 == 0 ? 1 : 0);
    }
    data::TokenCacheKey key;
    key.vocab_fingerprint = std::string(64, 'a');
    key.source_fingerprint = std::string(64, 'b');
    cache_path = dir + "/cache.bin";
    EXPECT_TRUE(data::WriteTokenCache(cache_path, key, {}, 40, ids, labels, validation).ok());
    auto opened = data::TokenCache::Open(cache_path);
    EXPECT_TRUE(opened.ok()) << opened.status();
    cache = *std::move(opened);
  }

  TrainerOptions MaskedLmOptions() const {
    TrainerOptions options = Options();
    options.objective = ObjectiveKind::kMaskedLm;
    options.mask_token_id = 4;
    return options;
  }

  TrainerOptions ReplacedTokenOptions() const {
    TrainerOptions options = MaskedLmOptions();
    options.objective = ObjectiveKind::kReplacedTokenDetection;
    return options;
  }

  TrainerOptions Options() const {
    TrainerOptions options;
    options.preset = "tiny";
    options.vocab_path = vocab_path;
    options.dropout = 0;  // exact comparisons
    options.total_steps = 20;
    options.learning_rate = 1e-2;
    options.warmup_ratio = 0.1;
    return options;
  }

  static inline int counter = 0;
  std::string dir, vocab_path, cache_path;
  std::unique_ptr<data::TokenCache> cache;
};

using Weights = std::vector<std::pair<std::string, at::Tensor>>;

// Runs `steps` steps on `world` ranks (threads; `join(rank)` gives each rank its communicator)
// where global step k trains training rows [k*W*B, (k+1)*W*B) split evenly; returns rank 0's
// parameters, copied to the CPU.
inline Weights TrainRanks(const Fixture& fixture, int world, int batch, int accumulation, int steps,
                          const std::vector<TrainerOptions>& options_of_rank,
                          const std::function<std::unique_ptr<Communicator>(int)>& join) {
  // Created one after the other: initialisation draws from libtorch's global generator.
  std::vector<std::unique_ptr<Trainer>> trainers;
  for (int r = 0; r < world; ++r) {
    auto trainer = Trainer::Create(options_of_rank[r], fixture.cache.get());
    EXPECT_TRUE(trainer.ok()) << trainer.status();
    if (!trainer.ok()) return {};
    trainers.push_back(*std::move(trainer));
  }
  const std::vector<uint32_t>& rows = fixture.cache->train_rows();
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      std::unique_ptr<Communicator> comm = join(r);
      ASSERT_NE(comm, nullptr);
      const int window = world * batch * accumulation;
      for (int step = 0; step < steps; ++step) {
        // The window's rows, split evenly over ranks, then into micro-batches.
        int begin = step * window + r * batch * accumulation;
        std::vector<std::vector<uint32_t>> micro(accumulation);
        for (int a = 0; a < accumulation; ++a) {
          for (int i = 0; i < batch; ++i) micro[a].push_back(rows[begin + a * batch + i]);
        }
        auto result = trainers[r]->Step(*comm, micro, window);
        ASSERT_TRUE(result.ok()) << result.status();
        EXPECT_GT(result->loss, 0);
      }
    });
  }
  for (auto& t : threads) t.join();
  Weights params;
  EXPECT_EQ(trainers[0]->global_step(), steps);
  for (auto& [name, p] : trainers[0]->Parameters()) {
    params.emplace_back(name, p.detach().to(at::kCPU, /*non_blocking=*/false, /*copy=*/true));
  }
  // Every rank holds the same weights.
  for (int r = 1; r < world; ++r) {
    auto other = trainers[r]->Parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_TRUE(at::allclose(params[i].second, other[i].second.cpu(), 0, 0)) << params[i].first;
    }
  }
  return params;
}

// Largest element-wise difference between two sets of weights, wherever they are.
inline double MaxDifference(const Weights& a, const Weights& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, (a[i].second.cpu() - b[i].second.cpu()).abs().max().item<double>());
  }
  return worst;
}

// Checkpoint round trip: `writer` takes one step and saves; a trainer made from
// `reader_options` (possibly on another device) loads it and must hold the same step and
// weights, and the next step of both must agree within `tolerance` (the optimizer state came
// along).
inline void ExpectCheckpointRoundTrip(const Fixture& fixture, Trainer& writer,
                                      Communicator& writer_comm,
                                      const TrainerOptions& reader_options,
                                      Communicator& reader_comm, double tolerance) {
  const auto& rows = fixture.cache->train_rows();
  ASSERT_TRUE(writer.Step(writer_comm, {{rows[0], rows[1], rows[2]}}, 3).ok());
  model::CheckpointInfo info;
  info.step = 1;
  ASSERT_TRUE(writer.SaveCheckpoint(fixture.dir + "/ckpt", info).ok());

  auto reader = Trainer::Create(reader_options, fixture.cache.get());
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_TRUE((*reader)->LoadCheckpoint(fixture.dir + "/ckpt").ok());
  EXPECT_EQ((*reader)->global_step(), 1);
  EXPECT_EQ(MaxDifference(writer.Parameters(), (*reader)->Parameters()), 0.0);
  ASSERT_TRUE(writer.Step(writer_comm, {{rows[3], rows[4]}}, 2).ok());
  ASSERT_TRUE((*reader)->Step(reader_comm, {{rows[3], rows[4]}}, 2).ok());
  EXPECT_LT(MaxDifference(writer.Parameters(), (*reader)->Parameters()), tolerance);
}

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_TRAINER_TESTING_H_
