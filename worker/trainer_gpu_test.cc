// The trainer on CUDA with the NCCL communicator (needs a GPU; tags gpu, manual). Checks that a
// GPU run is the same training as a CPU run, that checkpoints move between devices, that bf16
// autocast learns on the GPU, and (with two GPUs) that two NCCL ranks equal one rank.
#include <c10/cuda/CUDAFunctions.h>
#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/torch.h>

#include "worker/fake_communicator.h"
#include "worker/nccl_communicator.h"
#include "worker/trainer_testing.h"

namespace murmur::worker {
namespace {

// A world of NCCL communicators that rendezvous through one in-memory store; rank r on GPU r.
class NcclWorld {
 public:
  explicit NcclWorld(int world) : world_(world), store_(c10::make_intrusive<c10d::HashStore>()) {}
  std::unique_ptr<Communicator> Join(int rank) {
    NcclOptions options;
    options.device = rank;
    auto comm = CreateNcclCommunicator(store_, rank, world_, options);
    EXPECT_TRUE(comm.ok()) << comm.status();
    return comm.ok() ? *std::move(comm) : nullptr;
  }

 private:
  int world_;
  c10::intrusive_ptr<c10d::Store> store_;
};

TrainerOptions OnGpu(TrainerOptions options, int gpu = 0) {
  options.device = "cuda:" + std::to_string(gpu);
  return options;
}

TEST(TrainerGpuTest, GpuTrainingEqualsCpuTraining) {
  ASSERT_TRUE(torch::cuda::is_available());
  Fixture fixture;
  FakeCollectiveHub hub(1);
  Weights cpu = TrainRanks(fixture, 1, 8, 2, 5, {fixture.Options()},
                           [&](int rank) { return hub.Join(rank); });
  NcclWorld nccl(1);
  Weights gpu = TrainRanks(fixture, 1, 8, 2, 5, {OnGpu(fixture.Options())},
                           [&](int rank) { return nccl.Join(rank); });
  ASSERT_FALSE(gpu.empty());
  // fp32 on both (TF32 is off by default): only summation order differs.
  EXPECT_LT(MaxDifference(cpu, gpu), 2e-4);
  auto fresh = Trainer::Create(fixture.Options(), fixture.cache.get());
  ASSERT_TRUE(fresh.ok());
  EXPECT_GT(MaxDifference(cpu, (*fresh)->Parameters()), 1e-3) << "training did not move";
}

TEST(TrainerGpuTest, CheckpointWrittenOnGpuLoadsOnCpuAndBack) {
  Fixture fixture;
  NcclWorld nccl(1);
  auto comm = nccl.Join(0);
  ASSERT_NE(comm, nullptr);
  auto gpu = Trainer::Create(OnGpu(fixture.Options()), fixture.cache.get());
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  EXPECT_TRUE((*gpu)->Parameters()[0].second.is_cuda());
  FakeCollectiveHub hub(1);
  auto cpu_comm = hub.Join(0);
  ExpectCheckpointRoundTrip(fixture, **gpu, *comm, fixture.Options(), *cpu_comm, 1e-4);
}

TEST(TrainerGpuTest, Bf16AutocastLearnsOnGpuAndEvaluates) {
  Fixture fixture;
  TrainerOptions options = OnGpu(fixture.Options());
  options.bf16 = true;
  options.total_steps = 60;
  auto trainer = Trainer::Create(options, fixture.cache.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  NcclWorld nccl(1);
  auto comm = nccl.Join(0);
  ASSERT_NE(comm, nullptr);
  const auto& rows = fixture.cache->train_rows();
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < 60; ++step) {
    std::vector<std::vector<uint32_t>> micro(1);
    for (int i = 0; i < 16; ++i) micro[0].push_back(rows[(step * 16 + i) % rows.size()]);
    auto result = (*trainer)->Step(*comm, micro, 16);
    ASSERT_TRUE(result.ok()) << result.status();
    (step == 0 ? first_loss : last_loss) = result->loss;
  }
  EXPECT_LT(last_loss, first_loss);
  auto eval = (*trainer)->Evaluate(*comm);
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_EQ(eval->examples, 40);
  EXPECT_GT(eval->accuracy, 0.8);
}

TEST(TrainerGpuTest, TwoNcclRanksEqualOneRankOfTwiceTheBatch) {
  if (torch::cuda::device_count() < 2) {
    GTEST_SKIP() << "needs two GPUs (NCCL allows one rank per GPU); this machine has "
                 << static_cast<int>(torch::cuda::device_count());
  }
  Fixture fixture;
  NcclWorld one_world(1), two_world(2);
  Weights one = TrainRanks(fixture, 1, 8, 1, 5, {OnGpu(fixture.Options(), 0)},
                           [&](int rank) { return one_world.Join(rank); });
  Weights two = TrainRanks(fixture, 2, 4, 1, 5,
                           {OnGpu(fixture.Options(), 0), OnGpu(fixture.Options(), 1)},
                           [&](int rank) { return two_world.Join(rank); });
  EXPECT_LT(MaxDifference(one, two), 1e-5);
}

}  // namespace
}  // namespace murmur::worker
