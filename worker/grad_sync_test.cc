#include "worker/grad_sync.h"

#include <gtest/gtest.h>

#include <thread>

#include "worker/fake_communicator.h"

namespace murmur::worker {
namespace {

// A tiny model with an embedding table (synchronised row-sparse) and dense layers, in plain
// ATen so the test compiles fast. Each rank holds identical initial weights.
struct TinyModel {
  explicit TinyModel(int seed) {
    at::manual_seed(seed);
    params = {
        {"distilbert.embeddings.word_embeddings.weight", at::randn({50, 8})},
        {"layer.weight", at::randn({8, 8})},
        {"layer.bias", at::randn({8})},
        {"unused.weight", at::randn({3})},  // gets no gradient from forward
        {"head.weight", at::randn({8, 2})},
    };
    for (auto& [name, p] : params) p.set_requires_grad(true);
  }
  at::Tensor Loss(const at::Tensor& ids) {
    at::Tensor x = params[0].second.index_select(0, ids);
    x = at::tanh(at::matmul(x, params[1].second) + params[2].second);
    return at::matmul(x, params[4].second).pow(2).sum();
  }
  NamedTensors params;
};

// Each rank's gradient accumulated over its micro-batches (ids[rank]) without communication,
// summed over ranks; zeros for parameters that get none.
std::vector<at::Tensor> LocalGradientSum(const std::vector<std::vector<at::Tensor>>& ids) {
  std::vector<at::Tensor> sum;
  for (size_t r = 0; r < ids.size(); ++r) {
    TinyModel model(7);
    for (const at::Tensor& micro : ids[r]) model.Loss(micro).backward();
    for (size_t i = 0; i < model.params.size(); ++i) {
      at::Tensor g = model.params[i].second.grad();
      if (!g.defined()) g = at::zeros_like(model.params[i].second);
      if (r == 0) sum.push_back(g.clone()); else sum[i] += g;
    }
  }
  return sum;
}

// The synchronised gradient must equal the sum of every rank's local gradient, for dense
// buckets (several, tiny) and for the sparse embedding rows, with gradient accumulation.
TEST(GradientSynchronizerTest, SummedGradientsMatchLocalSum) {
  const int world = 3;
  std::vector<std::vector<at::Tensor>> ids = {
      {at::tensor({1, 2, 3}, at::kLong), at::tensor({4, 4}, at::kLong)},
      {at::tensor({3, 9}, at::kLong), at::tensor({10}, at::kLong)},
      {at::tensor({49}, at::kLong), at::tensor({1, 49}, at::kLong)}};

  const std::vector<at::Tensor> expected = LocalGradientSum(ids);

  FakeCollectiveHub hub(world);
  // Built here, not in the rank threads: the seeded generator is process-global.
  std::vector<std::unique_ptr<TinyModel>> models;
  for (int r = 0; r < world; ++r) models.push_back(std::make_unique<TinyModel>(7));
  std::vector<std::vector<at::Tensor>> got(world);
  std::vector<GradSyncStats> stats(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      TinyModel& model = *models[r];
      GradSyncOptions options;
      options.bucket_bytes = 64;  // forces several buckets
      GradientSynchronizer sync(model.params, options);
      EXPECT_GE(sync.num_buckets(), 2u);
      auto comm = hub.Join(r);
      model.Loss(ids[r][0]).backward();  // first micro-batch: no communication
      sync.Arm(comm.get());
      model.Loss(ids[r][1]).backward();
      absl::Status status = sync.Finish(at::cat(ids[r]), &stats[r]);
      EXPECT_TRUE(status.ok()) << status;
      for (auto& [name, p] : model.params) got[r].push_back(p.grad().clone());
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) {
    ASSERT_EQ(got[r].size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_TRUE(at::allclose(got[r][i], expected[i], 1e-5, 1e-5)) << "rank " << r << " param " << i;
    }
    // Rows touched anywhere: {1,2,3,4,9,10,49}.
    EXPECT_EQ(stats[r].sparse_rows, 7);
    EXPECT_EQ(stats[r].dense_elements, 64 + 8 + 3 + 16);
  }
}

// After Finish the gradients view the buckets. A caller that keeps them into the next step
// (instead of dropping them, as the trainer does) still gets accumulation: the kept gradient
// (the first step's global sum) plus this step's, summed over ranks.
TEST(GradientSynchronizerTest, GradientsKeptIntoTheNextStepAccumulate) {
  const int world = 2;
  std::vector<at::Tensor> ids = {at::tensor({1, 2}, at::kLong), at::tensor({3, 49}, at::kLong)};
  // One step's gradients, summed over ranks.
  const std::vector<at::Tensor> local_sum = LocalGradientSum({{ids[0]}, {ids[1]}});
  FakeCollectiveHub hub(world);
  std::vector<std::unique_ptr<TinyModel>> models;
  for (int r = 0; r < world; ++r) models.push_back(std::make_unique<TinyModel>(7));
  std::vector<std::vector<at::Tensor>> got(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      TinyModel& model = *models[r];
      GradSyncOptions options;
      options.bucket_bytes = 64;
      GradientSynchronizer sync(model.params, options);
      auto comm = hub.Join(r);
      for (int step = 0; step < 2; ++step) {
        sync.Arm(comm.get());
        model.Loss(ids[r]).backward();
        absl::Status status = sync.Finish(ids[r]);
        EXPECT_TRUE(status.ok()) << status;
      }
      for (auto& [name, p] : model.params) got[r].push_back(p.grad().clone());
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) {
    for (size_t i = 0; i < local_sum.size(); ++i) {
      // Step 2 all-reduces (step 1's sum + this rank's gradient): world * sum + sum.
      at::Tensor expected = local_sum[i] * (world + 1);
      EXPECT_TRUE(at::allclose(got[r][i], expected, 1e-5, 1e-5)) << "rank " << r << " param " << i;
    }
  }
}

TEST(GradientSynchronizerTest, FailedPeerIsUnavailable) {
  FakeCollectiveHub hub(2, std::chrono::milliseconds(300));
  TinyModel model(1);
  GradientSynchronizer sync(model.params);
  auto comm = hub.Join(0);  // rank 1 never shows up
  sync.Arm(comm.get());
  model.Loss(at::tensor({1}, at::kLong)).backward();
  EXPECT_EQ(sync.Finish(at::tensor({1}, at::kLong)).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace murmur::worker
