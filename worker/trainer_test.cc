#include "worker/trainer.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "base/file.h"
#include "base/test_util.h"
#include "data/token_cache.h"
#include "worker/fake_communicator.h"
#include "worker/trainer_testing.h"

namespace murmur::worker {
namespace {

std::vector<std::pair<std::string, at::Tensor>> Train(const Fixture& fixture, int world, int batch,
                                                      int accumulation, int steps,
                                                      const TrainerOptions& options) {
  FakeCollectiveHub hub(world);
  return TrainRanks(fixture, world, batch, accumulation, steps,
                    std::vector<TrainerOptions>(world, options),
                    [&](int rank) { return hub.Join(rank); });
}

std::vector<std::pair<std::string, at::Tensor>> Train(const Fixture& fixture, int world, int batch,
                                                      int accumulation, int steps) {
  return Train(fixture, world, batch, accumulation, steps, fixture.Options());
}

// Trains `steps` steps of 16 training rows on one rank, cycling through the cache.
void TrainOnOneRank(const Fixture& fixture, Trainer& trainer, Communicator& comm, int steps) {
  const auto& rows = fixture.cache->train_rows();
  for (int step = 0; step < steps; ++step) {
    std::vector<std::vector<uint32_t>> micro(1);
    for (int i = 0; i < 16; ++i) micro[0].push_back(rows[(step * 16 + i) % rows.size()]);
    ASSERT_TRUE(trainer.Step(comm, micro, 16).ok()) << "step " << step;
  }
}

// Fine-tunes from the pretraining checkpoint `dir`: the number of the classifier's tensors that
// come from `pretrained` (same name), each checked to be equal.
int TensorsAClassifierTakes(const Fixture& fixture, const std::string& dir,
                            const std::vector<std::pair<std::string, at::Tensor>>& pretrained) {
  TrainerOptions fine_tune = fixture.Options();
  fine_tune.init_dir = dir;
  auto classifier = Trainer::Create(fine_tune, fixture.cache.get());
  EXPECT_TRUE(classifier.ok()) << classifier.status();
  if (!classifier.ok()) return -1;
  int compared = 0;
  for (const auto& [name, tensor] : (*classifier)->Parameters()) {
    for (const auto& [source_name, source] : pretrained) {
      if (name != source_name) continue;
      EXPECT_TRUE(torch::equal(tensor, source)) << name;
      ++compared;
    }
  }
  return compared;
}

TEST(TrainerTest, TwoRanksOfBatchBEqualOneRankOfBatchTwoB) {
  Fixture fixture;
  auto one = Train(fixture, 1, 8, 1, 5);
  auto two = Train(fixture, 2, 4, 1, 5);
  auto accumulated = Train(fixture, 1, 4, 2, 5);  // gradient accumulation: same global batch
  EXPECT_LT(MaxDifference(one, two), 1e-5);
  EXPECT_LT(MaxDifference(one, accumulated), 1e-5);
  // And training moved the weights (the comparison is not trivially true).
  auto fresh = Trainer::Create(fixture.Options(), fixture.cache.get());
  ASSERT_TRUE(fresh.ok());
  EXPECT_GT(MaxDifference(one, (*fresh)->Parameters()), 1e-3);
}

TEST(TrainerTest, LearnsTheSyntheticTaskAndEvaluates) {
  Fixture fixture;
  TrainerOptions options = fixture.Options();
  options.total_steps = 60;
  auto trainer = Trainer::Create(options, fixture.cache.get());
  ASSERT_TRUE(trainer.ok());
  FakeCollectiveHub hub(1);
  auto comm = hub.Join(0);
  // Evaluating first fills the model's inference caches; they must follow the training steps.
  auto untrained = (*trainer)->Evaluate(*comm);
  ASSERT_TRUE(untrained.ok()) << untrained.status();
  EXPECT_LT(untrained->accuracy, 0.7);
  const auto& rows = fixture.cache->train_rows();
  for (int step = 0; step < 60; ++step) {
    std::vector<std::vector<uint32_t>> micro(1);
    for (int i = 0; i < 16; ++i) micro[0].push_back(rows[(step * 16 + i) % rows.size()]);
    ASSERT_TRUE((*trainer)->Step(*comm, micro, 16).ok());
  }
  auto eval = (*trainer)->Evaluate(*comm);
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_EQ(eval->examples, 40);
  EXPECT_GT(eval->accuracy, 0.8);
  ASSERT_EQ(eval->f1.size(), 2u);
  EXPECT_GT(eval->f1[1], 0.7);
  // The confusion matrix holds every example once, and its diagonal is the accuracy.
  ASSERT_EQ(eval->confusion.size(), 4u);
  int64_t total = 0;
  for (int64_t count : eval->confusion) total += count;
  EXPECT_EQ(total, eval->examples);
  EXPECT_DOUBLE_EQ(static_cast<double>(eval->confusion[0] + eval->confusion[3]) / total,
                   eval->accuracy);
  // Row 1 is the positives: its diagonal cell over the row is their recall.
  EXPECT_DOUBLE_EQ(
      static_cast<double>(eval->confusion[3]) / (eval->confusion[2] + eval->confusion[3]),
      eval->recall[1]);
}

TEST(TrainerTest, MaxEvalSamplesEvaluatesAStridedSubsetOnEveryRank) {
  Fixture fixture;
  TrainerOptions options = fixture.Options();
  options.total_steps = 1;
  auto full_trainer = Trainer::Create(options, fixture.cache.get());
  ASSERT_TRUE(full_trainer.ok());
  FakeCollectiveHub one(1);
  auto solo = one.Join(0);
  auto full = (*full_trainer)->Evaluate(*solo);
  ASSERT_TRUE(full.ok()) << full.status();
  ASSERT_EQ(full->examples, 40);

  // 40 rows at most 15: every 3rd, 14 rows (a prefix would be 15). Two ranks split them and
  // count each once.
  options.max_eval_samples = 15;
  FakeCollectiveHub two(2);
  std::vector<absl::StatusOr<EvalResult>> results(2, absl::UnknownError("not run"));
  std::vector<std::thread> ranks;
  for (int rank = 0; rank < 2; ++rank) {
    ranks.emplace_back([&, rank] {
      auto trainer = Trainer::Create(options, fixture.cache.get());
      if (!trainer.ok()) {
        results[rank] = trainer.status();
        return;
      }
      auto comm = two.Join(rank);
      results[rank] = (*trainer)->Evaluate(*comm);
    });
  }
  for (auto& t : ranks) t.join();
  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->examples, 14);
    int64_t total = 0;
    for (int64_t count : result->confusion) total += count;
    EXPECT_EQ(total, 14);
    // The fixture's validation rows alternate classes: the stride keeps both.
    EXPECT_GT(result->confusion[0] + result->confusion[1], 0);
    EXPECT_GT(result->confusion[2] + result->confusion[3], 0);
  }
}

