// The training cluster as real processes on 127.0.0.1: elastic membership, failures, coordinator
// restart, and data-parallel equivalence. The tiny preset on a few thousand real tweets keeps
// each job to seconds.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/test_util.h"
#include "coordinator/tensorboard/event_file.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
#include "tests/cluster.h"

namespace murmur::testing {
namespace {

using v1::JobStatus;

std::string Corpus(int per_class) {
  static int counter = 0;
  return WriteTweetCorpus(TempDir() + "/corpus-" + std::to_string(counter++), per_class);
}

int ActiveWorkers(const JobStatus& status) {
  int active = 0;
  for (const auto& worker : status.workers()) active += worker.state() == v1::WORKER_ACTIVE;
  return active;
}

bool Finished(const JobStatus& status) { return status.state() == v1::JOB_FINISHED; }

constexpr char kSpec[] =
    "\"model_preset\": \"tiny\", \"batch_per_worker\": 8, \"epochs\": 2, \"max_length\": 32, "
    "\"learning_rate\": 0.001, \"heartbeat_timeout_ms\": 3000, \"collective_timeout_ms\": 4000, "
    "\"threads_per_worker\": 1";

TEST(TrainingClusterTest, SigkillOneOfThreeWorkersMidEpoch) {
  Cluster cluster("kill", Corpus(600), kSpec);
  ASSERT_TRUE(cluster.StartCoordinator().ok());
  for (const char* name : {"a", "b", "c"}) ASSERT_TRUE(cluster.AddWorker(name).ok());
  auto running = cluster.WaitFor(
      [](const JobStatus& s) { return ActiveWorkers(s) == 3 && s.global_step() >= 5; }, 120);
  ASSERT_TRUE(running.ok()) << running.status() << cluster.Logs();
  ASSERT_EQ(running->epoch(), 0) << "the job should still be in its first epoch";
  double killed_at = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  cluster.KillWorker("b");
  auto done = cluster.WaitFor(Finished, 240);
  ASSERT_TRUE(done.ok()) << done.status() << cluster.Logs();
  ExpectExactlyOncePerEpoch(*done, 2);
  // The death was detected within the heartbeat timeout (plus the detector's tick).
  double detected_at = 0;
  for (const auto& event : cluster.Events()) {
    if (event.kind() == "worker_dead" && detected_at == 0) detected_at = event.time_unix();
  }
  ASSERT_GT(detected_at, 0) << "no worker_dead event";
  EXPECT_LT(detected_at - killed_at, 3.0 + 1.5);
  EXPECT_EQ(cluster.WorkerExit("a").value_or(-1), 0);

  // The run directory's TensorBoard curves (report_to defaults to tensorboard): every applied
  // step once, whichever rank reported it and across the regroup, and one evaluation an epoch.
  std::map<std::string, std::map<int64_t, int>> points;  // tag -> step -> how many
  std::map<std::string, std::vector<double>> values;
  const auto files = tensorboard::EventFiles(cluster.dir() + "/tensorboard");
  ASSERT_EQ(files.size(), 1u) << "one coordinator process, one events file";
  auto events = tensorboard::ReadEventFile(files[0]);
  ASSERT_TRUE(events.ok()) << events.status();
  for (const auto& event : *events) {
    for (const auto& value : event.summary().value()) {
      ++points[value.tag()][event.step()];
      values[value.tag()].push_back(value.simple_value());
    }
  }
  ASSERT_EQ(points["train/loss"].size(), static_cast<size_t>(done->global_step()));
  for (const auto& [step, count] : points["train/loss"]) {
    EXPECT_EQ(count, 1) << "step " << step;
    EXPECT_GE(step, 1);
    EXPECT_LE(step, done->global_step());
  }
  EXPECT_EQ(points["eval/accuracy"].size(), 2u) << "one evaluation per epoch";
  EXPECT_EQ(points["eval/f1_positive"].size(), 2u);
  ASSERT_FALSE(values["train/learning_rate"].empty());
  for (double lr : values["train/learning_rate"]) EXPECT_LE(lr, 0.001 + 1e-9);
  EXPECT_FALSE(values["train/samples_per_second"].empty());
}

TEST(TrainingClusterTest, WorkerAddedMidEpochJoinsAndDrainedWorkerLeaves) {
  // A larger corpus than the others: the first worker alone must not finish the job before
  // the second one has started and joined (a fast machine trains 600 tweets in a second).
  Cluster cluster("elastic", Corpus(3000), kSpec);
  ASSERT_TRUE(cluster.StartCoordinator().ok());
  ASSERT_TRUE(cluster.AddWorker("first").ok());
  ASSERT_TRUE(cluster.WaitFor([](const JobStatus& s) { return s.global_step() >= 3; }, 120).ok())
      << cluster.Logs();
  ASSERT_TRUE(cluster.AddWorker("second").ok());
  auto both = cluster.WaitFor(
      [](const JobStatus& s) { return ActiveWorkers(s) == 2 && s.generation() >= 2; }, 60);
  ASSERT_TRUE(both.ok()) << both.status() << cluster.Logs();
  const int64_t step_when_joined = both->global_step();
  // Drain the first worker: it leaves cleanly (exit 0) and the job goes on with the second.
  std::string first_id;
  for (const auto& worker : both->workers()) {
    if (worker.name() == "first") first_id = worker.worker_id();
  }
  ASSERT_FALSE(first_id.empty());
  ASSERT_TRUE(cluster.Drain(first_id).ok());
  auto done = cluster.WaitFor(Finished, 240);
  ASSERT_TRUE(done.ok()) << done.status() << cluster.Logs();
  EXPECT_GT(done->global_step(), step_when_joined);
  EXPECT_EQ(cluster.WorkerExit("first").value_or(-1), 0);
  ExpectExactlyOncePerEpoch(*done, 2);
}

// SIGTERM (what Kubernetes sends when a StatefulSet scales down) makes a worker leave at the next
// step boundary: it exits 0 and the others regroup without losing a sample.
TEST(TrainingClusterTest, SigtermedWorkerLeavesCleanly) {
  Cluster cluster("sigterm", Corpus(600), kSpec);
  ASSERT_TRUE(cluster.StartCoordinator().ok());
  ASSERT_TRUE(cluster.AddWorker("stay").ok());
  ASSERT_TRUE(cluster.AddWorker("go").ok());
  ASSERT_TRUE(cluster.WaitFor([](const JobStatus& s) {
    return ActiveWorkers(s) == 2 && s.global_step() >= 5;
  }, 120).ok()) << cluster.Logs();
  cluster.SignalWorker("go", SIGTERM);
  auto done = cluster.WaitFor(Finished, 240);
  ASSERT_TRUE(done.ok()) << done.status() << cluster.Logs();
  EXPECT_EQ(cluster.WorkerExit("go").value_or(-1), 0) << cluster.Logs();
  ExpectExactlyOncePerEpoch(*done, 2);
  bool left = false;
  for (const auto& worker : done->workers()) left |= worker.name() == "go" && worker.state() == v1::WORKER_LEFT;
  EXPECT_TRUE(left) << done->ShortDebugString();
}

TEST(TrainingClusterTest, CoordinatorSigkilledAndRestartedResumes) {
  Cluster cluster("restart", Corpus(600), kSpec);
  ASSERT_TRUE(cluster.StartCoordinator().ok());
  ASSERT_TRUE(cluster.AddWorker("a").ok());
  ASSERT_TRUE(cluster.AddWorker("b").ok());
  auto before = cluster.WaitFor([](const JobStatus& s) { return s.global_step() >= 5; }, 120);
  ASSERT_TRUE(before.ok()) << cluster.Logs();
  cluster.KillCoordinator();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_TRUE(cluster.StartCoordinator().ok()) << cluster.Logs();
  auto after = cluster.Status();
  ASSERT_TRUE(after.ok());
  EXPECT_GE(after->global_step(), before->global_step()) << "progress was lost";
  auto done = cluster.WaitFor(Finished, 240);
  ASSERT_TRUE(done.ok()) << done.status() << cluster.Logs();
  ExpectExactlyOncePerEpoch(*done, 2);
}

std::vector<std::pair<std::string, at::Tensor>> FinalWeights(const JobStatus& status) {
  std::string path;
  int64_t step = -1;
  for (const auto& checkpoint : status.checkpoints()) {
    if (checkpoint.global_step() > step) {
      step = checkpoint.global_step();
      path = checkpoint.path();
    }
  }
  auto file = model::SafetensorsFile::Open(path + "/model.safetensors");
  EXPECT_TRUE(file.ok()) << file.status();
  std::vector<std::pair<std::string, at::Tensor>> weights;
  if (!file.ok()) return weights;
  for (const auto& view : (*file)->tensors()) {
    auto tensor = model::ToTensor(view);
    EXPECT_TRUE(tensor.ok()) << tensor.status();
    if (tensor.ok()) weights.emplace_back(view.name, *tensor);
  }
  std::sort(weights.begin(), weights.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  return weights;
}

// Two workers with batch b reach the same weights as one worker with batch 2b (fp32, dropout
// off, same seed): data parallelism changes where the work runs, not the result.
TEST(TrainingClusterTest, TwoWorkersOfBatchBEqualOneWorkerOfBatchTwoB) {
  std::string corpus = Corpus(300);
  const std::string common =
      "\"model_preset\": \"tiny\", \"epochs\": 1, \"max_steps\": 8, \"max_length\": 32, "
      "\"dropout\": 0, \"skip_evaluation\": true, \"threads_per_worker\": 1, ";
  Cluster one("one", corpus, common + "\"batch_per_worker\": 16");
  ASSERT_TRUE(one.StartCoordinator().ok());
  ASSERT_TRUE(one.AddWorker("solo").ok());
  ASSERT_TRUE(one.WaitFor(Finished, 120).ok()) << one.Logs();
  auto one_done = one.WaitForWorkersToExit(60);
  ASSERT_TRUE(one_done.ok()) << one.Logs();

  Cluster two("two", corpus, common + "\"batch_per_worker\": 8, \"min_workers\": 2");
  ASSERT_TRUE(two.StartCoordinator().ok());
  ASSERT_TRUE(two.AddWorker("x").ok());
  ASSERT_TRUE(two.AddWorker("y").ok());
  ASSERT_TRUE(two.WaitFor(Finished, 120).ok()) << two.Logs();
  auto two_done = two.WaitForWorkersToExit(60);
  ASSERT_TRUE(two_done.ok()) << two.Logs();
  EXPECT_EQ(one_done->global_step(), 8);
  EXPECT_EQ(two_done->global_step(), 8);

  auto a = FinalWeights(*one_done);
  auto b = FinalWeights(*two_done);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].first, b[i].first);
    worst = std::max(worst, (a[i].second - b[i].second).abs().max().item<double>());
  }
  EXPECT_LT(worst, 1e-5);
}

