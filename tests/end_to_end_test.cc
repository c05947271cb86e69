// The product as a user runs it, with real processes on 127.0.0.1: a coordinator and workers
// train, the coordinator publishes the best checkpoint to a serving replica over gRPC, and the
// replica answers exactly what `murmur predict` computes offline from the same checkpoint —
// also while training keeps publishing new versions under load, and when a worker is killed.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/subprocess.h"
#include "base/test_util.h"
#include "serving/client/serving_client.h"
#include "tests/cluster.h"

namespace murmur::testing {
namespace {

using v1::JobStatus;

bool Finished(const JobStatus& status) { return status.state() == v1::JOB_FINISHED; }

// The best checkpoint, once the coordinator has published it (else empty).
std::string PublishedBest(const JobStatus& status) {
  for (const auto& checkpoint : status.checkpoints()) {
    if (checkpoint.best() && checkpoint.publications_size() > 0) return checkpoint.path();
  }
  return "";
}

std::vector<std::string> SomeTweets(int count) {
  std::vector<std::string> texts;
  for (const char* name : {"negative.txt", "positive.txt"}) {
    std::ifstream in(SharedDataPath(std::string("sentiment140_text_100k/") + name));
    std::string line;
    // Lines from the end of the files: not in the training corpus the tests write.
    std::vector<std::string> all;
    while (std::getline(in, line)) all.push_back(line);
    for (int i = 0; i < count / 2; ++i) texts.push_back(all[all.size() - 1 - i]);
  }
  return texts;
}

// `murmur predict` on `dir` for `texts`: one probability vector per text.
std::vector<std::vector<double>> Predict(const std::string& dir,
                                         const std::vector<std::string>& texts) {
  std::string in = TempDir() + "/predict-in.txt";
  std::string out = TempDir() + "/predict-out.jsonl";
  EXPECT_TRUE(WriteFileAtomically(in, absl::StrJoin(texts, "\n") + "\n").ok());
  EXPECT_EQ(RunShell("client/murmur predict --precision fp32 --model '" + dir + "' < '" + in +
                     "' > '" + out + "'"),
            0);
  std::vector<std::vector<double>> probabilities;
  auto contents = ReadFile(out);
  EXPECT_TRUE(contents.ok());
  for (absl::string_view line : absl::StrSplit(*contents, '\n', absl::SkipEmpty())) {
    // {"label": "...", "score": s, "probabilities": [p0, p1]}
    size_t open = line.find("\"probabilities\": [");
    EXPECT_NE(open, absl::string_view::npos) << line;
    absl::string_view list = line.substr(open + 18);
    list = list.substr(0, list.find(']'));
    std::vector<double> p;
    for (absl::string_view v : absl::StrSplit(list, ',')) p.push_back(std::stod(std::string(v)));
    probabilities.push_back(p);
  }
  return probabilities;
}

std::unique_ptr<serving::ServingClient> Client(const std::string& target) {
  serving::ServingClient::Options options;
  options.targets = {target};
  auto created = serving::ServingClient::Create(options);
  EXPECT_TRUE(created.ok()) << created.status();
  return created.ok() ? *std::move(created) : nullptr;
}

// Train 1 epoch of the small preset on 20,000 real tweets with 2 workers -> the checkpoint is
// published -> the replica serves it -> Classify returns the probabilities `murmur predict`
// computes from the published checkpoint.
TEST(EndToEndTest, TrainPublishServeMatchesPredict) {
  std::string corpus = WriteTweetCorpus(TempDir() + "/corpus-20k", 10000);
  Cluster cluster("e2e", corpus,
                  "\"model_preset\": \"small\", \"batch_per_worker\": 32, \"epochs\": 1, "
                  "\"max_length\": 64, \"learning_rate\": 0.001, \"threads_per_worker\": 1");
  ASSERT_TRUE(cluster.StartServing().ok()) << cluster.Logs();
  ASSERT_TRUE(cluster.StartCoordinator({"--publish-to", cluster.serving_address()}).ok())
      << cluster.Logs();
  ASSERT_TRUE(cluster.AddWorker("a").ok());
  ASSERT_TRUE(cluster.AddWorker("b").ok());
  auto done = cluster.WaitFor(Finished, 900);
  ASSERT_TRUE(done.ok()) << done.status() << cluster.Logs();
  // 20,000 tweets, a few dropped as duplicates or conflicting labels, split about 80/20.
  EXPECT_GT(done->train_samples(), 15000);
  EXPECT_GT(done->validation_samples(), 3500);
  EXPECT_LE(done->train_samples() + done->validation_samples(), 20000);
  ASSERT_EQ(done->evaluations_size(), 1);
  EXPECT_GT(done->evaluations(0).accuracy(), 0.6);  // it learned something
  auto published = cluster.WaitFor([](const JobStatus& s) { return !PublishedBest(s).empty(); }, 120);
  ASSERT_TRUE(published.ok()) << published.status() << cluster.Logs();
  const std::string checkpoint = PublishedBest(*published);

  std::vector<std::string> texts = SomeTweets(40);
  auto serving = Client(cluster.serving_address());
  ASSERT_NE(serving, nullptr);
  auto response = serving->Classify(texts);
  ASSERT_TRUE(response.ok()) << response.status() << cluster.Logs();
  std::vector<std::vector<double>> offline = Predict(checkpoint, texts);
  ASSERT_EQ(offline.size(), texts.size());
  ASSERT_EQ(response->results_size(), static_cast<int>(texts.size()));
  double worst = 0;
  for (int i = 0; i < response->results_size(); ++i) {
    const auto& result = response->results(i);
    ASSERT_EQ(result.probabilities_size(), 2);
    for (int k = 0; k < 2; ++k) {
      worst = std::max(worst, std::abs(result.probabilities(k) - offline[i][k]));
    }
  }
  EXPECT_LT(worst, 1e-5);
}

// A load generator runs against the replica while training publishes several new best
// checkpoints (and a worker is SIGKILLed mid-job): no request fails, and the answers move to
// newer versions.
TEST(EndToEndTest, HotSwapUnderLoadWhileTrainingPublishesAndAWorkerDies) {
  std::string corpus = WriteTweetCorpus(TempDir() + "/corpus-4k", 2000);
  Cluster cluster("swap", corpus,
                  "\"model_preset\": \"tiny\", \"batch_per_worker\": 16, \"epochs\": 3, "
                  "\"max_length\": 48, \"learning_rate\": 0.003, \"threads_per_worker\": 1, "
                  "\"checkpoint_every_steps\": 25, \"heartbeat_timeout_ms\": 3000, "
                  "\"collective_timeout_ms\": 4000");
  ASSERT_TRUE(cluster.StartServing().ok()) << cluster.Logs();
  ASSERT_TRUE(cluster.StartCoordinator({"--publish-to", cluster.serving_address()}).ok());
  for (const char* name : {"a", "b", "c"}) ASSERT_TRUE(cluster.AddWorker(name).ok());
  // Wait for the first published version before loading the replica.
  ASSERT_TRUE(cluster.WaitFor([](const JobStatus& s) { return !PublishedBest(s).empty(); }, 300)
                  .ok())
      << cluster.Logs();

  std::atomic<bool> stop{false};
  std::atomic<int64_t> requests{0}, failures{0};
  std::mutex mu;
  std::map<int64_t, int64_t> versions;
  std::string first_failure;
  std::vector<std::thread> load;
  const std::vector<std::string> texts = SomeTweets(8);
  for (int t = 0; t < 3; ++t) {
    load.emplace_back([&] {
      auto serving = Client(cluster.serving_address());
      while (!stop) {
        auto response = serving->Classify(texts);
        ++requests;
        std::lock_guard<std::mutex> lock(mu);
        if (!response.ok()) {
          if (failures++ == 0) first_failure = response.status().ToString();
        } else {
          ++versions[response->version()];
        }
      }
    });
  }
  auto progressed = cluster.WaitFor([](const JobStatus& s) { return s.global_step() >= 40; }, 300);
  ASSERT_TRUE(progressed.ok()) << cluster.Logs();
  cluster.KillWorker("b");
  auto done = cluster.WaitFor(Finished, 600);
  // Keep the load on until the last best checkpoint is served.
  auto final_status = cluster.WaitForWorkersToExit(120);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  stop = true;
  for (auto& t : load) t.join();
  ASSERT_TRUE(done.ok()) << done.status() << cluster.Logs();
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_GT(requests.load(), 50);
  EXPECT_GE(versions.size(), 2u) << "training published only one version while under load";
  for (const auto& epoch : done->accounting()) {
    EXPECT_EQ(epoch.consumed(), epoch.samples());
    EXPECT_EQ(epoch.duplicated(), 0);
  }
}

// Masked-LM pretraining, then fine-tuning, as docs/operations.md describes: the pretraining job
// trains and checkpoints a DistilBertForMaskedLM and publishes nothing although it has a replica
// to publish to (serving, like `murmur predict`, refuses a model without a classification
// head); the classification job started from its best checkpoint publishes, and serves.
TEST(EndToEndTest, PretrainMaskedLmThenFineTuneAndServe) {
  std::string corpus = WriteTweetCorpus(TempDir() + "/corpus-2k", 1000);
  std::string pretrained;
  {
    Cluster pretrain("mlm", corpus,
                     "\"objective\": \"masked_lm\", \"model_preset\": \"tiny\", "
                     "\"batch_per_worker\": 32, \"epochs\": 2, \"max_length\": 48, "
                     "\"learning_rate\": 0.003, \"threads_per_worker\": 1");
    ASSERT_TRUE(pretrain.StartServing().ok()) << pretrain.Logs();
    ASSERT_TRUE(pretrain.StartCoordinator({"--publish-to", pretrain.serving_address()}).ok())
        << pretrain.Logs();
    ASSERT_TRUE(pretrain.AddWorker("a").ok());
    ASSERT_TRUE(pretrain.AddWorker("b").ok());
    ASSERT_TRUE(pretrain.WaitFor(Finished, 600).ok()) << pretrain.Logs();
    auto done = pretrain.WaitForWorkersToExit(120);
    ASSERT_TRUE(done.ok()) << done.status() << pretrain.Logs();
    ASSERT_EQ(done->evaluations_size(), 2) << pretrain.Logs();
    for (const auto& eval : done->evaluations()) {
      EXPECT_EQ(eval.precision_size(), 0) << "masked-token accuracy has no classes";
      EXPECT_GT(eval.accuracy(), 0.0);
      EXPECT_LT(eval.accuracy(), 1.0);
    }
    EXPECT_LT(done->evaluations(1).loss(), done->evaluations(0).loss()) << "it learned";
    for (const auto& checkpoint : done->checkpoints()) {
      EXPECT_EQ(checkpoint.publications_size(), 0) << checkpoint.path();
      if (checkpoint.best()) pretrained = checkpoint.path();
    }
    ASSERT_FALSE(pretrained.empty()) << pretrain.Logs();
    auto config = ReadFile(pretrained + "/config.json");
    ASSERT_TRUE(config.ok());
    EXPECT_NE(config->find("DistilBertForMaskedLM"), std::string::npos);
    EXPECT_NE(RunShell("client/murmur predict --model '" + pretrained + "' < /dev/null"), 0)
        << "a checkpoint without a classification head must not classify";
  }

  Cluster fine_tune("fine-tune", corpus,
                    "\"init_dir\": \"" + pretrained +
                        "\", \"batch_per_worker\": 32, \"epochs\": 1, \"max_length\": 48, "
                        "\"learning_rate\": 0.003, \"threads_per_worker\": 1");
  ASSERT_TRUE(fine_tune.StartServing().ok()) << fine_tune.Logs();
  ASSERT_TRUE(fine_tune.StartCoordinator({"--publish-to", fine_tune.serving_address()}).ok())
      << fine_tune.Logs();
  ASSERT_TRUE(fine_tune.AddWorker("a").ok());
  auto published =
      fine_tune.WaitFor([](const JobStatus& s) { return !PublishedBest(s).empty(); }, 600);
  ASSERT_TRUE(published.ok()) << published.status() << fine_tune.Logs();
  ASSERT_GE(published->evaluations_size(), 1);
  EXPECT_EQ(published->evaluations(0).precision_size(), 2) << "a classifier again";
  std::vector<std::string> texts = SomeTweets(10);
  auto serving = Client(fine_tune.serving_address());
  ASSERT_NE(serving, nullptr);
  auto response = serving->Classify(texts);
  ASSERT_TRUE(response.ok()) << response.status() << fine_tune.Logs();
  EXPECT_EQ(response->results_size(), static_cast<int>(texts.size()));
}

}  // namespace
}  // namespace murmur::testing