TEST(TrainerTest, CheckpointRoundTripRestoresWeightsAndOptimizer) {
  Fixture fixture;
  FakeCollectiveHub hub(1);
  auto comm = hub.Join(0);
  auto trainer = Trainer::Create(fixture.Options(), fixture.cache.get());
  ASSERT_TRUE(trainer.ok());
  ExpectCheckpointRoundTrip(fixture, **trainer, *comm, fixture.Options(), *comm, 1e-7);
}

TEST(TrainerTest, TokenDropoutIsReplayableAndKeepsRanksInSync) {
  Fixture fixture;
  TrainerOptions options = fixture.Options();
  options.token_dropout = 0.3;
  options.mask_token_id = 4;  // [MASK]
  options.weight_decay = 0;   // rows without gradient then stay exactly as they were
  // Train() also asserts both ranks end with identical weights: the [MASK] row, which no
  // original token touches, must be in the synchronised embedding rows.
  auto dropped = Train(fixture, 2, 4, 1, 5, options);
  auto replayed = Train(fixture, 2, 4, 1, 5, options);
  EXPECT_EQ(MaxDifference(dropped, replayed), 0.0) << "same (seed, step, rank): same tokens";
  TrainerOptions plain_options = options;
  plain_options.token_dropout = 0;
  auto plain = Train(fixture, 2, 4, 1, 5, plain_options);
  EXPECT_GT(MaxDifference(dropped, plain), 1e-4) << "tokens were replaced";
  auto fresh = Trainer::Create(plain_options, fixture.cache.get());
  ASSERT_TRUE(fresh.ok());
  for (size_t i = 0; i < dropped.size(); ++i) {
    if (dropped[i].first != "distilbert.embeddings.word_embeddings.weight") continue;
    at::Tensor before = (*fresh)->Parameters()[i].second;
    EXPECT_GT((dropped[i].second[4] - before[4]).abs().max().item<double>(), 1e-4)
        << "the [MASK] embedding trained";
    EXPECT_EQ((plain[i].second[4] - before[4]).abs().max().item<double>(), 0.0)
        << "without token dropout nothing reads [MASK]";
  }

  options.mask_token_id = -1;
  EXPECT_FALSE(Trainer::Create(options, fixture.cache.get()).ok());
  options.token_dropout = 1.0;
  options.mask_token_id = 4;
  EXPECT_FALSE(Trainer::Create(options, fixture.cache.get()).ok());
}