TEST(TrainingClusterTest, BadSpecIsRejectedWithTheField) {
  Cluster cluster("badspec", Corpus(50), "\"model_preset\": \"tiny\", \"batch_per_worker\": 0");
  absl::Status started = cluster.StartCoordinator();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(std::string(started.message()).find("batch_per_worker"), std::string::npos)
      << started.message();
}

TEST(TrainingClusterTest, CpuWorkerRefusesAnNcclJobAtOnce) {
  Cluster cluster("nccl-on-cpu", Corpus(50),
                  absl::StrCat(kSpec, ", \"backend\": \"nccl\""));
  ASSERT_TRUE(cluster.StartCoordinator().ok()) << cluster.Logs();
  ASSERT_TRUE(cluster.AddWorker("cpu").ok());
  auto status = cluster.WaitForWorkersToExit(60);
  ASSERT_TRUE(status.ok()) << status.status() << cluster.Logs();
  std::optional<int> exit_code = cluster.WorkerExit("cpu");
  ASSERT_TRUE(exit_code.has_value());
  EXPECT_NE(*exit_code, 0);
  EXPECT_NE(cluster.Logs().find("this worker is the CPU build"), std::string::npos)
      << cluster.Logs();
  EXPECT_EQ(status->global_step(), 0) << "nothing may be trained with the wrong backend";
}

}  // namespace
}  // namespace murmur::testing