TEST(TrainerTest, MaskedLmTwoRanksEqualOneRankAndKeepTheTiedEmbeddingsInSync) {
  Fixture fixture(/*counting=*/true);
  // The tied projector gives every embedding row a gradient: Train() asserts both ranks end
  // with identical weights, which row-sparse synchronisation of the table would break.
  auto one = Train(fixture, 1, 8, 1, 5, fixture.MaskedLmOptions());
  auto two = Train(fixture, 2, 4, 1, 5, fixture.MaskedLmOptions());
  EXPECT_LT(MaxDifference(one, two), 1e-5);
  auto fresh = Trainer::Create(fixture.MaskedLmOptions(), fixture.cache.get());
  ASSERT_TRUE(fresh.ok());
  EXPECT_GT(MaxDifference(one, (*fresh)->Parameters()), 1e-3);
  EXPECT_EQ(one.back().first, "vocab_projector.bias");
}

TEST(TrainerTest, MaskedLmLearnsToFillInTokensAndItsEncoderSeedsAClassifier) {
  Fixture fixture(/*counting=*/true);
  TrainerOptions options = fixture.MaskedLmOptions();
  // Enough steps that the masked-token accuracy clears 0.5 with a margin, whichever tokens the
  // seeds mask (40 validation texts: one accuracy point is a token or two).
  constexpr int kSteps = 450;
  options.total_steps = kSteps;
  auto trainer = Trainer::Create(options, fixture.cache.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  FakeCollectiveHub hub(1);
  auto comm = hub.Join(0);
  auto before = (*trainer)->Evaluate(*comm);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_NO_FATAL_FAILURE(TrainOnOneRank(fixture, **trainer, *comm, kSteps));
  auto after = (*trainer)->Evaluate(*comm);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->examples, 40);
  EXPECT_TRUE(after->f1.empty());
  // A masked token of a counting run is its left neighbour + 1: far above chance (1/40).
  EXPECT_LT(before->accuracy, 0.15);
  EXPECT_GT(after->accuracy, 0.5) << "loss " << before->loss << " -> " << after->loss;
  EXPECT_LT(after->loss, before->loss - 1.0);
  // Evaluation masks the same tokens every time.
  auto again = (*trainer)->Evaluate(*comm);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->loss, after->loss);

  // The checkpoint is a DistilBertForMaskedLM directory: pretraining resumes from it exactly,
  // and a classifier starts from its encoder.
  model::CheckpointInfo info;
  ASSERT_TRUE((*trainer)->SaveCheckpoint(fixture.dir + "/pretrained", info).ok());
  auto resumed = Trainer::Create(options, fixture.cache.get());
  ASSERT_TRUE(resumed.ok());
  ASSERT_TRUE((*resumed)->LoadCheckpoint(fixture.dir + "/pretrained").ok());
  EXPECT_EQ((*resumed)->global_step(), kSteps);
  EXPECT_EQ(MaxDifference((*trainer)->Parameters(), (*resumed)->Parameters()), 0.0);

  auto pretrained = (*trainer)->Parameters();
  const int compared = TensorsAClassifierTakes(fixture, fixture.dir + "/pretrained", pretrained);
  EXPECT_EQ(compared, static_cast<int>(pretrained.size()) - 5) << "all but the masked-LM head";

  options.token_dropout = 0.1;
  EXPECT_FALSE(Trainer::Create(options, fixture.cache.get()).ok())
      << "token dropout is a classification regulariser";
}

TEST(TrainerTest, ReplacedTokenDetectionTwoRanksEqualOneRank) {
  Fixture fixture(/*counting=*/true);
  // The samples depend on the sequences' seeds only and the loss is a sum: the ranks' shares add
  // up to one rank's step.
  auto one = Train(fixture, 1, 8, 1, 5, fixture.ReplacedTokenOptions());
  auto two = Train(fixture, 2, 4, 1, 5, fixture.ReplacedTokenOptions());
  EXPECT_LT(MaxDifference(one, two), 1e-5);
  auto fresh = Trainer::Create(fixture.ReplacedTokenOptions(), fixture.cache.get());
  ASSERT_TRUE(fresh.ok());
  EXPECT_GT(MaxDifference(one, (*fresh)->Parameters()), 1e-3);
}

TEST(TrainerTest, ReplacedTokenDetectionLearnsAndItsDiscriminatorSeedsAClassifier) {
  Fixture fixture(/*counting=*/true);
  TrainerOptions options = fixture.ReplacedTokenOptions();
  // 30% masked rather than BERT's 15%: about twice the masked tokens, both to train the generator
  // and to evaluate it. At 15% the 40 validation texts hold so few that one token right or wrong
  // decided the accuracy bar, and a CPU's rounding could tip it.
  options.mask_probability = 0.3;
  constexpr int kSteps = 300;
  options.total_steps = kSteps;
  auto trainer = Trainer::Create(options, fixture.cache.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  FakeCollectiveHub hub(1);
  auto comm = hub.Join(0);
  auto before = (*trainer)->Evaluate(*comm);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_NO_FATAL_FAILURE(TrainOnOneRank(fixture, **trainer, *comm, kSteps));
  auto after = (*trainer)->Evaluate(*comm);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->examples, 40);
  EXPECT_TRUE(after->f1.empty());
  // Both parts learn, slowly at this size: the discriminator's gradient (weighted 50) dominates
  // the shared embeddings and the clipped norm. The generator's masked-token accuracy rises well
  // above chance (1/40): 4x chance is the bar.
  EXPECT_LT(after->loss, before->loss * 0.8);
  EXPECT_GT(after->accuracy, 0.1) << "before " << before->accuracy;
  // A fresh head's logits straddle 0 (about half the tokens right); a trained one has learned at
  // least that most tokens are originals (under 30% are masked, fewer replaced, [CLS] and [SEP]
  // never). Telling the replaced ones apart takes this small a discriminator more steps than a
  // test should take.
  EXPECT_LT(before->detection_accuracy, 0.65);
  EXPECT_GT(after->detection_accuracy, 1 - options.mask_probability) << "loss " << after->loss;

  // The checkpoint resumes exactly, and a classifier starts from the discriminator's encoder.
  model::CheckpointInfo info;
  ASSERT_TRUE((*trainer)->SaveCheckpoint(fixture.dir + "/pretrained", info).ok());
  auto resumed = Trainer::Create(options, fixture.cache.get());
  ASSERT_TRUE(resumed.ok());
  ASSERT_TRUE((*resumed)->LoadCheckpoint(fixture.dir + "/pretrained").ok());
  EXPECT_EQ(MaxDifference((*trainer)->Parameters(), (*resumed)->Parameters()), 0.0);
  auto resumed_eval = (*resumed)->Evaluate(*comm);
  ASSERT_TRUE(resumed_eval.ok());
  EXPECT_EQ(resumed_eval->loss, after->loss) << "evaluation draws the same samples";

  auto pretrained = (*trainer)->Parameters();
  const int compared = TensorsAClassifierTakes(fixture, fixture.dir + "/pretrained", pretrained);
  int encoder = 0;
  for (const auto& [name, tensor] : pretrained) encoder += name.rfind("distilbert.", 0) == 0;
  EXPECT_EQ(compared, encoder) << "the discriminator's encoder, every tensor of it";
}

TEST(TrainerTest, BroadcastStateMakesRanksEqual) {
  Fixture fixture;
  TrainerOptions a = fixture.Options();
  TrainerOptions b = fixture.Options();
  b.seed = 99;  // different initial weights
  auto first = Trainer::Create(a, fixture.cache.get());
  auto second = Trainer::Create(b, fixture.cache.get());
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_GT(MaxDifference((*first)->Parameters(), (*second)->Parameters()), 1e-3);
  FakeCollectiveHub hub(2);
  std::thread t0([&] { EXPECT_TRUE((*first)->BroadcastState(*hub.Join(0), 0).ok()); });
  std::thread t1([&] { EXPECT_TRUE((*second)->BroadcastState(*hub.Join(1), 0).ok()); });
  t0.join();
  t1.join();
  EXPECT_EQ(MaxDifference((*first)->Parameters(), (*second)->Parameters()), 0.0);
}

}  // namespace
}  // namespace murmur::worker
